// Random arguments for running functions in tests (compiled code against the interpreter).
#pragma once

#include "ir/Function.h"
#include "ir/Tensor.h"

#include <random>
#include <vector>

namespace nabla::testing {

/// Random arguments for `f` with its runtime dimensions bound by `dims`: f64 in [0.5, 1.5]
/// (inside every domain the corpus and the examples use), f32 in [-0.5, 0.5] (the f32 programs
/// are networks; small values keep their sums from cancelling far beyond f32 rounding), indices
/// in {0, 1}.
inline std::vector<Tensor> randomArgs(const Function &f, const DimBinding &dims,
                                      std::mt19937_64 &rng) {
  std::vector<Tensor> args;
  for (ValueId a : f.arguments()) {
    Tensor t(f.typeOf(a).dtype, *concreteShape(f.typeOf(a).shape, dims));
    for (double &v : t.data)
      v = t.dtype == DType::I32 ? static_cast<double>(rng() % 2)
          : t.dtype == DType::F32
              ? roundTo(t.dtype, std::uniform_real_distribution<double>(-0.5, 0.5)(rng))
              : std::uniform_real_distribution<double>(0.5, 1.5)(rng);
    args.push_back(std::move(t));
  }
  return args;
}

} // namespace nabla::testing
