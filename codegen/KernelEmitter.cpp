// The kernel emitter's core: the workspace and the ABI, one function per loop group, loops,
// loads and stores, and the dispatch of each value to its op's LowerRule.
#include "codegen/KernelEmitter.h"

#include "codegen/LlvmScalarEmitter.h"
#include "codegen/Lowering.h"
#include "codegen/Plan.h"
#include "ir/OpTable.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>

#include <fmt/format.h>

#include <stdexcept>

namespace nabla::codegen {

using llvm::IRBuilder;
using llvm::Value;

KernelEmitter::KernelEmitter(const Function &f, const LoopPlan &plan, llvm::Module &m,
                             const std::string &symbol, bool avx512VectorMath, bool internal)
    : f_(f), plan_(plan), m_(m), ctx_(m.getContext()), b_(ctx_), symbol_(symbol),
      internal_(internal), avx512VectorMath_(avx512VectorMath) {}

KernelEmitter::~KernelEmitter() = default;

void KernelEmitter::run() {
  emitWorkspaceFunction();
  emitKernel();
}

// ----- types -----------------------------------------------------------------------------------

llvm::Type *KernelEmitter::registerType(DType t) {
  switch (t) {
  case DType::F32:
    return b_.getFloatTy();
  case DType::F64:
    return b_.getDoubleTy();
  case DType::I32:
    return b_.getInt32Ty();
  case DType::Bool:
    return b_.getInt1Ty();
  }
  return b_.getDoubleTy();
}

std::int64_t KernelEmitter::elementBytes(DType t) {
  switch (t) {
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F64:
    return 8;
  case DType::Bool:
    return 1;
  }
  return 8;
}

llvm::Constant *KernelEmitter::constantOf(llvm::Type *t, double x) {
  if (t->isIntegerTy())
    return llvm::ConstantInt::get(t, static_cast<std::uint64_t>(static_cast<std::int64_t>(x)),
                                  true);
  return llvm::ConstantFP::get(t, x);
}

// ----- dimensions ------------------------------------------------------------------------------

Value *KernelEmitter::dim(const Dim &d) {
  if (d.isConstant())
    return b_.getInt64(d.constant());
  std::string key = d.str();
  if (auto it = dimCache_.find(key); it != dimCache_.end())
    return it->second;
  IRBuilder<> entry(dimsBlock_->getTerminator());
  std::int64_t denominator = 1;
  Value *total = entry.getInt64(0);
  for (const Dim::Term &term : d.terms(&denominator)) {
    Value *product = entry.getInt64(term.coefficient);
    for (const std::string &name : term.names)
      product = entry.CreateMul(product, symbolValue(entry, name));
    total = entry.CreateAdd(total, product);
  }
  if (denominator != 1)
    total = entry.CreateSDiv(total, entry.getInt64(denominator));
  dimCache_[key] = total;
  return total;
}

Value *KernelEmitter::symbolValue(IRBuilder<> &entry, const std::string &name) {
  auto it = std::find(f_.dimParams.begin(), f_.dimParams.end(), name);
  auto k = static_cast<std::uint64_t>(it - f_.dimParams.begin());
  Value *ptr = entry.CreateConstGEP1_64(entry.getInt64Ty(), dimsArg_, k);
  return entry.CreateLoad(entry.getInt64Ty(), ptr, name);
}

/// Starts a function whose first block computes dimensions (and holds stack slots) and then
/// branches to the body, where `b_` is left.
void KernelEmitter::beginFunction(llvm::Function *fn) {
  dimCache_.clear();
  dimsBlock_ = llvm::BasicBlock::Create(ctx_, "dims", fn);
  llvm::BasicBlock *body = llvm::BasicBlock::Create(ctx_, "entry", fn);
  IRBuilder<>(dimsBlock_).CreateBr(body);
  b_.SetInsertPoint(body);
}

std::vector<Value *> KernelEmitter::dims(const Shape &s) {
  std::vector<Value *> out;
  for (const Dim &d : s)
    out.push_back(dim(d));
  return out;
}

Value *KernelEmitter::elementCount(const Shape &s) {
  Value *n = b_.getInt64(1);
  for (const Dim &d : s)
    n = b_.CreateMul(n, dim(d));
  return n;
}

/// Sum of index times stride, the strides being loop-invariant values of the entry block (a
/// form that loop strength reduction handles quickly, unlike nested (i*n + j)*m + k).
Value *KernelEmitter::flatten(const Shape &shape, const Index &idx) {
  Value *flat = nullptr;
  Dim stride(1);
  for (std::size_t d = shape.size(); d-- > 0;) {
    Value *term = stride == Dim(1) ? idx[d] : b_.CreateMul(idx[d], dim(stride), "", true, true);
    flat = flat ? b_.CreateAdd(flat, term, "", true, true) : term;
    stride = stride * shape[d];
  }
  return flat ? flat : b_.getInt64(0);
}

llvm::BasicBlock *KernelEmitter::block(const char *name) {
  return llvm::BasicBlock::Create(ctx_, name, kernel_);
}

Value *KernelEmitter::accumulator(llvm::Type *t, Value *init) {
  IRBuilder<> entry(dimsBlock_, dimsBlock_->begin());
  Value *slot = entry.CreateAlloca(t);
  b_.CreateStore(init, slot);
  return slot;
}

// ----- workspace --------------------------------------------------------------------------------

/// Byte offsets of the workspace buffers (64-aligned), emitted into the current function.
/// A loop's buffer is followed by the scratch its LowerRule asks for (carried values, tape, its
/// bodies' workspaces).
Value *KernelEmitter::layoutWorkspace(std::vector<Value *> *offsets) {
  overflow_ = b_.getFalse();
  Value *total = b_.getInt64(0);
  if (offsets)
    offsets->assign(f_.insts.size(), nullptr);
  auto roundUp = [&](Value *bytes) {
    return b_.CreateAnd(checkedAdd(bytes, b_.getInt64(63)), b_.getInt64(~std::int64_t{63}));
  };
  for (ValueId v = 0; v < f_.insts.size(); ++v) {
    if (!plan_.inWorkspace[v])
      continue;
    if (offsets)
      (*offsets)[v] = total;
    Value *bytes = b_.getInt64(elementBytes(f_.typeOf(v).dtype));
    for (const Dim &d : f_.typeOf(v).shape)
      bytes = checkedMul(bytes, dim(d));
    if (auto scratch = lowerRule(f_.insts[v].op).scratchBytes)
      bytes = checkedAdd(roundUp(bytes), scratch(*this, v));
    total = checkedAdd(total, roundUp(bytes));
  }
  return total;
}

Value *KernelEmitter::checkedAdd(Value *a, Value *b) {
  Value *sum = b_.CreateBinaryIntrinsic(llvm::Intrinsic::sadd_with_overflow, a, b);
  noteOverflow(b_.CreateExtractValue(sum, 1));
  return b_.CreateExtractValue(sum, 0);
}

Value *KernelEmitter::checkedMul(Value *a, Value *b) {
  Value *product = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smul_with_overflow, a, b);
  noteOverflow(b_.CreateExtractValue(product, 1));
  return b_.CreateExtractValue(product, 0);
}

