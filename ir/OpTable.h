// The op table: for each op, its operands, attributes, type rule and evaluation, gathered from the
// family files ir/Ops*.cpp. Later stages (derivatives, lowering) add their rules beside these.
#pragma once

#include "ir/Function.h"
#include "ir/Tensor.h"

#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace nabla {

struct AttrSpec {
  const char *name;
  AttrKind kind;
};

/// The type an op produces, or why its operands are wrong for it.
using TypeOrError = std::variant<Type, std::string>;

/// Computes the result type from operand types and attributes. Ops whose result cannot be derived
/// from operands (leaves, `reshape`) read `declared`, the type the builder was asked for.
using TypeRule = TypeOrError (*)(std::span<const Type> operands, const Inst &inst,
                                 const std::optional<Type> &declared);

/// Evaluates the op on concrete tensors. `out` arrives with its dtype and concrete shape set and
/// its data sized; the rule fills the data. Every dimension name in `inst`'s attributes has been
/// bound to a constant by the caller.
using EvalRule = void (*)(const Inst &inst, std::span<const Tensor *const> operands, Tensor &out);

/// A failure that depends on data, not types (an index out of range); the interpreter reports it.
struct EvalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Builder;

/// A tangent or a cotangent; nullopt is a symbolic zero, which costs nothing and folds away.
using MaybeValue = std::optional<ValueId>;

/// Forward mode: the tangent of `result` from the tangents of `inst`'s operands (one per
/// operand). `inst` and `result` live in the function `b` builds: its operands are renumbered.
using JvpRule = MaybeValue (*)(Builder &b, const Inst &inst, ValueId result,
                               std::span<const MaybeValue> tangents);

/// Reverse mode: the cotangents of `inst`'s operands (one per operand) from the cotangent of
/// `result`. With `zeroSafe`, a zero cotangent must give zero even where a partial derivative is
/// infinite or NaN: the reverse pass asks for it inside the branches of a `where`, so that the
/// branch not taken never leaks a NaN into the gradient.
using VjpRule = std::vector<MaybeValue> (*)(Builder &b, const Inst &inst, ValueId result,
                                            ValueId cotangent, bool zeroSafe);

/// Elementwise math as code: the op's own scalar definition instantiated with `Scalar`, so that
/// the code generator emits exactly what the interpreter computes. One handle per operand.
using LowerScalarRule = void *(*)(std::span<void *const> operands, const Inst &inst);

struct OpInfo {
  int arity = 0; // -1: any number of operands (concat)
  std::vector<AttrSpec> attrs;
  TypeRule inferType = nullptr;
  EvalRule eval = nullptr;
  JvpRule jvp = nullptr;
  VjpRule vjp = nullptr;
  /// Some partial derivative is exactly zero on a set that matters (relu below 0, the argument
  /// of max that loses, the branch of a where not taken): reverse mode keeps zero cotangents
  /// exactly zero upstream of such an op, so that an infinite partial there cannot turn them NaN.
  bool masksDerivative = false;
  LowerScalarRule lowerScalar = nullptr; // elementwise ops defined by scalar math
};

/// `info` with masksDerivative set.
inline OpInfo masking(OpInfo info) {
  info.masksDerivative = true;
  return info;
}

const OpInfo &opInfo(Op op);

// Each family file defines one OpInfo per op, named op<Name>, e.g. `opTanh`; OpTable.cpp gathers
// them through Ops.def, so an op without rules fails to link.
#define NABLA_OP(Name, mnemonic) extern const OpInfo op##Name;
#include "ir/Ops.def"

} // namespace nabla
