// Running a function on concrete tensors with either engine: the reference interpreter or
// JIT-compiled native code.
#pragma once

#include "codegen/Jit.h"
#include "ir/Function.h"
#include "ir/Interpreter.h"
#include "ir/Tensor.h"
#include "nabla/Diagnostic.h"
#include "nabla/Nabla.h"

#include <string>
#include <vector>

namespace nabla {

/// `f` compiled to native code in process (once per distinct function).
Expected<codegen::Kernel> jitKernel(const Function &f);

/// Runs `f` on `args` (one per argument, in order): its value, then each named result in order.
Expected<std::vector<Tensor>> execute(Engine engine, const Function &f,
                                      const std::vector<Tensor> &args, const DimBinding &dims = {});

} // namespace nabla