void KernelEmitter::noteOverflow(Value *overflowed) {
  if (overflow_)
    overflow_ = b_.CreateOr(overflow_, overflowed);
}

void KernelEmitter::emitWorkspaceFunction() {
  llvm::Type *ptr = b_.getPtrTy();
  auto *type = llvm::FunctionType::get(b_.getInt64Ty(), {ptr, ptr}, false);
  auto linkage = internal_ ? llvm::Function::InternalLinkage : llvm::Function::ExternalLinkage;
  llvm::Function *fn = llvm::Function::Create(type, linkage, symbol_ + "_workspace", m_);
  dimsArg_ = fn->getArg(0);
  argsArg_ = fn->getArg(1);
  beginFunction(fn);
  Value *total = layoutWorkspace(nullptr);
  b_.CreateRet(b_.CreateSelect(overflow_, b_.getInt64(-1), total));
  overflow_ = nullptr;
}

// ----- loops ------------------------------------------------------------------------------------

const KernelEmitter::BodyKernel &
KernelEmitter::bodyKernel(const Function &body, const std::string &suffix,
                          std::span<const std::size_t> carriedArguments) {
  std::unique_ptr<BodyKernel> &kernel = bodies_[&body];
  if (kernel)
    return *kernel;
  kernel = std::make_unique<BodyKernel>();
  kernel->plan = planKernel(body, plan_.target, carriedArguments);
  std::string name = symbol_ + "." + suffix;
  KernelEmitter(body, kernel->plan, m_, name, avx512VectorMath_, /*internal=*/true).run();
  kernel->run = m_.getFunction(name);
  kernel->workspace = m_.getFunction(name + "_workspace");
  return *kernel;
}

