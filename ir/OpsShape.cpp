// Shape ops: broadcast, reshape, transpose, slice, pad, concat. None computes; all move data.
#include "ir/DerivativeRules.h"
#include "ir/OpTable.h"
#include "ir/Shapes.h"

#include <fmt/format.h>

#include <algorithm>

namespace nabla {

namespace {

// ----- broadcast: numpy's rule, trailing dimensions aligned ------------------------------------

TypeOrError broadcastRule(std::span<const Type> ops, const Inst &inst, const std::optional<Type> &) {
  const Shape &to = inst.dimsAttr("shape");
  if (!broadcastsTo(ops[0].shape, to))
    return fmt::format("cannot broadcast {} to {}", ops[0].str(), shapeStr(to));
  return Type{ops[0].dtype, to};
}

void evalBroadcast(const Inst &, std::span<const Tensor *const> in, Tensor &out) {
  const Tensor &x = *in[0];
  std::size_t lead = out.rank() - x.rank();
  auto xStrides = x.strides();
  std::vector<std::int64_t> index;
  for (std::size_t i = 0; i < out.data.size(); ++i) {
    unflatten(static_cast<std::int64_t>(i), out.shape, index);
    std::int64_t src = 0;
    for (std::size_t d = 0; d < x.rank(); ++d)
      if (x.shape[d] != 1)
        src += index[d + lead] * xStrides[d];
    out.data[i] = x.data[static_cast<std::size_t>(src)];
  }
}

// ----- reshape: same elements, row-major order ---------------------------------------------------

Dim product(const Shape &s) {
  Dim n(1);
  for (const Dim &d : s)
    n = n * d;
  return n;
}

TypeOrError reshapeRule(std::span<const Type> ops, const Inst &inst, const std::optional<Type> &) {
  const Shape &to = inst.dimsAttr("shape");
  if (product(to) != product(ops[0].shape))
    return fmt::format("cannot reshape {} ({} elements) to {} ({} elements)", ops[0].str(),
                       product(ops[0].shape).str(), shapeStr(to), product(to).str());
  return Type{ops[0].dtype, to};
}

void evalCopy(const Inst &, std::span<const Tensor *const> in, Tensor &out) {
  out.data = in[0]->data;
}

// ----- transpose: out.shape[i] = in.shape[perm[i]] ---------------------------------------------

TypeOrError transposeRule(std::span<const Type> ops, const Inst &inst,
                          const std::optional<Type> &) {
  const auto &perm = inst.intsAttr("perm");
  std::vector<std::int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  bool isPermutation = sorted.size() == ops[0].rank();
  for (std::size_t i = 0; isPermutation && i < sorted.size(); ++i)
    isPermutation = sorted[i] == static_cast<std::int64_t>(i);
  if (!isPermutation)
    return fmt::format("[{}] is not a permutation of the axes of {}", fmt::join(perm, ", "),
                       ops[0].str());
  Type out{ops[0].dtype, {}};
  for (std::int64_t p : perm)
    out.shape.push_back(ops[0].shape[static_cast<std::size_t>(p)]);
  return out;
}

void evalTranspose(const Inst &inst, std::span<const Tensor *const> in, Tensor &out) {
  const auto &perm = inst.intsAttr("perm");
  auto inStrides = in[0]->strides();
  std::vector<std::int64_t> index;
  for (std::size_t i = 0; i < out.data.size(); ++i) {
    unflatten(static_cast<std::int64_t>(i), out.shape, index);
    std::int64_t src = 0;
    for (std::size_t d = 0; d < perm.size(); ++d)
      src += index[d] * inStrides[static_cast<std::size_t>(perm[d])];
    out.data[i] = in[0]->data[static_cast<std::size_t>(src)];
  }
}

// ----- slice [start, limit) per axis, and its adjoint pad ---------------------------------------

TypeOrError sliceRule(std::span<const Type> ops, const Inst &inst, const std::optional<Type> &) {
  const Shape &start = inst.dimsAttr("start"), &limit = inst.dimsAttr("limit");
  if (start.size() != ops[0].rank() || limit.size() != ops[0].rank())
    return fmt::format("'slice' needs one bound per axis of {}", ops[0].str());
  Type out{ops[0].dtype, {}};
  for (std::size_t d = 0; d < ops[0].rank(); ++d) {
    Dim extent = limit[d] - start[d];
    Dim room = ops[0].shape[d] - limit[d];
    bool bad = (start[d].isConstant() && start[d].constant() < 0) ||
               (extent.isConstant() && extent.constant() < 0) ||
               (room.isConstant() && room.constant() < 0);
    if (bad)
      return fmt::format("slice {}:{} is out of range for axis {} of {}", start[d].str(),
                         limit[d].str(), d, ops[0].str());
    out.shape.push_back(extent);
  }
  return out;
}

/// Copies the box of `big` starting at `offset` (concrete) to or from `small`, element by element.
template <bool ToSmall>
void copyBox(const Tensor &from, Tensor &to, const std::vector<std::int64_t> &offset) {
  const Tensor &small = ToSmall ? to : from;
  const Tensor &big = ToSmall ? from : to;
  auto bigStrides = big.strides();
  std::vector<std::int64_t> index;
  for (std::size_t i = 0; i < small.data.size(); ++i) {
    unflatten(static_cast<std::int64_t>(i), small.shape, index);
    std::int64_t b = 0;
    for (std::size_t d = 0; d < index.size(); ++d)
      b += (index[d] + offset[d]) * bigStrides[d];
    if constexpr (ToSmall)
      to.data[i] = from.data[static_cast<std::size_t>(b)];
    else
      to.data[static_cast<std::size_t>(b)] = from.data[i];
  }
}

/// Offsets of a Dims attribute; the interpreter has bound every dimension name by now.
std::vector<std::int64_t> concreteDims(const Shape &s) {
  std::vector<std::int64_t> out;
  for (const Dim &d : s)
    out.push_back(d.constant());
  return out;
}

void evalSlice(const Inst &inst, std::span<const Tensor *const> in, Tensor &out) {
  copyBox<true>(*in[0], out, concreteDims(inst.dimsAttr("start")));
}

TypeOrError padRule(std::span<const Type> ops, const Inst &inst, const std::optional<Type> &) {
  const Shape &lo = inst.dimsAttr("lo"), &hi = inst.dimsAttr("hi");
  if (lo.size() != ops[0].rank() || hi.size() != ops[0].rank())
    return fmt::format("'pad' needs one width per axis of {}", ops[0].str());
  Type out{ops[0].dtype, {}};
  for (std::size_t d = 0; d < ops[0].rank(); ++d)
    out.shape.push_back(lo[d] + ops[0].shape[d] + hi[d]);
  return out;
}

void evalPad(const Inst &inst, std::span<const Tensor *const> in, Tensor &out) {
  std::fill(out.data.begin(), out.data.end(), 0.0);
  copyBox<false>(*in[0], out, concreteDims(inst.dimsAttr("lo")));
}

// ----- concat along one axis ---------------------------------------------------------------------

TypeOrError concatRule(std::span<const Type> ops, const Inst &inst, const std::optional<Type> &) {
  std::int64_t axis = inst.intAttr("axis");
  if (axis < 0 || axis >= static_cast<std::int64_t>(ops[0].rank()))
    return fmt::format("'concat' axis {} is out of range for {}", axis, ops[0].str());
  Type out = ops[0];
  auto a = static_cast<std::size_t>(axis);
  for (std::size_t i = 1; i < ops.size(); ++i) {
    bool fits = ops[i].dtype == ops[0].dtype && ops[i].rank() == ops[0].rank();
    for (std::size_t d = 0; fits && d < ops[0].rank(); ++d)
      fits = d == a || ops[i].shape[d] == ops[0].shape[d];
    if (!fits)
      return fmt::format("cannot concatenate {} and {} along axis {}", ops[0].str(), ops[i].str(),
                         axis);
    out.shape[a] = out.shape[a] + ops[i].shape[a];
  }
  return out;
}

void evalConcat(const Inst &inst, std::span<const Tensor *const> in, Tensor &out) {
  auto axis = static_cast<std::size_t>(inst.intAttr("axis"));
  // View every tensor as [outer, axisExtent * inner] and copy row blocks.
  std::int64_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < axis; ++d)
    outer *= out.shape[d];
  for (std::size_t d = axis + 1; d < out.rank(); ++d)
    inner *= out.shape[d];
  std::size_t pos = 0;
  for (std::int64_t o = 0; o < outer; ++o)
    for (const Tensor *t : in) {
      std::int64_t block = t->shape[axis] * inner;
      auto begin = t->data.begin() + o * block;
      std::copy(begin, begin + block, out.data.begin() + static_cast<std::ptrdiff_t>(pos));
      pos += static_cast<std::size_t>(block);
    }
}

// ----- derivatives: every shape op is linear; each one's transpose is another shape op ------------

/// The tangent of a linear op of one operand is the op applied to the tangent.
MaybeValue linearJvp(Builder &b, const Inst &inst, ValueId, std::span<const MaybeValue> t) {
  if (!t[0])
    return std::nullopt;
  return rules::reapply(b, inst, {*t[0]});
}

// The adjoint of a broadcast sums over the stretched and added axes.
std::vector<MaybeValue> broadcastVjp(Builder &b, const Inst &inst, ValueId, ValueId ct, bool) {
  const Shape from = b.typeOf(inst.operands[0]).shape; // a copy: emitting moves instructions
  return {b.reshape(b.reduceSum(ct, broadcastAxes(from, b.typeOf(ct).shape)), from)};
}

std::vector<MaybeValue> reshapeVjp(Builder &b, const Inst &inst, ValueId, ValueId ct, bool) {
  return {b.reshape(ct, b.typeOf(inst.operands[0]).shape)};
}

std::vector<MaybeValue> transposeVjp(Builder &b, const Inst &inst, ValueId, ValueId ct, bool) {
  const auto &perm = inst.intsAttr("perm");
  std::vector<std::int64_t> inverse(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i)
    inverse[static_cast<std::size_t>(perm[i])] = static_cast<std::int64_t>(i);
  return {b.transpose(ct, inverse)};
}

// The adjoint of a slice pads the cotangent with zeros back to the operand's shape.
std::vector<MaybeValue> sliceVjp(Builder &b, const Inst &inst, ValueId, ValueId ct, bool) {
  const Shape &full = b.typeOf(inst.operands[0]).shape;
  const Shape &limit = inst.dimsAttr("limit");
  Shape hi;
  for (std::size_t d = 0; d < full.size(); ++d)
    hi.push_back(full[d] - limit[d]);
  return {b.emit(Op::Pad, {ct}, {inst.dimsAttr("start"), hi})};
}

// The adjoint of a pad slices the operand's box back out.
std::vector<MaybeValue> padVjp(Builder &b, const Inst &inst, ValueId, ValueId ct, bool) {
  const Shape &inner = b.typeOf(inst.operands[0]).shape;
  const Shape &lo = inst.dimsAttr("lo");
  Shape limit;
  for (std::size_t d = 0; d < inner.size(); ++d)
    limit.push_back(lo[d] + inner[d]);
  return {b.emit(Op::Slice, {ct}, {lo, limit})};
}

MaybeValue concatJvp(Builder &b, const Inst &inst, ValueId, std::span<const MaybeValue> t) {
  if (rules::allZero(t))
    return std::nullopt;
  std::vector<ValueId> parts;
  for (std::size_t i = 0; i < t.size(); ++i)
    parts.push_back(t[i] ? *t[i] : rules::zerosOf(b, inst.operands[i]));
  return rules::reapply(b, inst, parts);
}

// The adjoint of a concat hands each operand its slice of the cotangent.
std::vector<MaybeValue> concatVjp(Builder &b, const Inst &inst, ValueId, ValueId ct, bool) {
  auto axis = static_cast<std::size_t>(inst.intAttr("axis"));
  const Shape whole = b.typeOf(ct).shape; // a copy: emitting moves instructions
  std::vector<MaybeValue> out;
  Dim offset(0);
  for (ValueId part : inst.operands) {
    Shape start(whole.size(), Dim(0)), limit = whole;
    start[axis] = offset;
    offset = offset + b.typeOf(part).shape[axis];
    limit[axis] = offset;
    out.push_back(b.emit(Op::Slice, {ct}, {start, limit}));
  }
  return out;
}

} // namespace

const OpInfo opBroadcast = OpInfo{
    1, {{"shape", AttrKind::Dims}}, broadcastRule, evalBroadcast, linearJvp, broadcastVjp};
const OpInfo opReshape =
    OpInfo{1, {{"shape", AttrKind::Dims}}, reshapeRule, evalCopy, linearJvp, reshapeVjp};
const OpInfo opTranspose = OpInfo{
    1, {{"perm", AttrKind::Ints}}, transposeRule, evalTranspose, linearJvp, transposeVjp};
const OpInfo opSlice = OpInfo{1,         {{"start", AttrKind::Dims}, {"limit", AttrKind::Dims}},
                              sliceRule, evalSlice,
                              linearJvp, sliceVjp};
const OpInfo opPad = OpInfo{1,       {{"lo", AttrKind::Dims}, {"hi", AttrKind::Dims}},
                            padRule, evalPad,
                            linearJvp, padVjp};
const OpInfo opConcat =
    OpInfo{-1, {{"axis", AttrKind::Int}}, concatRule, evalConcat, concatJvp, concatVjp};

} // namespace nabla
