// The combining math of reductions shared by evaluation and lowering: templates over the number
// type, run on double by the interpreter and on `Scalar` (ir/ScalarEmitter.h) by the code
// generator, so that both engines treat NaN and infinities alike.
#pragma once

#include <cmath>
#include <limits>

namespace nabla::reduce_math {

inline bool isNaN(double x) { return std::isnan(x); }
template <class T> T select(bool c, T a, T b) { return c ? a : b; }

/// max (or min) of an accumulator and the next entry: take the entry when it is greater (less)
/// or NaN, unless the accumulator is NaN already, so that NaN propagates, as numpy's max.
template <bool IsMax, class T> T extremum(T acc, T x) {
  auto better = IsMax ? x > acc : x < acc;
  auto xNaN = isNaN(x);
  auto take = better || xNaN;
  auto keepNaN = isNaN(acc);
  auto replace = take && !keepNaN;
  return select(replace, x, acc);
}

/// Whether logsumexp's maximum m leaves the answer to m + log(sum(exp(x - m))): an infinite
/// (or NaN) m is the answer itself, its exp(x - m) terms meaningless.
template <class T> auto finiteMax(T m) {
  using std::fabs;
  return fabs(m) < T(std::numeric_limits<double>::infinity());
}

/// logsumexp from its maximum m, whether m is finite, and sum(exp(x - m)).
template <class T, class Mask> T logSumExpFinish(Mask finite, T m, T sumOfExp) {
  using std::log;
  return select(finite, m + log(sumOfExp), m);
}

} // namespace nabla::reduce_math
