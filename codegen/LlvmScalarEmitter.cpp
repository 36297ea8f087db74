// The LLVM ScalarEmitter: math functions as intrinsics, libm calls or nabla's runtime support,
// with libmvec's AVX-512 variants offered to the vectorizer.
#include "codegen/LlvmScalarEmitter.h"

#include "codegen/Lowering.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/Transforms/Utils/ModuleUtils.h>

#include <fmt/format.h>

namespace nabla::codegen {

namespace {

using llvm::Value;

// Math functions without side effects (no errno): LLVM may then vectorize them through libmvec.
void markPure(llvm::FunctionCallee callee) {
  if (auto *fn = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    fn->setDoesNotAccessMemory();
    fn->setDoesNotThrow();
    fn->setWillReturn();
  }
}

} // namespace

ScalarEmitter::Handle LlvmScalarEmitter::constant(double v) {
  if (type_->isIntegerTy())
    return llvm::ConstantInt::get(type_, static_cast<std::uint64_t>(static_cast<std::int64_t>(v)),
                                  true);
  return llvm::ConstantFP::get(type_, v);
}

ScalarEmitter::Handle LlvmScalarEmitter::call(MathFn fn, Handle x) {
  Value *v = value(x);
  if (type_->isIntegerTy()) {
    if (fn == MathFn::Neg)
      return b_.CreateNeg(v);
    if (fn == MathFn::Abs)
      return b_.CreateBinaryIntrinsic(llvm::Intrinsic::abs, v, b_.getFalse());
  }
  switch (fn) {
  case MathFn::Neg:
    return b_.CreateFNeg(v);
  case MathFn::Exp:
    return widen(b_.CreateUnaryIntrinsic(llvm::Intrinsic::exp, v), "exp", 1);
  case MathFn::Log:
    return widen(b_.CreateUnaryIntrinsic(llvm::Intrinsic::log, v), "log", 1);
  case MathFn::Sqrt:
    return b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, v);
  case MathFn::Sin:
    return widen(b_.CreateUnaryIntrinsic(llvm::Intrinsic::sin, v), "sin", 1);
  case MathFn::Cos:
    return widen(b_.CreateUnaryIntrinsic(llvm::Intrinsic::cos, v), "cos", 1);
  case MathFn::Abs:
    return b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, v);
  case MathFn::Tan:
    return libm("tan", v);
  case MathFn::Tanh:
    return libm("tanh", v);
  case MathFn::Log1p:
    return libm("log1p", v);
  case MathFn::Expm1:
    return libm("expm1", v);
  case MathFn::Erf:
    return libm("erf", v);
  case MathFn::Lgamma:
    return support(0, v);
  case MathFn::Digamma:
    return support(1, v);
  case MathFn::Trigamma:
    return support(2, v);
  }
  return v;
}

ScalarEmitter::Handle LlvmScalarEmitter::polygamma(int order, Handle x) {
  llvm::Type *f64 = b_.getDoubleTy();
  llvm::FunctionCallee callee = m_.getOrInsertFunction(
      runtimeSymbolName(3), llvm::FunctionType::get(f64, {b_.getInt32Ty(), f64}, false));
  markPure(callee);
  Value *arg = b_.CreateFPCast(value(x), f64);
  return b_.CreateFPCast(b_.CreateCall(callee, {b_.getInt32(order), arg}), type_);
}

ScalarEmitter::Handle LlvmScalarEmitter::binary(MathOp op, Handle a, Handle c) {
  Value *x = value(a), *y = value(c);
  if (type_->isIntegerTy()) {
    switch (op) {
    case MathOp::Add:
      return b_.CreateAdd(x, y);
    case MathOp::Sub:
      return b_.CreateSub(x, y);
    case MathOp::Mul:
      return b_.CreateMul(x, y);
    case MathOp::Div:
    case MathOp::Pow:
      break; // the type rules keep i32 out of these
    }
  }
  switch (op) {
  case MathOp::Add:
    return b_.CreateFAdd(x, y);
  case MathOp::Sub:
    return b_.CreateFSub(x, y);
  case MathOp::Mul:
    return b_.CreateFMul(x, y);
  case MathOp::Div:
    return b_.CreateFDiv(x, y);
  case MathOp::Pow:
    return widen(b_.CreateBinaryIntrinsic(llvm::Intrinsic::pow, x, y), "pow", 2);
  }
  return x;
}

