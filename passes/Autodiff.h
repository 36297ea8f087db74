// Automatic differentiation over the IR: activity analysis, forward mode (tangents, several
// directions at once) and reverse mode (adjoints, summed at fan-out). Every op's own rules
// (OpInfo::jvp, OpInfo::vjp) do the work; these passes only walk the function.
#pragma once

#include "ir/Builder.h"
#include "ir/Function.h"
#include "ir/OpTable.h"

#include <map>
#include <span>
#include <string>
#include <vector>

namespace nabla {

/// Which values carry a derivative: float values that depend on one of `wrt` and that one of
/// `roots` depends on. Constants and integer paths stay free of derivative code.
std::vector<bool> activeValues(const Function &f, std::span<const ValueId> wrt,
                               std::span<const ValueId> roots);

/// Emits, through `b`, the tangent of every active value of `source` among its first `end`
/// instructions. `map[v]` is where `source`'s value v lives in the function `b` builds (the
/// identity when `b` builds into `source` itself); `seeds` give the tangents of the arguments
/// differentiated. Returns tangents indexed by `source`'s values (nullopt: zero).
std::vector<MaybeValue> pushTangents(Builder &b, const Function &source,
                                     const std::vector<ValueId> &map,
                                     const std::map<ValueId, ValueId> &seeds, std::size_t end);

/// Emits, through `b`, the adjoints of `source`'s values for the cotangent `seed` of `root`,
/// accumulating (summing) where a value fans out. Only values active between `wrt` and `root`
/// get adjoints. Returns adjoints indexed by `source`'s values (nullopt: zero).
std::vector<MaybeValue> pullCotangents(Builder &b, const Function &source,
                                       const std::vector<ValueId> &map, ValueId root, ValueId seed,
                                       std::span<const ValueId> wrt);

/// Copies `source` into the function `b` builds; returns where each value went.
std::vector<ValueId> copyFunction(Builder &b, const Function &source);

/// The arguments of `f` named in `names`; empty `names` means every float argument of a `fn`
/// and every param of a model (with `withInputs`, a model's float inputs too).
std::variant<std::vector<ValueId>, std::string> selectArguments(const Function &f,
                                                               const std::vector<std::string> &names,
                                                               bool withInputs = false);

/// Forward mode, `@f.jvp`: f's arguments, then a tangent argument `NAME.t<k>` (typed like NAME)
/// for each direction k and each argument of `wrt`; it returns f's value and outputs, then
/// `tangent t<k>` (the result's tangent) and `tangent t<k>.OUT` for each named output. `tag`
/// replaces the `t` in these names, so that forward mode can be applied to its own output.
Function forwardMode(const Function &f, std::span<const ValueId> wrt, int directions = 1,
                     const std::string &tag = "t");

/// Reverse mode, `@f.grad`: f's arguments (and, when the result is not a scalar, a cotangent
/// argument `seed.ct` typed like it); it returns f's value and outputs, then `grad NAME` for each
/// argument of `wrt`, shaped like it.
Function reverseMode(const Function &f, std::span<const ValueId> wrt);

} // namespace nabla
