// The semantic analyzer's class, shared by the files of frontend/ that implement it (Sema.cpp:
// definitions, scopes, types; SemaExpr.cpp: expressions; SemaCall.cpp: calls and indexing;
// Layers.cpp: layers and initializers; Builtins*.cpp: the standard library). Not a public header.
#pragma once

#include "frontend/Ast.h"
#include "frontend/Builtins.h"
#include "frontend/Sema.h"
#include "ir/Builder.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace nabla::sema {

using ast::Expr;
using ExprKind = ast::Expr::Kind;

// ----- values during analysis ----------------------------------------------------------------

/// An untyped number: a literal, a `let` constant or a constant dimension. It takes the float
/// type of the operand it meets (f64 when nothing decides).
struct Number {
  double value = 0;
  bool isInteger = false;
};

/// An untyped array: an array literal of numbers, or `zeros`/`ones` without a dtype (a splat).
struct NumberArray {
  std::vector<double> values; // one value when splat
  Shape shape;
  bool splat = false;
  bool allIntegers = false;
};

/// A dimension name used as a number whose value is only known at call time (`mean` over B).
struct DimNumber {
  Dim dim;
};

/// A typed IR value.
struct Val {
  ValueId id;
};

/// What an expression means during analysis. A class rather than an alias so that the built-in
/// table can name it before it is defined.
struct SVal : std::variant<Val, Number, NumberArray, DimNumber> {
  using Base = std::variant<Val, Number, NumberArray, DimNumber>;
  using Base::Base;
};

struct LoopScope;

/// What the names of one scope mean: a function body, an inlined call, a model, a loop body.
struct Frame {
  std::map<std::string, SVal> values;
  std::map<std::string, Dim> dims;
  std::string owner; // for messages: "function 'f'"
  /// Set in a loop body: names it does not bind are looked up in the frame below, and the
  /// values found there become captures of the body.
  LoopScope *loop = nullptr;
};

/// A loop body under construction (SemaLoop.cpp): a function whose inputs are the index, the
/// carried values, then the captures, appended as the body's analysis finds them.
struct LoopScope {
  const Function *enclosing = nullptr; // where the loop itself is emitted
  Function body;
  std::unique_ptr<Builder> builder;
  ValueId index = 0;
  std::vector<std::string> carried;        // in operand order
  std::map<std::string, Type> carriedType; // absent while a probe leaves a number untyped
  std::map<std::string, ValueId> carriedParam;
  std::vector<ValueId> captureSources;     // values of `enclosing`, in input order
  std::map<ValueId, ValueId> captureOf;    // a value of `enclosing` -> the body's input
};

/// An error with notes after it ("did you mean ..."); unwinds to the library boundary like a
/// DiagnosticException.
struct DiagnosticsException {
  Diagnostics diagnostics;
};

/// `v` as an integer when it is one and small enough for dimension arithmetic; casting a larger or
/// non-finite double to an integer is undefined behaviour.
std::optional<std::int64_t> exactInt(double v);

/// Evaluates `op` on scalar constants through the op's own evaluation rule.
double foldWithOp(Op op, std::vector<double> args, std::vector<AttrValue> attrs = {});

/// Expression evaluations allowed per definition: inlining `f(f(x))` chains doubles the work per
/// level, so without a bound a short file can take forever.
constexpr long kMaxEvaluations = 1000000;

/// The rows of the table, by the file that defines their expansions: elementwise math,
/// activations and learning (BuiltinsMath.cpp); reductions, linear algebra, shape, constructors,
/// indexing, conversions, diff and constants (BuiltinsArray.cpp).
std::vector<Builtin> mathBuiltins();
std::vector<Builtin> arrayBuiltins();

/// mean = sum / count over `axisArg` (every axis when null); shared by mean, mse and mae.
SVal meanOf(Sema &s, const SVal &v, const Expr *axisArg, const Expr &call);

/// A built-in layer: `layer NAME = dense(...)` (Layers.cpp).
struct LayerSpec {
  std::string_view name;
  std::vector<std::string_view> slots;
  std::size_t required;
  SVal (*expand)(Sema &, const ast::ModelStmt &, const std::vector<const Expr *> &args);
};

/// The layer named `name`, or null.
const LayerSpec *findLayer(std::string_view name);

// ----- the analyzer ----------------------------------------------------------------------------

/// One analysis of a file or an expression. Its members are public to the frontend's files: the
/// built-in expansions build IR through the same helpers as the expressions of the language.
class Sema {
public:
  Sema(const SourceFile &src, const SemaOptions &options) : src_(src), options_(options) {}

  Module run(const ast::File &file);
  Function compileLoneExpression(const ast::ExprPtr &expr, const std::vector<std::string> &vars,
                                 const std::string &name);

