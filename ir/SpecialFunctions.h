// Special functions the C++ library lacks: digamma, trigamma and polygamma, for float and double.
#pragma once

#include <cmath>
#include <limits>

namespace nabla {

/// The k-th derivative of digamma (k = 0 is digamma itself), by upward recurrence to x >= 15 and
/// the asymptotic series there. Poles (0, -1, -2, ...) give NaN for even orders' sign ambiguity
/// as scipy does: +inf for odd k, NaN otherwise.
inline double polygammaF64(int k, double x) {
  if (std::isnan(x) || k < 0)
    return std::numeric_limits<double>::quiet_NaN();
  if (x <= 0 && x == std::floor(x))
    return k % 2 == 1 ? std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(x))
    return x > 0 ? (k == 0 ? x : 0.0) : std::numeric_limits<double>::quiet_NaN();
  // k! for the recurrence and the series.
  double kFact = 1;
  for (int i = 2; i <= k; ++i)
    kFact *= i;
  // psi^(k)(x) = psi^(k)(x+1) - (-1)^k k! / x^(k+1): accumulate the shift.
  double shift = 0;
  const double threshold = 15.0 + k;
  while (x < threshold) {
    shift += kFact / std::pow(x, k + 1);
    x += 1;
  }
  static const double bernoulli[] = {1.0 / 6,   -1.0 / 30,         1.0 / 42, -1.0 / 30,
                                     5.0 / 66, -691.0 / 2730.0,   7.0 / 6,  -3617.0 / 510};
  double sign = (k % 2 == 1) ? 1.0 : -1.0; // (-1)^(k+1)
  double series;
  if (k == 0) {
    // psi(x) ~ ln x - 1/(2x) - sum B_2n / (2n x^2n)
    series = std::log(x) - 0.5 / x;
    double x2n = 1;
    for (int n = 1; n <= 8; ++n) {
      x2n *= x * x;
      series -= bernoulli[n - 1] / (2.0 * n * x2n);
    }
    return series - shift;
  }
  // psi^(k)(x) ~ (-1)^(k+1) [ (k-1)!/x^k + k!/(2 x^(k+1)) + sum B_2n (2n+k-1)!/((2n)! x^(2n+k)) ]
  double kMinus1Fact = kFact / k;
  series = kMinus1Fact / std::pow(x, k) + kFact / (2 * std::pow(x, k + 1));
  for (int n = 1; n <= 8; ++n) {
    double ratio = 1; // (2n+k-1)! / (2n)!
    for (int i = 2 * n + 1; i <= 2 * n + k - 1; ++i)
      ratio *= i;
    series += bernoulli[n - 1] * ratio / std::pow(x, 2 * n + k);
  }
  // The shifted terms carry the sign (-1)^(k+1) too: psi^(k)(x0) = psi^(k)(x) + (-1)^(k+1)*shift.
  return sign * (series + shift);
}

inline double digammaF64(double x) { return polygammaF64(0, x); }
inline double trigammaF64(double x) { return polygammaF64(1, x); }

} // namespace nabla
