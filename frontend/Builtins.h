// The standard library as a table: one row per built-in function or constant of the language,
// saying its name, its arguments and how a call of it becomes IR. Sema, the infix printer and the
// tests read the rows; nothing else lists built-in names.
#pragma once

#include "ir/Function.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nabla {

namespace sema {
class Sema;
class BuiltinCall;
struct SVal;
} // namespace sema

/// Which part of the standard library a built-in belongs to (LANGUAGE.md §3's list).
enum class BuiltinGroup {
  ElementwiseMath, // exp, pow, where, ...: entrywise, broadcasting
  Activation,      // relu, gelu, ...: elementwise too, from the learning vocabulary
  Reduction,       // sum, max(x), norm, ...: over all axes or `axis=k`
  LinearAlgebra,   // dot, outer, diag, lower
  Shape,           // transpose, reshape, flatten, concat, stack
  Constructor,     // zeros, ones, eye, arange
  Indexing,        // take, take_along
  Learning,        // softmax, log_softmax and the losses
  Conversion,      // f32, f64
  Derivative,      // diff
  Constant,        // pi: a name, not a function
};

/// What an argument must be.
enum class ArgKind {
  Tensor,    // any value: a number, an array literal, a tensor
  Number,    // a constant number (`alpha=0.2`)
  Integer,   // a constant integer (`axis=-1`, the order `k`)
  Size,      // a dimension: an integer, a dimension name or integer arithmetic of them (`eye(n)`)
  ShapeList, // dimensions in brackets (`[B, 10]`; reshape allows one -1)
  IntList,   // constant integers in brackets (a permutation)
  DType,     // a dtype name (`f32`)
  Variable,  // the name of a float value (what `diff` differentiates with respect to)
};

/// One argument slot: given by position or as `name=value`.
struct ArgSpec {
  std::string_view name;
  ArgKind kind = ArgKind::Tensor;
  bool required = true;
  /// The value of an omitted Number or Integer slot.
  std::optional<double> defaultValue = std::nullopt;
  /// The attribute of the row's op that this slot becomes; empty for an operand. The infix
  /// printer prints the attribute in this position.
  std::string_view attr = {};
  /// The smallest value an Integer slot accepts.
  std::optional<std::int64_t> min = std::nullopt;
  /// How messages name the slot (`the order of diff`); empty: the quoted name, `'alpha'`.
  std::string_view what = {};

  ArgSpec asAttribute(std::string_view a) const {
    return with([&](ArgSpec &s) { s.attr = a; });
  }
  ArgSpec atLeast(std::int64_t m) const {
    return with([&](ArgSpec &s) { s.min = m; });
  }
  ArgSpec describedAs(std::string_view w) const {
    return with([&](ArgSpec &s) { s.what = w; });
  }

private:
  template <class F> ArgSpec with(F change) const {
    ArgSpec s = *this;
    change(s);
    return s;
  }
};

/// A slot that must be given.
inline ArgSpec slot(std::string_view name, ArgKind kind = ArgKind::Tensor) {
  return ArgSpec{name, kind};
}
/// A slot that may be omitted; Number and Integer slots take `defaultValue` then.
inline ArgSpec optionalSlot(std::string_view name, ArgKind kind,
                            std::optional<double> defaultValue = std::nullopt) {
  return ArgSpec{name, kind, false, defaultValue};
}

/// Builds the IR of one call. Null in a row: the generic expansion of the row's op (constant
/// slots become its attributes, the others its operands; numbers fold).
using BuiltinExpansion = sema::SVal (*)(sema::Sema &, sema::BuiltinCall &);

/// One built-in: a row of the table.
struct Builtin {
  std::string_view name;
  BuiltinGroup group;
  /// In positional order; the leading required slots must be given.
  std::vector<ArgSpec> args;
  /// The IR op a call is (for the generic expansion, and the name the infix printer gives the op;
  /// the first row naming an op wins, so aliases come after the name they alias).
  std::optional<Op> op = std::nullopt;
  BuiltinExpansion expand = nullptr;
  /// Any number of positional tensors, then the keyword slots (concat, stack).
  bool variadic = false;
  /// One form of an overloaded name: chosen only for a call that gives exactly `args` by
  /// position and no keywords; other calls go to the next row of the same name (max, min).
  bool exactArity = false;
  /// The value of a Constant row.
  double constant = 0;
  /// One line for readers and `:help`-style listings.
  std::string_view summary = {};
  /// A call that type-checks over `x: f64, y: f64, v: f64[3], m: f64[2, 3], labels: i32[2]`
  /// (BuiltinsTest compiles every one).
  std::string example = {};
};

/// Every row, grouped as in LANGUAGE.md.
std::span<const Builtin> builtinTable();

/// The rows named `name`, in table order (several for an overloaded name); empty if none.
std::span<const Builtin *const> findBuiltins(std::string_view name);

/// The row whose name the infix printer gives `op`: the first elementwise row that names it.
const Builtin *builtinForOp(Op op);

/// Whether a layer may name the row as its activation (`dense(x, H, tanh)`): an elementwise
/// function of one tensor whose other arguments all have defaults.
bool usableAsActivation(const Builtin &b);

/// The candidate nearest to a misspelled `name` (optimal string alignment distance, at most a
/// third of the name's length), or nothing.
std::optional<std::string> nearestName(std::string_view name,
                                       const std::vector<std::string> &candidates);

/// The names of the table's functions (not constants), for suggestions.
std::vector<std::string> builtinFunctionNames();

/// How a slot is named in messages: its `what`, or its quoted name.
std::string describeArg(const ArgSpec &arg);

} // namespace nabla
