// Dead-code elimination: drops instructions nothing uses, keeping every argument.
#pragma once

#include "ir/Function.h"

namespace nabla {

/// A copy of `f` without the instructions that neither the result nor an output depends on;
/// arguments stay (they are the function's signature) and values are renumbered in order.
Function eliminateDeadCode(const Function &f);

} // namespace nabla
