// Index arithmetic shared by evaluation and lowering: one definition, a template over the index
// type, run on std::int64_t by the interpreter and on `Scalar` (ir/ScalarEmitter.h, i64 values)
// by the code generator, as the elementwise ops' scalar math is.
#pragma once

#include <cstdint>

namespace nabla::index_math {

/// `c ? a : b` on numbers (`Scalar` has its own select, found by argument-dependent lookup).
template <class T> T select(bool c, T a, T b) { return c ? a : b; }

/// An index into an axis, wrapped: the entry it names and whether it is out of range.
template <class I, class Mask> struct Wrapped {
  I index;
  Mask outOfRange;
};

/// Negative indices count from the end, as numpy's: `id` names entry `id + extent` when it is
/// negative. Out of range is what stays outside [0, extent) after that.
template <class I> auto wrapIndex(I id, I extent) {
  auto negative = id < I(0);
  I shifted = id + extent;
  I index = select(negative, shifted, id);
  auto below = index < I(0);
  auto above = index >= extent;
  auto outOfRange = below || above;
  return Wrapped<I, decltype(outOfRange)>{index, outOfRange};
}

} // namespace nabla::index_math
