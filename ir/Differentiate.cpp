// The forward and reverse sweeps over a function, calling each op's own derivative rules.
#include "ir/Differentiate.h"

#include "ir/Loop.h"

#include <fmt/format.h>

#include <algorithm>

namespace nabla {

namespace {

bool isArgument(const Inst &inst) { return inst.op == Op::Input || inst.op == Op::Param; }

/// `inst` with its operands moved to where `map` put them.
Inst remapped(const Inst &inst, const std::vector<ValueId> &map) {
  Inst out = inst;
  for (ValueId &o : out.operands)
    o = map[o];
  return out;
}

/// Values whose cotangent may be an exact zero routed by an op that masks derivatives (a `where`,
/// max, relu, ...) and everything they are computed from: their reverse rules must keep a zero
/// cotangent zero even where a partial is infinite.
std::vector<bool> maskedCone(const Function &f) {
  std::vector<bool> cone(f.insts.size(), false);
  for (std::size_t v = f.insts.size(); v-- > 0;) {
    const Inst &inst = f.insts[v];
    if (cone[v] || opInfo(inst.op).masksDerivative)
      for (ValueId o : inst.operands)
        cone[o] = true;
  }
  return cone;
}

} // namespace

bool differentiable(const Inst &inst) {
  return isFloat(inst.type.dtype) || inst.op == Op::Loop || inst.op == Op::LoopGrad;
}

std::vector<bool> activeValues(const Function &f, std::span<const ValueId> wrt,
                               std::span<const ValueId> roots) {
  std::size_t n = f.insts.size();
  std::vector<bool> varied(n, false), useful(n, false);
  for (ValueId w : wrt)
    varied[w] = isFloat(f.insts[w].type.dtype);
  for (std::size_t v = 0; v < n; ++v) {
    const Inst &inst = f.insts[v];
    if (varied[v] || !differentiable(inst))
      continue;
    for (ValueId o : inst.operands)
      if (varied[o])
        varied[v] = true;
  }
  for (ValueId r : roots)
    useful[r] = true;
  for (std::size_t v = n; v-- > 0;)
    if (useful[v])
      for (ValueId o : f.insts[v].operands)
        useful[o] = true;
  std::vector<bool> active(n);
  for (std::size_t v = 0; v < n; ++v)
    active[v] = varied[v] && useful[v];
  return active;
}

std::vector<ValueId> identityMap(std::size_t n) {
  std::vector<ValueId> map(n);
  for (std::size_t i = 0; i < n; ++i)
    map[i] = static_cast<ValueId>(i);
  return map;
}

std::vector<MaybeValue> pushTangents(Builder &b, const Function &source,
                                     const std::vector<ValueId> &map,
                                     const std::map<ValueId, ValueId> &seeds, std::size_t end) {
  std::vector<MaybeValue> tangent(end);
  std::vector<MaybeValue> operandTangents;
  for (std::size_t v = 0; v < end; ++v) {
    // Copy: when `b` builds into `source`, emitting may move its instructions.
    Inst inst = source.insts[v];
    if (auto seed = seeds.find(static_cast<ValueId>(v)); seed != seeds.end()) {
      tangent[v] = seed->second;
      continue;
    }
    if (isArgument(inst) || !differentiable(inst))
      continue;
    operandTangents.clear();
    bool any = false;
    for (ValueId o : inst.operands) {
      operandTangents.push_back(o < end ? tangent[o] : std::nullopt);
      any = any || operandTangents.back().has_value();
    }
    if (!any)
      continue;
    tangent[v] = opInfo(inst.op).jvp(b, remapped(inst, map), map[v], operandTangents);
  }
  return tangent;
}

std::vector<MaybeValue> pullCotangents(Builder &b, const Function &source,
                                       const std::vector<ValueId> &map, ValueId root, ValueId seed,
                                       std::span<const ValueId> wrt) {
  std::pair<ValueId, ValueId> only{root, seed};
  return pullCotangents(b, source, map, std::span(&only, 1), wrt);
}

std::vector<MaybeValue> pullCotangents(Builder &b, const Function &source,
                                       const std::vector<ValueId> &map,
                                       std::span<const std::pair<ValueId, ValueId>> seeds,
                                       std::span<const ValueId> wrt) {
  std::vector<ValueId> roots;
  ValueId last = 0;
  for (const auto &[root, seed] : seeds) {
    roots.push_back(root);
    last = std::max(last, root);
  }
  std::vector<bool> active = activeValues(source, wrt, roots);
  std::vector<bool> zeroSafe = maskedCone(source);
  std::vector<MaybeValue> adjoint(seeds.empty() ? 0 : last + 1);
  // The only place adjoints are read and summed: a value that fans out gets the sum of the
  // cotangents its uses send back.
  auto accumulate = [&](ValueId v, ValueId contribution) {
    adjoint[v] = adjoint[v] ? b.add(*adjoint[v], contribution) : contribution;
  };
  for (const auto &[root, seed] : seeds)
    if (active[root])
      accumulate(root, seed);
  // A loop's cotangents arrive through its results (each a loop_result, after the loop): they
  // are gathered here and pulled through the loop in one sweep when it is reached.
  std::map<ValueId, std::vector<MaybeValue>> loopResultCotangents;
  for (std::size_t v = adjoint.size(); v-- > 0;) {
    if (!active[v])
      continue;
    Inst inst = source.insts[v];
    if (inst.op == Op::Loop || inst.op == Op::LoopGrad) {
      auto gathered = loopResultCotangents.find(static_cast<ValueId>(v));
      if (gathered == loopResultCotangents.end())
        continue;
      std::vector<MaybeValue> contributions =
          loops::loopVjp(b, remapped(inst, map), gathered->second);
      for (std::size_t i = 0; i < inst.operands.size(); ++i)
        if (contributions[i] && active[inst.operands[i]])
          accumulate(inst.operands[i], *contributions[i]);
      continue;
    }
    if (!adjoint[v] || isArgument(inst))
      continue;
    if (inst.op == Op::LoopResult) {
      ValueId loop = inst.operands[0];
      auto &cts = loopResultCotangents[loop];
      cts.resize(loops::resultTypes(source.inst(loop)).size());
      auto index = static_cast<std::size_t>(inst.intAttr("index"));
      cts[index] = cts[index] ? b.add(*cts[index], *adjoint[v]) : *adjoint[v];
      continue;
    }
    std::vector<MaybeValue> contributions =
        opInfo(inst.op).vjp(b, remapped(inst, map), map[v], *adjoint[v], zeroSafe[v]);
    for (std::size_t i = 0; i < inst.operands.size(); ++i)
      if (contributions[i] && active[inst.operands[i]])
        accumulate(inst.operands[i], *contributions[i]);
  }
  return adjoint;
}

Expected<std::vector<ValueId>> selectArguments(const Function &f,
                                               const std::vector<std::string> &names,
                                               bool withInputs) {
  std::vector<ValueId> out;
  if (names.empty()) {
    for (ValueId v : f.arguments()) {
      const Inst &arg = f.inst(v);
      bool wanted = f.kind == Function::Kind::Fn || arg.op == Op::Param || withInputs;
      if (wanted && isFloat(arg.type.dtype))
        out.push_back(v);
    }
    return out;
  }
  for (const std::string &name : names) {
    auto v = f.argument(name);
    if (!v)
      return makeDiagnostic(fmt::format("'{}' has no argument named '{}'", f.name, name));
    if (!isFloat(f.typeOf(*v).dtype))
      return makeDiagnostic(fmt::format(
          "'{}' of '{}' is {}: only f32 and f64 arguments are differentiable", name, f.name,
          f.typeOf(*v).str()));
    out.push_back(*v);
  }
  return out;
}

} // namespace nabla