  // ----- diagnostics (Sema.cpp) ----------------------------------------------------------------
  [[noreturn]] void fail(SourceRange range, std::string message) const;
  [[noreturn]] void failWithNote(SourceRange range, std::string message, SourceRange noteRange,
                                 std::string note) const;
  /// Fails with `message`, adding "did you mean 'X'?" when a candidate is close to `name`.
  [[noreturn]] void failSuggesting(SourceRange range, std::string message, const std::string &name,
                                   const std::vector<std::string> &candidates) const;
  const SourceFile &source() const { return src_; }
  std::string_view textOf(const Expr &e) const;

  // ----- top-level definitions (Sema.cpp) ------------------------------------------------------
  void claimGlobalName(const std::string &name, SourceRange range);
  void defineLet(const ast::LetDecl &let);
  Function compileFn(const ast::FnDecl &fn);
  Function compileModel(const ast::ModelDecl &model);

  // ----- layers and initializers (Layers.cpp) --------------------------------------------------
  void declareParam(const ast::ModelStmt &s);
  SVal expandLayer(const ast::ModelStmt &s);
  SVal applyActivation(const std::string &name, const SVal &x, const Expr &where);

  // ----- per-function state (Sema.cpp) ---------------------------------------------------------
  void begin(Function &f);
  Function end();
  /// The function being built: the innermost loop body under construction, else the definition.
  Function &function() { return loops_.empty() ? *function_ : loops_.back()->body; }
  Builder &builder() { return loops_.empty() ? *builder_ : *loops_.back()->builder; }
  Frame &frame() { return frames_.back(); }
  void addDimParam(const std::string &name);
  void bindName(const std::string &name, SourceRange range, SVal value);
  void declareFreeVariable(const std::string &name);
  SVal evalBody(const ast::FnDecl &fn);
  /// One statement of a block or loop body: a binding, an update, a loop (SemaLoop.cpp).
  void runStatement(const ast::Binding &s);
  void checkReturnType(const ast::FnDecl &fn, const SVal &result);
  ValueId finishResult(const SVal &result, const Expr &where);

  // ----- loops (SemaLoop.cpp) ------------------------------------------------------------------
  /// A name's meaning in this scope and, through loop bodies, the enclosing ones; a value found
  /// outside the innermost loop becomes a capture of every loop body in between.
  std::optional<SVal> lookupValue(const std::string &name);
  /// The frame that binds `name`, looking through loop bodies, or null.
  const Frame *findBinder(const std::string &name) const;
  void runLoop(const ast::Binding &loop);
  /// Builds the body of `loop` over `carried`; with `probe`, carried numbers stay untyped and the
  /// body is only analyzed, to learn the types their updates give them.
  std::unique_ptr<LoopScope> buildBody(const ast::Binding &loop,
                                       const std::vector<std::string> &carried,
                                       const std::vector<std::optional<Type>> &types,
                                       const std::vector<SVal> &inits, bool probe,
                                       std::vector<Type> &finalTypes);
  ValueId loopBound(const Expr &e);
  bool computedInLoop(ValueId v, std::size_t level);
  void bindStatement(const ast::Binding &s);
  void updateStatement(const ast::Binding &s);
  ValueId captureInto(LoopScope &scope, ValueId outer, const std::string &name);

  // ----- types, dimensions and constants (Sema.cpp) -------------------------------------------
  /// Resolves `f64[n, 5*d]`. With bindNewDims, unknown single names become runtime dimensions of
  /// the function being compiled.
  Type resolveType(const ast::TypeExpr &t, bool bindNewDims);
  std::optional<Dim> lookupDim(const std::string &name);
  /// A dimension that becomes the extent of an axis, so must not be a negative constant.
  Dim evalSize(const Expr &e);
  /// Integer arithmetic over dimension names: `5*d`, `D*(D-1)/2`.
  Dim evalDim(const Expr &e);
  /// A constant number (an initializer argument, `alpha`).
  double constantNumber(const Expr &e, std::string_view what);
  std::int64_t constantInt(const Expr &e, std::string_view what);

  // ----- typed views of analysis values (SemaExpr.cpp) -----------------------------------------
  /// The type a value would have when materialized with `floatType` for untyped numbers.
  Type typeOf(const SVal &v, DType floatType);
  /// Turns an analysis value into an IR value; untyped numbers take `dtype`.
  ValueId materialize(const SVal &v, DType dtype, SourceRange range);
  /// A typed value; i32 and bool values are converted to `floatType` when `floatType` is a float.
  ValueId asTyped(const SVal &v, DType dtype, SourceRange range);
  /// A float IR value (i32 and bool converted to f64, or to `preferred`).
  ValueId asFloat(const SVal &v, SourceRange range, DType preferred = DType::F64);
  static bool isUntyped(const SVal &v) { return !std::holds_alternative<Val>(v); }
  static bool isIntegral(const SVal &v);
  /// Brings two operands of an elementwise operation to one dtype and one (broadcast) shape.
  /// `intOk`: i32 operands may stay i32 (`+ - *`, max, min, comparisons).
  std::pair<ValueId, ValueId> unify(const SVal &a, const SVal &b, const Expr &where,
                                    std::string_view opName, bool intOk, SourceRange ra,
                                    SourceRange rb);

