// Lowering of the indexing ops: gathers (take, take_along), scatter-adds and update, with every index
// wrapped and checked by the interpreter's own definition (ir/IndexMath.h); an index out of range
// exits the kernel with kIndexOutOfRange.
#include "codegen/KernelEmitter.h"

#include "codegen/LlvmScalarEmitter.h"
#include "ir/IndexMath.h"

#include <llvm/IR/Constants.h>

namespace nabla::codegen {

namespace {

using llvm::Value;

/// An index element as i64, negative values counting from the end; out of range exits the
/// kernel with kIndexOutOfRange.
Value *checkedIndex(KernelEmitter &e, Value *raw, Value *extent) {
  auto &b = e.b();
  Value *id = b.CreateSExt(raw, b.getInt64Ty());
  LlvmScalarEmitter i64(b, e.module(), b.getInt64Ty(), e.avx512VectorMath());
  ScalarEmitter::Scope scope(i64);
  auto wrapped = index_math::wrapIndex(Scalar::wrap(id), Scalar::wrap(extent));
  llvm::BasicBlock *ok = e.block("index_ok");
  b.CreateCondBr(static_cast<Value *>(wrapped.outOfRange.h), e.errorBlock(), ok);
  b.SetInsertPoint(ok);
  return static_cast<Value *>(wrapped.index.h);
}

/// For take: the source index in x of result index `out` (x[A..., n, C...], ids[I...]).
Index takeSource(KernelEmitter &e, const Inst &inst, const Shape &xShape, const Index &out) {
  auto axis = static_cast<std::size_t>(inst.intAttr("axis"));
  ValueId ids = inst.operands[1];
  std::size_t ri = e.f().typeOf(ids).rank();
  Index idsIdx(out.begin() + static_cast<std::ptrdiff_t>(axis),
               out.begin() + static_cast<std::ptrdiff_t>(axis + ri));
  Value *id = checkedIndex(e, e.element(ids, idsIdx), e.dim(xShape[axis]));
  Index src(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(axis));
  src.push_back(id);
  src.insert(src.end(), out.begin() + static_cast<std::ptrdiff_t>(axis + ri), out.end());
  return src;
}

/// For take_along: x's index of result (or update) index `idx`.
Index alongSource(KernelEmitter &e, const Inst &inst, const Shape &xShape, const Index &idx) {
  auto axis = static_cast<std::size_t>(inst.intAttr("axis"));
  Index src = idx;
  src[axis] = checkedIndex(e, e.element(inst.operands[1], idx), e.dim(xShape[axis]));
  return src;
}

template <bool Along> void emitGather(KernelEmitter &e, ValueId v) {
  const Inst &inst = e.inst(v);
  ValueId x = inst.operands[0];
  const Shape &xShape = e.f().typeOf(x).shape;
  e.loopNest(e.dims(inst.type.shape), [&](const Index &idx) {
    Index src = Along ? alongSource(e, inst, xShape, idx) : takeSource(e, inst, xShape, idx);
    e.store(v, e.flatten(inst.type.shape, idx), e.element(x, src));
  });
}

template <bool Along> void emitScatter(KernelEmitter &e, ValueId v) {
  const Inst &inst = e.inst(v);
  auto &b = e.b();
  ValueId updates = inst.operands[0];
  const Shape &shape = inst.type.shape;
  llvm::Type *t = e.registerType(inst.type.dtype);
  e.loopNest(e.dims(shape), [&](const Index &idx) {
    e.store(v, e.flatten(shape, idx), llvm::ConstantFP::get(t, 0.0));
  });
  e.loopNest(e.dims(e.f().typeOf(updates).shape), [&](const Index &idx) {
    Index dst = Along ? alongSource(e, inst, shape, idx) : takeSource(e, inst, shape, idx);
    Value *flat = e.flatten(shape, dst);
    e.store(v, flat, b.CreateFAdd(e.load(v, flat), e.element(updates, idx)));
  });
}

/// update: x with the slice at one index along `axis` replaced. Copies x, then writes the
/// slice; the copy is skipped when the plan gave the update x's own buffer (a loop's carried
/// value that nothing else reads: ResultSlot::inPlace), so a step costs the slice only.
void emitUpdate(KernelEmitter &e, ValueId v) {
  const Inst &inst = e.inst(v);
  ValueId x = inst.operands[0], value = inst.operands[2];
  const Shape &shape = inst.type.shape;
  auto axis = static_cast<std::size_t>(inst.intAttr("axis"));
  Value *id = checkedIndex(e, e.element(inst.operands[1], {}), e.dim(shape[axis]));
  if (e.buffer(v) != e.buffer(x))
    e.copyTo(x, e.buffer(v));
  e.loopNest(e.dims(e.f().typeOf(value).shape), [&](const Index &idx) {
    Index dst(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(axis));
    dst.push_back(id);
    dst.insert(dst.end(), idx.begin() + static_cast<std::ptrdiff_t>(axis), idx.end());
    e.store(v, e.flatten(shape, dst), e.element(value, idx));
  });
}

} // namespace

const LowerRule lowerUpdate{Lowering::Loops, RowAccess::None, false, nullptr, emitUpdate};
const LowerRule lowerTake{Lowering::Loops, RowAccess::None, false, nullptr, emitGather<false>};
const LowerRule lowerTakeAlong{Lowering::Loops, RowAccess::OffAxis0, false, nullptr,
                               emitGather<true>};
const LowerRule lowerScatterAdd{Lowering::Loops, RowAccess::None, false, nullptr,
                                emitScatter<false>};
const LowerRule lowerScatterAddAlong{Lowering::Loops, RowAccess::OffAxis0, false, nullptr,
                                     emitScatter<true>};

} // namespace nabla::codegen
