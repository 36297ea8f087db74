// The kernel emitter: follows a LoopPlan (codegen/Plan.h) to build one LLVM kernel with the ABI
// of codegen/Lowering.h — workspace, buffers, loop functions, loops, loads and stores — and
// dispatches each value to its op's LowerRule (codegen/LowerRule.h). The per-op emitters of the
// codegen/Lower*.cpp files build on the toolkit below.
#pragma once

#include "codegen/LowerRule.h"
#include "codegen/Plan.h"
#include "ir/Function.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace nabla::codegen {

class KernelEmitter {
public:
  /// `internal`: a loop body's kernel, called only from this module.
  KernelEmitter(const Function &f, const LoopPlan &plan, llvm::Module &m, const std::string &symbol,
                bool avx512VectorMath, bool internal = false);
  ~KernelEmitter();

  /// Emits `symbol_workspace` and the kernel `symbol`.
  void run();

  // ----- what is being lowered ------------------------------------------------------------------

  const Function &f() const { return f_; }
  const Inst &inst(ValueId v) const { return f_.insts[v]; }
  const LoopPlan &plan() const { return plan_; }
  llvm::IRBuilder<> &b() { return b_; }
  llvm::Module &module() { return m_; }
  bool avx512VectorMath() const { return avx512VectorMath_; }

  // ----- types ----------------------------------------------------------------------------------

  llvm::Type *registerType(DType t);
  /// Masks are bytes in memory, bits in registers.
  llvm::Type *memoryType(DType t) { return t == DType::Bool ? b_.getInt8Ty() : registerType(t); }
  static std::int64_t elementBytes(DType t);
  llvm::Constant *constantOf(llvm::Type *t, double x);

  // ----- dimensions and indices -----------------------------------------------------------------

  /// The runtime value of a dimension (i64), computed once, in the function's entry block.
  llvm::Value *dim(const Dim &d);
  std::vector<llvm::Value *> dims(const Shape &s);
  llvm::Value *elementCount(const Shape &s);
  /// Row-major flat offset of `idx` in `shape`.
  llvm::Value *flatten(const Shape &shape, const Index &idx);

  // ----- control flow ---------------------------------------------------------------------------

  /// A new block of the function being emitted.
  llvm::BasicBlock *block(const char *name);
  /// The block that returns kIndexOutOfRange from the function being emitted.
  llvm::BasicBlock *errorBlock() { return errorBlock_; }

  /// Emits nested loops over `extents` (outermost first) and calls body(index) in the innermost.
  template <class Body> void loopNest(const std::vector<llvm::Value *> &extents, Body body) {
    Index idx;
    loopLevel(extents, 0, idx, body);
  }

  /// A scalar accumulator in a stack slot (promoted to a register by LLVM).
  llvm::Value *accumulator(llvm::Type *t, llvm::Value *init);

  // ----- loops (codegen/LowerLoop.cpp) ----------------------------------------------------------

  /// A loop body compiled as a kernel of its own (the ABI of codegen/Lowering.h, internal).
  struct BodyKernel {
    LoopPlan plan;
    llvm::Function *run = nullptr, *workspace = nullptr;
  };
  /// The kernel of `body`, named `symbol.suffix`, emitted on first use. `carriedArguments` as
  /// for planKernel.
  const BodyKernel &bodyKernel(const Function &body, const std::string &suffix,
                               std::span<const std::size_t> carriedArguments);
  /// The `dims` pointer of the function being emitted (body kernels take the same dims).
  llvm::Value *dimsArgument() { return dimsArg_; }
  /// The buffer of value `v` in the function being emitted (null when it has none).
  llvm::Value *buffer(ValueId v) { return buffers_[v]; }
  /// The scalar `v` computed from dimensions, constants and argument values alone, as the
  /// workspace function can before the call (a differentiated loop's bounds size its tape);
  /// throws a diagnostic naming `what` when `v` depends on anything else.
  llvm::Value *valueBeforeRun(ValueId v, const char *what);
  /// Workspace size arithmetic: an int64 overflow makes the workspace function return -1.
  llvm::Value *checkedAdd(llvm::Value *a, llvm::Value *b);
  llvm::Value *checkedMul(llvm::Value *a, llvm::Value *b);
  void noteOverflow(llvm::Value *overflowed);
  /// `count` stack slots of type `t`, allocated once in the entry block.
  llvm::Value *stackSlots(llvm::Type *t, unsigned count);
  /// Stores every element of `v` (computed in place when fused) to `target`.
  void copyTo(ValueId v, llvm::Value *target) { emitCopy(v, target); }

