// Lowering of loops (ir/Loop.h) and of `update`. Not compiled yet: lowerToLlvm refuses a
// function that has them, with a message that points to the interpreter.
#include "codegen/KernelEmitter.h"

#include <stdexcept>

namespace nabla::codegen {

namespace {

void notCompiledYet(KernelEmitter &, ValueId) {
  throw std::runtime_error("loops are not compiled to native code yet (use --engine interp)");
}

constexpr LowerRule kNotYet{Lowering::Loops, RowAccess::None, false, nullptr, notCompiledYet};

} // namespace

const LowerRule lowerUpdate = kNotYet;
const LowerRule lowerLoop = kNotYet;
const LowerRule lowerLoopGrad = kNotYet;
const LowerRule lowerLoopResult = kNotYet;

bool compilesToNative(Op op) { return lowerRule(op).emit != notCompiledYet; }

} // namespace nabla::codegen
