// Loops (ir/Loop.h): `loop`, its reverse sweep `loop_grad`, and `loop_result`. Their type rules
// check the body against the operands; their derivatives differentiate the body with the same
// sweeps as a function (ir/Differentiate.h), so every op's own rules apply inside loops too. The
// interpreter runs them (ir/Interpreter.cpp): a body is a function, called once per iteration.
#include "ir/Loop.h"

#include "ir/DerivativeRules.h"
#include "ir/Differentiate.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace nabla::loops {

namespace {

constexpr std::size_t kBounds = 2; // lo, hi

std::size_t carriedCount(const Inst &loop) {
  return static_cast<std::size_t>(std::max<std::int64_t>(loop.intAttr("carried"), 0));
}

std::size_t regionCount(Op op) { return op == Op::LoopGrad ? 2 : 1; }

bool isI32Scalar(const Type &t) { return t.dtype == DType::I32 && t.isScalar(); }

std::vector<Type> typesOf(const Function &f, std::span<const ValueId> values) {
  std::vector<Type> out;
  for (ValueId v : values)
    out.push_back(f.typeOf(v));
  return out;
}

template <class T> std::vector<T> pick(std::span<const T> all, std::span<const std::size_t> at) {
  std::vector<T> out;
  for (std::size_t i : at)
    out.push_back(all[i]);
  return out;
}

/// A body parameter: an `input` appended as it is, so that two parameters never merge.
ValueId addParameter(Builder &b, const std::string &name, const Type &type) {
  return b.appendAsIs(Inst{Op::Input, type, {}, {name}, {}});
}

const std::string &parameterName(const Function &body, ValueId param) {
  return body.inst(param).stringAttr("name");
}

/// Copies `body`'s instructions other than its parameters into `b`; `map` holds where the
/// parameters went and gets where everything else goes.
void copyBody(Builder &b, const Function &body, std::vector<ValueId> &map) {
  for (ValueId v = 0; v < body.insts.size(); ++v) {
    Inst inst = body.insts[v];
    if (inst.op == Op::Input)
      continue;
    for (ValueId &o : inst.operands)
      o = map[o];
    map[v] = b.emit(inst.op, std::move(inst.operands), std::move(inst.attrs), inst.type,
                    std::move(inst.regions));
  }
}

/// Why `body`'s parameters and yields do not have the given types, or nullopt.
std::optional<std::string> checkInterface(const Function &body, const char *which,
                                          std::span<const Type> params,
                                          std::span<const Type> yields) {
  std::vector<ValueId> actual = body.arguments();
  if (actual.size() != params.size())
    return fmt::format("the {} body takes {} parameter(s), the operands give {}", which,
                       actual.size(), params.size());
  for (std::size_t i = 0; i < params.size(); ++i)
    if (body.typeOf(actual[i]) != params[i])
      return fmt::format("parameter {} of the {} body is {}, expected {}", i, which,
                         body.typeOf(actual[i]).str(), params[i].str());
  if (body.yields.size() != yields.size())
    return fmt::format("the {} body yields {} value(s), expected {}", which, body.yields.size(),
                       yields.size());
  for (std::size_t i = 0; i < yields.size(); ++i) {
    if (body.yields[i] >= body.insts.size())
      return fmt::format("yield {} of the {} body is undefined", i, which);
    if (body.typeOf(body.yields[i]) != yields[i])
      return fmt::format("yield {} of the {} body is {}, expected {}", i, which,
                         body.typeOf(body.yields[i]).str(), yields[i].str());
  }
  return std::nullopt;
}

TypeOrError loopRule(std::span<const Type> ops, const Inst &inst, const std::optional<Type> &) {
  std::string_view name = mnemonic(inst.op);
  if (inst.regions.size() != regionCount(inst.op))
    return fmt::format("'{}' needs {} body region(s), got {}", name, regionCount(inst.op),
                       inst.regions.size());
  for (const auto &r : inst.regions)
    if (!r)
      return fmt::format("'{}' has an empty region", name);
  if (inst.intAttr("carried") < 1)
    return fmt::format("'{}' needs at least one carried value", name);
  std::size_t k = carriedCount(inst);
  if (ops.size() < kBounds + k)
    return fmt::format("'{}' needs its bounds and {} initial value(s)", name, k);
  if (!isI32Scalar(ops[0]) || !isI32Scalar(ops[1]))
    return fmt::format("'{}' bounds must be i32 scalars, got {} and {}", name, ops[0].str(),
                       ops[1].str());
  const Function &forward = *inst.regions[0];
  std::size_t params = forward.arguments().size();
  if (params < 1 + k)
    return fmt::format("the body of '{}' takes {} parameter(s), fewer than the index and {} "
                       "carried value(s)",
                       name, params, k);
  std::size_t m = params - 1 - k;
  std::span<const Type> carried = ops.subspan(kBounds, k);
  std::span<const Type> captured = ops.subspan(kBounds + k, std::min(m, ops.size() - kBounds - k));
  std::size_t expected = kBounds + k + m;
  if (inst.op == Op::Loop ? ops.size() != expected : ops.size() < expected)
    return fmt::format("'{}' with {} carried and {} captured value(s) takes {} operands{}, got {}",
                       name, k, m, expected, inst.op == Op::Loop ? "" : " and its cotangents",
                       ops.size());
  std::vector<Type> forwardParams{Type{DType::I32, {}}};
  forwardParams.insert(forwardParams.end(), carried.begin(), carried.end());
  forwardParams.insert(forwardParams.end(), captured.begin(), captured.end());
  if (auto err = checkInterface(forward, "forward", forwardParams, carried))
    return fmt::format("'{}': {}", name, *err);
  if (inst.op == Op::LoopGrad) {
    // The backward body carries the cotangents (from the operands after the captures) and
    // yields them, then the per-step terms of the summed results (of any type).
    std::span<const Type> cotangents = ops.subspan(expected);
    std::vector<Type> backwardParams = forwardParams;
    backwardParams.insert(backwardParams.end(), cotangents.begin(), cotangents.end());
    const Function &backward = *inst.regions[1];
    std::vector<Type> backwardYields(cotangents.begin(), cotangents.end());
    for (std::size_t i = cotangents.size(); i < backward.yields.size(); ++i)
      if (backward.yields[i] < backward.insts.size())
        backwardYields.push_back(backward.typeOf(backward.yields[i]));
    if (auto err = checkInterface(backward, "backward", backwardParams, backwardYields))
      return fmt::format("'loop_grad': {}", *err);
  }
  return Type{DType::I32, {}};
}

TypeOrError loopResultRule(std::span<const Type> ops, const Inst &inst,
                           const std::optional<Type> &declared) {
  if (!isI32Scalar(ops[0]))
    return fmt::format("'loop_result' reads a loop, got {}", ops[0].str());
  if (inst.intAttr("index") < 0)
    return std::string("'loop_result' index must not be negative");
  if (!declared)
    return std::string("'loop_result' needs its type (its loop's body gives it)");
  return *declared;
}

/// A run of a body's parameters or yields, and which of them (positions within the run) get a
/// tangent, placed right after the run.
struct Run {
  std::size_t begin, end;
  std::vector<std::size_t> withTangent;
};

/// The JVP of a body: its parameters run by run, each run followed by the tangent parameters of
/// its members in `withTangent`; then the body; then its yields run by run, each followed by the
/// tangents of its members in `withTangent` (zeros where the tangent is zero).
Function jvpBody(const Function &source, std::span<const Run> params,
                 std::span<const Run> yields) {
  std::vector<ValueId> ids = source.arguments();
  Function jvp = source.emptyLike(source.name + ".jvp");
  Builder bb(jvp);
  std::vector<ValueId> map(source.insts.size(), 0);
  std::map<ValueId, ValueId> seeds;
  for (const Run &run : params) {
    for (std::size_t i = run.begin; i < run.end; ++i)
      map[ids[i]] = addParameter(bb, parameterName(source, ids[i]), source.typeOf(ids[i]));
    for (std::size_t i : run.withTangent) {
      ValueId p = ids[run.begin + i];
      seeds[p] = addParameter(bb, parameterName(source, p) + ".dot", source.typeOf(p));
    }
  }
  copyBody(bb, source, map);
  std::vector<MaybeValue> tangent = pushTangents(bb, source, map, seeds, source.insts.size());
  for (const Run &run : yields) {
    for (std::size_t i = run.begin; i < run.end; ++i)
      jvp.yields.push_back(map[source.yields[i]]);
    for (std::size_t i : run.withTangent) {
      ValueId y = source.yields[run.begin + i];
      jvp.yields.push_back(tangent[y] ? *tangent[y] : rules::zerosOf(bb, map[y]));
    }
  }
  jvp.result = jvp.yields.front();
  return jvp;
}

/// Appends `values`, then the tangent of each of them at `withTangent` (zeros where it is zero).
void appendWithTangents(Builder &b, std::vector<ValueId> &operands,
                        std::span<const ValueId> values, std::span<const MaybeValue> tangents,
                        std::span<const std::size_t> withTangent) {
  operands.insert(operands.end(), values.begin(), values.end());
  for (std::size_t i : withTangent)
    operands.push_back(tangents[i] ? *tangents[i] : rules::zerosOf(b, values[i]));
}

/// The roles of a loop's operands and results that forward mode needs.
struct TangentLayout {
  LoopOperands o;
  std::vector<std::size_t> floatCarried;   // of the inits
  std::vector<std::size_t> variedCaptures; // captures with a nonzero tangent
  std::vector<std::size_t> floatBackward;  // loop_grad: of its backward carries
  std::vector<std::size_t> floatSums;      // loop_grad: of its summed results
  std::size_t sums = 0;
};

TangentLayout tangentLayout(const Function &f, const Inst &loop,
                            std::span<const MaybeValue> tangents) {
  TangentLayout l{operandsOf(loop), {}, {}, {}, {}, 0};
  l.floatCarried = floatPositions(typesOf(f, l.o.inits));
  std::size_t capturesAt = kBounds + l.o.inits.size();
  for (std::size_t j = 0; j < l.o.captures.size(); ++j)
    if (tangents.empty() || tangents[capturesAt + j])
      l.variedCaptures.push_back(j);
  if (loop.op == Op::LoopGrad) {
    l.floatBackward = floatPositions(typesOf(f, l.o.cotangents));
    std::vector<Type> results = resultTypes(loop);
    std::vector<Type> sumTypes(results.begin() + static_cast<std::ptrdiff_t>(l.o.cotangents.size()),
                               results.end());
    l.sums = sumTypes.size();
    l.floatSums = floatPositions(sumTypes);
  }
  return l;
}

/// Forward mode: a loop (or loop_grad) that also carries the tangents of its float carried
/// values, its bodies their own JVPs. Its value stands for the tangent of the loop; loop_result
/// reads it (loopResultJvp).
MaybeValue loopJvp(Builder &b, const Inst &instIn, ValueId, std::span<const MaybeValue> t) {
  if (rules::allZero(t))
    return std::nullopt;
  const Inst loop = instIn; // emitting may move the caller's instructions
  // Every capture that varies gets a tangent parameter; the others stay plain.
  TangentLayout l = tangentLayout(b.function(), loop, t);
  std::size_t k = l.o.inits.size(), m = l.o.captures.size(), nb = l.o.cotangents.size();
  std::vector<Run> forwardParams{{0, 1, {}}, {1, 1 + k, l.floatCarried},
                                 {1 + k, 1 + k + m, l.variedCaptures}};
  std::vector<Run> forwardYields{{0, k, l.floatCarried}};
  Builder::Regions regions{
      std::make_shared<const Function>(jvpBody(body(loop), forwardParams, forwardYields))};
  std::vector<ValueId> operands{l.o.lo, l.o.hi};
  appendWithTangents(b, operands, l.o.inits, t.subspan(kBounds, k), l.floatCarried);
  appendWithTangents(b, operands, l.o.captures, t.subspan(kBounds + k, m), l.variedCaptures);
  if (loop.op == Op::LoopGrad) {
    std::vector<Run> backwardParams = forwardParams;
    backwardParams.push_back({1 + k + m, 1 + k + m + nb, l.floatBackward});
    std::vector<Run> backwardYields{{0, nb, l.floatBackward}, {nb, nb + l.sums, l.floatSums}};
    regions.push_back(std::make_shared<const Function>(
        jvpBody(backwardBody(loop), backwardParams, backwardYields)));
    appendWithTangents(b, operands, l.o.cotangents, t.subspan(kBounds + k + m, nb),
                       l.floatBackward);
  }
  auto carried = static_cast<std::int64_t>(k + l.floatCarried.size());
  return b.emit(loop.op, std::move(operands), {carried}, std::nullopt, std::move(regions));
}

/// The tangent of a loop's result: the matching result of the tangent loop (see loopJvp), whose
/// results are each run of the primal's followed by the tangents of its float members.
MaybeValue loopResultJvp(Builder &b, const Inst &inst, ValueId,
                         std::span<const MaybeValue> t) {
  if (!t[0])
    return std::nullopt;
  const Inst primal = b.function().inst(inst.operands[0]);
  TangentLayout l = tangentLayout(b.function(), primal, {});
  auto index = static_cast<std::size_t>(inst.intAttr("index"));
  auto tangentAt = [&](std::size_t runStart, std::size_t runSize,
                       const std::vector<std::size_t> &floats, std::size_t i) -> MaybeValue {
    auto at = std::find(floats.begin(), floats.end(), i);
    if (at == floats.end())
      return std::nullopt;
    return result(b, *t[0], runStart + runSize + static_cast<std::size_t>(at - floats.begin()));
  };
  if (primal.op == Op::Loop)
    return tangentAt(0, l.o.inits.size(), l.floatCarried, index);
  std::size_t nb = l.o.cotangents.size();
  if (index < nb)
    return tangentAt(0, nb, l.floatBackward, index);
  return tangentAt(nb + l.floatBackward.size(), l.sums, l.floatSums, index - nb);
}

/// Reverse mode reaches a loop through its results: pullCotangents gathers their cotangents
/// and calls loopVjp, so these per-instruction rules are never asked.
std::vector<MaybeValue> unreachableVjp(Builder &, const Inst &inst, ValueId, ValueId, bool) {
  throw IrError(fmt::format("'{}' is differentiated through its results (loops::loopVjp)",
                            mnemonic(inst.op)));
}

} // namespace

