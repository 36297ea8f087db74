// castFloats: rebuild a function through the Builder with its float types replaced.
#include "passes/CastFloat.h"

#include "ir/Builder.h"
#include "ir/Tensor.h"

#include <vector>

namespace nabla {

Function castFloats(const Function &f, DType to) {
  auto cast = [to](DType t) { return isFloat(t) ? to : t; };
  Function g = f.emptyLike(f.name);
  Builder b(g);
  std::vector<ValueId> map(f.insts.size());
  for (std::size_t v = 0; v < f.insts.size(); ++v) {
    Inst inst = f.insts[v];
    for (ValueId &o : inst.operands)
      o = map[o];
    // f32(x) and f64(x) of a float x: both sides now have type `to`.
    if (inst.op == Op::Convert && isFloat(inst.type.dtype) &&
        isFloat(f.typeOf(f.insts[v].operands[0]).dtype)) {
      map[v] = inst.operands[0];
      continue;
    }
    inst.type.dtype = cast(inst.type.dtype);
    for (AttrValue &attr : inst.attrs)
      if (auto *dtype = std::get_if<DType>(&attr))
        *dtype = cast(*dtype);
    if (inst.op == Op::Const && isFloat(inst.type.dtype))
      for (double &value : std::get<std::vector<double>>(inst.attrs[0]))
        value = roundTo(inst.type.dtype, value);
    map[v] = b.emit(inst.op, inst.operands, inst.attrs, inst.type);
  }
  g.result = map[f.result];
  for (const NamedValue &o : f.outputs)
    g.outputs.push_back(NamedValue{o.name, map[o.value], o.role});
  return g;
}

} // namespace nabla
