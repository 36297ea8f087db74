// Reverse mode: f copied, then the adjoints of its values pulled back by the ops' VJP rules.
#include "passes/ReverseMode.h"

#include "ir/Differentiate.h"
#include "ir/Rewriter.h"
#include "ir/Verifier.h"
#include "passes/DeadCode.h"

namespace nabla {

Function reverseMode(const Function &f, std::span<const ValueId> wrt) {
  Rewriter r(f, f.name + ".grad");
  r.copyAll();
  Builder &b = r.builder();
  const Type &resultType = f.typeOf(f.result);
  ValueId seed = resultType.isScalar() ? b.constant(1, resultType.dtype)
                                       : b.input("seed.ct", resultType);
  std::vector<MaybeValue> adjoint = pullCotangents(b, f, r.valueMap(), f.result, seed, wrt);
  std::vector<NamedValue> grads;
  for (ValueId w : wrt) {
    ValueId grad = w < adjoint.size() && adjoint[w] ? *adjoint[w] : b.constantLike(0, f.typeOf(w));
    grads.push_back(NamedValue{f.inst(w).stringAttr("name"), grad, OutputRole::Gradient});
  }
  Function g = r.finish();
  g.outputs.insert(g.outputs.end(), grads.begin(), grads.end());
  return eliminateDeadCode(verified(std::move(g), "reverse mode"));
}

} // namespace nabla