LoopOperands operandsOf(const Inst &loop) {
  std::span<const ValueId> all = loop.operands;
  std::size_t k = std::min(carriedCount(loop), all.size() - kBounds);
  std::size_t params = loop.regions.empty() || !loop.regions[0]
                           ? 1 + k
                           : loop.regions[0]->arguments().size();
  std::size_t m = std::min(params - std::min(params, 1 + k), all.size() - kBounds - k);
  return LoopOperands{all[0], all[1], all.subspan(kBounds, k), all.subspan(kBounds + k, m),
                      all.subspan(kBounds + k + m)};
}

const Function &body(const Inst &loop) { return *loop.regions.at(0); }
const Function &backwardBody(const Inst &loopGrad) { return *loopGrad.regions.at(1); }

std::vector<std::size_t> floatPositions(std::span<const Type> types) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < types.size(); ++i)
    if (isFloat(types[i].dtype))
      out.push_back(i);
  return out;
}

std::vector<Type> resultTypes(const Inst &loop) {
  const Function &forward = body(loop);
  std::vector<Type> carried = typesOf(forward, forward.yields);
  if (loop.op == Op::Loop)
    return carried;
  const Function &backward = backwardBody(loop);
  return typesOf(backward, backward.yields);
}

std::optional<std::string> checkLoopResult(const Function &f, ValueId v) {
  const Inst &inst = f.inst(v);
  const Inst &loop = f.inst(inst.operands[0]);
  if (loop.op != Op::Loop && loop.op != Op::LoopGrad)
    return fmt::format("'loop_result' reads %{}, which is a '{}', not a loop", inst.operands[0],
                       mnemonic(loop.op));
  std::vector<Type> types = resultTypes(loop);
  auto index = static_cast<std::size_t>(inst.intAttr("index"));
  if (index >= types.size())
    return fmt::format("'loop_result' index {} is out of range: %{} has {} result(s)", index,
                       inst.operands[0], types.size());
  if (types[index] != inst.type)
    return fmt::format("result {} of %{} is {}, declared {}", index, inst.operands[0],
                       types[index].str(), inst.type.str());
  return std::nullopt;
}

