// Float precision as a compile-time choice: one function rebuilt with every float type replaced,
// for `nabla compile --dtype f32|f64`.
#pragma once

#include "ir/Function.h"

namespace nabla {

/// A copy of `f` in which every f32 and f64 type (arguments, constants, intermediate values,
/// results) is `to`; a `convert` between two float types becomes the identity, and constants are
/// rounded to `to`. Integer and bool values keep their types. Throws IrError only on a malformed `f`.
Function castFloats(const Function &f, DType to);

} // namespace nabla
