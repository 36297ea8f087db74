// The AD core: the two sweeps that apply every op's own derivative rules (OpInfo::jvp, vjp) to a
// function, and the activity analysis that keeps constants free of derivative code. Forward and
// reverse mode (passes/), symbolic derivatives and the language's `diff()` (frontend/) are all
// built from these.
#pragma once

#include "ir/Builder.h"
#include "ir/Function.h"
#include "ir/OpTable.h"
#include "nabla/Diagnostic.h"

#include <map>
#include <span>
#include <string>
#include <vector>

namespace nabla {

/// Which values carry a derivative: float values that depend on one of `wrt` and that one of
/// `roots` depends on. Constants and integer paths stay free of derivative code.
std::vector<bool> activeValues(const Function &f, std::span<const ValueId> wrt,
                               std::span<const ValueId> roots);

/// The value map of a sweep whose builder builds into the source function itself: value v of
/// the source's first `n` instructions is value v.
std::vector<ValueId> identityMap(std::size_t n);

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

/// The same for several roots at once, each with its cotangent (`{root, seed}` pairs): a loop
/// body's step is pulled back from the cotangents of every value it yields.
std::vector<MaybeValue> pullCotangents(Builder &b, const Function &source,
                                       const std::vector<ValueId> &map,
                                       std::span<const std::pair<ValueId, ValueId>> seeds,
                                       std::span<const ValueId> wrt);

/// Whether values of `inst` can carry derivatives: float values, and loops (whose results do).
bool differentiable(const Inst &inst);

/// The arguments of `f` named in `names`; empty `names` means every float argument of a `fn`
/// and every param of a model (with `withInputs`, a model's float inputs too).
Expected<std::vector<ValueId>> selectArguments(const Function &f,
                                               const std::vector<std::string> &names = {},
                                               bool withInputs = false);

} // namespace nabla
