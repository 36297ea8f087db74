// Reverse mode: adjoints pulled back through a function, summed where a value fans out.
#pragma once

#include "ir/Function.h"

#include <span>

namespace nabla {

/// Reverse mode, `@f.grad`: f's arguments (and, when the result is not a scalar, a cotangent
/// argument `seed.ct` typed like it); it returns f's value and outputs, then `grad NAME` for each
/// argument of `wrt`, shaped like it.
Function reverseMode(const Function &f, std::span<const ValueId> wrt);

} // namespace nabla
