// Lowering of the structured matrices (diag, diag_part, lower, lower_part) and of matmul, whose
// loops and GEMM calls are codegen/Gemm.cpp's.
#include "codegen/Gemm.h"
#include "codegen/KernelEmitter.h"

#include <llvm/IR/Constants.h>

namespace nabla::codegen {

namespace {

using llvm::Value;

/// k(row, col) for row > col: col*(n-1) - col*(col-1)/2 + (row - col - 1), the position of
/// entry (row, col) in the packed strict lower triangle, column by column.
Value *lowerOffset(KernelEmitter &e, Value *row, Value *col, Value *n) {
  auto &b = e.b();
  Value *colTerm =
      b.CreateSub(b.CreateMul(col, b.CreateSub(n, b.getInt64(1))),
                  b.CreateSDiv(b.CreateMul(col, b.CreateSub(col, b.getInt64(1))), b.getInt64(2)));
  return b.CreateAdd(colTerm, b.CreateSub(b.CreateSub(row, col), b.getInt64(1)));
}

Value *zeroOf(KernelEmitter &e, ValueId v) {
  return llvm::ConstantFP::get(e.registerType(e.inst(v).type.dtype), 0.0);
}

void emitDiag(KernelEmitter &e, ValueId v) {
  const Inst &inst = e.inst(v);
  const Shape &shape = inst.type.shape;
  std::size_t r = shape.size();
  Value *zero = zeroOf(e, v);
  e.loopNest(e.dims(shape), [&](const Index &idx) {
    Index in(idx.begin(), idx.end() - 1);
    Value *onDiagonal = e.b().CreateICmpEQ(idx[r - 2], idx[r - 1]);
    e.store(v, e.flatten(shape, idx),
            e.b().CreateSelect(onDiagonal, e.element(inst.operands[0], in), zero));
  });
}

void emitDiagPart(KernelEmitter &e, ValueId v) {
  const Inst &inst = e.inst(v);
  const Shape &shape = inst.type.shape;
  e.loopNest(e.dims(shape), [&](const Index &idx) {
    Index in = idx;
    in.push_back(idx.back());
    e.store(v, e.flatten(shape, idx), e.element(inst.operands[0], in));
  });
}

// lower: the packed entries filled in below the diagonal, column by column.
void emitLower(KernelEmitter &e, ValueId v) {
  const Inst &inst = e.inst(v);
  auto &b = e.b();
  ValueId x = inst.operands[0];
  const Shape &shape = inst.type.shape;
  const Shape &xShape = e.f().typeOf(x).shape;
  std::size_t r = shape.size();
  Value *zero = zeroOf(e, v);
  e.loopNest(e.dims(shape), [&](const Index &idx) {
    Value *row = idx[r - 2], *col = idx[r - 1];
    Value *below = b.CreateICmpSGT(row, col);
    // Outside the triangle, read entry 0 (a valid index) and discard it.
    Value *k = b.CreateSelect(below, lowerOffset(e, row, col, e.dim(shape[r - 1])), b.getInt64(0));
    Index in(idx.begin(), idx.end() - 2);
    in.push_back(k);
    Value *len = e.dim(xShape.back());
    Value *valid = b.CreateAnd(below, b.CreateICmpSGT(len, b.getInt64(0)));
    e.store(v, e.flatten(shape, idx), b.CreateSelect(valid, e.element(x, in), zero));
  });
}

void emitLowerPart(KernelEmitter &e, ValueId v) {
  const Inst &inst = e.inst(v);
  auto &b = e.b();
  ValueId x = inst.operands[0];
  const Shape &shape = inst.type.shape;
  const Shape &xShape = e.f().typeOf(x).shape;
  e.loopNest(e.dims(xShape), [&](const Index &idx) {
    std::size_t xr = xShape.size();
    Value *row = idx[xr - 2], *col = idx[xr - 1];
    llvm::BasicBlock *inside = e.block("lower");
    llvm::BasicBlock *join = e.block("lower_join");
    b.CreateCondBr(b.CreateICmpSGT(row, col), inside, join);
    b.SetInsertPoint(inside);
    Index out(idx.begin(), idx.end() - 2);
    out.push_back(lowerOffset(e, row, col, e.dim(xShape[xr - 1])));
    e.store(v, e.flatten(shape, out), e.element(x, idx));
    b.CreateBr(join);
    b.SetInsertPoint(join);
  });
}

// C[..., i, j] = sum_p A[..., i, p] B[..., p, j], as the plan says (loops or GEMMs).
void emitMatMul(KernelEmitter &e, ValueId v) { emitProduct(e, *e.plan().products[v]); }

} // namespace

const LowerRule lowerDiag{Lowering::Loops, RowAccess::None, false, nullptr, emitDiag};
const LowerRule lowerDiagPart{Lowering::Loops, RowAccess::None, false, nullptr, emitDiagPart};
const LowerRule lowerLower{Lowering::Loops, RowAccess::None, false, nullptr, emitLower};
const LowerRule lowerLowerPart{Lowering::Loops, RowAccess::None, false, nullptr, emitLowerPart};
const LowerRule lowerMatMul{Lowering::Loops, RowAccess::None, false, nullptr, emitMatMul};

} // namespace nabla::codegen
