// Lowering of loops (ir/Loop.h). Each body is a kernel of its own (KernelEmitter::bodyKernel:
// the same plan, fusion and lowering rules, the ABI of codegen/Lowering.h, internal to the
// module), and the enclosing kernel emits one real loop that calls it once per step, so code
// size and compile time do not depend on the trip count. The carried values live in the
// loop's scratch, after its buffer in the workspace:
//   loop       two buffers per carried value, read and written alternately (one when the body
//              updates it in place), then the body's workspace;
//   loop_grad  the tape, one slot of carried values per step plus the last, which the forward
//              sweep fills (step i reads slot i and writes slot i + 1); the backward carries'
//              two buffers each; a sum and a per-step term per further result; then both
//              bodies' workspaces.
// The tape's size is the trip count times a slot: the workspace function computes the bounds
// of a loop_grad from dimensions, constants and argument values (KernelEmitter::valueBeforeRun).
#include "codegen/KernelEmitter.h"

#include "ir/Loop.h"

#include <llvm/IR/Constants.h>

#include <fmt/format.h>

namespace nabla::codegen {

namespace {

using llvm::Value;
using BodyKernel = KernelEmitter::BodyKernel;

/// The scratch follows the loop's own buffer (its i32 trip count) at this offset.
constexpr std::int64_t kScratchOffset = 64;

Value *bytesOf(KernelEmitter &e, const Type &t) {
  return e.checkedMul(e.b().getInt64(KernelEmitter::elementBytes(t.dtype)),
                      e.elementCount(t.shape));
}

/// Regions laid out one after another, each 64-aligned.
class Regions {
public:
  explicit Regions(KernelEmitter &e) : e_(e), size_(e.b().getInt64(0)) {}
  /// The offset of a new region of `bytes`.
  Value *add(Value *bytes) {
    Value *at = size_;
    auto &b = e_.b();
    Value *rounded = b.CreateAnd(e_.checkedAdd(bytes, b.getInt64(63)), b.getInt64(~std::int64_t{63}));
    size_ = e_.checkedAdd(size_, rounded);
    return at;
  }
  Value *size() const { return size_; }

private:
  KernelEmitter &e_;
  Value *size_;
};

/// Where a loop's scratch keeps what (byte offsets from its start).
struct Scratch {
  Value *size = nullptr;
  std::vector<Value *> carried[2]; // loop: the carried values' two buffers (the same when in place)
  Value *tape = nullptr, *tapeSlot = nullptr; // loop_grad: the tape and the bytes of one slot
  std::vector<Value *> inSlot;                // loop_grad: each carried value's offset in a slot
  std::vector<Value *> back[2];               // loop_grad: the backward carries' two buffers
  std::vector<Value *> sums, terms;           // loop_grad: the summed results and one step's
  Value *forwardWorkspace = nullptr, *backwardWorkspace = nullptr;
};

std::vector<Type> typesOf(KernelEmitter &e, std::span<const ValueId> values) {
  std::vector<Type> out;
  for (ValueId v : values)
    out.push_back(e.f().typeOf(v));
  return out;
}

/// The forward body's kernel: carried value k is its argument 1 + k.
const BodyKernel &forwardKernel(KernelEmitter &e, ValueId loop) {
  const Inst &inst = e.inst(loop);
  std::vector<std::size_t> carried;
  for (std::size_t k = 0; k < loops::operandsOf(inst).inits.size(); ++k)
    carried.push_back(1 + k);
  return e.bodyKernel(loops::body(inst), fmt::format("loop{}", loop), carried);
}

/// The backward body's kernel: (t, carried, captures, backward carries) -> (backward carries,
/// terms), backward carry j being its argument 1 + K + C + j.
const BodyKernel &backwardKernel(KernelEmitter &e, ValueId loop) {
  const Inst &inst = e.inst(loop);
  loops::LoopOperands o = loops::operandsOf(inst);
  std::vector<std::size_t> carried;
  for (std::size_t j = 0; j < o.cotangents.size(); ++j)
    carried.push_back(1 + o.inits.size() + o.captures.size() + j);
  return e.bodyKernel(loops::backwardBody(inst), fmt::format("loop{}.back", loop), carried);
}

Value *bodyWorkspace(KernelEmitter &e, const BodyKernel &k) {
  auto &b = e.b();
  Value *bytes = b.CreateCall(k.workspace,
                              {e.dimsArgument(), llvm::ConstantPointerNull::get(b.getPtrTy())});
  e.noteOverflow(b.CreateICmpSLT(bytes, b.getInt64(0)));
  return bytes;
}

/// The scratch of `loop` when it runs `trips` steps (only a loop_grad's depends on them).
Scratch layoutScratch(KernelEmitter &e, ValueId loop, Value *trips) {
  const Inst &inst = e.inst(loop);
  loops::LoopOperands o = loops::operandsOf(inst);
  std::vector<Type> carried = typesOf(e, o.inits);
  const BodyKernel &forward = forwardKernel(e, loop);
  Regions r(e);
  Scratch s;
  auto doubleBuffers = [&](const std::vector<Type> &types, const BodyKernel &k,
                           std::vector<Value *> (&out)[2]) {
    for (std::size_t j = 0; j < types.size(); ++j) {
      out[0].push_back(r.add(bytesOf(e, types[j])));
      out[1].push_back(k.plan.results[j].inPlace ? out[0].back() : r.add(bytesOf(e, types[j])));
    }
  };
  if (inst.op == Op::Loop) {
    doubleBuffers(carried, forward, s.carried);
    s.forwardWorkspace = r.add(bodyWorkspace(e, forward));
    s.size = r.size();
    return s;
  }
  const BodyKernel &backward = backwardKernel(e, loop);
  Regions slot(e);
  for (const Type &t : carried)
    s.inSlot.push_back(slot.add(bytesOf(e, t)));
  s.tapeSlot = slot.size();
  s.tape = r.add(e.checkedMul(e.checkedAdd(trips, e.b().getInt64(1)), s.tapeSlot));
  std::vector<Type> results = loops::resultTypes(inst);
  std::size_t kb = o.cotangents.size();
  doubleBuffers(std::vector<Type>(results.begin(), results.begin() + kb), backward, s.back);
  for (std::size_t q = kb; q < results.size(); ++q) {
    s.sums.push_back(r.add(bytesOf(e, results[q])));
    s.terms.push_back(r.add(bytesOf(e, results[q])));
  }
  s.forwardWorkspace = r.add(bodyWorkspace(e, forward));
  s.backwardWorkspace = r.add(bodyWorkspace(e, backward));
  s.size = r.size();
  return s;
}

/// max(hi - lo, 0) in i64, from the i32 bounds.
Value *tripCount(KernelEmitter &e, Value *lo, Value *hi) {
  auto &b = e.b();
  Value *n = b.CreateSub(b.CreateSExt(hi, b.getInt64Ty()), b.CreateSExt(lo, b.getInt64Ty()));
  return b.CreateSelect(b.CreateICmpSGT(n, b.getInt64(0)), n, b.getInt64(0));
}

Value *loopScratchBytes(KernelEmitter &e, ValueId loop) {
  const Inst &inst = e.inst(loop);
  Value *trips = nullptr;
  if (inst.op == Op::LoopGrad) {
    loops::LoopOperands o = loops::operandsOf(inst);
    trips = tripCount(e, e.valueBeforeRun(o.lo, "the lower bound of a differentiated loop"),
                      e.valueBeforeRun(o.hi, "the upper bound of a differentiated loop"));
  }
  return layoutScratch(e, loop, trips).size;
}

/// The calls of one body kernel: its argument and result pointer arrays and its step index,
/// in stack slots of the function being emitted.
class BodyCall {
public:
  BodyCall(KernelEmitter &e, const Function &body, const BodyKernel &kernel, Value *workspace)
      : e_(e), kernel_(kernel), workspace_(workspace) {
    auto &b = e.b();
    args_ = e.stackSlots(b.getPtrTy(), static_cast<unsigned>(body.arguments().size()));
    results_ = e.stackSlots(b.getPtrTy(), static_cast<unsigned>(kernel.plan.results.size()));
    index_ = e.stackSlots(b.getInt32Ty(), 1);
    setArgument(0, index_);
  }

