// Lowering of the tensor IR to LLVM IR.
//
// Every value is either materialized (a buffer: an argument, a result, or workspace) or fused:
// elementwise ops, broadcasts, constants and index ramps used once are computed inside the loop
// of the value that consumes them, so that a chain of elementwise ops is one loop and a
// reduction reads its (elementwise) input without storing it. Elementwise math comes from the
// ops' own scalar definitions (OpInfo::lowerScalar) through an LLVM ScalarEmitter.
#include "codegen/Lowering.h"

#include "ir/OpTable.h"
#include "ir/ScalarEmitter.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Transforms/Utils/ModuleUtils.h>

#include <fmt/format.h>

#include <cstdlib>
#include <optional>
#include <unordered_map>

#include <map>

namespace nabla::codegen {

namespace {

using llvm::IRBuilder;
using llvm::Value;

constexpr const char *kRuntimeSymbols[] = {"nabla_rt_lgamma", "nabla_rt_digamma",
                                           "nabla_rt_trigamma", "nabla_rt_polygamma"};

/// A multi-index into a value, one i64 per dimension.
using Index = std::vector<Value *>;

/// Elementwise math as LLVM instructions of one element type.
class LlvmScalarEmitter final : public ScalarEmitter {
public:
  LlvmScalarEmitter(IRBuilder<> &b, llvm::Module &m, llvm::Type *type, bool avx512VectorMath)
      : b_(b), m_(m), type_(type), avx512_(avx512VectorMath) {}

  /// exp(x) with its 8-wide libmvec variant on offer, for loops outside the scalar definitions.
  Value *exp(Value *x) { return static_cast<Value *>(call(MathFn::Exp, x)); }

  Handle constant(double v) override {
    if (type_->isIntegerTy())
      return llvm::ConstantInt::get(type_, static_cast<std::uint64_t>(static_cast<std::int64_t>(v)),
                                    true);
    return llvm::ConstantFP::get(type_, v);
  }

