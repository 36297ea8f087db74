// The special functions of compiled kernels: the interpreter's own, so that both agree exactly.
#include "codegen/RuntimeSupport.h"

#include "ir/SpecialFunctions.h"

#include <cmath>

extern "C" {

double nabla_rt_lgamma(double x) {
  int sign;
  return ::lgamma_r(x, &sign);
}

double nabla_rt_digamma(double x) { return nabla::digammaF64(x); }

double nabla_rt_trigamma(double x) { return nabla::trigammaF64(x); }

double nabla_rt_polygamma(std::int32_t order, double x) { return nabla::polygammaF64(order, x); }
}
