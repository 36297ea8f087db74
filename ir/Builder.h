// Builds IR into a Function: infers types through the op table, folds constants and trivial
// identities as it emits, and hash-conses structurally equal instructions (CSE at construction).
#pragma once

#include "ir/Function.h"
#include "nabla/Diagnostic.h"

#include <stdexcept>
#include <string>
#include <unordered_map>
#include <variant>

namespace nabla {

/// A type error inside IR construction: a bug in the caller (Sema validates user input first
/// through tryEmit and reports it as a diagnostic).
struct IrError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Builder {
public:
  using Regions = std::vector<std::shared_ptr<const Function>>;

  /// Builds into `fn`, reusing the instructions it already holds for CSE.
  explicit Builder(Function &fn);

  Function &function() { return fn_; }
  /// A copy, not a reference: emitting an instruction may move the ones before it, and callers
  /// naturally write `b.broadcast(b.reshape(...), b.typeOf(x).shape)`.
  Type typeOf(ValueId v) const { return fn_.insts[v].type; }

  /// Emits an instruction, or says why the operands do not fit the op (a diagnostic without a
  /// position: the caller knows where the instruction came from).
  Expected<ValueId> tryEmit(Op op, std::vector<ValueId> operands,
                            std::vector<AttrValue> attrs = {},
                            std::optional<Type> declared = std::nullopt, Regions regions = {});
  /// Emits an instruction; throws IrError when the operands do not fit.
  ValueId emit(Op op, std::vector<ValueId> operands, std::vector<AttrValue> attrs = {},
               std::optional<Type> declared = std::nullopt, Regions regions = {});

  // Leaves.
  ValueId input(const std::string &name, const Type &type);
  ValueId param(const std::string &name, const Type &type);
  /// A scalar constant of a dtype.
  ValueId constant(double value, DType dtype);
  /// A scalar constant broadcast to a type.
  ValueId constantLike(double value, Type type);
  /// A dense constant tensor with a concrete shape.
  ValueId literal(std::vector<double> values, const Type &type);

  // Elementwise arithmetic on operands of one type, with folding.
  ValueId unary(Op op, ValueId x);
  ValueId binary(Op op, ValueId a, ValueId b);
  ValueId add(ValueId a, ValueId b) { return binary(Op::Add, a, b); }
  ValueId sub(ValueId a, ValueId b) { return binary(Op::Sub, a, b); }
  ValueId mul(ValueId a, ValueId b) { return binary(Op::Mul, a, b); }
  ValueId div(ValueId a, ValueId b) { return binary(Op::Div, a, b); }
  ValueId neg(ValueId x) { return unary(Op::Neg, x); }
  ValueId convert(ValueId x, DType to);

  // Shape.
  /// numpy broadcasting of `x` to `shape` (no-op when it already has it).
  ValueId broadcast(ValueId x, Shape shape);
  ValueId reshape(ValueId x, Shape shape);
  ValueId transpose(ValueId x, std::vector<std::int64_t> perm);
  ValueId reduceSum(ValueId x, std::vector<std::int64_t> axes);

  /// Appends an instruction as it is: no type inference, folding or sharing with an equal one
  /// (dead-code elimination keeps a function's structure). Later emits may share it.
  ValueId appendAsIs(Inst inst);

  /// The value of a scalar constant (a `const` of one element, possibly broadcast).
  std::optional<double> constantValue(ValueId v) const;

private:
  ValueId append(Inst inst);

  Function &fn_;
  std::unordered_map<std::string, ValueId> cse_;
};

/// A key that is equal for structurally equal instructions.
std::string structuralKey(const Inst &inst);

} // namespace nabla