Value *KernelEmitter::valueBeforeRun(ValueId v, const char *what) {
  const Inst &inst = f_.insts[v];
  const LowerRule &rule = lowerRule(inst.op);
  auto refuse = [&]() -> Value * {
    throw std::runtime_error(fmt::format(
        "in '{}': {} %{} ('{}') must be computed from dimensions, constants and i32 arguments "
        "for native code, which sizes the workspace before the call (use --engine interp)",
        f_.name, what, v, mnemonic(inst.op)));
  };
  if (!inst.type.isScalar())
    return refuse();
  switch (rule.how) {
  case Lowering::Argument: {
    if (!argsArg_ || !f_.yields.empty()) // a loop body's parameter varies from call to call
      return refuse();
    std::vector<ValueId> arguments = f_.arguments();
    auto k = static_cast<std::uint64_t>(std::find(arguments.begin(), arguments.end(), v) -
                                        arguments.begin());
    Value *array = argsArg_;
    if (overflow_) { // sizing the workspace: a caller may pass no arguments, then it gets -1
      Value *missing = b_.CreateIsNull(argsArg_);
      noteOverflow(missing);
      Value *zero = stackSlots(b_.getInt64Ty(), 1), *stand = stackSlots(b_.getPtrTy(), 1);
      b_.CreateStore(b_.getInt64(0), zero);
      b_.CreateStore(zero, stand);
      array = b_.CreateSelect(missing, b_.CreateGEP(b_.getPtrTy(), stand, b_.getInt64(-std::int64_t(k))), argsArg_);
    }
    Value *data = b_.CreateLoad(b_.getPtrTy(), b_.CreateConstGEP1_64(b_.getPtrTy(), array, k));
    return load(v, b_.getInt64(0), data);
  }
  case Lowering::Elementwise: {
    std::vector<void *> operands;
    for (ValueId o : inst.operands)
      operands.push_back(valueBeforeRun(o, what));
    return scalarMath(inst, operands);
  }
  case Lowering::Element:
    if (!inst.operands.empty())
      return refuse();
    return rule.element(*this, v, {});
  case Lowering::Alias:
  case Lowering::Loops:
    break;
  }
  return refuse();
}

Value *KernelEmitter::stackSlots(llvm::Type *t, unsigned count) {
  IRBuilder<> entry(dimsBlock_, dimsBlock_->begin());
  return entry.CreateAlloca(t, entry.getInt32(count));
}

// ----- the kernel -------------------------------------------------------------------------------