ValueId result(Builder &b, ValueId loop, std::size_t index) {
  Type type = resultTypes(b.function().inst(loop)).at(index);
  return b.emit(Op::LoopResult, {loop}, {static_cast<std::int64_t>(index)}, type);
}

Function emptyBody(const Function &enclosing, std::string name) {
  Function body;
  body.name = std::move(name);
  body.dimParams = enclosing.dimParams;
  return body;
}

ValueId buildLoop(Builder &b, ValueId lo, ValueId hi, std::span<const ValueId> inits,
                  std::span<const ValueId> captures, const BodyFiller &fill,
                  const std::string &index) {
  Function body = emptyBody(b.function(), b.function().name + ".body");
  Builder bb(body);
  ValueId t = addParameter(bb, index, Type{DType::I32, {}});
  std::vector<ValueId> carried, captured;
  for (std::size_t i = 0; i < inits.size(); ++i)
    carried.push_back(addParameter(bb, fmt::format("c{}", i), b.typeOf(inits[i])));
  for (std::size_t j = 0; j < captures.size(); ++j)
    captured.push_back(addParameter(bb, fmt::format("x{}", j), b.typeOf(captures[j])));
  body.yields = fill(bb, t, carried, captured);
  body.result = body.yields.empty() ? 0 : body.yields.front();
  std::vector<ValueId> operands{lo, hi};
  operands.insert(operands.end(), inits.begin(), inits.end());
  operands.insert(operands.end(), captures.begin(), captures.end());
  return b.emit(Op::Loop, std::move(operands), {static_cast<std::int64_t>(inits.size())},
                std::nullopt, {std::make_shared<const Function>(std::move(body))});
}

