// Functions that compiled kernels call: the special functions nabla defines itself.
#pragma once

#include <cstdint>

extern "C" {
double nabla_rt_lgamma(double x);
double nabla_rt_digamma(double x);
double nabla_rt_trigamma(double x);
double nabla_rt_polygamma(std::int32_t order, double x);
}
