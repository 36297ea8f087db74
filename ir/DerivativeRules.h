// Helpers shared by the derivative rules of the op families (ir/Ops*.cpp): symbolic zeros, masks
// as numbers, the chain-rule product, and the forward/reverse rules of elementwise ops derived
// from their partial derivatives.
#pragma once

#include "ir/Builder.h"
#include "ir/OpTable.h"

#include <span>
#include <vector>

namespace nabla::rules {

/// `value` broadcast to the type of `like`.
inline ValueId constantLike(Builder &b, double value, ValueId like) {
  return b.constantLike(value, b.typeOf(like));
}

/// The tangent (or cotangent) of a zero operand, materialized where an op needs every operand.
inline ValueId zerosOf(Builder &b, ValueId like) { return constantLike(b, 0, like); }

/// A comparison as 1/0 in the float type of `a`: `(a > b)` in a derivative.
inline ValueId floatMask(Builder &b, Op compare, ValueId a, ValueId c) {
  return b.convert(b.binary(compare, a, c), b.typeOf(a).dtype);
}

/// cotangent * partial; with zeroSafe, exactly zero where the cotangent is zero.
inline ValueId chainProduct(Builder &b, ValueId cotangent, ValueId partial, bool zeroSafe) {
  ValueId product = b.mul(cotangent, partial);
  if (!zeroSafe || b.constantValue(partial))
    return product;
  ValueId zero = constantLike(b, 0, cotangent);
  return b.emit(Op::Select, {b.binary(Op::Eq, cotangent, zero), zero, product});
}

/// The sum of the present values; nullopt when none is.
inline MaybeValue sumOf(Builder &b, std::span<const MaybeValue> terms) {
  MaybeValue total;
  for (const MaybeValue &t : terms)
    if (t)
      total = total ? b.add(*total, *t) : *t;
  return total;
}

/// True when every tangent is a symbolic zero.
inline bool allZero(std::span<const MaybeValue> tangents) {
  for (const MaybeValue &t : tangents)
    if (t)
      return false;
  return true;
}

/// partial * (co)tangent. A partial given as a bool mask (relu's x > 0) selects instead of
/// multiplying, so that a NaN or infinite (co)tangent where the mask is off gives 0, not NaN.
inline ValueId applyPartial(Builder &b, ValueId partial, ValueId t, bool zeroSafe) {
  if (b.typeOf(partial).dtype == DType::Bool)
    return b.emit(Op::Select, {partial, t, zerosOf(b, t)});
  return chainProduct(b, t, partial, zeroSafe);
}

/// The rules of an elementwise op from its partial derivatives (Rule::partials gives one per
/// operand, shaped like the result, a float or a bool mask): JVP = sum_i partial_i * t_i,
/// VJP_i = ct * partial_i.
template <class Rule>
MaybeValue elementwiseJvp(Builder &b, const Inst &inst, ValueId result,
                          std::span<const MaybeValue> tangents) {
  if (allZero(tangents))
    return std::nullopt;
  std::vector<ValueId> partials = Rule::partials(b, inst, result);
  std::vector<MaybeValue> terms;
  for (std::size_t i = 0; i < tangents.size(); ++i)
    if (tangents[i])
      terms.push_back(applyPartial(b, partials[i], *tangents[i], false));
  return sumOf(b, terms);
}

template <class Rule>
std::vector<MaybeValue> elementwiseVjp(Builder &b, const Inst &inst, ValueId result,
                                       ValueId cotangent, bool zeroSafe) {
  std::vector<ValueId> partials = Rule::partials(b, inst, result);
  std::vector<MaybeValue> out;
  for (ValueId p : partials)
    out.push_back(applyPartial(b, p, cotangent, zeroSafe));
  return out;
}

/// Rules of an op with no derivative (comparisons, indices, leaves): every tangent is zero.
inline MaybeValue zeroJvp(Builder &, const Inst &, ValueId, std::span<const MaybeValue>) {
  return std::nullopt;
}
inline std::vector<MaybeValue> zeroVjp(Builder &, const Inst &inst, ValueId, ValueId, bool) {
  return std::vector<MaybeValue>(inst.operands.size());
}

/// The op of `inst` re-emitted on other operands with the same attributes: the tangent of a
/// linear op, or its transpose when that is the same op.
inline ValueId reapply(Builder &b, const Inst &inst, std::vector<ValueId> operands) {
  return b.emit(inst.op, std::move(operands), inst.attrs);
}


} // namespace nabla::rules
