// Dead-code elimination.
#include "passes/DeadCode.h"

#include "ir/Rewriter.h"
#include "ir/Verifier.h"

#include <vector>

namespace nabla {

Function eliminateDeadCode(const Function &f) {
  std::vector<bool> live(f.insts.size(), false);
  live[f.result] = true;
  for (const NamedValue &o : f.outputs)
    live[o.value] = true;
  for (ValueId y : f.yields)
    live[y] = true;
  // Instructions are in dependency order, so one backward sweep marks everything live.
  for (std::size_t i = f.insts.size(); i-- > 0;) {
    const Inst &inst = f.insts[i];
    if (inst.op == Op::Input || inst.op == Op::Param)
      live[i] = true;
    if (!live[i])
      continue;
    for (ValueId o : inst.operands)
      live[o] = true;
  }
  Rewriter r(f, f.name);
  for (ValueId v = 0; v < f.insts.size(); ++v) {
    if (!live[v])
      continue;
    Inst inst = r.mapped(v);
    // A loop's bodies are functions of their own; their parameters stay (the loop passes them).
    for (auto &region : inst.regions)
      region = std::make_shared<const Function>(eliminateDeadCode(*region));
    r.set(v, r.builder().appendAsIs(std::move(inst)));
  }
  return verified(r.finish(), "dead-code elimination");
}

} // namespace nabla
