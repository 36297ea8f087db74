// Lowering of the leaves: arguments are the caller's buffers; constants, index ramps and sizes
// are computed at the index where they are read.
#include "codegen/KernelEmitter.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalVariable.h>

namespace nabla::codegen {

namespace {

using llvm::Value;

// A scalar constant, or a literal tensor read from a constant global array.
Value *constElement(KernelEmitter &e, ValueId v, const Index &idx) {
  const Inst &inst = e.inst(v);
  auto &b = e.b();
  const auto &values = inst.floatsAttr("value");
  llvm::Type *t = e.registerType(inst.type.dtype);
  if (values.size() == 1)
    return e.constantOf(t, values[0]);
  std::vector<llvm::Constant *> elements;
  llvm::Type *mt = e.memoryType(inst.type.dtype);
  for (double x : values)
    elements.push_back(inst.type.dtype == DType::Bool ? llvm::ConstantInt::get(mt, x != 0)
                                                      : e.constantOf(mt, x));
  auto *arrayType = llvm::ArrayType::get(mt, values.size());
  auto *global =
      new llvm::GlobalVariable(e.module(), arrayType, true, llvm::GlobalValue::PrivateLinkage,
                               llvm::ConstantArray::get(arrayType, elements));
  Value *x = b.CreateLoad(mt, b.CreateGEP(mt, global, e.flatten(inst.type.shape, idx)));
  return inst.type.dtype == DType::Bool ? b.CreateTrunc(x, b.getInt1Ty()) : x;
}

// iota: the index along `axis`, as i32.
Value *iotaElement(KernelEmitter &e, ValueId v, const Index &idx) {
  return e.b().CreateTrunc(idx[static_cast<std::size_t>(e.inst(v).intAttr("axis"))],
                           e.b().getInt32Ty());
}

// dim_size: a runtime dimension as a number.
Value *dimSizeElement(KernelEmitter &e, ValueId v, const Index &) {
  const Inst &inst = e.inst(v);
  Value *n = e.dim(inst.dimsAttr("dim")[0]);
  llvm::Type *t = e.registerType(inst.type.dtype);
  return t->isIntegerTy() ? e.b().CreateTrunc(n, t) : e.b().CreateSIToFP(n, t);
}

} // namespace

const LowerRule lowerInput{Lowering::Argument};
const LowerRule lowerParam{Lowering::Argument};
const LowerRule lowerConst{Lowering::Element, RowAccess::SameRow, true, constElement};
const LowerRule lowerIota{Lowering::Element, RowAccess::SameRow, false, iotaElement};
const LowerRule lowerDimSize{Lowering::Element, RowAccess::SameRow, true, dimSizeElement};

} // namespace nabla::codegen
