// Reductions over a set of axes: sum, max, min and the numerically stable logsumexp.
#include "ir/DerivativeRules.h"
#include "ir/OpTable.h"
#include "ir/ReduceMath.h"
#include "ir/Shapes.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace nabla {

namespace {

/// The axes must be distinct, sorted and in range; the result drops them.
TypeOrError reduceRule(std::span<const Type> ops, const Inst &inst, const std::optional<Type> &) {
  const auto &axes = inst.intsAttr("axes");
  if (!isFloat(ops[0].dtype))
    return fmt::format("'{}' needs a float operand, got {}", mnemonic(inst.op), ops[0].str());
  for (std::size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] < 0 || axes[i] >= static_cast<std::int64_t>(ops[0].rank()))
      return fmt::format("'{}' axis {} is out of range for {}", mnemonic(inst.op), axes[i],
                         ops[0].str());
    if (i > 0 && axes[i] <= axes[i - 1])
      return fmt::format("'{}' axes must be sorted and distinct", mnemonic(inst.op));
  }
  Type out{ops[0].dtype, {}};
  for (std::size_t d = 0; d < ops[0].rank(); ++d)
    if (!std::binary_search(axes.begin(), axes.end(), static_cast<std::int64_t>(d)))
      out.shape.push_back(ops[0].shape[d]);
  return out;
}

/// Calls visit(outIndex, value) for every input element, outIndex being its reduced position.
template <class Visit> void forEachReduced(const Inst &inst, const Tensor &in, Visit visit) {
  const auto &axes = inst.intsAttr("axes");
  std::vector<std::int64_t> outShape, index;
  for (std::size_t d = 0; d < in.rank(); ++d)
    if (!std::binary_search(axes.begin(), axes.end(), static_cast<std::int64_t>(d)))
      outShape.push_back(in.shape[d]);
  auto outStrides = rowMajorStrides(outShape);
  for (std::size_t i = 0; i < in.data.size(); ++i) {
    unflatten(static_cast<std::int64_t>(i), in.shape, index);
    std::int64_t o = 0;
    for (std::size_t d = 0, k = 0; d < in.rank(); ++d)
      if (!std::binary_search(axes.begin(), axes.end(), static_cast<std::int64_t>(d)))
        o += index[d] * outStrides[k++];
    visit(static_cast<std::size_t>(o), in.data[i]);
  }
}

void evalSum(const Inst &inst, std::span<const Tensor *const> in, Tensor &out) {
  std::fill(out.data.begin(), out.data.end(), 0.0);
  forEachReduced(inst, *in[0], [&](std::size_t o, double v) { out.data[o] += v; });
  out.roundToDType();
}

template <bool IsMax> void evalExtremum(const Inst &inst, std::span<const Tensor *const> in,
                                        Tensor &out) {
  const double init = IsMax ? -std::numeric_limits<double>::infinity()
                            : std::numeric_limits<double>::infinity();
  std::fill(out.data.begin(), out.data.end(), init);
  forEachReduced(inst, *in[0], [&](std::size_t o, double v) {
    out.data[o] = reduce_math::extremum<IsMax>(out.data[o], v); // NaN propagates
  });
}

// logsumexp(x) = m + log(sum(exp(x - m))) with m = max(x): no overflow for any finite x.
void evalLogSumExp(const Inst &inst, std::span<const Tensor *const> in, Tensor &out) {
  Tensor maxima(out.dtype, out.shape);
  evalExtremum<true>(inst, in, maxima);
  std::fill(out.data.begin(), out.data.end(), 0.0);
  forEachReduced(inst, *in[0], [&](std::size_t o, double v) {
    double m = maxima.data[o];
    if (reduce_math::finiteMax(m))
      out.data[o] += std::exp(v - m);
  });
  for (std::size_t o = 0; o < out.data.size(); ++o) {
    double m = maxima.data[o];
    out.data[o] = reduce_math::logSumExpFinish(reduce_math::finiteMax(m), m, out.data[o]);
  }
  out.roundToDType();
}

