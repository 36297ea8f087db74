// castFloats: rebuild a function through the Builder with its float types replaced.
#include "passes/CastFloat.h"

#include "ir/Rewriter.h"
#include "ir/Tensor.h"
#include "ir/Verifier.h"

namespace nabla {

Function castFloats(const Function &f, DType to) {
  auto cast = [to](DType t) { return isFloat(t) ? to : t; };
  Rewriter r(f, f.name);
  for (ValueId v = 0; v < f.insts.size(); ++v) {
    Inst inst = r.mapped(v);
    // f32(x) and f64(x) of a float x: both sides now have type `to`.
    if (inst.op == Op::Convert && isFloat(inst.type.dtype) &&
        isFloat(f.typeOf(f.insts[v].operands[0]).dtype)) {
      r.set(v, inst.operands[0]);
      continue;
    }
    inst.type.dtype = cast(inst.type.dtype);
    for (AttrValue &attr : inst.attrs)
      if (auto *dtype = std::get_if<DType>(&attr))
        *dtype = cast(*dtype);
    if (inst.op == Op::Const && isFloat(inst.type.dtype))
      for (double &value : std::get<std::vector<double>>(inst.attrs[0]))
        value = roundTo(inst.type.dtype, value);
    Builder::Regions regions; // a loop's bodies, cast alike: their carried values stay in step
    for (const auto &region : inst.regions)
      regions.push_back(std::make_shared<const Function>(castFloats(*region, to)));
    r.set(v, r.builder().emit(inst.op, inst.operands, inst.attrs, inst.type, std::move(regions)));
  }
  return verified(r.finish(), "float conversion");
}

} // namespace nabla