ScalarEmitter::Handle LlvmScalarEmitter::compare(MathCmp cmp, Handle a, Handle c) {
  Value *x = value(a), *y = value(c);
  if (type_->isIntegerTy()) {
    static const llvm::CmpInst::Predicate preds[] = {
        llvm::CmpInst::ICMP_SLT, llvm::CmpInst::ICMP_SLE, llvm::CmpInst::ICMP_SGT,
        llvm::CmpInst::ICMP_SGE, llvm::CmpInst::ICMP_EQ,  llvm::CmpInst::ICMP_NE};
    return b_.CreateICmp(preds[static_cast<int>(cmp)], x, y);
  }
  // Ordered comparisons, except != which is true for NaN, as in C++.
  static const llvm::CmpInst::Predicate preds[] = {
      llvm::CmpInst::FCMP_OLT, llvm::CmpInst::FCMP_OLE, llvm::CmpInst::FCMP_OGT,
      llvm::CmpInst::FCMP_OGE, llvm::CmpInst::FCMP_OEQ, llvm::CmpInst::FCMP_UNE};
  return b_.CreateFCmp(preds[static_cast<int>(cmp)], x, y);
}

Value *LlvmScalarEmitter::libm(const std::string &name, Value *x) {
  std::string symbol = type_->isFloatTy() ? name + "f" : name;
  llvm::FunctionCallee callee =
      m_.getOrInsertFunction(symbol, llvm::FunctionType::get(type_, {type_}, false));
  markPure(callee);
  return widen(b_.CreateCall(callee, {x}), name, 1);
}

/// Offers the vectorizer libmvec's AVX-512 variant of a math call (8 doubles or 16 floats):
/// LLVM 19's libmvec table only lists the 2- and 4-wide ones, so the 8-wide variant is named
/// on the call site and its declaration kept alive.
Value *LlvmScalarEmitter::widen(Value *call, const std::string &name, int arity) {
  auto *inst = llvm::dyn_cast<llvm::CallInst>(call);
  if (!avx512_ || !inst || !inst->getCalledFunction())
    return call;
  bool isFloat = type_->isFloatTy();
  unsigned lanes = isFloat ? 16 : 8;
  std::string params(static_cast<std::size_t>(arity), 'v');
  std::string vectorName = fmt::format("_ZGVeN{}{}_{}{}", lanes, params, name, isFloat ? "f" : "");
  auto *vectorType = llvm::FixedVectorType::get(type_, lanes);
  std::vector<llvm::Type *> vectorParams(static_cast<std::size_t>(arity), vectorType);
  llvm::FunctionCallee decl =
      m_.getOrInsertFunction(vectorName, llvm::FunctionType::get(vectorType, vectorParams, false));
  auto *declFn = llvm::cast<llvm::Function>(decl.getCallee());
  if (declFn->use_empty())
    llvm::appendToCompilerUsed(m_, {declFn});
  std::string variant = fmt::format("_ZGV_LLVM_N{}{}_{}({})", lanes, params,
                                    inst->getCalledFunction()->getName().str(), vectorName);
  inst->addFnAttr(llvm::Attribute::get(b_.getContext(), "vector-function-abi-variant", variant));
  return call;
}

/// nabla's own special functions are double-precision; float arguments are widened.
Value *LlvmScalarEmitter::support(int which, Value *x) {
  llvm::Type *f64 = b_.getDoubleTy();
  llvm::FunctionCallee callee =
      m_.getOrInsertFunction(runtimeSymbolName(which), llvm::FunctionType::get(f64, {f64}, false));
  markPure(callee);
  return b_.CreateFPCast(b_.CreateCall(callee, {b_.CreateFPCast(x, f64)}), type_);
}

} // namespace nabla::codegen