std::vector<MaybeValue> loopVjp(Builder &b, const Inst &loopIn,
                                std::span<const MaybeValue> resultCotangents) {
  const Inst loop = loopIn; // emitting may move the caller's instructions
  std::vector<MaybeValue> out(loop.operands.size());
  if (loop.op != Op::Loop)
    throw IrError("reverse mode through a loop's reverse sweep (loop_grad) is not supported");
  LoopOperands o = operandsOf(loop);
  std::size_t k = o.inits.size();
  std::vector<std::size_t> floatCarried = floatPositions(typesOf(b.function(), o.inits));
  std::vector<std::size_t> floatCaptures = floatPositions(typesOf(b.function(), o.captures));
  bool any = false;
  for (std::size_t i : floatCarried)
    any = any || resultCotangents[i].has_value();
  if (!any)
    return out;

  // The backward body: one step's forward recomputed from its carried values, then its
  // cotangents pulled back from those of the values it yields.
  const Function &source = body(loop);
  std::vector<ValueId> params = source.arguments();
  Function backward = source.emptyLike(source.name + ".vjp");
  Builder bb(backward);
  std::vector<ValueId> map(source.insts.size(), 0);
  for (ValueId p : params)
    map[p] = addParameter(bb, parameterName(source, p), source.typeOf(p));
  std::vector<std::pair<ValueId, ValueId>> seeds;
  for (std::size_t i : floatCarried) {
    ValueId p = params[1 + i];
    seeds.emplace_back(source.yields[i],
                       addParameter(bb, parameterName(source, p) + ".ct", source.typeOf(p)));
  }
  copyBody(bb, source, map);
  std::vector<ValueId> wrt;
  for (std::size_t i : floatCarried)
    wrt.push_back(params[1 + i]);
  for (std::size_t j : floatCaptures)
    wrt.push_back(params[1 + k + j]);
  std::vector<MaybeValue> adjoint = pullCotangents(bb, source, map, seeds, wrt);
  for (ValueId p : wrt)
    backward.yields.push_back(p < adjoint.size() && adjoint[p] ? *adjoint[p]
                                                               : rules::zerosOf(bb, map[p]));
  backward.result = backward.yields.front();

  std::vector<ValueId> operands(loop.operands.begin(), loop.operands.end());
  for (std::size_t i : floatCarried) {
    const MaybeValue &ct = resultCotangents[i];
    operands.push_back(ct ? *ct : rules::zerosOf(b, o.inits[i]));
  }
  ValueId sweep = b.emit(Op::LoopGrad, std::move(operands), {static_cast<std::int64_t>(k)},
                         std::nullopt,
                         {loop.regions[0], std::make_shared<const Function>(std::move(backward))});
  for (std::size_t p = 0; p < floatCarried.size(); ++p)
    out[kBounds + floatCarried[p]] = result(b, sweep, p);
  for (std::size_t q = 0; q < floatCaptures.size(); ++q)
    out[kBounds + k + floatCaptures[q]] = result(b, sweep, floatCarried.size() + q);
  return out;
}

} // namespace nabla::loops

namespace nabla {

const OpInfo opLoop = OpInfo{-1, {{"carried", AttrKind::Int}}, loops::loopRule, nullptr,
                             loops::loopJvp, loops::unreachableVjp};
const OpInfo opLoopGrad = OpInfo{-1, {{"carried", AttrKind::Int}}, loops::loopRule, nullptr,
                                 loops::loopJvp, loops::unreachableVjp};
const OpInfo opLoopResult = OpInfo{1, {{"index", AttrKind::Int}}, loops::loopResultRule, nullptr,
                                   loops::loopResultJvp, loops::unreachableVjp};

} // namespace nabla
