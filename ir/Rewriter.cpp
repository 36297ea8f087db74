// Rewriter: a value map from a source function into a target under construction.
#include "ir/Rewriter.h"

namespace nabla {

Rewriter::Rewriter(const Function &source, std::string name)
    : source_(source), target_(source.emptyLike(std::move(name))), builder_(target_),
      map_(source.insts.size(), 0) {}

Inst Rewriter::mapped(ValueId v) const {
  Inst inst = source_.insts[v];
  for (ValueId &o : inst.operands)
    o = map_[o];
  return inst;
}

ValueId Rewriter::copy(ValueId v) {
  Inst inst = mapped(v);
  ValueId to = builder_.emit(inst.op, std::move(inst.operands), std::move(inst.attrs), inst.type,
                             std::move(inst.regions));
  map_[v] = to;
  return to;
}

void Rewriter::copyAll() {
  for (ValueId v = 0; v < source_.insts.size(); ++v)
    copy(v);
}

ValueId Rewriter::keep(ValueId v) {
  ValueId to = builder_.appendAsIs(mapped(v));
  map_[v] = to;
  return to;
}

Function Rewriter::finish() {
  target_.result = map_[source_.result];
  for (const NamedValue &o : source_.outputs)
    target_.outputs.push_back(NamedValue{o.name, map_[o.value], o.role});
  for (ValueId y : source_.yields)
    target_.yields.push_back(map_[y]);
  return std::move(target_);
}

} // namespace nabla
