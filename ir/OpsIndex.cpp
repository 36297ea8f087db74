// Indexing: gather along an axis (`take`, `E[ids]`), numpy's take_along_axis, and their adjoints,
// which scatter-add into the entries that occur; `update` replaces the slice at one index.
#include "ir/DerivativeRules.h"
#include "ir/IndexMath.h"
#include "ir/OpTable.h"
#include "ir/Shapes.h"

#include <fmt/format.h>

namespace nabla {

namespace {

std::int64_t checkedIndex(double raw, std::int64_t extent, std::size_t axis) {
  auto id = static_cast<std::int64_t>(raw);
  auto wrapped = index_math::wrapIndex(id, extent); // the lowering's definition too
  if (wrapped.outOfRange)
    throw EvalError(fmt::format("index {} is out of range for axis {} of size {}", id, axis,
                                extent));
  return wrapped.index;
}

/// take(x, ids, axis): x[A..., n, C...], ids[I...] -> [A..., I..., C...].
Shape takeShape(const Shape &x, const Shape &ids, std::size_t axis) {
  Shape out(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(axis));
  out.insert(out.end(), ids.begin(), ids.end());
  out.insert(out.end(), x.begin() + static_cast<std::ptrdiff_t>(axis) + 1, x.end());
  return out;
}

TypeOrError takeRule(std::span<const Type> ops, const Inst &inst, const std::optional<Type> &) {
  std::int64_t axis = inst.intAttr("axis");
  if (ops[1].dtype != DType::I32)
    return fmt::format("'take' needs i32 indices, got {}", ops[1].str());
  if (axis < 0 || axis >= static_cast<std::int64_t>(ops[0].rank()))
    return fmt::format("'take' axis {} is out of range for {}", axis, ops[0].str());
  return Type{ops[0].dtype, takeShape(ops[0].shape, ops[1].shape, static_cast<std::size_t>(axis))};
}

/// Calls visit(xFlat, outFlat) for each element of take's result, where xFlat is its source in x.
template <class Visit>
void forEachTaken(const std::vector<std::int64_t> &xShape, const Tensor &ids, std::size_t axis,
                  const std::vector<std::int64_t> &outShape, Visit visit) {
  auto xStrides = rowMajorStrides(xShape);
  auto idStrides = ids.strides();
  std::vector<std::int64_t> index;
  std::size_t ri = ids.rank();
  std::int64_t total = elementCount(outShape);
  for (std::int64_t o = 0; o < total; ++o) {
    unflatten(o, outShape, index);
    std::int64_t idFlat = 0;
    for (std::size_t d = 0; d < ri; ++d)
      idFlat += index[axis + d] * idStrides[d];
    std::int64_t id =
        checkedIndex(ids.data[static_cast<std::size_t>(idFlat)], xShape[axis], axis);
    std::int64_t src = id * xStrides[axis];
    for (std::size_t d = 0; d < axis; ++d)
      src += index[d] * xStrides[d];
    for (std::size_t d = axis + 1; d < xShape.size(); ++d)
      src += index[d - 1 + ri] * xStrides[d];
    visit(static_cast<std::size_t>(src), static_cast<std::size_t>(o));
  }
}

void evalTake(const Inst &inst, std::span<const Tensor *const> in, Tensor &out) {
  forEachTaken(in[0]->shape, *in[1], static_cast<std::size_t>(inst.intAttr("axis")), out.shape,
               [&](std::size_t src, std::size_t o) { out.data[o] = in[0]->data[src]; });
}

TypeOrError scatterAddRule(std::span<const Type> ops, const Inst &inst,
                           const std::optional<Type> &) {
  std::int64_t axis = inst.intAttr("axis");
  const Shape &shape = inst.dimsAttr("shape");
  if (ops[1].dtype != DType::I32)
    return fmt::format("'scatter_add' needs i32 indices, got {}", ops[1].str());
  if (axis < 0 || axis >= static_cast<std::int64_t>(shape.size()))
    return fmt::format("'scatter_add' axis {} is out of range for {}", axis, shapeStr(shape));
  if (ops[0].shape != takeShape(shape, ops[1].shape, static_cast<std::size_t>(axis)))
    return fmt::format("'scatter_add' updates {} do not match indices {} into {}", ops[0].str(),
                       ops[1].str(), shapeStr(shape));
  return Type{ops[0].dtype, shape};
}

void evalScatterAdd(const Inst &inst, std::span<const Tensor *const> in, Tensor &out) {
  std::fill(out.data.begin(), out.data.end(), 0.0);
  forEachTaken(out.shape, *in[1], static_cast<std::size_t>(inst.intAttr("axis")), in[0]->shape,
               [&](std::size_t dst, std::size_t u) { out.data[dst] += in[0]->data[u]; });
  out.roundToDType();
}

// ----- take_along: out[i] = x[i with axis replaced by ids[i]] ----------------------------------

std::optional<std::string> alongMismatch(const Shape &x, const Shape &ids, std::int64_t axis,
                                         std::string_view op) {
  if (axis < 0 || axis >= static_cast<std::int64_t>(x.size()))
    return fmt::format("'{}' axis {} is out of range for {}", op, axis, shapeStr(x));
  if (ids.size() != x.size())
    return fmt::format("'{}' needs indices of the same rank as the values, got {} and {}", op,
                       shapeStr(ids), shapeStr(x));
  for (std::size_t d = 0; d < x.size(); ++d)
    if (static_cast<std::int64_t>(d) != axis && ids[d] != x[d])
      return fmt::format("'{}' indices {} do not match values {} off axis {}", op, shapeStr(ids),
                         shapeStr(x), axis);
  return std::nullopt;
}

TypeOrError takeAlongRule(std::span<const Type> ops, const Inst &inst,
                          const std::optional<Type> &) {
  if (ops[1].dtype != DType::I32)
    return fmt::format("'take_along' needs i32 indices, got {}", ops[1].str());
  if (auto err = alongMismatch(ops[0].shape, ops[1].shape, inst.intAttr("axis"), "take_along"))
    return *err;
  return Type{ops[0].dtype, ops[1].shape};
}

template <class Visit>
void forEachAlong(const std::vector<std::int64_t> &xShape, const Tensor &ids, std::size_t axis,
                  Visit visit) {
  auto xStrides = rowMajorStrides(xShape);
  std::vector<std::int64_t> index;
  for (std::size_t i = 0; i < ids.data.size(); ++i) {
    unflatten(static_cast<std::int64_t>(i), ids.shape, index);
    index[axis] = checkedIndex(ids.data[i], xShape[axis], axis);
    std::int64_t src = 0;
    for (std::size_t d = 0; d < index.size(); ++d)
      src += index[d] * xStrides[d];
    visit(static_cast<std::size_t>(src), i);
  }
}

void evalTakeAlong(const Inst &inst, std::span<const Tensor *const> in, Tensor &out) {
  forEachAlong(in[0]->shape, *in[1], static_cast<std::size_t>(inst.intAttr("axis")),
               [&](std::size_t src, std::size_t o) { out.data[o] = in[0]->data[src]; });
}

TypeOrError scatterAddAlongRule(std::span<const Type> ops, const Inst &inst,
                                const std::optional<Type> &) {
  const Shape &shape = inst.dimsAttr("shape");
  if (ops[1].dtype != DType::I32)
    return fmt::format("'scatter_add_along' needs i32 indices, got {}", ops[1].str());
  if (ops[0].shape != ops[1].shape)
    return fmt::format("'scatter_add_along' updates {} do not match indices {}", ops[0].str(),
                       ops[1].str());
  if (auto err = alongMismatch(shape, ops[1].shape, inst.intAttr("axis"), "scatter_add_along"))
    return *err;
  return Type{ops[0].dtype, shape};
}

void evalScatterAddAlong(const Inst &inst, std::span<const Tensor *const> in, Tensor &out) {
  std::fill(out.data.begin(), out.data.end(), 0.0);
  forEachAlong(out.shape, *in[1], static_cast<std::size_t>(inst.intAttr("axis")),
               [&](std::size_t dst, std::size_t u) { out.data[dst] += in[0]->data[u]; });
  out.roundToDType();
}

// ----- update: x with the entry (or slice) at one index along an axis replaced ----------------
// `NAME[i] = EXPR` in a loop body (LANGUAGE.md §3b). The index is a scalar, so exactly one slice
// is replaced: no duplicate writes for the adjoint to arbitrate.

TypeOrError updateRule(std::span<const Type> ops, const Inst &inst, const std::optional<Type> &) {
  std::int64_t axis = inst.intAttr("axis");
  if (ops[1].dtype != DType::I32 || !ops[1].isScalar())
    return fmt::format("'update' needs an i32 scalar index, got {}", ops[1].str());
  if (axis < 0 || axis >= static_cast<std::int64_t>(ops[0].rank()))
    return fmt::format("'update' axis {} is out of range for {}", axis, ops[0].str());
  Type slice{ops[0].dtype, takeShape(ops[0].shape, {}, static_cast<std::size_t>(axis))};
  if (ops[2] != slice)
    return fmt::format("'update' of {} at axis {} needs a {}, got {}", ops[0].str(), axis,
                       slice.str(), ops[2].str());
  return ops[0];
}

void evalUpdate(const Inst &inst, std::span<const Tensor *const> in, Tensor &out) {
  out.data = in[0]->data;
  forEachTaken(in[0]->shape, *in[1], static_cast<std::size_t>(inst.intAttr("axis")),
               in[2]->shape,
               [&](std::size_t dst, std::size_t u) { out.data[dst] = in[2]->data[u]; });
}

// ----- derivatives: linear in the values, never in the indices ---------------------------------

/// The tangent: the same gather (or scatter) of the values' tangent, the indices unchanged.
MaybeValue indexedJvp(Builder &b, const Inst &inst, ValueId, std::span<const MaybeValue> t) {
  if (!t[0])
    return std::nullopt;
  return rules::reapply(b, inst, {*t[0], inst.operands[1]});
}

// The adjoint of a gather scatter-adds the cotangent into the entries that occur (and only
// those: rows of an embedding that no index names get exactly zero).
std::vector<MaybeValue> takeVjp(Builder &b, const Inst &inst, ValueId, ValueId ct, bool) {
  const Shape &shape = b.typeOf(inst.operands[0]).shape;
  Op scatter = inst.op == Op::Take ? Op::ScatterAdd : Op::ScatterAddAlong;
  return {b.emit(scatter, {ct, inst.operands[1]}, {inst.intAttr("axis"), shape}), std::nullopt};
}

// The adjoint of a scatter-add gathers the cotangent back.
std::vector<MaybeValue> scatterVjp(Builder &b, const Inst &inst, ValueId, ValueId ct, bool) {
  Op gather = inst.op == Op::ScatterAdd ? Op::Take : Op::TakeAlong;
  return {b.emit(gather, {ct, inst.operands[1]}, {inst.intAttr("axis")}), std::nullopt};
}

/// update is linear in (x, value): the same update of their tangents.
MaybeValue updateJvp(Builder &b, const Inst &inst, ValueId, std::span<const MaybeValue> t) {
  if (!t[0] && !t[2])
    return std::nullopt;
  ValueId x = t[0] ? *t[0] : rules::zerosOf(b, inst.operands[0]);
  ValueId value = t[2] ? *t[2] : rules::zerosOf(b, inst.operands[2]);
  return rules::reapply(b, inst, {x, inst.operands[1], value});
}

// The replaced slice of x never reaches the result: x gets the cotangent with that slice zeroed,
// the value gets that slice of the cotangent.
std::vector<MaybeValue> updateVjp(Builder &b, const Inst &inst, ValueId, ValueId ct, bool) {
  ValueId index = inst.operands[1];
  ValueId zeroSlice = rules::zerosOf(b, inst.operands[2]);
  return {rules::reapply(b, inst, {ct, index, zeroSlice}), std::nullopt,
          b.emit(Op::Take, {ct, index}, {inst.intAttr("axis")})};
}

} // namespace

const OpInfo opUpdate =
    OpInfo{3, {{"axis", AttrKind::Int}}, updateRule, evalUpdate, updateJvp, updateVjp};
const OpInfo opTake =
    OpInfo{2, {{"axis", AttrKind::Int}}, takeRule, evalTake, indexedJvp, takeVjp};
const OpInfo opTakeAlong =
    OpInfo{2, {{"axis", AttrKind::Int}}, takeAlongRule, evalTakeAlong, indexedJvp, takeVjp};
const OpInfo opScatterAdd = OpInfo{2,
                                   {{"axis", AttrKind::Int}, {"shape", AttrKind::Dims}},
                                   scatterAddRule,
                                   evalScatterAdd,
                                   indexedJvp,
                                   scatterVjp};
const OpInfo opScatterAddAlong = OpInfo{2,
                                        {{"axis", AttrKind::Int}, {"shape", AttrKind::Dims}},
                                        scatterAddAlongRule,
                                        evalScatterAddAlong,
                                        indexedJvp,
                                        scatterVjp};

} // namespace nabla