  Handle call(MathFn fn, Handle x) override {
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

  Handle polygamma(int order, Handle x) override {
    llvm::Type *f64 = b_.getDoubleTy();
    llvm::FunctionCallee callee = m_.getOrInsertFunction(
        kRuntimeSymbols[3], llvm::FunctionType::get(f64, {b_.getInt32Ty(), f64}, false));
    markPure(callee);
    Value *arg = b_.CreateFPCast(value(x), f64);
    return b_.CreateFPCast(b_.CreateCall(callee, {b_.getInt32(order), arg}), type_);
  }

  Handle binary(MathOp op, Handle a, Handle c) override {
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

  Handle compare(MathCmp cmp, Handle a, Handle c) override {
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

  Handle maskOr(Handle a, Handle c) override { return b_.CreateOr(value(a), value(c)); }

  Handle select(Handle mask, Handle a, Handle c) override {
    return b_.CreateSelect(value(mask), value(a), value(c));
  }

private:
  static Value *value(Handle h) { return static_cast<Value *>(h); }

  // Math functions without side effects (no errno): LLVM may then vectorize them through libmvec.
  static void markPure(llvm::FunctionCallee callee) {
    if (auto *fn = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
      fn->setDoesNotAccessMemory();
      fn->setDoesNotThrow();
      fn->setWillReturn();
    }
  }

  Value *libm(const std::string &name, Value *x) {
    std::string symbol = type_->isFloatTy() ? name + "f" : name;
    llvm::FunctionCallee callee =
        m_.getOrInsertFunction(symbol, llvm::FunctionType::get(type_, {type_}, false));
    markPure(callee);
    return widen(b_.CreateCall(callee, {x}), name, 1);
  }

  /// Offers the vectorizer libmvec's AVX-512 variant of a math call (8 doubles or 16 floats):
  /// LLVM 19's libmvec table only lists the 2- and 4-wide ones, so the 8-wide variant is named
  /// on the call site and its declaration kept alive.
  Value *widen(Value *call, const std::string &name, int arity) {
    auto *inst = llvm::dyn_cast<llvm::CallInst>(call);
    if (!avx512_ || !inst || !inst->getCalledFunction())
      return call;
    bool isFloat = type_->isFloatTy();
    unsigned lanes = isFloat ? 16 : 8;
    std::string params(static_cast<std::size_t>(arity), 'v');
    std::string vectorName = fmt::format("_ZGVeN{}{}_{}{}", lanes, params, name, isFloat ? "f" : "");
    auto *vectorType = llvm::FixedVectorType::get(type_, lanes);
    std::vector<llvm::Type *> vectorParams(static_cast<std::size_t>(arity), vectorType);
    llvm::FunctionCallee decl = m_.getOrInsertFunction(
        vectorName, llvm::FunctionType::get(vectorType, vectorParams, false));
    auto *declFn = llvm::cast<llvm::Function>(decl.getCallee());
    if (declFn->use_empty())
      llvm::appendToCompilerUsed(m_, {declFn});
    std::string variant = fmt::format("_ZGV_LLVM_N{}{}_{}({})", lanes, params,
                                      inst->getCalledFunction()->getName().str(), vectorName);
    inst->addFnAttr(llvm::Attribute::get(b_.getContext(), "vector-function-abi-variant", variant));
    return call;
  }

  /// nabla's own special functions are double-precision; float arguments are widened.
  Value *support(int which, Value *x) {
    llvm::Type *f64 = b_.getDoubleTy();
    llvm::FunctionCallee callee =
        m_.getOrInsertFunction(kRuntimeSymbols[which], llvm::FunctionType::get(f64, {f64}, false));
    markPure(callee);
    return b_.CreateFPCast(b_.CreateCall(callee, {b_.CreateFPCast(x, f64)}), type_);
  }

  IRBuilder<> &b_;
  llvm::Module &m_;
  llvm::Type *type_;
  bool avx512_; // offer libmvec's 512-bit variants
};

class KernelEmitter {
public:
  KernelEmitter(const Function &f, llvm::Module &m, const std::string &symbol,
                bool avx512VectorMath)
      : f_(f), m_(m), ctx_(m.getContext()), b_(ctx_), symbol_(symbol),
        avx512VectorMath_(avx512VectorMath) {}

  void run() {
    planMaterialization();
    emitWorkspaceFunction();
    emitKernel();
  }

private:
  // ----- types ---------------------------------------------------------------------------------

  llvm::Type *registerType(DType t) {
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

  /// Masks are bytes in memory, bits in registers.
  llvm::Type *memoryType(DType t) { return t == DType::Bool ? b_.getInt8Ty() : registerType(t); }

  static std::int64_t elementBytes(DType t) {
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

  // ----- planning -------------------------------------------------------------------------------

  bool isResult(ValueId v) const {
    if (v == f_.result)
      return true;
    for (const NamedValue &o : f_.outputs)
      if (o.value == v)
        return true;
    return false;
  }

  static bool isFusable(Op op) {
    if (opInfo(op).lowerScalar)
      return true;
    switch (op) {
    case Op::Select:
    case Op::Convert:
    case Op::Broadcast:
    case Op::Const:
    case Op::Iota:
    case Op::DimSize:
      return true;
    default:
      return false;
    }
  }

  /// A matmul operand: a buffer read as is or transposed (over its last two axes).
  struct MatrixOperand {
    ValueId base;
    bool transposed;
  };

  static bool swapsLastTwoAxes(const Inst &inst) {
    if (inst.op != Op::Transpose)
      return false;
    const auto &perm = inst.intsAttr("perm");
    std::size_t r = perm.size();
    for (std::size_t d = 0; d + 2 < r; ++d)
      if (perm[d] != static_cast<std::int64_t>(d))
        return false;
    return r >= 2 && perm[r - 2] == static_cast<std::int64_t>(r - 1) &&
           perm[r - 1] == static_cast<std::int64_t>(r - 2);
  }

  /// Looks through a transpose of the last two axes that has no buffer of its own (once planned).
  MatrixOperand matrixOperand(ValueId v) const {
    const Inst &inst = f_.insts[v];
    bool planned = !materialized_.empty();
    if (swapsLastTwoAxes(inst) && !(planned && materialized_[v]))
      return {inst.operands[0], true};
    return {v, false};
  }

  /// A broadcast that only adds or stretches batch axes (not the last two): a matmul reads its
  /// operand's matrices in place, at a batch offset, instead of a copy per batch entry (GMM's
  /// Q: [K, D, D] read as [N, K, D, D]).
  bool isBatchBroadcast(ValueId v) const {
    const Inst &inst = f_.insts[v];
    if (inst.op != Op::Broadcast)
      return false;
    const Shape &from = f_.typeOf(inst.operands[0]).shape, &to = inst.type.shape;
    std::size_t r = to.size();
    return from.size() >= 2 && from[from.size() - 2] == to[r - 2] &&
           from[from.size() - 1] == to[r - 1];
  }

  /// Decides which values get a buffer. The rest are computed where they are used.
  void planMaterialization() {
    std::size_t n = f_.insts.size();
    std::vector<int> uses(n, 0);
    std::vector<bool> needsBuffer(n, false);
    for (const Inst &inst : f_.insts) {
      for (ValueId o : inst.operands)
        ++uses[o];
      // Matmul reads each operand element many times (from a buffer, transposed in place when
      // the operand is a transpose of the last two axes); reshape reads its operand by flat index.
      if (inst.op == Op::MatMul)
        for (ValueId o : inst.operands) {
          ValueId base = matrixOperand(o).base;
          needsBuffer[isBatchBroadcast(base) ? f_.insts[base].operands[0] : base] = true;
        }
      if (inst.op == Op::Reshape)
        needsBuffer[inst.operands[0]] = true;
    }
    // A transpose read only by matmuls (which read its operand transposed) needs no buffer.
    std::vector<bool> onlyMatmulUses(n, true);
    for (const Inst &inst : f_.insts)
      for (ValueId o : inst.operands)
        if (inst.op != Op::MatMul)
          onlyMatmulUses[o] = false;
    for (const NamedValue &o : f_.outputs)
      onlyMatmulUses[o.value] = false;
    onlyMatmulUses[f_.result] = false;
    // Nor does a batch broadcast that matmuls read (directly or through such a transpose): they
    // read its operand's matrices. Those reads do not count as uses that would store it.
    for (ValueId v = 0; v < n; ++v) {
      const Inst &inst = f_.insts[v];
      if (inst.op == Op::MatMul) {
        for (ValueId o : inst.operands)
          if (isBatchBroadcast(o))
            --uses[o];
      } else if (swapsLastTwoAxes(inst) && onlyMatmulUses[v] && isBatchBroadcast(inst.operands[0])) {
        --uses[inst.operands[0]];
      }
    }
    // A matmul summed over some of its batch axes, and used nowhere else, is computed by that sum.
    productOfSum_.assign(n, false);
    for (const Inst &inst : f_.insts)
      if (inst.op == Op::ReduceSum && f_.insts[inst.operands[0]].op == Op::MatMul &&
          uses[inst.operands[0]] == 1 && !isResult(inst.operands[0])) {
        std::size_t rank = f_.typeOf(inst.operands[0]).rank();
        bool batchOnly = true;
        for (std::int64_t axis : inst.intsAttr("axes"))
          batchOnly = batchOnly && static_cast<std::size_t>(axis) + 2 < rank;
        productOfSum_[inst.operands[0]] = batchOnly;
      }
    materialized_.assign(n, false);
    for (ValueId v = 0; v < n; ++v) {
      const Inst &inst = f_.insts[v];
      if (inst.op == Op::Input || inst.op == Op::Param || inst.op == Op::Reshape)
        continue; // arguments have buffers; a reshape aliases its operand's buffer
      if (swapsLastTwoAxes(inst) && onlyMatmulUses[v] && uses[v] > 0)
        continue;
      if (productOfSum_[v])
        continue;
      bool scalarConst = (inst.op == Op::Const || inst.op == Op::DimSize) && inst.type.isScalar();
      materialized_[v] = !isFusable(inst.op) || isResult(v) || needsBuffer[v] ||
                         (uses[v] > 1 && !scalarConst);
    }
  }

  // ----- dimensions -----------------------------------------------------------------------------

  /// The runtime value of a dimension (i64), computed once, in the function's entry block, from
  /// the dims argument.
  Value *dim(const Dim &d) {
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

  Value *symbolValue(IRBuilder<> &entry, const std::string &name) {
    auto it = std::find(f_.dimParams.begin(), f_.dimParams.end(), name);
    auto k = static_cast<std::uint64_t>(it - f_.dimParams.begin());
    Value *ptr = entry.CreateConstGEP1_64(entry.getInt64Ty(), dimsArg_, k);
    return entry.CreateLoad(entry.getInt64Ty(), ptr, name);
  }

  /// Starts a function whose first block computes dimensions (and holds stack slots) and then
  /// branches to the body, where `b_` is left.
  void beginFunction(llvm::Function *fn) {
    dimCache_.clear();
    dimsBlock_ = llvm::BasicBlock::Create(ctx_, "dims", fn);
    llvm::BasicBlock *body = llvm::BasicBlock::Create(ctx_, "entry", fn);
    IRBuilder<>(dimsBlock_).CreateBr(body);
    b_.SetInsertPoint(body);
  }

  std::vector<Value *> dims(const Shape &s) {
    std::vector<Value *> out;
    for (const Dim &d : s)
      out.push_back(dim(d));
    return out;
  }

  Value *elementCount(const Shape &s) {
    Value *n = b_.getInt64(1);
    for (const Dim &d : s)
      n = b_.CreateMul(n, dim(d));
    return n;
  }

  /// Row-major flat offset of `idx` in `shape`: sum of index times stride, the strides being
  /// loop-invariant values of the entry block (a form that loop strength reduction handles
  /// quickly, unlike nested (i*n + j)*m + k).
  Value *flatten(const Shape &shape, const Index &idx) {
    Value *flat = nullptr;
    Dim stride(1);
    for (std::size_t d = shape.size(); d-- > 0;) {
      Value *term = stride == Dim(1) ? idx[d] : b_.CreateMul(idx[d], dim(stride), "", true, true);
      flat = flat ? b_.CreateAdd(flat, term, "", true, true) : term;
      stride = stride * shape[d];
    }
    return flat ? flat : b_.getInt64(0);
  }

  // ----- workspace --------------------------------------------------------------------------------

  /// Byte offsets of the workspace buffers (64-aligned), emitted into the current function.
  Value *layoutWorkspace(std::vector<Value *> *offsets) {
    Value *total = b_.getInt64(0);
    if (offsets)
      offsets->assign(f_.insts.size(), nullptr);
    for (ValueId v = 0; v < f_.insts.size(); ++v) {
      if (!materialized_[v] || isResult(v))
        continue;
      if (offsets)
        (*offsets)[v] = total;
      Value *bytes =
          b_.CreateMul(elementCount(f_.typeOf(v).shape), b_.getInt64(elementBytes(f_.typeOf(v).dtype)));
      Value *rounded = b_.CreateAnd(b_.CreateAdd(bytes, b_.getInt64(63)), b_.getInt64(~std::int64_t{63}));
      total = b_.CreateAdd(total, rounded);
    }
    return total;
  }

  void emitWorkspaceFunction() {
    auto *type = llvm::FunctionType::get(b_.getInt64Ty(), {b_.getPtrTy()}, false);
    llvm::Function *fn = llvm::Function::Create(type, llvm::Function::ExternalLinkage,
                                                symbol_ + "_workspace", m_);
    dimsArg_ = fn->getArg(0);
    beginFunction(fn);
    b_.CreateRet(layoutWorkspace(nullptr));
  }

  // ----- the kernel -------------------------------------------------------------------------------

  void emitKernel() {
    llvm::Type *ptr = b_.getPtrTy();
    auto *type = llvm::FunctionType::get(b_.getInt32Ty(), {ptr, ptr, ptr, ptr}, false);
    kernel_ = llvm::Function::Create(type, llvm::Function::ExternalLinkage, symbol_, m_);
    for (unsigned i = 0; i < 4; ++i)
      kernel_->addParamAttr(i, llvm::Attribute::NoAlias);
    llvm::Value *args = kernel_->getArg(0), *results = kernel_->getArg(1);
    dimsArg_ = kernel_->getArg(2);
    llvm::Value *workspace = kernel_->getArg(3);
    beginFunction(kernel_);
    errorBlock_ = llvm::BasicBlock::Create(ctx_, "index_out_of_range", kernel_);

    std::vector<Value *> offsets;
    layoutWorkspace(&offsets);
    buffers_.assign(f_.insts.size(), nullptr);
    std::size_t argIndex = 0;
    for (ValueId v = 0; v < f_.insts.size(); ++v) {
      const Inst &inst = f_.insts[v];
      if (inst.op == Op::Input || inst.op == Op::Param) {
        Value *slot = b_.CreateConstGEP1_64(ptr, args, argIndex++);
        buffers_[v] = b_.CreateLoad(ptr, slot, inst.stringAttr("name"));
      } else if (materialized_[v] && !isResult(v)) {
        buffers_[v] = b_.CreateGEP(b_.getInt8Ty(), workspace, offsets[v]);
      }
    }
    // Results go straight to the caller's buffers (the first result that names a value gets it;
    // a value named twice, or an argument returned as a result, is copied at the end).
    std::vector<ValueId> resultValues{f_.result};
    for (const NamedValue &o : f_.outputs)
      resultValues.push_back(o.value);
    std::vector<std::pair<ValueId, Value *>> copies;
    for (std::size_t r = 0; r < resultValues.size(); ++r) {
      ValueId v = resultValues[r];
      Value *target = b_.CreateLoad(ptr, b_.CreateConstGEP1_64(ptr, results, r));
      if (buffers_[v] == nullptr && materialized_[v])
        buffers_[v] = target;
      else
        copies.emplace_back(v, target);
    }

    // A reshape shares its operand's buffer (results included, so this comes after them).
    for (ValueId v = 0; v < f_.insts.size(); ++v)
      if (f_.insts[v].op == Op::Reshape && !buffers_[v])
        buffers_[v] = buffers_[f_.insts[v].operands[0]];
    for (const LoopGroup &group : planRowGroups(planLoops()))
      emitGroup(group);
    for (auto [v, target] : copies)
      emitCopy(v, target);
    b_.CreateRet(b_.getInt32(0));

    b_.SetInsertPoint(errorBlock_);
    b_.CreateRet(b_.getInt32(kIndexOutOfRange));
  }

  /// The value whose loop writes the buffer that `v` reads from (a reshape reads its operand's).
  ValueId bufferOwner(ValueId v) const {
    while (f_.insts[v].op == Op::Reshape)
      v = f_.insts[v].operands[0];
    return v;
  }

  /// A materialized value that computing an element reads: at the same index (through
  /// elementwise ops only), or at another (through a broadcast or a reshape).
  struct Source {
    ValueId value;
    bool sameIndex;
  };

  /// The materialized values that computing `v` reads, through its fused operands.
  void collectSources(ValueId v, bool sameIndex, std::vector<Source> &out) const {
    const Inst &inst = f_.insts[v];
    bool moves = inst.op == Op::Broadcast || inst.op == Op::Reshape;
    for (ValueId o : inst.operands) {
      ValueId owner = bufferOwner(o);
      bool direct = sameIndex && !moves && owner == o;
      if (materialized_[owner] || f_.insts[owner].op == Op::Input || f_.insts[owner].op == Op::Param)
        out.push_back({owner, direct});
      else
        collectSources(o, direct, out);
    }
  }

  /// The materialized values in the order they are computed, in loops: each value its own, except
  /// that elementwise values of one shape share a loop when their inputs allow it, so that a
  /// reverse kernel computes the value and every gradient of `g(x1, x2)` in one pass over x1, x2
  /// and the cotangent instead of one pass each. A value joins the earliest such loop that comes
  /// after everything it reads (members read each other's elements from registers).
  std::vector<std::vector<ValueId>> planLoops() const {
    std::vector<std::vector<ValueId>> loops;
    std::vector<int> loopOf(f_.insts.size(), -1); // -1: an argument, there from the start
    for (ValueId v = 0; v < f_.insts.size(); ++v) {
      if (!materialized_[v])
        continue;
      int chosen = -1;
      if (isFusable(f_.insts[v].op)) {
        std::vector<Source> sources;
        collectSources(v, true, sources);
        // The first loop v may join: one that computes what v reads at its own index (a member
        // hands it over in a register), or any after what v reads elsewhere.
        int ready = -1;
        for (const Source &source : sources)
          ready = std::max(ready, loopOf[source.value] + (source.sameIndex ? 0 : 1));
        for (int l = std::max(ready, 0); l < static_cast<int>(loops.size()) && chosen < 0; ++l) {
          ValueId first = loops[l].front();
          if (isFusable(f_.insts[first].op) && f_.typeOf(first).shape == f_.typeOf(v).shape)
            chosen = l;
        }
      }
      if (chosen < 0) {
        chosen = static_cast<int>(loops.size());
        loops.emplace_back();
      }
      loops[chosen].push_back(v);
      loopOf[v] = chosen;
    }
    return loops;
  }

  /// Loops that run together inside one loop over the rows (axis 0) of their values: the rows
  /// of a softmax-cross-entropy over [B, C] (max, shift, logsumexp, exp, gather, ...) are computed
  /// row by row in one function instead of one pass and one function each. Fewer functions is
  /// what shortens compiling; rows that stay in cache are what speeds running.
  struct LoopGroup {
    std::vector<std::vector<ValueId>> loops; // each as planLoops made it
    std::optional<Dim> rows;                 // the shared axis 0, when there is a row loop
  };

  /// A materialized value read while computing row r of a value: read at row r only (`rowwise`)
  /// or as a whole (a row-independent broadcast, a reshape that moves rows).
  struct RowRead {
    ValueId source;
    bool rowwise;
  };

  /// What reading `o` at an index whose axis 0 is the row (when `rowwise`) reads.
  void collectRowReads(ValueId o, bool rowwise, const Dim &rows, std::vector<RowRead> &out) const {
    const Inst &inst = f_.insts[o];
    const Shape &shape = inst.type.shape;
    if (inst.op == Op::Reshape) {
      const Shape &from = f_.typeOf(inst.operands[0]).shape;
      bool keepsRows = rowwise && !shape.empty() && !from.empty() && shape[0] == rows &&
                       from[0] == rows;
      return collectRowReads(inst.operands[0], keepsRows, rows, out);
    }
    if (materialized_[o] || inst.op == Op::Input || inst.op == Op::Param) {
      out.push_back({o, rowwise});
      return;
    }
    if (inst.op == Op::Broadcast) {
      const Shape &from = f_.typeOf(inst.operands[0]).shape;
      bool keepsRows = rowwise && from.size() == shape.size() && from[0] == rows;
      return collectRowReads(inst.operands[0], keepsRows, rows, out);
    }
    for (ValueId operand : inst.operands)
      collectRowReads(operand, rowwise, rows, out);
  }

  /// Whether `shape` has `rows` as its axis 0 and nowhere else (so that inside a row group, every
  /// loop over an extent of `rows` is the row loop).
  static bool rowsOnlyFirst(const Shape &shape, const Dim &rows) {
    if (shape.empty() || shape[0] != rows)
      return false;
    return std::find(shape.begin() + 1, shape.end(), rows) == shape.end();
  }

  /// What computing row r of `v` reads, or nothing when `v` cannot be computed row by row.
  std::optional<std::vector<RowRead>> rowReads(ValueId v, const Dim &rows) const {
    const Inst &inst = f_.insts[v];
    if (!rowsOnlyFirst(inst.type.shape, rows))
      return std::nullopt;
    std::vector<RowRead> reads;
    auto allRowwise = [&](std::initializer_list<ValueId> operands) {
      for (ValueId o : operands) {
        if (!rowsOnlyFirst(f_.typeOf(o).shape, rows))
          return false;
        collectRowReads(o, true, rows, reads);
      }
      return true;
    };
    if (isFusable(inst.op)) {
      for (ValueId o : inst.operands)
        collectRowReads(o, true, rows, reads);
      return reads;
    }
    switch (inst.op) {
    case Op::ReduceSum:
      if (productOfSum_[inst.operands[0]])
        return std::nullopt;
      [[fallthrough]];
    case Op::ReduceMax:
    case Op::ReduceMin:
    case Op::LogSumExp: {
      const auto &axes = inst.intsAttr("axes");
      if (std::find(axes.begin(), axes.end(), 0) != axes.end() || !allRowwise({inst.operands[0]}))
        return std::nullopt;
      return reads;
    }
    case Op::TakeAlong:
    case Op::ScatterAddAlong:
      if (inst.intAttr("axis") == 0 || !allRowwise({inst.operands[0], inst.operands[1]}))
        return std::nullopt;
      return reads;
    default:
      return std::nullopt;
    }
  }

  /// Groups loops into row groups: a loop joins the earliest open group over the same rows when
  /// everything it reads row by row is a member or computed before the group, and everything it
  /// reads as a whole is computed before the group.
  std::vector<LoopGroup> planRowGroups(const std::vector<std::vector<ValueId>> &loops) const {
    std::vector<LoopGroup> groups;
    std::vector<int> groupOf(f_.insts.size(), -1); // -1: an argument, there from the start
    for (const std::vector<ValueId> &loop : loops) {
      int chosen = -1;
      const Shape &shape = f_.typeOf(loop.front()).shape;
      if (!shape.empty() && loop.size() >= 1) {
        Dim rows = shape[0];
        std::vector<RowRead> reads;
        bool rowwise = true;
        for (ValueId v : loop) {
          auto r = rowReads(v, rows);
          if (!r) {
            rowwise = false;
            break;
          }
          reads.insert(reads.end(), r->begin(), r->end());
        }
        for (int g = 0; rowwise && g < static_cast<int>(groups.size()) && chosen < 0; ++g) {
          if (!groups[g].rows || *groups[g].rows != rows)
            continue;
          bool fits = true;
          for (const RowRead &read : reads) {
            int at = groupOf[read.source];
            fits = fits && (at < g || (at == g && read.rowwise));
          }
          if (fits)
            chosen = g;
        }
        if (chosen < 0 && rowwise) {
          groups.push_back({{}, rows});
          chosen = static_cast<int>(groups.size()) - 1;
        }
      }
      if (chosen < 0) {
        groups.push_back({{}, std::nullopt});
        chosen = static_cast<int>(groups.size()) - 1;
      }
      groups[chosen].loops.push_back(loop);
      for (ValueId v : loop)
        groupOf[v] = chosen;
    }
    // A group of one loop needs no row loop of its own.
    for (LoopGroup &g : groups)
      if (g.loops.size() == 1)
        g.rows.reset();
    return groups;
  }

  /// The buffers that computing `v` reads or writes: its own and those of the materialized
  /// values its fused operands reach.
  void collectBuffers(ValueId v, bool root, std::vector<Value *> &out) {
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
  void emitGroup(const LoopGroup &group) {
    std::vector<ValueId> values;
    for (const std::vector<ValueId> &loop : group.loops)
      values.insert(values.end(), loop.begin(), loop.end());
    // Scalar arithmetic has no loop to keep apart: it goes straight into the kernel (a function
    // costs about a millisecond to compile however small it is).
    bool scalarArithmetic = std::all_of(values.begin(), values.end(), [&](ValueId v) {
      return f_.typeOf(v).isScalar() && isFusable(f_.insts[v].op);
    });
    if (scalarArithmetic) {
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
    Value *outerDimsArg = dimsArg_;
    auto outerCache = std::move(dimCache_);
    std::vector<Value *> outerBuffers = buffers_;
    llvm::IRBuilderBase::InsertPoint outerPoint = b_.saveIP();

    kernel_ = fn;
    dimsArg_ = fn->getArg(0);
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

  // ----- loops ------------------------------------------------------------------------------------

  /// Emits nested loops over `extents` (outermost first) and calls body(index) in the innermost.
  template <class Body> void loopNest(const std::vector<Value *> &extents, Body body) {
    Index idx;
    loopLevel(extents, 0, idx, body);
  }

  template <class Body>
  void loopLevel(const std::vector<Value *> &extents, std::size_t level, Index &idx, Body &body) {
    if (level == extents.size()) {
      body(idx);
      return;
    }
    if (row_ && extents[level] == rowExtent_) { // inside a row group: this is the row
      idx.push_back(row_);
      loopLevel(extents, level + 1, idx, body);
      idx.pop_back();
      return;
    }
    llvm::BasicBlock *pre = b_.GetInsertBlock();
    llvm::BasicBlock *header = llvm::BasicBlock::Create(ctx_, "loop", kernel_);
    llvm::BasicBlock *bodyBlock = llvm::BasicBlock::Create(ctx_, "body", kernel_);
    llvm::BasicBlock *exit = llvm::BasicBlock::Create(ctx_, "done", kernel_);
    b_.CreateBr(header);
    b_.SetInsertPoint(header);
    llvm::PHINode *i = b_.CreatePHI(b_.getInt64Ty(), 2, "i");
    i->addIncoming(b_.getInt64(0), pre);
    b_.CreateCondBr(b_.CreateICmpSLT(i, extents[level]), bodyBlock, exit);
    b_.SetInsertPoint(bodyBlock);
    idx.push_back(i);
    loopLevel(extents, level + 1, idx, body);
    idx.pop_back();
    Value *next = b_.CreateAdd(i, b_.getInt64(1), "", true, true);
    i->addIncoming(next, b_.GetInsertBlock());
    b_.CreateBr(header);
    b_.SetInsertPoint(exit);
  }

  // ----- loads and stores ------------------------------------------------------------------------

  Value *load(ValueId v, Value *flat) {
    DType t = f_.typeOf(v).dtype;
    Value *ptr = b_.CreateGEP(memoryType(t), buffers_[v], flat);
    Value *x = b_.CreateLoad(memoryType(t), ptr);
    return t == DType::Bool ? b_.CreateTrunc(x, b_.getInt1Ty()) : x;
  }

  void store(ValueId v, Value *flat, Value *x) {
    DType t = f_.typeOf(v).dtype;
    if (t == DType::Bool)
      x = b_.CreateZExt(x, b_.getInt8Ty());
    b_.CreateStore(x, b_.CreateGEP(memoryType(t), buffers_[v], flat));
  }

  void storeTo(Value *base, DType t, Value *flat, Value *x) {
    if (t == DType::Bool)
      x = b_.CreateZExt(x, b_.getInt8Ty());
    b_.CreateStore(x, b_.CreateGEP(memoryType(t), base, flat));
  }

  /// The element of `v` at `idx`: loaded from its buffer, or computed in place when fused.
  Value *element(ValueId v, const Index &idx) {
    if (auto it = inRegister_.find(v); it != inRegister_.end())
      return it->second;
    if (buffers_[v])
      return load(v, flatten(f_.typeOf(v).shape, idx));
    return compute(v, idx);
  }

  /// The element of a fusable value at `idx`, computed from its operands.
  Value *compute(ValueId v, const Index &idx) {
    const Inst &inst = f_.insts[v];
    const OpInfo &info = opInfo(inst.op);
    if (info.lowerScalar) {
      std::vector<void *> operands;
      for (ValueId o : inst.operands)
        operands.push_back(element(o, idx));
      LlvmScalarEmitter emitter(b_, m_, registerType(f_.typeOf(inst.operands[0]).dtype),
                                avx512VectorMath_);
      ScalarEmitter::Scope scope(emitter);
      return static_cast<Value *>(info.lowerScalar(operands, inst));
    }
    switch (inst.op) {
    case Op::Select:
      return b_.CreateSelect(element(inst.operands[0], idx), element(inst.operands[1], idx),
                             element(inst.operands[2], idx));
    case Op::Convert:
      return convert(element(inst.operands[0], idx), f_.typeOf(inst.operands[0]).dtype,
                     inst.dtypeAttr("dtype"));
    case Op::Broadcast:
      return element(inst.operands[0], broadcastSource(inst, idx));
    case Op::Const: {
      const auto &values = inst.floatsAttr("value");
      llvm::Type *t = registerType(inst.type.dtype);
      if (values.size() == 1)
        return constantOf(t, values[0]);
      // A literal tensor: a constant global array.
      std::vector<llvm::Constant *> elements;
      llvm::Type *mt = memoryType(inst.type.dtype);
      for (double x : values)
        elements.push_back(inst.type.dtype == DType::Bool ? llvm::ConstantInt::get(mt, x != 0)
                                                          : constantOf(mt, x));
      auto *arrayType = llvm::ArrayType::get(mt, values.size());
      auto *global = new llvm::GlobalVariable(m_, arrayType, true, llvm::GlobalValue::PrivateLinkage,
                                              llvm::ConstantArray::get(arrayType, elements));
      Value *x = b_.CreateLoad(mt, b_.CreateGEP(mt, global, flatten(inst.type.shape, idx)));
      return inst.type.dtype == DType::Bool ? b_.CreateTrunc(x, b_.getInt1Ty()) : x;
    }
    case Op::Iota:
      return b_.CreateTrunc(idx[static_cast<std::size_t>(inst.intAttr("axis"))], b_.getInt32Ty());
    case Op::DimSize: {
      Value *n = dim(inst.dimsAttr("dim")[0]);
      llvm::Type *t = registerType(inst.type.dtype);
      return t->isIntegerTy() ? b_.CreateTrunc(n, t) : b_.CreateSIToFP(n, t);
    }
    default:
      throw std::logic_error(fmt::format("'{}' cannot be computed in place", mnemonic(inst.op)));
    }
  }

  /// The index into a broadcast's operand that its element at `idx` reads.
  Index broadcastSource(const Inst &inst, const Index &idx) {
    const Shape &from = f_.typeOf(inst.operands[0]).shape;
    std::size_t lead = inst.type.rank() - from.size();
    Index inner;
    for (std::size_t d = 0; d < from.size(); ++d)
      inner.push_back(from[d] == Dim(1) ? b_.getInt64(0) : idx[d + lead]);
    return inner;
  }

  llvm::Constant *constantOf(llvm::Type *t, double x) {
    if (t->isIntegerTy())
      return llvm::ConstantInt::get(t, static_cast<std::uint64_t>(static_cast<std::int64_t>(x)), true);
    return llvm::ConstantFP::get(t, x);
  }

  Value *convert(Value *x, DType from, DType to) {
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

  void emitMaterialized(ValueId v) {
    const Inst &inst = f_.insts[v];
    const Shape &shape = inst.type.shape;
    if (isFusable(inst.op)) {
      loopNest(dims(shape), [&](const Index &idx) { store(v, flatten(shape, idx), compute(v, idx)); });
      return;
    }
    switch (inst.op) {
    case Op::ReduceSum:
      if (productOfSum_[inst.operands[0]])
        return emitProduct(v, inst.operands[0]);
      return emitReduction(v);
    case Op::ReduceMax:
    case Op::ReduceMin:
    case Op::LogSumExp:
      return emitReduction(v);
    case Op::MatMul:
      return emitMatMul(v);
    case Op::Transpose: {
      const auto &perm = inst.intsAttr("perm");
      loopNest(dims(shape), [&](const Index &idx) {
        Index in(idx.size());
        for (std::size_t d = 0; d < perm.size(); ++d)
          in[static_cast<std::size_t>(perm[d])] = idx[d];
        store(v, flatten(shape, idx), element(inst.operands[0], in));
      });
      return;
    }
    case Op::Slice: {
      const Shape &start = inst.dimsAttr("start");
      loopNest(dims(shape), [&](const Index &idx) {
        Index in;
        for (std::size_t d = 0; d < idx.size(); ++d)
          in.push_back(b_.CreateAdd(idx[d], dim(start[d])));
        store(v, flatten(shape, idx), element(inst.operands[0], in));
      });
      return;
    }
    case Op::Pad:
      return emitPad(v);
    case Op::Concat:
      return emitConcat(v);
    case Op::Take:
    case Op::TakeAlong:
      return emitGather(v);
    case Op::ScatterAdd:
    case Op::ScatterAddAlong:
      return emitScatter(v);
    case Op::Diag:
    case Op::DiagPart:
    case Op::Lower:
    case Op::LowerPart:
      return emitStructured(v);
    default:
      throw std::logic_error(fmt::format("no lowering for '{}'", mnemonic(inst.op)));
    }
  }

  /// One loop computing several elementwise values of one shape. A member that reads another
  /// (at the same index) takes it from the register that was just stored.
  void emitFusedLoop(const std::vector<ValueId> &values) {
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

  void emitCopy(ValueId v, Value *target) {
    const Shape &shape = f_.typeOf(v).shape;
    DType t = f_.typeOf(v).dtype;
    loopNest(dims(shape), [&](const Index &idx) {
      storeTo(target, t, flatten(shape, idx), element(v, idx));
    });
  }

  /// A scalar accumulator in a stack slot (promoted to a register by LLVM).
  Value *accumulator(llvm::Type *t, Value *init) {
    IRBuilder<> entry(dimsBlock_, dimsBlock_->begin());
    Value *slot = entry.CreateAlloca(t);
    b_.CreateStore(init, slot);
    return slot;
  }

  // Reductions: loops over the kept axes, then over the reduced axes accumulating in a register.
  void emitReduction(ValueId v) {
    const Inst &inst = f_.insts[v];
    ValueId x = inst.operands[0];
    const Shape &inShape = f_.typeOf(x).shape;
    const auto &axes = inst.intsAttr("axes");
    std::vector<std::size_t> kept, reduced;
    for (std::size_t d = 0; d < inShape.size(); ++d)
      (std::find(axes.begin(), axes.end(), static_cast<std::int64_t>(d)) != axes.end() ? reduced
                                                                                      : kept)
          .push_back(d);
    std::vector<Value *> keptExtents, reducedExtents;
    for (std::size_t d : kept)
      keptExtents.push_back(dim(inShape[d]));
    for (std::size_t d : reduced)
      reducedExtents.push_back(dim(inShape[d]));
    llvm::Type *t = registerType(inst.type.dtype);
    auto fullIndex = [&](const Index &outer, const Index &inner) {
      Index full(inShape.size());
      for (std::size_t k = 0; k < kept.size(); ++k)
        full[kept[k]] = outer[k];
      for (std::size_t k = 0; k < reduced.size(); ++k)
        full[reduced[k]] = inner[k];
      return full;
    };
    auto inf = [&](bool negative) { return llvm::ConstantFP::getInfinity(t, negative); };
    // max: take x when x > acc or x is NaN (then acc stays NaN: NaN propagates, as numpy's)
    auto extremum = [&](Value *acc, Value *xv, bool isMax) {
      Value *better = isMax ? b_.CreateFCmpOGT(xv, acc) : b_.CreateFCmpOLT(xv, acc);
      Value *take = b_.CreateOr(better, b_.CreateFCmpUNO(xv, xv));
      Value *keepNaN = b_.CreateFCmpUNO(acc, acc);
      return b_.CreateSelect(b_.CreateAnd(take, b_.CreateNot(keepNaN)), xv, acc);
    };
    if (inst.op != Op::LogSumExp && !reduced.empty() && !kept.empty() &&
        kept.back() == inShape.size() - 1) {
      // The last axis is kept (a column sum, a bias gradient summed over the batch): initialize
      // the output, then walk the input in memory order, combining each element into its output
      // element. Contiguous on both sides, and each output element still sees its inputs in
      // order, as the interpreter does.
      loopNest(keptExtents, [&](const Index &outer) {
        store(v, flatten(inst.type.shape, outer),
              inst.op == Op::ReduceSum ? llvm::ConstantFP::get(t, 0.0)
                                       : inf(inst.op == Op::ReduceMax));
      });
      loopNest(dims(inShape), [&](const Index &idx) {
        Index outer;
        for (std::size_t d : kept)
          outer.push_back(idx[d]);
        Value *flat = flatten(inst.type.shape, outer);
        Value *acc = load(v, flat), *xv = element(x, idx);
        store(v, flat, inst.op == Op::ReduceSum ? b_.CreateFAdd(acc, xv)
                                                : extremum(acc, xv, inst.op == Op::ReduceMax));
      });
      return;
    }
    loopNest(keptExtents, [&](const Index &outer) {
      Value *outFlat = flatten(inst.type.shape, outer);
      if (inst.op == Op::ReduceSum) {
        Value *acc = accumulator(t, llvm::ConstantFP::get(t, 0.0));
        loopNest(reducedExtents, [&](const Index &inner) {
          Value *sum = b_.CreateFAdd(b_.CreateLoad(t, acc), element(x, fullIndex(outer, inner)));
          // Sums may be reassociated: that is what lets them vectorize (several partial sums).
          // Their results then differ from the interpreter's sequential sums in the last bits.
          if (auto *op = llvm::dyn_cast<llvm::Instruction>(sum))
            op->setHasAllowReassoc(true);
          b_.CreateStore(sum, acc);
        });
        store(v, outFlat, b_.CreateLoad(t, acc));
        return;
      }
      bool isMax = inst.op != Op::ReduceMin;
      Value *m = accumulator(t, inf(isMax));
      loopNest(reducedExtents, [&](const Index &inner) {
        b_.CreateStore(extremum(b_.CreateLoad(t, m), element(x, fullIndex(outer, inner)), isMax), m);
      });
      if (inst.op != Op::LogSumExp) {
        store(v, outFlat, b_.CreateLoad(t, m));
        return;
      }
      // logsumexp = m + log(sum(exp(x - m))); an infinite (or NaN) m is the answer itself.
      Value *mv = b_.CreateLoad(t, m);
      Value *s = accumulator(t, llvm::ConstantFP::get(t, 0.0));
      loopNest(reducedExtents, [&](const Index &inner) {
        Value *shifted = b_.CreateFSub(element(x, fullIndex(outer, inner)), mv);
        Value *term = LlvmScalarEmitter(b_, m_, t, avx512VectorMath_).exp(shifted);
        Value *sum = b_.CreateFAdd(b_.CreateLoad(t, s), term);
        llvm::cast<llvm::Instruction>(sum)->setHasAllowReassoc(true); // vectorizes, as sums do
        b_.CreateStore(sum, s);
      });
      Value *finite = b_.CreateFCmpOLT(b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, mv), inf(false));
      Value *lse = b_.CreateFAdd(mv, b_.CreateUnaryIntrinsic(llvm::Intrinsic::log, b_.CreateLoad(t, s)));
      store(v, outFlat, b_.CreateSelect(finite, lse, mv));
    });
  }

  /// Element (row, col) of a matmul operand in batch `batch`, reading a transposed operand's
  /// buffer with its indices swapped.
  Value *matrixElement(const MatrixOperand &m, const Index &batch, Value *row, Value *col) {
    Index idx = batch;
    if (m.transposed)
      std::swap(row, col);
    idx.push_back(row);
    idx.push_back(col);
    return element(m.base, idx);
  }

  // C[..., i, j] = sum_p A[..., i, p] B[..., p, j]. Large products call the BLAS when nabla is
  // built with one (an OpenBLAS sgemm/dgemm per batch, transposes passed as flags); small ones,
  // and builds without BLAS, run loops with j innermost so that they vectorize.
  void emitMatMul(ValueId v) { emitProduct(v, v); }

  /// The product `product`, written to `out`: the product itself, or a reduce_sum of it over some
  /// batch axes, which then become contraction loops (sum_n of outer products, as reverse mode
  /// makes for a weight shared across a batch, without storing each).
  void emitProduct(ValueId out, ValueId product) {
    const Inst &inst = f_.insts[product];
    MatrixOperand a = matrixOperand(inst.operands[0]), c = matrixOperand(inst.operands[1]);
    const Shape &so = inst.type.shape;
    const Shape &sa = f_.typeOf(inst.operands[0]).shape;
    const Shape &outShape = f_.typeOf(out).shape;
    std::size_t r = so.size();
    llvm::Type *t = registerType(inst.type.dtype);
    std::vector<std::int64_t> reducedAxes;
    if (out != product)
      reducedAxes = f_.insts[out].intsAttr("axes");
    auto isReduced = [&](std::size_t d) {
      return std::find(reducedAxes.begin(), reducedAxes.end(), static_cast<std::int64_t>(d)) !=
             reducedAxes.end();
    };
    std::vector<Value *> keptBatch, reducedBatch;
    for (std::size_t d = 0; d + 2 < r; ++d)
      (isReduced(d) ? reducedBatch : keptBatch).push_back(dim(so[d]));
    // The product's batch index from the kept and the reduced ones.
    auto batchIndex = [&](const Index &kept, const Index &reduced) {
      Index full;
      std::size_t nk = 0, nr = 0;
      for (std::size_t d = 0; d + 2 < r; ++d)
        full.push_back(isReduced(d) ? reduced[nr++] : kept[nk++]);
      return full;
    };
    auto outFlat = [&](const Index &kept, Value *i, Value *j) {
      Index idx = kept;
      idx.push_back(i);
      idx.push_back(j);
      return flatten(outShape, idx);
    };
    Value *m = dim(so[r - 2]), *n = dim(so[r - 1]), *k = dim(sa[r - 1]);

    // Decide at compile time when the known sizes settle it (a runtime size is at least 1), so
    // that only one of the two paths is generated.
    std::int64_t knownWork = 1;
    bool allKnown = true;
    for (const Dim *d : {&so[r - 2], &so[r - 1], &sa[r - 1]}) {
      if (d->isConstant())
        knownWork *= d->constant();
      else
        allKnown = false;
    }
    // A product with a runtime size (a batch) whose known sizes already make 1/32 of the
    // threshold (128 multiply-adds) per unit of it goes to the BLAS without a loop fallback: the fallback's vectorized loop
    // nest is what costs the most to compile (a third of an MLP gradient's codegen), and a BLAS
    // call on a tiny batch costs a microsecond. Products summed over batch axes run loops.
    bool blas = blasAvailable() && reducedAxes.empty();
    bool alwaysBlas = blas && (knownWork >= blasThreshold() ||
                               (!allKnown && knownWork >= blasThreshold() / 32));
    bool neverBlas = !blas || (allKnown && knownWork < blasThreshold());
    std::size_t foldedAxes = 0;
    bool folded = blasAvailable() && foldsIntoGemm(out, product, a, c, &foldedAxes);
    if (alwaysBlas && !folded) {
      emitBlasMatMul(product, a, c, keptBatch, m, n, k);
      return;
    }
    llvm::BasicBlock *loops = llvm::BasicBlock::Create(ctx_, "matmul_loops", kernel_);
    llvm::BasicBlock *done = llvm::BasicBlock::Create(ctx_, "matmul_done", kernel_);
    if (folded) {
      llvm::BasicBlock *gemm = llvm::BasicBlock::Create(ctx_, "matmul_folded_gemm", kernel_);
      Value *rows = b_.getInt64(1);
      for (std::size_t d = 0; d < foldedAxes; ++d)
        rows = b_.CreateMul(rows, dim(so[d]));
      Value *work = b_.CreateMul(b_.CreateMul(rows, m), out == product ? k : n);
      b_.CreateCondBr(b_.CreateICmpSGE(work, b_.getInt64(blasThreshold())), gemm, loops);
      b_.SetInsertPoint(gemm);
      emitFoldedGemm(out, product, a, c, foldedAxes, rows);
      b_.CreateBr(done);
    } else if (!neverBlas) {
      llvm::BasicBlock *blasBlock = llvm::BasicBlock::Create(ctx_, "matmul_blas", kernel_);
      Value *work = b_.CreateMul(b_.CreateMul(m, n), k);
      b_.CreateCondBr(b_.CreateICmpSGE(work, b_.getInt64(blasThreshold())), blasBlock, loops);
      b_.SetInsertPoint(blasBlock);
      emitBlasMatMul(product, a, c, keptBatch, m, n, k);
      b_.CreateBr(done);
    } else {
      b_.CreateBr(loops);
    }
    b_.SetInsertPoint(loops);
    // Sums that may be reassociated (vectorized) and contracted to FMAs.
    auto fastMath = [](std::initializer_list<Value *> ops) {
      for (Value *op : ops) {
        auto *inst = llvm::cast<llvm::Instruction>(op);
        inst->setHasAllowReassoc(true);
        inst->setHasAllowContract(true);
      }
    };
    if (so[r - 1] == Dim(1) && a.transposed) {
      // Aᵀ x with A stored by rows: out += A[p, :] x[p] for each p, reading rows contiguously
      // (a dot product would read columns of A, with a stride).
      loopNest(keptBatch, [&](const Index &kept) {
        loopNest({m}, [&](const Index &i) {
          store(out, outFlat(kept, i[0], b_.getInt64(0)), llvm::ConstantFP::get(t, 0.0));
        });
        loopNest(reducedBatch, [&](const Index &reduced) {
          Index bIdx = batchIndex(kept, reduced);
          loopNest({k}, [&](const Index &p) {
            Value *xp = matrixElement(c, bIdx, p[0], b_.getInt64(0));
            loopNest({m}, [&](const Index &i) {
              Value *flat = outFlat(kept, i[0], b_.getInt64(0));
              Value *product = b_.CreateFMul(matrixElement(a, bIdx, i[0], p[0]), xp);
              Value *sum = b_.CreateFAdd(load(out, flat), product);
              fastMath({product, sum});
              store(out, flat, sum);
            });
          });
        });
      });
    } else if (so[r - 1] == Dim(1)) {
      // A matrix-vector product: each entry a dot product accumulated in a register.
      loopNest(keptBatch, [&](const Index &kept) {
        loopNest({m}, [&](const Index &i) {
          Value *acc = accumulator(t, llvm::ConstantFP::get(t, 0.0));
          loopNest(reducedBatch, [&](const Index &reduced) {
            Index bIdx = batchIndex(kept, reduced);
            loopNest({k}, [&](const Index &p) {
              Value *product = b_.CreateFMul(matrixElement(a, bIdx, i[0], p[0]),
                                             matrixElement(c, bIdx, p[0], b_.getInt64(0)));
              Value *sum = b_.CreateFAdd(b_.CreateLoad(t, acc), product);
              fastMath({product, sum});
              b_.CreateStore(sum, acc);
            });
          });
          store(out, outFlat(kept, i[0], b_.getInt64(0)), b_.CreateLoad(t, acc));
        });
      });
    } else {
      // C = 0, then C[i, :] += A[i, p] B[p, :] for every (reduced batch entry and) p.
      loopNest(keptBatch, [&](const Index &kept) {
        loopNest({m}, [&](const Index &i) {
          loopNest({n}, [&](const Index &j) {
            store(out, outFlat(kept, i[0], j[0]), llvm::ConstantFP::get(t, 0.0));
          });
        });
        loopNest(reducedBatch, [&](const Index &reduced) {
          Index bIdx = batchIndex(kept, reduced);
          loopNest({m}, [&](const Index &i) {
            loopNest({k}, [&](const Index &p) {
              Value *aip = matrixElement(a, bIdx, i[0], p[0]);
              loopNest({n}, [&](const Index &j) {
                Value *flat = outFlat(kept, i[0], j[0]);
                Value *product = b_.CreateFMul(aip, matrixElement(c, bIdx, p[0], j[0]));
                Value *sum = b_.CreateFAdd(load(out, flat), product);
                if (!reducedAxes.empty())
                  fastMath({product, sum});
                store(out, flat, sum);
              });
            });
          });
        });
      });
    }
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
  }

  /// Whether a batch of small products is one GEMM per entry of its trailing batch axes, with
  /// the leading `*axes` batch axes folded into the GEMM's rows (or its contraction), so that the
  /// BLAS sees 1000 x 10 x 10 instead of a thousand 10 x 10 x 1. Two shapes that reverse mode
  /// makes for a matrix shared across a batch (GMM's Q, [K, D, D], used by [N, K] points):
  ///  - y[n, t] = A[t] x[n, t]: A a batch broadcast over the leading axes, x a stored vector;
  ///    then y[:, t] = x[:, t] A[t]^T, rows n with a stride.
  ///  - C[t] = sum_n u[n, t] v[n, t]^T: a reduce_sum over the leading axes of outer products of
  ///    stored vectors; then C[t] = U[:, t]^T V[:, t].
  bool foldsIntoGemm(ValueId out, ValueId product, const MatrixOperand &a, const MatrixOperand &c,
                     std::size_t *axes) const {
    const Shape &so = f_.typeOf(product).shape;
    std::size_t r = so.size();
    auto stored = [&](const MatrixOperand &x) {
      return materialized_[x.base] || f_.insts[x.base].op == Op::Input ||
             f_.insts[x.base].op == Op::Param || f_.insts[x.base].op == Op::Reshape;
    };
    auto fullBatch = [&](const MatrixOperand &x) {
      const Shape &s = f_.typeOf(x.base).shape;
      return s.size() == r && std::equal(so.begin(), so.end() - 2, s.begin());
    };
    if (out == product) {
      // y = A x: A broadcast over exactly the leading batch axes
      if (so[r - 1] != Dim(1) || !isBatchBroadcast(a.base) || materialized_[a.base] ||
          !stored(c) || !fullBatch(c))
        return false;
      const Shape &from = f_.typeOf(f_.insts[a.base].operands[0]).shape;
      std::size_t lead = r - from.size(), s = 0;
      while (s + 2 < r && (s < lead || (from[s - lead] == Dim(1) && so[s] != Dim(1))))
        ++s;
      for (std::size_t d = s; d + 2 < r; ++d)
        if (d < lead || from[d - lead] != so[d])
          return false;
      *axes = s;
      return s > 0;
    }
    // sum over the leading batch axes of u v^T
    const Shape &sa = f_.typeOf(f_.insts[product].operands[0]).shape;
    if (sa[r - 1] != Dim(1) || !stored(a) || !stored(c) || !fullBatch(a) || !fullBatch(c))
      return false;
    const auto &reduced = f_.insts[out].intsAttr("axes");
    for (std::size_t d = 0; d < reduced.size(); ++d)
      if (std::find(reduced.begin(), reduced.end(), static_cast<std::int64_t>(d)) == reduced.end())
        return false;
    *axes = reduced.size();
    return *axes > 0;
  }

  /// CBLAS's enumerators (cblas.h): row-major storage, and an operand as stored or transposed.
  static constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

  /// The GEMMs of a product that foldsIntoGemm: one per entry of the trailing batch axes.
  void emitFoldedGemm(ValueId out, ValueId product, const MatrixOperand &a, const MatrixOperand &c,
                      std::size_t axes, Value *rows) {
    const Shape &so = f_.typeOf(product).shape;
    const Shape &sa = f_.typeOf(f_.insts[product].operands[0]).shape;
    std::size_t r = so.size();
    DType dtype = f_.typeOf(product).dtype;
    Value *m = dim(so[r - 2]), *n = dim(so[r - 1]), *k = dim(sa[r - 1]);
    std::vector<Value *> trailing;
    Value *stride = b_.getInt64(1); // entries of the trailing batch axes: rows are this far apart
    for (std::size_t d = axes; d + 2 < r; ++d) {
      trailing.push_back(dim(so[d]));
      stride = b_.CreateMul(stride, trailing.back());
    }
    loopNest(trailing, [&](const Index &tIdx) {
      Index full(axes, b_.getInt64(0)); // the product's index at (0, t, 0, 0)
      full.insert(full.end(), tIdx.begin(), tIdx.end());
      full.push_back(b_.getInt64(0));
      full.push_back(b_.getInt64(0));
      if (out == product) {
        // y[:, t] (rows x m) = x[:, t] (rows x k) op(A[t]) with op(A) = A^T (k x m)
        emitGemmCall(dtype, kNoTrans, a.transposed ? kNoTrans : kTrans, rows, m, k,
                     elementPointer(c.base, full), b_.CreateMul(stride, k),
                     elementPointer(a.base, full), a.transposed ? m : k, elementPointer(out, full),
                     b_.CreateMul(stride, m));
      } else {
        // C[t] (m x n) = U^T V with U = u[:, t] (rows x m), V = v[:, t] (rows x n)
        Index outIdx(tIdx.begin(), tIdx.end());
        outIdx.push_back(b_.getInt64(0));
        outIdx.push_back(b_.getInt64(0));
        emitGemmCall(dtype, kTrans, kNoTrans, m, n, rows, elementPointer(a.base, full),
                     b_.CreateMul(stride, m), elementPointer(c.base, full), b_.CreateMul(stride, n),
                     elementPointer(out, outIdx), n);
      }
    });
  }

  /// cblas_[sd]gemm(RowMajor, transA, transB, M, N, K, 1, A, lda, B, ldb, 0, C, ldc).
  void emitGemmCall(DType dtype, int transA, int transB, Value *rowsM, Value *colsN, Value *depthK,
                    Value *pa, Value *lda, Value *pb, Value *ldb, Value *pc, Value *ldc) {
    bool isF32 = dtype == DType::F32;
    llvm::Type *t = registerType(dtype);
    llvm::Type *i32 = b_.getInt32Ty(), *ptr = b_.getPtrTy();
    auto *type = llvm::FunctionType::get(
        b_.getVoidTy(), {i32, i32, i32, i32, i32, i32, t, ptr, i32, ptr, i32, t, ptr, i32}, false);
    llvm::FunctionCallee gemm = m_.getOrInsertFunction(isF32 ? "cblas_sgemm" : "cblas_dgemm", type);
    auto i32v = [&](Value *x) { return b_.CreateTrunc(x, i32); };
    b_.CreateCall(gemm, {b_.getInt32(kRowMajor), b_.getInt32(transA), b_.getInt32(transB),
                         i32v(rowsM), i32v(colsN), i32v(depthK), llvm::ConstantFP::get(t, 1.0), pa,
                         i32v(lda), pb, i32v(ldb), llvm::ConstantFP::get(t, 0.0), pc, i32v(ldc)});
  }

  /// Products of at least this many multiply-adds go to the BLAS. Measured (BM_MatMul_*): with
  /// OpenBLAS's AVX-512 kernels the BLAS is 2x faster than these loops at 8^3 and 4-5x from 16^3
  /// on; with its SSE3 fallback kernels (what 0.3.21 picks on CPUs it does not know) the loops win
  /// up to 256^3. 16^3 keeps the loops for products too small to amortize a call either way.
  /// NABLA_BLAS_MIN_WORK overrides it, to measure the crossover.
  static std::int64_t blasThreshold() {
    if (const char *work = std::getenv("NABLA_BLAS_MIN_WORK"))
      return std::atoll(work);
    return 16 * 16 * 16;
  }

  static bool blasAvailable() {
#ifdef NABLA_HAVE_BLAS
    return true;
#else
    return false;
#endif
  }

  /// One GEMM per batch entry, transposes passed as flags.
  void emitBlasMatMul(ValueId v, const MatrixOperand &a, const MatrixOperand &c,
                      const std::vector<Value *> &batch, Value *m, Value *n, Value *k) {
    DType dtype = f_.insts[v].type.dtype;
    // Leading dimensions are the row lengths of the buffers as stored.
    Value *lda = a.transposed ? m : k;
    Value *ldb = c.transposed ? k : n;
    loopNest(batch, [&](const Index &bIdx) {
      Index origin = bIdx; // each matrix's (batch, 0, 0)
      origin.push_back(b_.getInt64(0));
      origin.push_back(b_.getInt64(0));
      emitGemmCall(dtype, a.transposed ? kTrans : kNoTrans, c.transposed ? kTrans : kNoTrans, m, n,
                   k, elementPointer(a.base, origin), lda, elementPointer(c.base, origin), ldb,
                   elementPointer(v, origin), n);
    });
  }

  /// The address of `value`'s element at `idx`, in the buffer a batch broadcast reads when the
  /// value is one (matmuls read those in place).
  Value *elementPointer(ValueId value, Index idx) {
    if (!buffers_[value] && isBatchBroadcast(value)) {
      idx = broadcastSource(f_.insts[value], idx);
      value = f_.insts[value].operands[0];
    }
    return b_.CreateGEP(
        b_.getInt8Ty(), buffers_[value],
        b_.CreateMul(flatten(f_.typeOf(value).shape, idx),
                     b_.getInt64(elementBytes(f_.typeOf(value).dtype))));
  }

  void emitPad(ValueId v) {
    const Inst &inst = f_.insts[v];
    ValueId x = inst.operands[0];
    const Shape &inShape = f_.typeOf(x).shape, &shape = inst.type.shape;
    const Shape &lo = inst.dimsAttr("lo");
    llvm::Type *t = registerType(inst.type.dtype);
    loopNest(dims(shape), [&](const Index &idx) {
      Value *inside = b_.getTrue();
      Index in;
      for (std::size_t d = 0; d < idx.size(); ++d) {
        Value *i = b_.CreateSub(idx[d], dim(lo[d]));
        Value *extent = dim(inShape[d]);
        inside = b_.CreateAnd(inside, b_.CreateAnd(b_.CreateICmpSGE(i, b_.getInt64(0)),
                                                   b_.CreateICmpSLT(i, extent)));
        // Clamp so that the (discarded) load outside stays in bounds.
        Value *clamped = b_.CreateSelect(b_.CreateICmpSLT(i, b_.getInt64(0)), b_.getInt64(0), i);
        Value *last = b_.CreateSub(extent, b_.getInt64(1));
        in.push_back(b_.CreateSelect(b_.CreateICmpSGT(clamped, last), last, clamped));
      }
      llvm::BasicBlock *loadBlock = llvm::BasicBlock::Create(ctx_, "pad_in", kernel_);
      llvm::BasicBlock *join = llvm::BasicBlock::Create(ctx_, "pad_join", kernel_);
      llvm::BasicBlock *from = b_.GetInsertBlock();
      b_.CreateCondBr(inside, loadBlock, join);
      b_.SetInsertPoint(loadBlock);
      Value *x0 = element(x, in);
      llvm::BasicBlock *loaded = b_.GetInsertBlock();
      b_.CreateBr(join);
      b_.SetInsertPoint(join);
      llvm::PHINode *phi = b_.CreatePHI(t, 2);
      phi->addIncoming(llvm::ConstantFP::get(t, 0.0), from);
      phi->addIncoming(x0, loaded);
      store(v, flatten(shape, idx), phi);
    });
  }

  void emitConcat(ValueId v) {
    const Inst &inst = f_.insts[v];
    auto axis = static_cast<std::size_t>(inst.intAttr("axis"));
    Value *offset = b_.getInt64(0);
    for (ValueId part : inst.operands) {
      const Shape &ps = f_.typeOf(part).shape;
      Value *base = offset;
      loopNest(dims(ps), [&](const Index &idx) {
        Index out = idx;
        out[axis] = b_.CreateAdd(idx[axis], base);
        store(v, flatten(inst.type.shape, out), element(part, idx));
      });
      offset = b_.CreateAdd(offset, dim(ps[axis]));
    }
  }

  /// An index element as i64, negative values counting from the end; out of range exits the
  /// kernel with kIndexOutOfRange.
  Value *checkedIndex(Value *raw, Value *extent) {
    Value *id = b_.CreateSExt(raw, b_.getInt64Ty());
    id = b_.CreateSelect(b_.CreateICmpSLT(id, b_.getInt64(0)), b_.CreateAdd(id, extent), id);
    Value *bad = b_.CreateOr(b_.CreateICmpSLT(id, b_.getInt64(0)), b_.CreateICmpSGE(id, extent));
    llvm::BasicBlock *ok = llvm::BasicBlock::Create(ctx_, "index_ok", kernel_);
    b_.CreateCondBr(bad, errorBlock_, ok);
    b_.SetInsertPoint(ok);
    return id;
  }

  /// For take: the source index in x of result index `out` (x[A..., n, C...], ids[I...]).
  Index takeSource(const Inst &inst, const Shape &xShape, const Index &out) {
    auto axis = static_cast<std::size_t>(inst.intAttr("axis"));
    ValueId ids = inst.operands[1];
    std::size_t ri = f_.typeOf(ids).rank();
    Index idsIdx(out.begin() + static_cast<std::ptrdiff_t>(axis),
                 out.begin() + static_cast<std::ptrdiff_t>(axis + ri));
    Value *id = checkedIndex(element(ids, idsIdx), dim(xShape[axis]));
    Index src(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(axis));
    src.push_back(id);
    src.insert(src.end(), out.begin() + static_cast<std::ptrdiff_t>(axis + ri), out.end());
    return src;
  }

  /// For take_along: x's index of result (or update) index `idx`.
  Index alongSource(const Inst &inst, const Shape &xShape, const Index &idx) {
    auto axis = static_cast<std::size_t>(inst.intAttr("axis"));
    Index src = idx;
    src[axis] = checkedIndex(element(inst.operands[1], idx), dim(xShape[axis]));
    return src;
  }

  void emitGather(ValueId v) {
    const Inst &inst = f_.insts[v];
    ValueId x = inst.operands[0];
    const Shape &xShape = f_.typeOf(x).shape;
    loopNest(dims(inst.type.shape), [&](const Index &idx) {
      Index src = inst.op == Op::Take ? takeSource(inst, xShape, idx) : alongSource(inst, xShape, idx);
      store(v, flatten(inst.type.shape, idx), element(x, src));
    });
  }

  void emitScatter(ValueId v) {
    const Inst &inst = f_.insts[v];
    ValueId updates = inst.operands[0];
    const Shape &shape = inst.type.shape;
    llvm::Type *t = registerType(inst.type.dtype);
    loopNest(dims(shape), [&](const Index &idx) {
      store(v, flatten(shape, idx), llvm::ConstantFP::get(t, 0.0));
    });
    loopNest(dims(f_.typeOf(updates).shape), [&](const Index &idx) {
      Index dst = inst.op == Op::ScatterAdd ? takeSource(inst, shape, idx)
                                            : alongSource(inst, shape, idx);
      Value *flat = flatten(shape, dst);
      store(v, flat, b_.CreateFAdd(load(v, flat), element(updates, idx)));
    });
  }

  // diag, diag_part, lower (filled column by column), lower_part.
  void emitStructured(ValueId v) {
    const Inst &inst = f_.insts[v];
    ValueId x = inst.operands[0];
    const Shape &shape = inst.type.shape;
    const Shape &xShape = f_.typeOf(x).shape;
    llvm::Type *t = registerType(inst.type.dtype);
    Value *zero = llvm::ConstantFP::get(t, 0.0);
    std::size_t r = shape.size();
    // k(row, col) for row > col: col*(n-1) - col*(col-1)/2 + (row - col - 1)
    auto lowerOffset = [&](Value *row, Value *col, Value *n) {
      Value *colTerm = b_.CreateSub(b_.CreateMul(col, b_.CreateSub(n, b_.getInt64(1))),
                                    b_.CreateSDiv(b_.CreateMul(col, b_.CreateSub(col, b_.getInt64(1))),
                                                  b_.getInt64(2)));
      return b_.CreateAdd(colTerm, b_.CreateSub(b_.CreateSub(row, col), b_.getInt64(1)));
    };
    switch (inst.op) {
    case Op::Diag:
      loopNest(dims(shape), [&](const Index &idx) {
        Index in(idx.begin(), idx.end() - 1);
        Value *onDiagonal = b_.CreateICmpEQ(idx[r - 2], idx[r - 1]);
        store(v, flatten(shape, idx), b_.CreateSelect(onDiagonal, element(x, in), zero));
      });
      return;
    case Op::DiagPart:
      loopNest(dims(shape), [&](const Index &idx) {
        Index in = idx;
        in.push_back(idx.back());
        store(v, flatten(shape, idx), element(x, in));
      });
      return;
    case Op::Lower:
      loopNest(dims(shape), [&](const Index &idx) {
        Value *row = idx[r - 2], *col = idx[r - 1];
        Value *below = b_.CreateICmpSGT(row, col);
        // Outside the triangle, read entry 0 (a valid index) and discard it.
        Value *k = b_.CreateSelect(below, lowerOffset(row, col, dim(shape[r - 1])), b_.getInt64(0));
        Index in(idx.begin(), idx.end() - 2);
        in.push_back(k);
        Value *len = dim(xShape.back());
        Value *valid = b_.CreateAnd(below, b_.CreateICmpSGT(len, b_.getInt64(0)));
        store(v, flatten(shape, idx),
              b_.CreateSelect(valid, element(x, in), zero));
      });
      return;
    case Op::LowerPart:
      loopNest(dims(xShape), [&](const Index &idx) {
        std::size_t xr = xShape.size();
        Value *row = idx[xr - 2], *col = idx[xr - 1];
        llvm::BasicBlock *inside = llvm::BasicBlock::Create(ctx_, "lower", kernel_);
        llvm::BasicBlock *join = llvm::BasicBlock::Create(ctx_, "lower_join", kernel_);
        b_.CreateCondBr(b_.CreateICmpSGT(row, col), inside, join);
        b_.SetInsertPoint(inside);
        Index out(idx.begin(), idx.end() - 2);
        out.push_back(lowerOffset(row, col, dim(xShape[xr - 1])));
        store(v, flatten(shape, out), element(x, idx));
        b_.CreateBr(join);
        b_.SetInsertPoint(join);
      });
      return;
    default:
      return;
    }
  }

  const Function &f_;
  llvm::Module &m_;
  llvm::LLVMContext &ctx_;
  IRBuilder<> b_;
  std::string symbol_;
  llvm::Function *kernel_ = nullptr;
  llvm::BasicBlock *errorBlock_ = nullptr;
  llvm::BasicBlock *dimsBlock_ = nullptr;
  Value *dimsArg_ = nullptr;
  std::map<std::string, Value *> dimCache_;
  std::vector<bool> materialized_;
  std::vector<bool> productOfSum_; // matmuls computed by the reduce_sum that reads them
  std::vector<Value *> buffers_;
  std::unordered_map<ValueId, Value *> inRegister_; // members of the fused loop being emitted
  Value *row_ = nullptr, *rowExtent_ = nullptr;     // the row of the row group being emitted
  bool avx512VectorMath_;
};

} // namespace

const char *runtimeSymbolName(int which) { return kRuntimeSymbols[which]; }

std::unique_ptr<llvm::Module> lowerToLlvm(const Function &f, llvm::LLVMContext &context,
                                          const std::string &symbol, bool avx512VectorMath) {
  auto module = std::make_unique<llvm::Module>(symbol, context);
  KernelEmitter(f, *module, symbol, avx512VectorMath).run();
  return module;
}

} // namespace nabla::codegen
