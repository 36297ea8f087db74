// Lowering of the reductions: loops over the kept axes, then over the reduced ones accumulating
// in a register; or, when the last axis is kept, the input walked in memory order. The NaN rule
// of max/min and the finish of logsumexp are the interpreter's own (ir/ReduceMath.h).
#include "codegen/Gemm.h"
#include "codegen/KernelEmitter.h"
#include "codegen/LlvmScalarEmitter.h"
#include "ir/ReduceMath.h"

#include <llvm/IR/Constants.h>

#include <algorithm>

namespace nabla::codegen {

namespace {

using llvm::Value;

void emitReduction(KernelEmitter &e, ValueId v) {
  const Inst &inst = e.inst(v);
  auto &b = e.b();
  ValueId x = inst.operands[0];
  const Shape &inShape = e.f().typeOf(x).shape;
  const auto &axes = inst.intsAttr("axes");
  std::vector<std::size_t> kept, reduced;
  for (std::size_t d = 0; d < inShape.size(); ++d)
    (std::find(axes.begin(), axes.end(), static_cast<std::int64_t>(d)) != axes.end() ? reduced
                                                                                     : kept)
        .push_back(d);
  std::vector<Value *> keptExtents, reducedExtents;
  for (std::size_t d : kept)
    keptExtents.push_back(e.dim(inShape[d]));
  for (std::size_t d : reduced)
    reducedExtents.push_back(e.dim(inShape[d]));
  llvm::Type *t = e.registerType(inst.type.dtype);
  auto fullIndex = [&](const Index &outer, const Index &inner) {
    Index full(inShape.size());
    for (std::size_t k = 0; k < kept.size(); ++k)
      full[kept[k]] = outer[k];
    for (std::size_t k = 0; k < reduced.size(); ++k)
      full[reduced[k]] = inner[k];
    return full;
  };
  auto inf = [&](bool negative) { return llvm::ConstantFP::getInfinity(t, negative); };
  // The math in registers of type t; no math calls, so no vector variants to offer.
  LlvmScalarEmitter math(b, e.module(), t, /*avx512VectorMath=*/false);
  auto extremum = [&](Value *acc, Value *xv, bool isMax) {
    ScalarEmitter::Scope scope(math);
    Scalar a = Scalar::wrap(acc), xs = Scalar::wrap(xv);
    return static_cast<Value *>(
        (isMax ? reduce_math::extremum<true>(a, xs) : reduce_math::extremum<false>(a, xs)).h);
  };
  if (inst.op != Op::LogSumExp && !reduced.empty() && !kept.empty() &&
      kept.back() == inShape.size() - 1) {
    // The last axis is kept (a column sum, a bias gradient summed over the batch): initialize
    // the output, then walk the input in memory order, combining each element into its output
    // element. Contiguous on both sides, and each output element still sees its inputs in
    // order, as the interpreter does.
    e.loopNest(keptExtents, [&](const Index &outer) {
      e.store(v, e.flatten(inst.type.shape, outer),
              inst.op == Op::ReduceSum ? llvm::ConstantFP::get(t, 0.0)
                                       : inf(inst.op == Op::ReduceMax));
    });
    e.loopNest(e.dims(inShape), [&](const Index &idx) {
      Index outer;
      for (std::size_t d : kept)
        outer.push_back(idx[d]);
      Value *flat = e.flatten(inst.type.shape, outer);
      Value *acc = e.load(v, flat), *xv = e.element(x, idx);
      e.store(v, flat,
              inst.op == Op::ReduceSum ? b.CreateFAdd(acc, xv)
                                       : extremum(acc, xv, inst.op == Op::ReduceMax));
    });
    return;
  }
  e.loopNest(keptExtents, [&](const Index &outer) {
    Value *outFlat = e.flatten(inst.type.shape, outer);
    if (inst.op == Op::ReduceSum) {
      Value *acc = e.accumulator(t, llvm::ConstantFP::get(t, 0.0));
      e.loopNest(reducedExtents, [&](const Index &inner) {
        Value *sum = b.CreateFAdd(b.CreateLoad(t, acc), e.element(x, fullIndex(outer, inner)));
        // Sums may be reassociated: that is what lets them vectorize (several partial sums).
        // Their results then differ from the interpreter's sequential sums in the last bits.
        if (auto *op = llvm::dyn_cast<llvm::Instruction>(sum))
          op->setHasAllowReassoc(true);
        b.CreateStore(sum, acc);
      });
      e.store(v, outFlat, b.CreateLoad(t, acc));
      return;
    }
    bool isMax = inst.op != Op::ReduceMin;
    Value *m = e.accumulator(t, inf(isMax));
    e.loopNest(reducedExtents, [&](const Index &inner) {
      Value *acc = b.CreateLoad(t, m);
      Value *xv = e.element(x, fullIndex(outer, inner));
      b.CreateStore(extremum(acc, xv, isMax), m);
    });
    if (inst.op != Op::LogSumExp) {
      e.store(v, outFlat, b.CreateLoad(t, m));
      return;
    }
    // logsumexp = m + log(sum(exp(x - m))), m the maximum.
    Value *mv = b.CreateLoad(t, m);
    Value *s = e.accumulator(t, llvm::ConstantFP::get(t, 0.0));
    e.loopNest(reducedExtents, [&](const Index &inner) {
      Value *shifted = b.CreateFSub(e.element(x, fullIndex(outer, inner)), mv);
      Value *term = LlvmScalarEmitter(b, e.module(), t, e.avx512VectorMath()).exp(shifted);
      Value *sum = b.CreateFAdd(b.CreateLoad(t, s), term);
      llvm::cast<llvm::Instruction>(sum)->setHasAllowReassoc(true); // vectorizes, as sums do
      b.CreateStore(sum, s);
    });
    ScalarEmitter::Scope scope(math);
    auto finite = reduce_math::finiteMax(Scalar::wrap(mv));
    Scalar lse =
        reduce_math::logSumExpFinish(finite, Scalar::wrap(mv), Scalar::wrap(b.CreateLoad(t, s)));
    e.store(v, outFlat, static_cast<Value *>(lse.h));
  });
}

// A reduce_sum that the plan made compute a product (a sum of matmuls over batch axes) runs the
// product's contraction loops.
void emitSum(KernelEmitter &e, ValueId v) {
  if (const auto &product = e.plan().products[v])
    return emitProduct(e, *product);
  emitReduction(e, v);
}

} // namespace

const LowerRule lowerReduceSum{Lowering::Loops, RowAccess::KeptAxis0, false, nullptr, emitSum};
const LowerRule lowerReduceMax{Lowering::Loops, RowAccess::KeptAxis0, false, nullptr,
                               emitReduction};
const LowerRule lowerReduceMin{Lowering::Loops, RowAccess::KeptAxis0, false, nullptr,
                               emitReduction};
const LowerRule lowerLogSumExp{Lowering::Loops, RowAccess::KeptAxis0, false, nullptr,
                               emitReduction};

} // namespace nabla::codegen
