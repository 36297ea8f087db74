// Shape arithmetic shared by type rules, Sema and passes: numpy broadcasting, axes, indexing.
#pragma once

#include "ir/Type.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace nabla {

/// numpy's broadcast of two shapes (trailing dimensions aligned, 1 and missing stretch).
std::optional<Shape> broadcastShapes(const Shape &a, const Shape &b);

/// Whether `from` broadcasts to `to` (numpy rules, one direction).
bool broadcastsTo(const Shape &from, const Shape &to);

/// The axes of `to` along which a value broadcast from `from` was stretched or added; summing
/// over them (and reshaping) is the adjoint of the broadcast.
std::vector<std::int64_t> broadcastAxes(const Shape &from, const Shape &to);

/// Resolves a possibly negative axis against a rank; nullopt when out of range.
std::optional<std::int64_t> normalizeAxis(std::int64_t axis, std::size_t rank);

/// Row-major iteration helpers over concrete shapes.
std::vector<std::int64_t> rowMajorStrides(const std::vector<std::int64_t> &shape);
/// The multi-index of flat position `flat` (row-major).
void unflatten(std::int64_t flat, const std::vector<std::int64_t> &shape,
               std::vector<std::int64_t> &index);

} // namespace nabla