void KernelEmitter::emitKernel() {
  llvm::Type *ptr = b_.getPtrTy();
  auto *type = llvm::FunctionType::get(b_.getInt32Ty(), {ptr, ptr, ptr, ptr}, false);
  kernel_ = llvm::Function::Create(
      type, internal_ ? llvm::Function::InternalLinkage : llvm::Function::ExternalLinkage, symbol_,
      m_);
  for (unsigned i = 0; i < 4; ++i)
    kernel_->addParamAttr(i, llvm::Attribute::NoAlias);
  llvm::Value *args = kernel_->getArg(0), *results = kernel_->getArg(1);
  dimsArg_ = kernel_->getArg(2);
  argsArg_ = args;
  llvm::Value *workspace = kernel_->getArg(3);
  beginFunction(kernel_);
  errorBlock_ = llvm::BasicBlock::Create(ctx_, "index_out_of_range", kernel_);

  std::vector<Value *> offsets;
  layoutWorkspace(&offsets);
  overflow_ = nullptr; // the workspace function has checked the sizes
  buffers_.assign(f_.insts.size(), nullptr);
  std::size_t argIndex = 0;
  for (ValueId v = 0; v < f_.insts.size(); ++v) {
    const Inst &inst = f_.insts[v];
    if (lowerRule(inst.op).how == Lowering::Argument) {
      Value *slot = b_.CreateConstGEP1_64(ptr, args, argIndex++);
      buffers_[v] = b_.CreateLoad(ptr, slot, inst.stringAttr("name"));
    } else if (plan_.inWorkspace[v]) {
      buffers_[v] = b_.CreateGEP(b_.getInt8Ty(), workspace, offsets[v]);
    }
  }
  std::vector<std::pair<ValueId, Value *>> copies;
  for (std::size_t r = 0; r < plan_.results.size(); ++r) {
    const ResultSlot &slot = plan_.results[r];
    Value *target = b_.CreateLoad(ptr, b_.CreateConstGEP1_64(ptr, results, r));
    if (slot.copied)
      copies.emplace_back(slot.value, target);
    else if (slot.inPlace) // the update writes into the carried argument it replaces
      buffers_[slot.value] = buffers_[f_.insts[slot.value].operands[0]];
    else
      buffers_[slot.value] = target;
  }

  // A reshape shares its operand's buffer (results included, so this comes after them).
  for (ValueId v = 0; v < f_.insts.size(); ++v)
    if (lowerRule(f_.insts[v].op).how == Lowering::Alias && !buffers_[v])
      buffers_[v] = buffers_[f_.insts[v].operands[0]];
  for (const LoopGroup &group : plan_.groups)
    emitGroup(group);
  for (auto [v, target] : copies)
    emitCopy(v, target);
  b_.CreateRet(b_.getInt32(0));

  b_.SetInsertPoint(errorBlock_);
  b_.CreateRet(b_.getInt32(kIndexOutOfRange));
}

/// The buffers that computing `v` reads or writes: its own and those of the materialized
/// values its fused operands reach.
void KernelEmitter::collectBuffers(ValueId v, bool root, std::vector<Value *> &out) {
  if (!root && buffers_[v]) {
    if (std::find(out.begin(), out.end(), buffers_[v]) == out.end())
      out.push_back(buffers_[v]);
    return;
  }
  if (root && std::find(out.begin(), out.end(), buffers_[v]) == out.end())
    out.push_back(buffers_[v]);
  for (ValueId o : f_.insts[v].operands)
    collectBuffers(o, false, out);
}

