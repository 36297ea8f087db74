// Shape arithmetic.
#include "ir/Shapes.h"

namespace nabla {

std::optional<Shape> broadcastShapes(const Shape &a, const Shape &b) {
  std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const Dim *da = i < a.size() ? &a[a.size() - 1 - i] : nullptr;
    const Dim *db = i < b.size() ? &b[b.size() - 1 - i] : nullptr;
    Dim &o = out[rank - 1 - i];
    if (!da)
      o = *db;
    else if (!db)
      o = *da;
    else if (*da == *db)
      o = *da;
    else if (*da == Dim(1))
      o = *db;
    else if (*db == Dim(1))
      o = *da;
    else
      return std::nullopt;
  }
  return out;
}

bool broadcastsTo(const Shape &from, const Shape &to) {
  if (from.size() > to.size())
    return false;
  for (std::size_t i = 0; i < from.size(); ++i) {
    const Dim &f = from[from.size() - 1 - i];
    const Dim &t = to[to.size() - 1 - i];
    if (f != t && f != Dim(1))
      return false;
  }
  return true;
}

std::vector<std::int64_t> broadcastAxes(const Shape &from, const Shape &to) {
  std::vector<std::int64_t> axes;
  std::size_t lead = to.size() - from.size();
  for (std::size_t i = 0; i < to.size(); ++i)
    if (i < lead || (from[i - lead] == Dim(1) && to[i] != Dim(1)))
      axes.push_back(static_cast<std::int64_t>(i));
  return axes;
}

std::optional<std::int64_t> normalizeAxis(std::int64_t axis, std::size_t rank) {
  auto r = static_cast<std::int64_t>(rank);
  if (axis < -r || axis >= r)
    return std::nullopt;
  return axis < 0 ? axis + r : axis;
}

std::vector<std::int64_t> rowMajorStrides(const std::vector<std::int64_t> &shape) {
  std::vector<std::int64_t> s(shape.size(), 1);
  for (std::size_t i = shape.size(); i-- > 1;)
    s[i - 1] = s[i] * shape[i];
  return s;
}

void unflatten(std::int64_t flat, const std::vector<std::int64_t> &shape,
               std::vector<std::int64_t> &index) {
  index.resize(shape.size());
  for (std::size_t i = shape.size(); i-- > 0;) {
    index[i] = shape[i] ? flat % shape[i] : 0;
    flat = shape[i] ? flat / shape[i] : 0;
  }
}

} // namespace nabla
