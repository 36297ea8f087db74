// Symbolic derivatives: built from the ops' own rules, then simplified.
#include "passes/Symbolic.h"

#include "ir/Builder.h"
#include "ir/Differentiate.h"
#include "ir/Rewriter.h"
#include "ir/Verifier.h"
#include "passes/DeadCode.h"
#include "passes/Simplify.h"

namespace nabla {


Function symbolicDerivative(const Function &f, const std::vector<ValueId> &variables) {
  std::vector<std::string> names;
  for (ValueId v : variables)
    names.push_back(f.inst(v).stringAttr("name"));
  Function g = simplify(f);
  g.outputs.clear();
  for (const std::string &name : names) {
    ValueId x = *g.argument(name);
    std::size_t end = g.insts.size();
    Builder b(g);
    // The derivative is the tangent of the value for a unit tangent of x (the seed is the
    // constant 1, so that the simplifier folds it away).
    std::map<ValueId, ValueId> seeds{{x, b.constantLike(1, g.typeOf(x))}};
    std::vector<MaybeValue> tangent = pushTangents(b, g, identityMap(end), seeds, end);
    g.result = tangent[g.result] ? *tangent[g.result] : b.constantLike(0, g.typeOf(g.result));
    g = simplify(g);
  }
  g.name = f.name + ".d";
  return g;
}

Function symbolicGradient(const Function &f, std::span<const ValueId> wrt) {
  Rewriter r(f, f.name + ".grad");
  r.copyAll();
  Builder &b = r.builder();
  const std::vector<ValueId> &map = r.valueMap();
  const Type &resultType = f.typeOf(f.result);
  std::map<ValueId, ValueId> grads;
  if (resultType.isScalar()) {
    // A scalar of a scalar: one tangent each, which prints as the familiar derivative. Tensor
    // arguments share one reverse sweep.
    std::vector<ValueId> tensors;
    for (ValueId w : wrt) {
      if (!f.typeOf(w).isScalar()) {
        tensors.push_back(w);
        continue;
      }
      std::map<ValueId, ValueId> seeds{{w, b.constantLike(1, f.typeOf(w))}};
      std::vector<MaybeValue> t = pushTangents(b, f, map, seeds, f.insts.size());
      if (t[f.result])
        grads[w] = *t[f.result];
    }
    if (!tensors.empty()) {
      std::vector<MaybeValue> adj =
          pullCotangents(b, f, map, f.result, b.constant(1, resultType.dtype), tensors);
      for (ValueId w : tensors)
        if (w < adj.size() && adj[w])
          grads[w] = *adj[w];
    }
  } else {
    std::vector<MaybeValue> adj =
        pullCotangents(b, f, map, f.result, b.input("seed.ct", resultType), wrt);
    for (ValueId w : wrt)
      if (w < adj.size() && adj[w])
        grads[w] = *adj[w];
  }
  std::vector<NamedValue> gradients;
  for (ValueId w : wrt) {
    ValueId grad = grads.count(w) ? grads[w] : b.constantLike(0, f.typeOf(w));
    gradients.push_back(NamedValue{f.inst(w).stringAttr("name"), grad, OutputRole::Gradient});
  }
  Function g = r.finish();
  g.outputs.insert(g.outputs.end(), gradients.begin(), gradients.end());
  return simplify(g);
}

} // namespace nabla
