// Forward mode: f copied, then each direction's tangents pushed through it by the ops' JVP rules.
#include "passes/ForwardMode.h"

#include "ir/Differentiate.h"
#include "ir/Rewriter.h"
#include "ir/Verifier.h"
#include "passes/DeadCode.h"

#include <fmt/format.h>

namespace nabla {

Function forwardMode(const Function &f, std::span<const ValueId> wrt, int directions,
                     const std::string &tag) {
  Rewriter r(f, f.name + ".jvp");
  r.copyAll();
  Builder &b = r.builder();
  std::vector<std::map<ValueId, ValueId>> seeds(static_cast<std::size_t>(directions));
  for (int k = 0; k < directions; ++k)
    for (ValueId w : wrt)
      seeds[static_cast<std::size_t>(k)][w] =
          b.input(fmt::format("{}.{}{}", f.inst(w).stringAttr("name"), tag, k), f.typeOf(w));
  std::vector<std::vector<MaybeValue>> tangents;
  for (int k = 0; k < directions; ++k)
    tangents.push_back(
        pushTangents(b, f, r.valueMap(), seeds[static_cast<std::size_t>(k)], f.insts.size()));
  auto tangentOf = [&](int k, ValueId v) {
    const MaybeValue &t = tangents[static_cast<std::size_t>(k)][v];
    return t ? *t : b.constantLike(0, f.typeOf(v));
  };
  std::vector<NamedValue> added;
  for (int k = 0; k < directions; ++k) {
    added.push_back(
        NamedValue{fmt::format("{}{}", tag, k), tangentOf(k, f.result), OutputRole::Tangent});
    for (const NamedValue &o : f.outputs)
      added.push_back(NamedValue{fmt::format("{}{}.{}", tag, k, o.name), tangentOf(k, o.value),
                                 OutputRole::Tangent});
  }
  Function g = r.finish();
  g.outputs.insert(g.outputs.end(), added.begin(), added.end());
  return eliminateDeadCode(verified(std::move(g), "forward mode"));
}

} // namespace nabla
