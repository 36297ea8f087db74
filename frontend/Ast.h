// The syntax tree of a .nabla file, exactly as written; semantic analysis (Sema) gives it meaning.
#pragma once

#include "nabla/Diagnostic.h"

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace nabla::ast {

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

/// `name = value` inside a call's parentheses, e.g. `axis=1`.
struct KeywordArg {
  std::string name;
  ExprPtr value;
  SourceRange range; // covers `name=value`
};

/// One entry between the brackets of `x[...]`: an index expression or a slice `lo:hi`.
struct IndexItem {
  bool isSlice = false;
  ExprPtr index; // when !isSlice
  ExprPtr lo;    // when isSlice; null if omitted
  ExprPtr hi;    // when isSlice; null if omitted
  SourceRange range;
};

/// Every expression form. `kind` says which fields are meaningful.
struct Expr {
  enum class Kind {
    Number,    // number, isInteger
    Name,      // name
    Unary,     // op ("-" or "+"), args[0]
    Binary,    // op ("+ - * / @ ^ < <= > >= == !="), args[0], args[1]
    Call,      // name (the callee), args (positional), kwargs
    Index,     // args[0] is the indexed value, indices
    Transpose, // args[0].T
    Array,     // args are the elements: `[1, 2]`, `[[1, 0], [0, 1]]`
  };

  Kind kind = Kind::Number;
  SourceRange range;     // the whole expression; a caret goes under it
  SourceRange opRange;   // Binary/Unary: the operator; Call: the callee name; Index: the brackets
  double number = 0;     // Number
  bool isInteger = false; // Number written without '.', 'e' or 'E'
  std::string name;      // Name, Call
  std::string op;        // Unary, Binary
  std::vector<ExprPtr> args;
  std::vector<KeywordArg> kwargs;
  std::vector<IndexItem> indices;
};

/// `f64`, `i32[B]`, `f32[n, 5*d]`. Dimensions are expressions over integers and dimension names.
struct TypeExpr {
  std::string dtype; // "f32", "f64" or "i32"
  bool hasShape = false;
  std::vector<ExprPtr> dims;
  SourceRange range;
};

/// A function parameter, typed (`W: f64[n, m]`) or untyped (an f64 scalar).
struct Param {
  std::string name;
  std::optional<TypeExpr> type;
  SourceRange range; // the name
};

/// A statement of a block: `name = value`, and in a loop body (LANGUAGE.md §3b) also
/// `name[index] = value` and a nested `for name in lo..hi { body }`.
struct Binding {
  enum class Kind {
    Bind,   // name = value
    Update, // name[indices] = value
    For,    // for name in lo..hi { body }      (name is the index)
  };
  Kind kind = Kind::Bind;
  std::string name;
  ExprPtr value;               // Bind, Update
  SourceRange nameRange;
  std::vector<IndexItem> indices; // Update
  SourceRange indexRange;         // Update: the brackets
  ExprPtr lo, hi;                 // For
  std::vector<Binding> body;      // For
  SourceRange range;              // the whole statement
};

/// `let name = value`.
struct LetDecl {
  std::string name;
  ExprPtr value;
  SourceRange nameRange;
};

/// `fn name(params) [-> type] = expr` or `fn name(params) [-> type] { bindings; return expr }`.
struct FnDecl {
  std::string name;
  SourceRange nameRange;
  std::vector<Param> params;
  std::optional<TypeExpr> returnType;
  std::vector<Binding> bindings; // empty for an expression body
  ExprPtr result;                // the `= expr` or the `return expr`
  bool blockBody = false;
  SourceRange range; // from `fn` to the end of the body
};

/// A model header dimension: `B` (bound at call time) or `d = 50`.
struct HeaderDim {
  std::string name;
  ExprPtr defaultValue; // null when bound at call time
  SourceRange range;
};

/// A param initializer after `~`: `zeros`, `ones`, `glorot`, `normal(0, 0.1)`, `uniform(-1, 1)`.
struct Initializer {
  std::string kind;
  std::vector<ExprPtr> args;
  bool hasParens = false;
  SourceRange range;
};

/// One statement of a model body.
struct ModelStmt {
  enum class Kind {
    Input,  // input NAME: TYPE
    Param,  // param NAME: TYPE [~ INIT]
    Layer,  // layer NAME = CALL      (value is a Call expression, e.g. dense(x, H, relu))
    Bind,   // NAME = EXPR
    Output, // output NAME = EXPR
    Loss,   // loss EXPR              (name empty)
    For,    // for NAME in A..B { ... } (loop)
  };
  Kind kind = Kind::Bind;
  std::string name;
  SourceRange nameRange;
  std::optional<TypeExpr> type;    // Input, Param
  std::optional<Initializer> init; // Param
  ExprPtr value;                   // Layer, Bind, Output, Loss
  std::shared_ptr<const Binding> loop; // For
  SourceRange range;               // the whole statement (from its keyword)
};

/// `model name(dims) { statements }`.
struct ModelDecl {
  std::string name;
  SourceRange nameRange;
  std::vector<HeaderDim> dims;
  std::vector<ModelStmt> stmts;
  SourceRange range;
};

using Decl = std::variant<LetDecl, FnDecl, ModelDecl>;

/// A whole file: its definitions in source order.
struct File {
  std::vector<Decl> decls;
};

} // namespace nabla::ast