/// Emits the loops of `group` as a function of their own, called from the kernel: small
/// functions with noalias buffers keep LLVM's loop passes fast and precise (one giant function
/// made loop strength reduction take seconds). Scalar arithmetic goes into the kernel itself.
void KernelEmitter::emitGroup(const LoopGroup &group) {
  std::vector<ValueId> values;
  for (const std::vector<ValueId> &loop : group.loops)
    values.insert(values.end(), loop.begin(), loop.end());
  if (group.inKernel) {
    for (ValueId v : values)
      emitMaterialized(v);
    return;
  }
  std::vector<Value *> used;
  for (ValueId v : values)
    collectBuffers(v, true, used);
  llvm::Type *ptr = b_.getPtrTy();
  std::vector<llvm::Type *> params(used.size() + 1, ptr);
  auto *type = llvm::FunctionType::get(b_.getInt32Ty(), params, false);
  ValueId first = values.front();
  std::string name = fmt::format("{}.{}.{}", symbol_, mnemonic(f_.insts[first].op), first);
  if (group.rows)
    name += fmt::format(".rows{}", values.size());
  else if (values.size() > 1)
    name += fmt::format(".fused{}", values.size());
  auto *fn = llvm::Function::Create(type, llvm::Function::InternalLinkage, name, m_);
  fn->addFnAttr(llvm::Attribute::NoInline);
  for (unsigned i = 1; i < params.size(); ++i)
    fn->addParamAttr(i, llvm::Attribute::NoAlias);
  // Emit into the new function with the buffers renamed to its parameters.
  llvm::Function *outerFn = kernel_;
  llvm::BasicBlock *outerDims = dimsBlock_, *outerError = errorBlock_;
  Value *outerDimsArg = dimsArg_, *outerArgsArg = argsArg_;
  auto outerCache = std::move(dimCache_);
  std::vector<Value *> outerBuffers = buffers_;
  llvm::IRBuilderBase::InsertPoint outerPoint = b_.saveIP();

  kernel_ = fn;
  dimsArg_ = fn->getArg(0);
  argsArg_ = nullptr;
  for (Value *&buffer : buffers_) {
    auto it = std::find(used.begin(), used.end(), buffer);
    buffer = it == used.end() ? nullptr : fn->getArg(static_cast<unsigned>(it - used.begin()) + 1);
  }
  // Values read through a reshape alias share the pointer, so they were renamed above too.
  beginFunction(fn);
  errorBlock_ = llvm::BasicBlock::Create(ctx_, "index_out_of_range", fn);
  auto emitLoop = [&](const std::vector<ValueId> &loop) {
    if (loop.size() == 1)
      emitMaterialized(loop.front());
    else
      emitFusedLoop(loop);
  };
  if (group.rows) {
    // One loop over the rows; inside it, every member's loop over that extent is this row.
    loopNest({dim(*group.rows)}, [&](const Index &row) {
      row_ = row[0];
      rowExtent_ = dim(*group.rows);
      for (const std::vector<ValueId> &loop : group.loops)
        emitLoop(loop);
      row_ = rowExtent_ = nullptr;
    });
  } else {
    emitLoop(group.loops.front());
  }
  b_.CreateRet(b_.getInt32(0));
  b_.SetInsertPoint(errorBlock_);
  b_.CreateRet(b_.getInt32(kIndexOutOfRange));

  kernel_ = outerFn;
  dimsBlock_ = outerDims;
  errorBlock_ = outerError;
  dimsArg_ = outerDimsArg;
  argsArg_ = outerArgsArg;
  dimCache_ = std::move(outerCache);
  buffers_ = std::move(outerBuffers);
  b_.restoreIP(outerPoint);

  std::vector<Value *> args{dimsArg_};
  args.insert(args.end(), used.begin(), used.end());
  Value *status = b_.CreateCall(fn, args);
  llvm::BasicBlock *next = llvm::BasicBlock::Create(ctx_, "next", kernel_);
  b_.CreateCondBr(b_.CreateICmpEQ(status, b_.getInt32(0)), next, errorBlock_);
  b_.SetInsertPoint(next);
}

// ----- loads and stores ------------------------------------------------------------------------

Value *KernelEmitter::load(ValueId v, Value *flat, Value *base) {
  DType t = f_.typeOf(v).dtype;
  Value *ptr = b_.CreateGEP(memoryType(t), base ? base : buffers_[v], flat);
  Value *x = b_.CreateLoad(memoryType(t), ptr);
  return t == DType::Bool ? b_.CreateTrunc(x, b_.getInt1Ty()) : x;
}

void KernelEmitter::store(ValueId v, Value *flat, Value *x) {
  DType t = f_.typeOf(v).dtype;
  if (t == DType::Bool)
    x = b_.CreateZExt(x, b_.getInt8Ty());
  b_.CreateStore(x, b_.CreateGEP(memoryType(t), buffers_[v], flat));
}

void KernelEmitter::storeTo(Value *base, DType t, Value *flat, Value *x) {
  if (t == DType::Bool)
    x = b_.CreateZExt(x, b_.getInt8Ty());
  b_.CreateStore(x, b_.CreateGEP(memoryType(t), base, flat));
}

Value *KernelEmitter::element(ValueId v, const Index &idx) {
  if (auto it = inRegister_.find(v); it != inRegister_.end())
    return it->second;
  if (buffers_[v])
    return load(v, flatten(f_.typeOf(v).shape, idx));
  return compute(v, idx);
}

