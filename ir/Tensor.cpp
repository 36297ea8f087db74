// Concrete tensors.
#include "ir/Tensor.h"

#include "ir/Shapes.h"

namespace nabla {

Tensor::Tensor(DType dtype, std::vector<std::int64_t> shape)
    : dtype(dtype), shape(std::move(shape)) {
  data.assign(static_cast<std::size_t>(elementCount(this->shape)), 0.0);
}

Tensor Tensor::scalar(double v, DType dtype) {
  Tensor t(dtype, {});
  t.data[0] = roundTo(dtype, v);
  return t;
}

std::vector<std::int64_t> Tensor::strides() const { return rowMajorStrides(shape); }

void Tensor::roundToDType() {
  if (dtype != DType::F32)
    return;
  for (double &v : data)
    v = roundTo(dtype, v);
}

std::string Tensor::typeStr() const {
  std::string out = dtypeName(dtype);
  if (shape.empty())
    return out;
  out += "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += ",";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

} // namespace nabla
