// The IR function behind a compiled kernel: a fn's or model's value, its reverse-mode gradient or
// its forward-mode JVP. One definition for the JIT API (Program::compile) and `nabla compile`.
#pragma once

#include "ir/Function.h"
#include "nabla/Diagnostic.h"
#include "nabla/Nabla.h"

#include <string>
#include <vector>

namespace nabla {

/// The function a kernel for `derivative` of `f` runs: `f` without dead code, reverse mode, or
/// forward mode with one tangent direction, w.r.t. the arguments named in `wrt` (empty: the
/// default set of selectArguments, every float argument of a fn and every param of a model).
Expected<Function> kernelFunction(const Function &f, Derivative derivative,
                                  const std::vector<std::string> &wrt = {});

} // namespace nabla