Value *KernelEmitter::scalarMath(const Inst &inst, std::span<void *const> operands) {
  LlvmScalarEmitter emitter(b_, m_, registerType(f_.typeOf(inst.operands[0]).dtype),
                            avx512VectorMath_);
  ScalarEmitter::Scope scope(emitter);
  return static_cast<Value *>(opInfo(inst.op).lowerScalar(operands, inst));
}

/// The element of a fused value at `idx`, computed from its operands: elementwise ops through
/// their own scalar definitions (OpInfo::lowerScalar), the others through their LowerRule.
Value *KernelEmitter::compute(ValueId v, const Index &idx) {
  const Inst &inst = f_.insts[v];
  const LowerRule &rule = lowerRule(inst.op);
  switch (rule.how) {
  case Lowering::Elementwise: {
    std::vector<void *> operands;
    for (ValueId o : inst.operands)
      operands.push_back(element(o, idx));
    return scalarMath(inst, operands);
  }
  case Lowering::Element:
    return rule.element(*this, v, idx);
  case Lowering::Argument:
  case Lowering::Alias:
  case Lowering::Loops:
    break;
  }
  throw std::logic_error(fmt::format("'{}' cannot be computed in place", mnemonic(inst.op)));
}

Index KernelEmitter::broadcastSource(const Inst &inst, const Index &idx) {
  const Shape &from = f_.typeOf(inst.operands[0]).shape;
  std::size_t lead = inst.type.rank() - from.size();
  Index inner;
  for (std::size_t d = 0; d < from.size(); ++d)
    inner.push_back(from[d] == Dim(1) ? b_.getInt64(0) : idx[d + lead]);
  return inner;
}

Value *KernelEmitter::elementPointer(ValueId value, Index idx) {
  if (!buffers_[value] && isBatchBroadcast(f_, value)) {
    idx = broadcastSource(f_.insts[value], idx);
    value = f_.insts[value].operands[0];
  }
  return b_.CreateGEP(b_.getInt8Ty(), buffers_[value],
                      b_.CreateMul(flatten(f_.typeOf(value).shape, idx),
                                   b_.getInt64(elementBytes(f_.typeOf(value).dtype))));
}

Value *KernelEmitter::convert(Value *x, DType from, DType to) {
  llvm::Type *t = registerType(to);
  if (from == to)
    return x;
  if (from == DType::Bool)
    return isFloat(to) ? b_.CreateUIToFP(x, t) : b_.CreateZExt(x, t);
  if (from == DType::I32)
    return b_.CreateSIToFP(x, t);
  if (to == DType::I32)
    return b_.CreateFPToSI(x, t);
  return b_.CreateFPCast(x, t);
}

// ----- materialized values ---------------------------------------------------------------------

void KernelEmitter::emitMaterialized(ValueId v) {
  const Inst &inst = f_.insts[v];
  const Shape &shape = inst.type.shape;
  const LowerRule &rule = lowerRule(inst.op);
  if (isFused(rule)) {
    loopNest(dims(shape),
             [&](const Index &idx) { store(v, flatten(shape, idx), compute(v, idx)); });
    return;
  }
  if (!rule.emit)
    throw std::logic_error(fmt::format("no lowering for '{}'", mnemonic(inst.op)));
  rule.emit(*this, v);
}

/// One loop computing several elementwise values of one shape. A member that reads another
/// (at the same index) takes it from the register that was just stored.
void KernelEmitter::emitFusedLoop(const std::vector<ValueId> &values) {
  const Shape &shape = f_.typeOf(values.front()).shape;
  loopNest(dims(shape), [&](const Index &idx) {
    Value *flat = flatten(shape, idx);
    for (ValueId v : values) {
      Value *x = compute(v, idx);
      store(v, flat, x);
      inRegister_[v] = x;
    }
    for (ValueId v : values)
      inRegister_.erase(v);
  });
}

void KernelEmitter::emitCopy(ValueId v, Value *target) {
  const Shape &shape = f_.typeOf(v).shape;
  DType t = f_.typeOf(v).dtype;
  loopNest(dims(shape),
           [&](const Index &idx) { storeTo(target, t, flatten(shape, idx), element(v, idx)); });
}

} // namespace nabla::codegen
