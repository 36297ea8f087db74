// Leaves: function arguments (inputs and params), constants and index ramps.
#include "ir/DerivativeRules.h"
#include "ir/OpTable.h"
#include "ir/Shapes.h"

#include <fmt/format.h>

namespace nabla {

namespace {

TypeOrError argumentRule(std::span<const Type>, const Inst &inst,
                         const std::optional<Type> &declared) {
  if (!declared)
    return fmt::format("'{}' needs a declared type", mnemonic(inst.op));
  return *declared;
}

// Arguments are bound by the caller; the interpreter never evaluates them.
void evalArgument(const Inst &inst, std::span<const Tensor *const>, Tensor &) {
  throw std::logic_error("argument '" + inst.stringAttr("name") + "' was not bound");
}

TypeOrError constRule(std::span<const Type>, const Inst &inst,
                      const std::optional<Type> &declared) {
  if (!declared)
    return std::string("'const' needs a declared type");
  std::int64_t n = 1;
  for (const Dim &d : declared->shape) {
    if (!d.isConstant())
      return fmt::format("'const' needs a concrete shape, got {}", declared->str());
    n *= d.constant();
  }
  if (static_cast<std::size_t>(n) != inst.floatsAttr("value").size())
    return fmt::format("'const' of type {} needs {} values, got {}", declared->str(), n,
                       inst.floatsAttr("value").size());
  return *declared;
}

void evalConst(const Inst &inst, std::span<const Tensor *const>, Tensor &out) {
  out.data = inst.floatsAttr("value");
}

TypeOrError iotaRule(std::span<const Type>, const Inst &inst, const std::optional<Type> &) {
  const Shape &shape = inst.dimsAttr("shape");
  if (!normalizeAxis(inst.intAttr("axis"), shape.size()) || inst.intAttr("axis") < 0)
    return fmt::format("'iota' axis {} is out of range for rank {}", inst.intAttr("axis"),
                       shape.size());
  return Type{DType::I32, shape};
}

// iota: each element is its index along `axis`.
void evalIota(const Inst &inst, std::span<const Tensor *const>, Tensor &out) {
  auto axis = static_cast<std::size_t>(inst.intAttr("axis"));
  std::vector<std::int64_t> index;
  for (std::size_t i = 0; i < out.data.size(); ++i) {
    unflatten(static_cast<std::int64_t>(i), out.shape, index);
    out.data[i] = static_cast<double>(index[axis]);
  }
}

/// dim_size: the value of a (runtime) dimension as a number, e.g. the batch size in `mean`.
TypeOrError dimSizeRule(std::span<const Type>, const Inst &inst, const std::optional<Type> &) {
  if (inst.dimsAttr("dim").size() != 1)
    return std::string("'dim_size' needs exactly one dimension");
  if (inst.dtypeAttr("dtype") == DType::Bool)
    return std::string("'dim_size' cannot be a bool");
  return Type{inst.dtypeAttr("dtype"), {}};
}

void evalDimSize(const Inst &inst, std::span<const Tensor *const>, Tensor &out) {
  out.data[0] = static_cast<double>(inst.dimsAttr("dim")[0].constant());
}

} // namespace

// Leaves have no operands to differentiate: an argument's tangent is seeded by the derivative
// passes themselves, and constants have none.
const OpInfo opInput = OpInfo{0, {{"name", AttrKind::String}}, argumentRule, evalArgument,
                              rules::zeroJvp, rules::zeroVjp};
const OpInfo opParam = OpInfo{0, {{"name", AttrKind::String}}, argumentRule, evalArgument,
                              rules::zeroJvp, rules::zeroVjp};
const OpInfo opConst = OpInfo{0,         {{"value", AttrKind::Floats}}, constRule, evalConst,
                              rules::zeroJvp, rules::zeroVjp};
const OpInfo opIota = OpInfo{0,        {{"shape", AttrKind::Dims}, {"axis", AttrKind::Int}},
                             iotaRule, evalIota,
                             rules::zeroJvp, rules::zeroVjp};
const OpInfo opDimSize = OpInfo{0,           {{"dim", AttrKind::Dims}, {"dtype", AttrKind::DTypeAttr}},
                                dimSizeRule, evalDimSize,
                                rules::zeroJvp, rules::zeroVjp};

} // namespace nabla
