// Forward mode: tangents pushed through a function alongside its values, several directions at
// once.
#pragma once

#include "ir/Function.h"

#include <span>
#include <string>

namespace nabla {

/// Forward mode, `@f.jvp`: f's arguments, then a tangent argument `NAME.t<k>` (typed like NAME)
/// for each direction k and each argument of `wrt`; it returns f's value and outputs, then
/// `tangent t<k>` (the result's tangent) and `tangent t<k>.OUT` for each named output. `tag`
/// replaces the `t` in these names, so that forward mode can be applied to its own output.
Function forwardMode(const Function &f, std::span<const ValueId> wrt, int directions = 1,
                     const std::string &tag = "t");

} // namespace nabla