  void setArgument(std::size_t i, Value *ptr) { set(args_, i, ptr); }
  void setResult(std::size_t i, Value *ptr) { set(results_, i, ptr); }

  /// Runs the body for step index `t` (i32); a failure leaves the enclosing function with it.
  void run(Value *t) {
    auto &b = e_.b();
    b.CreateStore(t, index_);
    Value *status = b.CreateCall(kernel_.run, {args_, results_, e_.dimsArgument(), workspace_});
    llvm::BasicBlock *next = e_.block("step_done");
    b.CreateCondBr(b.CreateICmpEQ(status, b.getInt32(0)), next, e_.errorBlock());
    b.SetInsertPoint(next);
  }

private:
  void set(Value *array, std::size_t i, Value *ptr) {
    auto &b = e_.b();
    b.CreateStore(ptr, b.CreateConstGEP1_64(b.getPtrTy(), array, i));
  }

  KernelEmitter &e_;
  const BodyKernel &kernel_;
  Value *workspace_;
  Value *args_ = nullptr, *results_ = nullptr, *index_ = nullptr;
};

/// What emitting a loop or loop_grad starts from: its bounds, its scratch and the pointer to it.
struct LoopStart {
  loops::LoopOperands operands;
  Value *lo, *trips; // the i32 lower bound and the i64 trip count
  Value *base;       // the scratch
  Scratch scratch;
};

Value *at(KernelEmitter &e, Value *base, Value *offset) {
  return e.b().CreateGEP(e.b().getInt8Ty(), base, offset);
}

/// Computes the bounds, stores the trip count as the loop's value and lays out the scratch.
LoopStart startLoop(KernelEmitter &e, ValueId loop) {
  auto &b = e.b();
  LoopStart s{loops::operandsOf(e.inst(loop))};
  s.lo = e.element(s.operands.lo, {});
  s.trips = tripCount(e, s.lo, e.element(s.operands.hi, {}));
  b.CreateStore(b.CreateTrunc(s.trips, b.getInt32Ty()), e.buffer(loop));
  s.base = b.CreateConstGEP1_64(b.getInt8Ty(), e.buffer(loop), kScratchOffset);
  s.scratch = layoutScratch(e, loop, s.trips);
  return s;
}

/// The step index lo + i (i32) of iteration i (i64).
Value *stepIndex(KernelEmitter &e, const LoopStart &s, Value *i) {
  return e.b().CreateAdd(s.lo, e.b().CreateTrunc(i, e.b().getInt32Ty()));
}

/// Buffer `which` of a double-buffered value at iteration i: even iterations read buffer 0.
Value *alternate(KernelEmitter &e, const LoopStart &s, const std::vector<Value *> (&buffers)[2],
                 std::size_t j, Value *i, bool written) {
  auto &b = e.b();
  Value *odd = b.CreateTrunc(i, b.getInt1Ty());
  if (written)
    odd = b.CreateNot(odd);
  return b.CreateSelect(odd, at(e, s.base, buffers[1][j]), at(e, s.base, buffers[0][j]));
}

void emitLoop(KernelEmitter &e, ValueId loop) {
  LoopStart s = startLoop(e, loop);
  const loops::LoopOperands &o = s.operands;
  const BodyKernel &kernel = forwardKernel(e, loop);
  BodyCall call(e, loops::body(e.inst(loop)), kernel, at(e, s.base, s.scratch.forwardWorkspace));
  for (std::size_t k = 0; k < o.inits.size(); ++k)
    e.copyTo(o.inits[k], at(e, s.base, s.scratch.carried[0][k]));
  for (std::size_t c = 0; c < o.captures.size(); ++c)
    call.setArgument(1 + o.inits.size() + c, e.buffer(o.captures[c]));
  e.loopNest({s.trips}, [&](const Index &i) {
    for (std::size_t k = 0; k < o.inits.size(); ++k) {
      call.setArgument(1 + k, alternate(e, s, s.scratch.carried, k, i[0], false));
      call.setResult(k, alternate(e, s, s.scratch.carried, k, i[0], true));
    }
    call.run(stepIndex(e, s, i[0]));
  });
}

/// sum += term, elementwise over `t`'s elements.
void accumulate(KernelEmitter &e, const Type &t, Value *sum, Value *term) {
  auto &b = e.b();
  llvm::Type *r = e.memoryType(t.dtype);
  e.loopNest({e.elementCount(t.shape)}, [&](const Index &i) {
    Value *ps = b.CreateGEP(r, sum, i[0]), *pt = b.CreateGEP(r, term, i[0]);
    Value *x = b.CreateLoad(r, ps), *y = b.CreateLoad(r, pt);
    b.CreateStore(isFloat(t.dtype) ? b.CreateFAdd(x, y) : b.CreateAdd(x, y), ps);
  });
}

void emitLoopGrad(KernelEmitter &e, ValueId loop) {
  auto &b = e.b();
  const Inst &inst = e.inst(loop);
  LoopStart s = startLoop(e, loop);
  const loops::LoopOperands &o = s.operands;
  const Scratch &sc = s.scratch;
  std::size_t nk = o.inits.size(), nc = o.captures.size(), kb = o.cotangents.size();
  std::vector<Type> carried = typesOf(e, o.inits), results = loops::resultTypes(inst);
  auto tape = [&](Value *slot, std::size_t k) {
    return at(e, at(e, s.base, sc.tape), b.CreateAdd(b.CreateMul(slot, sc.tapeSlot), sc.inSlot[k]));
  };

  // Forward: step i reads tape slot i and writes slot i + 1.
  const BodyKernel &forward = forwardKernel(e, loop);
  BodyCall call(e, loops::body(inst), forward, at(e, s.base, sc.forwardWorkspace));
  for (std::size_t k = 0; k < nk; ++k)
    e.copyTo(o.inits[k], tape(b.getInt64(0), k));
  for (std::size_t c = 0; c < nc; ++c)
    call.setArgument(1 + nk + c, e.buffer(o.captures[c]));
  e.loopNest({s.trips}, [&](const Index &i) {
    Value *next = b.CreateAdd(i[0], b.getInt64(1));
    for (std::size_t k = 0; k < nk; ++k) {
      Value *in = tape(i[0], k), *out = tape(next, k);
      if (forward.plan.results[k].inPlace) { // the body updates slot i + 1 in place
        b.CreateMemCpy(out, llvm::MaybeAlign(), in, llvm::MaybeAlign(), bytesOf(e, carried[k]));
        in = out;
      }
      call.setArgument(1 + k, in);
      call.setResult(k, out);
    }
    call.run(stepIndex(e, s, i[0]));
  });

  // Backward, for t = hi - 1 down to lo: the backward carries alternate, the terms are summed.
  const BodyKernel &backward = backwardKernel(e, loop);
  BodyCall back(e, loops::backwardBody(inst), backward, at(e, s.base, sc.backwardWorkspace));
  for (std::size_t j = 0; j < kb; ++j)
    e.copyTo(o.cotangents[j], at(e, s.base, sc.back[0][j]));
  for (std::size_t q = 0; q < sc.sums.size(); ++q) {
    b.CreateMemSet(at(e, s.base, sc.sums[q]), b.getInt8(0), bytesOf(e, results[kb + q]),
                   llvm::MaybeAlign());
    back.setResult(kb + q, at(e, s.base, sc.terms[q]));
  }
  for (std::size_t c = 0; c < nc; ++c)
    back.setArgument(1 + nk + c, e.buffer(o.captures[c]));
  e.loopNest({s.trips}, [&](const Index &n) {
    Value *i = b.CreateSub(b.CreateSub(s.trips, b.getInt64(1)), n[0]);
    for (std::size_t k = 0; k < nk; ++k)
      back.setArgument(1 + k, tape(i, k));
    for (std::size_t j = 0; j < kb; ++j) {
      back.setArgument(1 + nk + nc + j, alternate(e, s, sc.back, j, n[0], false));
      back.setResult(j, alternate(e, s, sc.back, j, n[0], true));
    }
    back.run(stepIndex(e, s, i));
    for (std::size_t q = 0; q < sc.sums.size(); ++q)
      accumulate(e, results[kb + q], at(e, s.base, sc.sums[q]), at(e, s.base, sc.terms[q]));
  });
}

/// loop_result: a copy of the loop's final carried value (or backward carry, or sum).
void emitLoopResult(KernelEmitter &e, ValueId v) {
  auto &b = e.b();
  const Inst &inst = e.inst(v);
  ValueId loop = inst.operands[0];
  auto index = static_cast<std::size_t>(inst.intAttr("index"));
  Value *trips = b.CreateSExt(b.CreateLoad(b.getInt32Ty(), e.buffer(loop)), b.getInt64Ty());
  Value *base = b.CreateConstGEP1_64(b.getInt8Ty(), e.buffer(loop), kScratchOffset);
  Scratch s = layoutScratch(e, loop, trips);
  LoopStart start{loops::operandsOf(e.inst(loop)), nullptr, trips, base, s};
  // After n steps the last written buffer is the one step n would read.
  Value *source;
  if (e.inst(loop).op == Op::Loop)
    source = alternate(e, start, s.carried, index, trips, false);
  else if (index < s.back[0].size())
    source = alternate(e, start, s.back, index, trips, false);
  else
    source = at(e, base, s.sums[index - s.back[0].size()]);
  b.CreateMemCpy(e.buffer(v), llvm::MaybeAlign(), source, llvm::MaybeAlign(),
                 bytesOf(e, inst.type));
}

} // namespace

const LowerRule lowerLoop{Lowering::Loops, RowAccess::None, false, nullptr, emitLoop,
                          loopScratchBytes};
const LowerRule lowerLoopGrad{Lowering::Loops, RowAccess::None, false, nullptr, emitLoopGrad,
                              loopScratchBytes};
const LowerRule lowerLoopResult{Lowering::Loops, RowAccess::None, false, nullptr,
                                emitLoopResult};

} // namespace nabla::codegen