  // ----- elements -------------------------------------------------------------------------------

  /// An element of `v` from its buffer (or from `base`, a buffer of v's type).
  llvm::Value *load(ValueId v, llvm::Value *flat, llvm::Value *base = nullptr);
  void store(ValueId v, llvm::Value *flat, llvm::Value *x);
  void storeTo(llvm::Value *base, DType t, llvm::Value *flat, llvm::Value *x);
  /// The element of `v` at `idx`: loaded from its buffer, or computed in place when fused.
  llvm::Value *element(ValueId v, const Index &idx);
  /// The index into a broadcast's operand that its element at `idx` reads.
  Index broadcastSource(const Inst &inst, const Index &idx);
  /// The address of `value`'s element at `idx`, in the buffer a batch broadcast reads when the
  /// value is one (matmuls read those in place).
  llvm::Value *elementPointer(ValueId value, Index idx);
  llvm::Value *convert(llvm::Value *x, DType from, DType to);

private:
  template <class Body>
  void loopLevel(const std::vector<llvm::Value *> &extents, std::size_t level, Index &idx,
                 Body &body) {
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
    llvm::Value *next = b_.CreateAdd(i, b_.getInt64(1), "", true, true);
    i->addIncoming(next, b_.GetInsertBlock());
    b_.CreateBr(header);
    b_.SetInsertPoint(exit);
  }

  llvm::Value *symbolValue(llvm::IRBuilder<> &entry, const std::string &name);
  void beginFunction(llvm::Function *fn);
  llvm::Value *layoutWorkspace(std::vector<llvm::Value *> *offsets);
  void emitWorkspaceFunction();
  void emitKernel();
  void collectBuffers(ValueId v, bool root, std::vector<llvm::Value *> &out);
  void emitGroup(const LoopGroup &group);
  llvm::Value *compute(ValueId v, const Index &idx);
  /// An elementwise op's own scalar math (OpInfo::lowerScalar) on operand values as code.
  llvm::Value *scalarMath(const Inst &inst, std::span<void *const> operands);
  void emitMaterialized(ValueId v);
  void emitFusedLoop(const std::vector<ValueId> &values);
  void emitCopy(ValueId v, llvm::Value *target);

  const Function &f_;
  const LoopPlan &plan_;
  llvm::Module &m_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  std::string symbol_;
  llvm::Function *kernel_ = nullptr; // the function being emitted
  llvm::BasicBlock *errorBlock_ = nullptr;
  llvm::BasicBlock *dimsBlock_ = nullptr;
  llvm::Value *dimsArg_ = nullptr;
  llvm::Value *argsArg_ = nullptr;     // the ABI's args (kernel and workspace function only)
  llvm::Value *overflow_ = nullptr;    // i1: a workspace size overflowed
  std::map<const Function *, std::unique_ptr<BodyKernel>> bodies_;
  bool internal_;
  std::map<std::string, llvm::Value *> dimCache_;
  std::vector<llvm::Value *> buffers_;
  std::unordered_map<ValueId, llvm::Value *> inRegister_; // members of the fused loop emitted
  llvm::Value *row_ = nullptr, *rowExtent_ = nullptr;     // the row of the row group emitted
  bool avx512VectorMath_;
};

} // namespace nabla::codegen