/// The reduced value `r` broadcast back over the reduced axes of `x`.
ValueId expandReduced(Builder &b, ValueId r, const Inst &inst, ValueId x) {
  Shape kept = b.typeOf(x).shape;
  for (std::int64_t a : inst.intsAttr("axes"))
    kept[static_cast<std::size_t>(a)] = Dim(1);
  Shape full = b.typeOf(x).shape; // a copy: emitting the reshape may move the instructions
  return b.broadcast(b.reshape(r, kept), full);
}

// d sum(x) = sum(dx); the adjoint spreads the cotangent back over the reduced axes.
MaybeValue sumJvp(Builder &b, const Inst &inst, ValueId, std::span<const MaybeValue> t) {
  if (!t[0])
    return std::nullopt;
  return rules::reapply(b, inst, {*t[0]});
}

std::vector<MaybeValue> sumVjp(Builder &b, const Inst &inst, ValueId, ValueId ct, bool) {
  return {expandReduced(b, ct, inst, inst.operands[0])};
}

/// The weights through which a reduction's result depends on each entry: for max/min, the tied
/// extreme entries share it evenly, (x == m) / count(x == m); for logsumexp, softmax(x).
ValueId reductionWeights(Builder &b, const Inst &inst, ValueId result) {
  ValueId x = inst.operands[0];
  if (inst.op == Op::LogSumExp) {
    // d logsumexp(x) = sum(softmax(x) dx). In f64, softmax = exp(x - logsumexp(x)) from the
    // result itself, as PyTorch does: one pass over x, and the rounding of the result costs
    // |x| eps = 1e-12 relative at x = 1e4. In f32 that would be 6e-4, so there softmax is
    // e / sum(e) with e = exp(x - max(x)), exact where entries dominate, at two more passes.
    if (b.typeOf(x).dtype == DType::F64)
      return b.unary(Op::Exp, b.sub(x, expandReduced(b, result, inst, x)));
    ValueId m = expandReduced(b, b.emit(Op::ReduceMax, {x}, inst.attrs), inst, x);
    ValueId e = b.unary(Op::Exp, b.sub(x, m));
    return b.div(e, expandReduced(b, b.emit(Op::ReduceSum, {e}, inst.attrs), inst, x));
  }
  ValueId spread = expandReduced(b, result, inst, x);
  // d max(x) = sum(dx over the maxima) / count: a tie splits evenly
  ValueId isExtreme = rules::floatMask(b, Op::Eq, x, spread);
  ValueId count = b.emit(Op::ReduceSum, {isExtreme}, inst.attrs);
  return b.div(isExtreme, expandReduced(b, count, inst, x));
}

MaybeValue weightedJvp(Builder &b, const Inst &inst, ValueId result,
                       std::span<const MaybeValue> t) {
  if (!t[0])
    return std::nullopt;
  ValueId w = reductionWeights(b, inst, result);
  return b.emit(Op::ReduceSum, {b.mul(w, *t[0])}, inst.attrs);
}

std::vector<MaybeValue> weightedVjp(Builder &b, const Inst &inst, ValueId result, ValueId ct,
                                    bool zeroSafe) {
  ValueId w = reductionWeights(b, inst, result);
  return {rules::chainProduct(b, expandReduced(b, ct, inst, inst.operands[0]), w, zeroSafe)};
}

const std::vector<AttrSpec> kAxes = {{"axes", AttrKind::Ints}};

} // namespace

const OpInfo opReduceSum = OpInfo{1, kAxes, reduceRule, evalSum, sumJvp, sumVjp};
const OpInfo opReduceMax =
    masking(OpInfo{1, kAxes, reduceRule, evalExtremum<true>, weightedJvp, weightedVjp});
const OpInfo opReduceMin =
    masking(OpInfo{1, kAxes, reduceRule, evalExtremum<false>, weightedJvp, weightedVjp});
const OpInfo opLogSumExp = OpInfo{1, kAxes, reduceRule, evalLogSumExp, weightedJvp, weightedVjp};

} // namespace nabla