  // ----- expressions (SemaExpr.cpp) ------------------------------------------------------------
  SVal eval(const Expr &e);
  SVal lookupName(const Expr &e);
  SVal negate(const SVal &x, const Expr &e);
  SVal evalBinary(const Expr &e);
  SVal add(const SVal &a, const SVal &b, const Expr &where);
  /// An elementwise binary op with numpy broadcasting and the language's dtype rules.
  SVal binaryOp(Op op, const SVal &a, const SVal &b, const Expr &where, const Expr &ea,
                const Expr &eb, std::string_view name);
  /// numpy matmul: vector@vector is a dot product, matrix@vector, vector@matrix, and batched
  /// matrix@matrix with broadcast leading dimensions.
  SVal matmul(const SVal &a, const SVal &b, const Expr &where);
  ValueId transposeAll(ValueId x);
  /// An elementwise op of one operand with attributes; numbers fold.
  SVal unaryOp(Op op, const SVal &x, const Expr &where, std::vector<AttrValue> attrs = {});
  /// `[1, 2]`, `[[1, 0], [0, 1]]`: untyped when every entry is a number, else a stack of values.
  SVal evalArray(const Expr &e);

  // ----- calls and indexing (SemaCall.cpp) -----------------------------------------------------
  SVal evalCall(const Expr &call);
  /// The generic expansion of a row's op (Builtin::expand is null).
  SVal expandOp(BuiltinCall &c);
  /// Matches positional and keyword arguments to the named slots of a built-in; the first
  /// `required` slots must be given.
  std::vector<const Expr *> bindArgs(const Expr &call, const std::vector<std::string_view> &slots,
                                     std::size_t required);
  /// The `axis=` keyword of a call whose other arguments are all positional (variadic ones).
  std::int64_t axisKeyword(const Expr &call, std::int64_t fallback);
  std::int64_t resolveAxis(std::int64_t axis, std::size_t rank, const Expr &where);
  ValueId emitChecked(Op op, std::vector<ValueId> operands, std::vector<AttrValue> attrs,
                      const Expr &where);
  /// Inlines a user function: binds its parameters (and the dimensions their types name) to the
  /// arguments, then evaluates its body in a fresh scope.
  SVal inlineCall(const ast::FnDecl &fn, std::vector<SVal> args, const Expr &call);
  /// x[i], x[i, j], x[a:b], x[:, j], E[ids]: static indices and slices become one `slice` and a
  /// `reshape`; one i32 tensor or scalar index becomes a `take` along its axis.
  SVal evalIndex(const Expr &e);
  /// A static index or slice bound; negative constants count from the end, as in numpy.
  Dim indexDim(const Expr &e, const Dim &extent, bool sliceBound, std::size_t axis, const Type &t);

  // ----- state ---------------------------------------------------------------------------------
  const SourceFile &src_;
  const SemaOptions &options_;
  std::map<std::string, Number> lets_;
  std::map<std::string, const ast::FnDecl *> fns_;
  std::set<std::string> globals_;
  Function *function_ = nullptr;
  std::unique_ptr<Builder> builder_;
  std::vector<LoopScope *> loops_; // the loop bodies being built, innermost last
  std::vector<Frame> frames_;
  bool loneExpression_ = false;
  int depth_ = 0;
  long evaluations_ = 0;
  const Expr *outerCall_ = nullptr; // the call of the definition's own body being inlined
  std::set<std::string> declaredFns_;
  std::string currentFn_;
};

/// One use of a built-in, its arguments matched to the row's slots: a call in the source, or an
/// activation named by a layer (its one tensor already computed). Slots evaluate on demand, so an
/// expansion decides the order in which arguments are checked.
class BuiltinCall {
public:
  BuiltinCall(Sema &sema, const Builtin &row, const Expr &where, std::vector<const Expr *> args)
      : sema_(sema), row_(row), where_(where), args_(std::move(args)) {}
  BuiltinCall(Sema &sema, const Builtin &row, const Expr &where, SVal first)
      : sema_(sema), row_(row), where_(where), args_(row.args.size(), nullptr),
        first_(std::move(first)) {}

  const Builtin &row() const { return row_; }
  /// The call (carets, messages; its `args` for variadic rows), or a layer's activation name.
  const Expr &where() const { return where_; }
  /// The expression given for slot `i`, or null.
  const Expr *arg(std::size_t i) const { return i < args_.size() ? args_[i] : nullptr; }
  /// The expression of a slot that was given in the source.
  const Expr &expr(std::size_t i) const;
  bool given(std::size_t i) const { return arg(i) || (i == 0 && first_); }
  /// Slot `i` analyzed.
  SVal value(std::size_t i);
  /// A Number slot's constant, or its default.
  double number(std::size_t i);
  /// An Integer slot's constant (checked against the slot's `min`), or its default.
  std::int64_t integer(std::size_t i);

private:
  Sema &sema_;
  const Builtin &row_;
  const Expr &where_;
  std::vector<const Expr *> args_;
  std::optional<SVal> first_;
};

} // namespace nabla::sema
