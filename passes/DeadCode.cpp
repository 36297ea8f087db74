// Dead-code elimination.
#include "passes/DeadCode.h"

#include <vector>

namespace nabla {

Function eliminateDeadCode(const Function &f) {
  std::vector<bool> live(f.insts.size(), false);
  live[f.result] = true;
  for (const NamedValue &o : f.outputs)
    live[o.value] = true;
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
  Function out = f.emptyLike(f.name);
  std::vector<ValueId> renumber(f.insts.size(), 0);
  for (std::size_t i = 0; i < f.insts.size(); ++i) {
    if (!live[i])
      continue;
    Inst inst = f.insts[i];
    for (ValueId &o : inst.operands)
      o = renumber[o];
    renumber[i] = static_cast<ValueId>(out.insts.size());
    out.insts.push_back(std::move(inst));
  }
  out.result = renumber[f.result];
  for (const NamedValue &o : f.outputs)
    out.outputs.push_back(NamedValue{o.name, renumber[o.value], o.role});
  return out;
}

} // namespace nabla
