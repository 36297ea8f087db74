// Concrete row-major tensors, as the interpreter and the runtime hold them.
#pragma once

#include "ir/Type.h"

#include <cstdint>
#include <string>
#include <vector>

namespace nabla {

/// A dense row-major tensor. Elements of every dtype are held as doubles: i32 and bool values are
/// exact there, and f32 results are rounded to float after each op so that they are what f32
/// arithmetic would give.
struct Tensor {
  DType dtype = DType::F64;
  std::vector<std::int64_t> shape;
  std::vector<double> data;

  Tensor() = default;
  Tensor(DType dtype, std::vector<std::int64_t> shape);
  static Tensor scalar(double v, DType dtype = DType::F64);

  std::size_t size() const { return data.size(); }
  std::size_t rank() const { return shape.size(); }
  /// Row-major strides in elements.
  std::vector<std::int64_t> strides() const;
  /// Rounds every element to the precision of the dtype (float for f32).
  void roundToDType();
  /// `f64[2,3]`.
  std::string typeStr() const;
};

/// Rounds one value to a dtype's precision.
inline double roundTo(DType t, double v) {
  return t == DType::F32 ? static_cast<double>(static_cast<float>(v)) : v;
}

} // namespace nabla
