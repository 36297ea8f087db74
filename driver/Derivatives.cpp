// Gradients, Jacobians and Hessians at a point: derivative functions built by the passes, then
// evaluated by the reference interpreter over basis directions.
#include "driver/Derivatives.h"

#include "driver/DerivedFunction.h"
#include "ir/Builder.h"
#include "ir/Differentiate.h"
#include "passes/DeadCode.h"
#include "passes/ForwardMode.h"

#include <fmt/format.h>

#include <algorithm>

namespace nabla {

namespace {

/// How many tangent directions one forward-mode evaluation carries.
constexpr int kDirectionsPerSweep = 8;

std::int64_t entries(const Tensor &t) { return static_cast<std::int64_t>(t.data.size()); }

/// Runs `g` and returns its named results with the given role, in order.
Expected<std::vector<Tensor>> namedResults(Engine engine, const Function &g,
                                           const std::vector<Tensor> &args,
                                           const DimBinding &dims, OutputRole role) {
  auto values = execute(engine, g, args, dims);
  if (!values)
    return values.takeError();
  std::vector<Tensor> out;
  for (std::size_t i = 0; i < g.outputs.size(); ++i)
    if (g.outputs[i].role == role)
      out.push_back(std::move((*values)[i + 1]));
  return out;
}

Tensor zerosLike(const Tensor &t) { return Tensor(t.dtype, t.shape); }

/// One basis direction: entry `entry` of argument `arg` (an index into `wrt`).
struct Direction {
  std::size_t arg;
  std::int64_t entry;
};

/// The values of the arguments in `wrt`, in order.
std::vector<Tensor> wrtValues(const Function &f, const std::vector<ValueId> &wrt,
                              const std::vector<Tensor> &args) {
  std::vector<ValueId> all = f.arguments();
  std::vector<Tensor> out;
  for (ValueId w : wrt)
    out.push_back(args[static_cast<std::size_t>(std::find(all.begin(), all.end(), w) - all.begin())]);
  return out;
}

/// Runs `jvp` (forward mode of some function with kDirectionsPerSweep directions over `wrt`, with
/// `perSlot` tangent results per direction: its value's and its outputs') for every basis
/// direction; `visit(direction, tangents)` receives the tangent results of one direction.
template <class Visit>
std::optional<Diagnostics> sweepDirections(Engine engine, const Function &jvp, std::size_t perSlot,
                                           const std::vector<Tensor> &args,
                                           const DimBinding &dims,
                                           const std::vector<Tensor> &wrtValues, Visit visit) {
  std::vector<Direction> dirs;
  for (std::size_t a = 0; a < wrtValues.size(); ++a)
    for (std::int64_t e = 0; e < entries(wrtValues[a]); ++e)
      dirs.push_back({a, e});
  for (std::size_t i = 0; i < dirs.size(); i += kDirectionsPerSweep) {
    std::vector<Tensor> full = args;
    for (int k = 0; k < kDirectionsPerSweep; ++k)
      for (std::size_t a = 0; a < wrtValues.size(); ++a) {
        Tensor t = zerosLike(wrtValues[a]);
        std::size_t d = i + static_cast<std::size_t>(k);
        if (d < dirs.size() && dirs[d].arg == a)
          t.data[static_cast<std::size_t>(dirs[d].entry)] = 1;
        full.push_back(std::move(t));
      }
    auto tangents = namedResults(engine, jvp, full, dims, OutputRole::Tangent);
    if (!tangents)
      return tangents.takeError();
    // The tangents forward mode added come last (the function it differentiated may have had
    // tangent results of its own): perSlot per direction.
    const Tensor *derived = tangents->data() + (tangents->size() - kDirectionsPerSweep * perSlot);
    for (int k = 0; k < kDirectionsPerSweep && i + static_cast<std::size_t>(k) < dirs.size(); ++k)
      visit(dirs[i + static_cast<std::size_t>(k)],
            std::span<const Tensor>(derived + static_cast<std::size_t>(k) * perSlot, perSlot));
  }
  return std::nullopt;
}

/// A Jacobian block shaped value.shape + arg.shape, zero-filled.
Tensor jacobianBlock(const Tensor &value, const Tensor &arg) {
  std::vector<std::int64_t> shape = value.shape;
  shape.insert(shape.end(), arg.shape.begin(), arg.shape.end());
  return Tensor(value.dtype, shape);
}

Expected<Tensor> valueOf(Engine engine, const Function &f, const std::vector<Tensor> &args,
                         const DimBinding &dims) {
  auto r = execute(engine, f, args, dims);
  if (!r)
    return r.takeError();
  return std::move((*r)[0]);
}

Derivatives named(const Function &f, const std::vector<ValueId> &wrt, std::vector<Tensor> values) {
  Derivatives out;
  for (std::size_t i = 0; i < wrt.size(); ++i)
    out.push_back({f.inst(wrt[i]).stringAttr("name"), std::move(values[i])});
  return out;
}

/// The same arguments in the derived function `g` (found by name).
std::vector<ValueId> sameArguments(const Function &f, const std::vector<ValueId> &wrt,
                                   const Function &g) {
  std::vector<ValueId> out;
  for (ValueId w : wrt)
    out.push_back(*g.argument(f.inst(w).stringAttr("name")));
  return out;
}

/// Forward-mode derivatives of every tangent result of `f` (value first, then outputs) by sweeping
/// basis directions: block[r][a] is d(result r)/d(wrt a), shaped result.shape + a.shape.
Expected<std::vector<std::vector<Tensor>>>
forwardBlocks(Engine engine, const Function &f, const std::vector<ValueId> &wrt,
              const std::vector<Tensor> &args, const DimBinding &dims, const std::string &tag) {
  auto values = execute(engine, f, args, dims);
  if (!values)
    return values.takeError();
  std::vector<Tensor> results = std::move(*values);
  std::vector<Tensor> inputs = wrtValues(f, wrt, args);
  std::vector<std::vector<Tensor>> blocks(results.size());
  for (std::size_t r = 0; r < results.size(); ++r)
    for (const Tensor &in : inputs)
      blocks[r].push_back(jacobianBlock(results[r], in));
  Function jvp = forwardMode(f, wrt, kDirectionsPerSweep, tag);
  auto err = sweepDirections(engine, jvp, results.size(), args, dims, inputs, [&](Direction d, std::span<const Tensor> t) {
    for (std::size_t r = 0; r < results.size(); ++r) {
      Tensor &block = blocks[r][d.arg];
      std::int64_t n = entries(inputs[d.arg]);
      for (std::size_t i = 0; i < t[r].data.size(); ++i)
        block.data[i * static_cast<std::size_t>(n) + static_cast<std::size_t>(d.entry)] = t[r].data[i];
    }
  });
  if (err)
    return *err;
  return blocks;
}

Diagnostic noMode() {
  return makeDiagnostic("a numeric derivative needs a mode: symbolic, forward or reverse");
}

} // namespace

Expected<Derivatives> gradient(const Function &f, const std::vector<ValueId> &wrt,
                               const std::vector<Tensor> &args, const DimBinding &dims,
                               Derivative mode, Engine engine) {
  if (!f.typeOf(f.result).isScalar())
    return makeDiagnostic(fmt::format("the gradient needs a scalar value, but '{}' returns {}; "
                                      "use the Jacobian",
                                      f.name, f.typeOf(f.result).str()));
  switch (mode) {
  case Derivative::None:
    break;
  case Derivative::Reverse:
  case Derivative::Symbolic: {
    Function g = gradientFunction(f, wrt, mode);
    auto grads = namedResults(engine, g, args, dims, OutputRole::Gradient);
    if (!grads)
      return grads.takeError();
    return named(f, wrt, std::move(*grads));
  }
  case Derivative::Forward: {
    auto blocks = forwardBlocks(engine, f, wrt, args, dims, "t");
    if (!blocks)
      return blocks.takeError();
    return named(f, wrt, std::move((*blocks)[0]));
  }
  }
  return noMode();
}

Expected<Derivatives> jacobian(const Function &f, const std::vector<ValueId> &wrt,
                               const std::vector<Tensor> &args, const DimBinding &dims,
                               Derivative mode, Engine engine) {
  if (mode == Derivative::None)
    return noMode();
  if (mode == Derivative::Forward) {
    auto blocks = forwardBlocks(engine, f, wrt, args, dims, "t");
    if (!blocks)
      return blocks.takeError();
    return named(f, wrt, std::move((*blocks)[0]));
  }
  if (f.typeOf(f.result).isScalar())
    return gradient(f, wrt, args, dims, mode, engine);
  // Reverse (and symbolic): one cotangent sweep per entry of the value.
  auto value = valueOf(engine, f, args, dims);
  if (!value)
    return value.takeError();
  std::vector<Tensor> inputs = wrtValues(f, wrt, args);
  std::vector<Tensor> blocks;
  for (const Tensor &in : inputs)
    blocks.push_back(jacobianBlock(*value, in));
  Function g = gradientFunction(f, wrt, mode);
  for (std::int64_t i = 0; i < entries(*value); ++i) {
    std::vector<Tensor> full = args;
    Tensor seed = zerosLike(*value);
    seed.data[static_cast<std::size_t>(i)] = 1;
    full.push_back(seed);
    auto grads = namedResults(engine, g, full, dims, OutputRole::Gradient);
    if (!grads)
      return grads.takeError();
    for (std::size_t a = 0; a < inputs.size(); ++a)
      std::copy((*grads)[a].data.begin(), (*grads)[a].data.end(),
                blocks[a].data.begin() + i * entries(inputs[a]));
  }
  return named(f, wrt, std::move(blocks));
}

Expected<std::vector<HessianBlock>> hessian(const Function &f, const std::vector<ValueId> &wrt,
                                            const std::vector<Tensor> &args,
                                            const DimBinding &dims, Derivative mode,
                                            Engine engine) {
  if (mode == Derivative::None)
    return noMode();
  if (!f.typeOf(f.result).isScalar())
    return makeDiagnostic(fmt::format("the Hessian needs a scalar value, but '{}' returns {}",
                                      f.name, f.typeOf(f.result).str()));
  // The gradient as a function, by the chosen mode, then forward mode over it. Forward over
  // forward differentiates the one-direction JVP, whose tangent argument then picks the row.
  std::vector<HessianBlock> out;
  if (mode == Derivative::Forward) {
    Function inner = forwardMode(f, wrt, 1, "u");
    std::vector<Tensor> inputs = wrtValues(f, wrt, args);
    for (std::size_t a = 0; a < wrt.size(); ++a) {
      for (std::size_t c = 0; c < wrt.size(); ++c)
        out.push_back({f.inst(wrt[a]).stringAttr("name"), f.inst(wrt[c]).stringAttr("name"),
                       jacobianBlock(inputs[a], inputs[c])});
    }
    std::vector<ValueId> innerWrt = sameArguments(f, wrt, inner);
    for (std::size_t a = 0; a < wrt.size(); ++a)
      for (std::int64_t e = 0; e < entries(inputs[a]); ++e) {
        // Row (a, e): the inner tangent is the basis vector e of argument a.
        std::vector<Tensor> full = args;
        for (std::size_t b = 0; b < wrt.size(); ++b) {
          Tensor t = zerosLike(inputs[b]);
          if (b == a)
            t.data[static_cast<std::size_t>(e)] = 1;
          full.push_back(std::move(t));
        }
        auto blocks = forwardBlocks(engine, inner, innerWrt, full, dims, "t");
        if (!blocks)
          return blocks.takeError();
        // The inner tangent "u0" is the first tangent output of `inner`: results are the value,
        // then outputs; find it by position.
        std::size_t u0 = 1 + f.outputs.size();
        for (std::size_t c = 0; c < wrt.size(); ++c) {
          Tensor &block = out[a * wrt.size() + c].value;
          const Tensor &row = (*blocks)[u0][c];
          std::copy(row.data.begin(), row.data.end(),
                    block.data.begin() + e * entries(inputs[c]));
        }
      }
    return out;
  }
  Function g = gradientFunction(f, wrt, mode);
  auto blocks = forwardBlocks(engine, g, sameArguments(f, wrt, g), args, dims, "t");
  if (!blocks)
    return blocks.takeError();
  // Results of g: value, f's outputs, then one gradient per argument of wrt.
  std::size_t firstGrad = 1 + f.outputs.size();
  for (std::size_t a = 0; a < wrt.size(); ++a)
    for (std::size_t c = 0; c < wrt.size(); ++c)
      out.push_back({f.inst(wrt[a]).stringAttr("name"), f.inst(wrt[c]).stringAttr("name"),
                     (*blocks)[firstGrad + a][c]});
  return out;
}

Expected<Derivatives> hessianVectorProduct(const Function &f, const std::vector<ValueId> &wrt,
                                           const std::vector<Tensor> &args,
                                           const std::vector<Tensor> &direction,
                                           const DimBinding &dims, Derivative mode,
                                           Engine engine) {
  if (mode == Derivative::None)
    return noMode();
  if (!f.typeOf(f.result).isScalar())
    return makeDiagnostic(fmt::format("a Hessian-vector product needs a scalar value, but '{}' "
                                      "returns {}",
                                      f.name, f.typeOf(f.result).str()));
  if (direction.size() != wrt.size())
    return makeDiagnostic(fmt::format("the direction needs {} tensors, one per argument, got {}",
                                      wrt.size(), direction.size()));
  // Forward over the gradient: the tangent of each gradient output along v is (H v) for it.
  Function g = mode == Derivative::Forward ? forwardMode(f, wrt, 1, "u")
                                           : gradientFunction(f, wrt, mode);
  if (mode == Derivative::Forward) {
    // Forward over forward: H v = the gradient of (grad f . v), one row per basis direction of
    // the inner tangent; the Hessian is symmetric, so its rows are (H v) for inner tangent v.
    std::vector<Tensor> full = args;
    full.insert(full.end(), direction.begin(), direction.end());
    auto blocks = forwardBlocks(engine, g, sameArguments(f, wrt, g), full, dims, "t");
    if (!blocks)
      return blocks.takeError();
    std::size_t u0 = 1 + f.outputs.size();
    return named(f, wrt, std::move((*blocks)[u0]));
  }
  Function jvp = forwardMode(g, sameArguments(f, wrt, g), 1, "t");
  std::vector<Tensor> full = args;
  full.insert(full.end(), direction.begin(), direction.end());
  auto tangents = namedResults(engine, jvp, full, dims, OutputRole::Tangent);
  if (!tangents)
    return tangents.takeError();
  // Tangents: of the value, of f's outputs, then of each gradient.
  std::size_t first = tangents->size() - wrt.size();
  std::vector<Tensor> hv(tangents->begin() + static_cast<std::ptrdiff_t>(first), tangents->end());
  return named(f, wrt, std::move(hv));
}

Expected<std::vector<TracedNode>> traceAdjoints(const Function &source,
                                                const std::vector<Tensor> &args) {
  Function f = eliminateDeadCode(source);
  // The adjoints are appended to f itself, so that one interpretation gives values and adjoints.
  Function g = f;
  Builder b(g);
  std::vector<ValueId> all = f.arguments();
  std::vector<ValueId> identity = identityMap(g.insts.size());
  auto adjoint =
      pullCotangents(b, g, identity, g.result, b.constant(1, g.typeOf(g.result).dtype), all);
  auto values = interpretAll(g, args);
  if (!values)
    return values.takeError();
  std::vector<TracedNode> nodes;
  for (ValueId v = 0; v < f.insts.size(); ++v) {
    const Inst &inst = f.insts[v];
    TracedNode node;
    node.op = std::string(mnemonic(inst.op));
    if (inst.op == Op::Input || inst.op == Op::Param)
      node.op += " " + inst.stringAttr("name");
    for (ValueId o : inst.operands)
      node.op += fmt::format(" %{}", o);
    node.value = (*values)[v];
    if (v < adjoint.size() && adjoint[v])
      node.adjoint = (*values)[*adjoint[v]];
    nodes.push_back(std::move(node));
  }
  return nodes;
}

} // namespace nabla
