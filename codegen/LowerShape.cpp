// Lowering of the shape ops: broadcast is read in place (fused), reshape aliases its operand's
// buffer; transpose, slice, pad and concat copy into their own.
#include "codegen/KernelEmitter.h"

#include <llvm/IR/Constants.h>

namespace nabla::codegen {

namespace {

using llvm::Value;

Value *broadcastElement(KernelEmitter &e, ValueId v, const Index &idx) {
  const Inst &inst = e.inst(v);
  return e.element(inst.operands[0], e.broadcastSource(inst, idx));
}

void emitTranspose(KernelEmitter &e, ValueId v) {
  const Inst &inst = e.inst(v);
  const Shape &shape = inst.type.shape;
  const auto &perm = inst.intsAttr("perm");
  e.loopNest(e.dims(shape), [&](const Index &idx) {
    Index in(idx.size());
    for (std::size_t d = 0; d < perm.size(); ++d)
      in[static_cast<std::size_t>(perm[d])] = idx[d];
    e.store(v, e.flatten(shape, idx), e.element(inst.operands[0], in));
  });
}

void emitSlice(KernelEmitter &e, ValueId v) {
  const Inst &inst = e.inst(v);
  const Shape &shape = inst.type.shape;
  const Shape &start = inst.dimsAttr("start");
  e.loopNest(e.dims(shape), [&](const Index &idx) {
    Index in;
    for (std::size_t d = 0; d < idx.size(); ++d)
      in.push_back(e.b().CreateAdd(idx[d], e.dim(start[d])));
    e.store(v, e.flatten(shape, idx), e.element(inst.operands[0], in));
  });
}

void emitPad(KernelEmitter &e, ValueId v) {
  const Inst &inst = e.inst(v);
  auto &b = e.b();
  ValueId x = inst.operands[0];
  const Shape &inShape = e.f().typeOf(x).shape, &shape = inst.type.shape;
  const Shape &lo = inst.dimsAttr("lo");
  llvm::Type *t = e.registerType(inst.type.dtype);
  e.loopNest(e.dims(shape), [&](const Index &idx) {
    Value *inside = b.getTrue();
    Index in;
    for (std::size_t d = 0; d < idx.size(); ++d) {
      Value *i = b.CreateSub(idx[d], e.dim(lo[d]));
      Value *extent = e.dim(inShape[d]);
      inside = b.CreateAnd(
          inside, b.CreateAnd(b.CreateICmpSGE(i, b.getInt64(0)), b.CreateICmpSLT(i, extent)));
      // Clamp so that the (discarded) load outside stays in bounds.
      Value *clamped = b.CreateSelect(b.CreateICmpSLT(i, b.getInt64(0)), b.getInt64(0), i);
      Value *last = b.CreateSub(extent, b.getInt64(1));
      in.push_back(b.CreateSelect(b.CreateICmpSGT(clamped, last), last, clamped));
    }
    llvm::BasicBlock *loadBlock = e.block("pad_in");
    llvm::BasicBlock *join = e.block("pad_join");
    llvm::BasicBlock *from = b.GetInsertBlock();
    b.CreateCondBr(inside, loadBlock, join);
    b.SetInsertPoint(loadBlock);
    Value *x0 = e.element(x, in);
    llvm::BasicBlock *loaded = b.GetInsertBlock();
    b.CreateBr(join);
    b.SetInsertPoint(join);
    llvm::PHINode *phi = b.CreatePHI(t, 2);
    phi->addIncoming(llvm::ConstantFP::get(t, 0.0), from);
    phi->addIncoming(x0, loaded);
    e.store(v, e.flatten(shape, idx), phi);
  });
}

void emitConcat(KernelEmitter &e, ValueId v) {
  const Inst &inst = e.inst(v);
  auto axis = static_cast<std::size_t>(inst.intAttr("axis"));
  Value *offset = e.b().getInt64(0);
  for (ValueId part : inst.operands) {
    const Shape &ps = e.f().typeOf(part).shape;
    Value *base = offset;
    e.loopNest(e.dims(ps), [&](const Index &idx) {
      Index out = idx;
      out[axis] = e.b().CreateAdd(idx[axis], base);
      e.store(v, e.flatten(inst.type.shape, out), e.element(part, idx));
    });
    offset = e.b().CreateAdd(offset, e.dim(ps[axis]));
  }
}

} // namespace

const LowerRule lowerBroadcast{Lowering::Element, RowAccess::SameRow, false, broadcastElement};
const LowerRule lowerReshape{Lowering::Alias};
const LowerRule lowerTranspose{Lowering::Loops, RowAccess::None, false, nullptr, emitTranspose};
const LowerRule lowerSlice{Lowering::Loops, RowAccess::None, false, nullptr, emitSlice};
const LowerRule lowerPad{Lowering::Loops, RowAccess::None, false, nullptr, emitPad};
const LowerRule lowerConcat{Lowering::Loops, RowAccess::None, false, nullptr, emitConcat};

} // namespace nabla::codegen
