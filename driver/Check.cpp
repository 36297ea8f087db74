// `nabla check`: every mode's gradient against central finite differences, at seeded random
// inputs. Small arguments entry by entry; large ones by a random-direction Taylor test.
#include "driver/Check.h"

#include "driver/Derivatives.h"
#include "driver/Execute.h"
#include "ir/Builder.h"
#include "ir/Differentiate.h"
#include "ir/Interpreter.h"
#include "passes/CastFloat.h"
#include "passes/ForwardMode.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

namespace nabla {

namespace {

constexpr int kDefaultRuntimeDim = 3;
constexpr int kAttempts = 6;
constexpr Derivative kModes[] = {Derivative::Symbolic, Derivative::Forward, Derivative::Reverse};

/// A scalar to check: `f` itself, or <c, f(x)> for a fixed random c when f's value is a tensor.
Function scalarized(const Function &f) {
  if (f.typeOf(f.result).isScalar())
    return f;
  Function g = f;
  Builder b(g);
  ValueId c = b.input("check.c", g.typeOf(g.result));
  std::vector<std::int64_t> axes;
  for (std::size_t i = 0; i < g.typeOf(g.result).rank(); ++i)
    axes.push_back(static_cast<std::int64_t>(i));
  g.result = b.reduceSum(b.mul(c, g.result), axes);
  g.outputs.clear();
  return g;
}

/// Upper bounds for i32 arguments that index something: ids < the indexed axis's size.
std::map<ValueId, std::int64_t> indexBounds(const Function &f, const DimBinding &dims) {
  std::map<ValueId, std::int64_t> bounds;
  for (const Inst &inst : f.insts) {
    if (inst.op != Op::Take && inst.op != Op::TakeAlong)
      continue;
    ValueId ids = inst.operands[1];
    while (f.inst(ids).op == Op::Reshape || f.inst(ids).op == Op::Broadcast)
      ids = f.inst(ids).operands[0];
    if (f.inst(ids).op != Op::Input)
      continue;
    const Dim &extent =
        f.typeOf(inst.operands[0]).shape[static_cast<std::size_t>(inst.intAttr("axis"))];
    if (auto n = extent.evaluate(dims)) {
      auto it = bounds.find(ids);
      bounds[ids] = it == bounds.end() ? *n : std::min(it->second, *n);
    }
  }
  return bounds;
}

struct Sampler {
  std::mt19937_64 rng;

  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }
  double normal(double mean, double sd) { return std::normal_distribution<double>(mean, sd)(rng); }

  /// Values for one argument: params from their initializer when it is random, everything else
  /// positive and of moderate size (safe for log, sqrt and lgamma, away from 0 kinks).
  Tensor draw(const Function &f, ValueId arg, const std::vector<std::int64_t> &shape,
              const std::map<ValueId, std::int64_t> &bounds) {
    const Inst &inst = f.inst(arg);
    Tensor t(inst.type.dtype, shape);
    if (inst.type.dtype == DType::I32) {
      auto it = bounds.find(arg);
      std::int64_t n = it == bounds.end() ? 2 : it->second;
      for (double &v : t.data)
        v = static_cast<double>(std::uniform_int_distribution<std::int64_t>(0, n - 1)(rng));
      return t;
    }
    const ParamInit *init = nullptr;
    for (const ParamInit &p : f.inits)
      if (p.param == inst.stringAttr("name"))
        init = &p;
    for (double &v : t.data) {
      if (init && init->kind == "normal")
        v = normal(init->args[0], init->args[1] > 0 ? init->args[1] : 0.1);
      else if (init && init->kind == "uniform" && init->args[0] < init->args[1])
        v = uniform(init->args[0], init->args[1]);
      else if (init && init->kind == "glorot" && shape.size() >= 2) {
        double limit = std::sqrt(6.0 / static_cast<double>(shape[shape.size() - 1] +
                                                           shape[shape.size() - 2]));
        v = uniform(-limit, limit);
      } else if (init)
        v = normal(0, 0.1); // zeros/ones would sit on kinks and ties
      else
        v = uniform(0.5, 1.5);
    }
    return t;
  }
};

double valueAt(Engine engine, const Function &f, const std::vector<Tensor> &args,
               const DimBinding &dims) {
  auto r = execute(engine, f, args, dims);
  if (!r)
    return std::nan("");
  return (*r)[0].data[0];
}

std::size_t argumentIndex(const Function &f, ValueId arg) {
  auto all = f.arguments();
  return static_cast<std::size_t>(std::find(all.begin(), all.end(), arg) - all.begin());
}

/// A finite-difference reference for one argument: entrywise central differences, or the
/// directional derivative along `direction` (Taylor test).
struct Reference {
  std::vector<double> fd;       // entrywise: one per entry
  std::vector<double> fdCoarse; // the same with a doubled step, to detect nearby kinks
};

Reference entrywise(Engine engine, const Function &f, std::vector<Tensor> args, std::size_t slot,
                    const DimBinding &dims) {
  Reference r;
  Tensor &x = args[slot];
  for (std::size_t i = 0; i < x.data.size(); ++i) {
    double x0 = x.data[i];
    double h = 1e-6 * std::max(1.0, std::fabs(x0));
    auto diff = [&](double step) {
      x.data[i] = x0 + step;
      double up = valueAt(engine, f, args, dims);
      x.data[i] = x0 - step;
      double down = valueAt(engine, f, args, dims);
      x.data[i] = x0;
      return (up - down) / (2 * step);
    };
    r.fd.push_back(diff(h));
    r.fdCoarse.push_back(diff(8 * h));
  }
  return r;
}

bool closeEnough(double derivative, double fd) {
  return std::fabs(derivative - fd) <= 1e-5 * std::max(1.0, std::fabs(fd));
}

struct TaylorResult {
  double order;    // observed order of e(h); 2 when every error is below rounding noise
  double absError; // |g.v - central difference|
  double relError; // the same over max(1, |central difference|)
};

/// Taylor test along `v`: e(h) = |f(x + h v) - f(x) - h g.v| must shrink like h^2; and g.v
/// against a central difference.
TaylorResult taylor(Engine engine, const Function &f, std::vector<Tensor> args, std::size_t slot,
                    const Tensor &v, double directional, const DimBinding &dims) {
  Tensor x0 = args[slot];
  double f0 = valueAt(engine, f, args, dims);
  auto at = [&](double h) {
    for (std::size_t i = 0; i < x0.data.size(); ++i)
      args[slot].data[i] = x0.data[i] + h * v.data[i];
    return valueAt(engine, f, args, dims);
  };
  double noise = 1e-12 * std::max(1.0, std::fabs(f0));
  std::vector<double> orders;
  double prev = -1;
  // Steps small enough that a random direction rarely crosses a kink (relu networks), large
  // enough that e(h) stays above rounding noise.
  for (int k = 0; k < 8; ++k) {
    double h = 1e-3 * std::pow(0.5, k);
    double e = std::fabs(at(h) - f0 - h * directional);
    if (prev > 100 * noise && e > 100 * noise)
      orders.push_back(std::log2(prev / e));
    prev = e;
  }
  double central = (at(1e-6) - at(-1e-6)) / 2e-6;
  double abs = std::fabs(central - directional);
  double rel = abs / std::max(1.0, std::fabs(central));
  if (orders.empty())
    return {2.0, abs, rel};
  std::sort(orders.begin(), orders.end());
  return {orders[orders.size() / 2], abs, rel};
}

} // namespace

bool CheckReport::passed() const {
  for (const CheckRow &r : rows)
    if (!r.passed)
      return false;
  return !rows.empty();
}

std::string CheckReport::table() const {
  std::size_t fnWidth = 8, argWidth = 8;
  for (const CheckRow &r : rows) {
    fnWidth = std::max(fnWidth, r.function.size());
    argWidth = std::max(argWidth, r.argument.size());
  }
  std::string out = fmt::format("{:<{}}  {:<{}}  {:<8}  {:<9}  {:>10}  {:>10}  {}\n", "function",
                                fnWidth, "argument", argWidth, "mode", "method", "max abs",
                                "max rel", "verdict");
  std::size_t failed = 0;
  for (const CheckRow &r : rows) {
    failed += r.passed ? 0 : 1;
    out += fmt::format("{:<{}}  {:<{}}  {:<8}  {:<9}  {:>10.2e}  {:>10.2e}  {}{}\n", r.function,
                       fnWidth, r.argument, argWidth, r.mode, r.method, r.maxAbsError,
                       r.maxRelError, r.passed ? "ok" : "FAIL",
                       r.note.empty() ? "" : " (" + r.note + ")");
  }
  out += fmt::format("{} passed, {} failed\n", rows.size() - failed, failed);
  return out;
}

Expected<CheckReport> checkModule(const Module &module, const CheckOptions &options) {
  CheckReport report;
  bool found = false;
  const Engine engine = options.engine;
  for (const Function &original : module.functions) {
    if (!options.function.empty() && original.name != options.function)
      continue;
    found = true;
    // Finite differences need f64's precision: f32 functions are checked computing in f64.
    Function f = scalarized(castFloats(original, DType::F64));
    DimBinding dims;
    for (const std::string &d : f.dimParams) {
      auto it = options.dims.find(d);
      dims[d] = it == options.dims.end() ? kDefaultRuntimeDim : it->second;
    }
    std::vector<ValueId> wrt = *selectArguments(f, {});
    wrt.erase(std::remove_if(wrt.begin(), wrt.end(),
                             [&](ValueId v) { return f.inst(v).stringAttr("name") == "check.c"; }),
              wrt.end());
    if (wrt.empty())
      continue;
    auto bounds = indexBounds(f, dims);
    Sampler sampler{std::mt19937_64(options.seed)};

    // Draw inputs until the value is finite and no entrywise difference straddles a kink.
    std::vector<Tensor> args;
    std::map<ValueId, Reference> references;
    std::string trouble;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      args.clear();
      references.clear();
      trouble.clear();
      for (ValueId a : f.arguments()) {
        auto shape = concreteShape(f.typeOf(a).shape, dims);
        if (!shape)
          return makeDiagnostic(fmt::format("'{}': argument '{}' has unbound dimensions {}",
                                            f.name, f.inst(a).stringAttr("name"),
                                            f.typeOf(a).str()));
        args.push_back(sampler.draw(f, a, *shape, bounds));
      }
      if (!std::isfinite(valueAt(engine, f, args, dims))) {
        trouble = "the value is not finite at the sampled inputs";
        continue;
      }
      for (ValueId w : wrt) {
        std::size_t slot = argumentIndex(f, w);
        if (args[slot].data.size() > options.entrywiseLimit)
          continue;
        Reference r = entrywise(engine, f, args, slot, dims);
        for (std::size_t i = 0; i < r.fd.size(); ++i)
          if (!std::isfinite(r.fd[i]) ||
              std::fabs(r.fd[i] - r.fdCoarse[i]) > 1e-4 * std::max(1.0, std::fabs(r.fd[i])))
            trouble = "a kink lies within the finite-difference step";
        references[w] = std::move(r);
      }
      if (trouble.empty())
        break;
    }
    if (!trouble.empty())
      return makeDiagnostic(fmt::format("'{}': could not find inputs to check at ({} after {} "
                                        "draws)",
                                        f.name, trouble, kAttempts));

    for (Derivative mode : kModes) {
      // Small arguments: the full gradient, entry by entry.
      std::vector<ValueId> small;
      for (ValueId w : wrt)
        if (references.count(w))
          small.push_back(w);
      if (!small.empty()) {
        auto grads = gradient(f, small, args, dims, mode, engine);
        if (!grads)
          return grads.takeError();
        for (std::size_t k = 0; k < small.size(); ++k) {
          CheckRow row;
          row.function = original.name;
          row.argument = f.inst(small[k]).stringAttr("name");
          row.mode = derivativeName(mode);
          row.method = "entrywise";
          row.passed = true;
          const Reference &ref = references[small[k]];
          const Tensor &g = (*grads)[k].value;
          for (std::size_t i = 0; i < g.data.size(); ++i) {
            double abs = std::fabs(g.data[i] - ref.fd[i]);
            row.maxAbsError = std::max(row.maxAbsError, abs);
            row.maxRelError =
                std::max(row.maxRelError, abs / std::max(1e-12, std::fabs(ref.fd[i])));
            if (!closeEnough(g.data[i], ref.fd[i])) {
              row.passed = false;
              row.note = fmt::format("entry {}: {} vs finite differences {}", i, g.data[i],
                                     ref.fd[i]);
            }
          }
          report.rows.push_back(std::move(row));
        }
      }
      // Large arguments: the directional derivative along a random unit direction.
      for (ValueId w : wrt) {
        if (references.count(w))
          continue;
        std::size_t slot = argumentIndex(f, w);
        Tensor v(DType::F64, args[slot].shape);
        double norm = 0;
        for (double &x : v.data) {
          x = sampler.normal(0, 1);
          norm += x * x;
        }
        for (double &x : v.data)
          x /= std::sqrt(norm);
        double directional = 0;
        if (mode == Derivative::Forward) {
          Function jvp = forwardMode(f, std::vector<ValueId>{w}, 1);
          std::vector<Tensor> full = args;
          full.push_back(v);
          auto values = execute(engine, jvp, full, dims);
          if (!values)
            return values.takeError();
          for (std::size_t i = 0; i < jvp.outputs.size(); ++i)
            if (jvp.outputs[i].role == OutputRole::Tangent && jvp.outputs[i].name == "t0")
              directional = (*values)[i + 1].data[0];
        } else {
          auto grads = gradient(f, {w}, args, dims, mode, engine);
          if (!grads)
            return grads.takeError();
          for (std::size_t i = 0; i < v.data.size(); ++i)
            directional += (*grads)[0].value.data[i] * v.data[i];
        }
        TaylorResult t = taylor(engine, f, args, slot, v, directional, dims);
        CheckRow row;
        row.function = original.name;
        row.argument = f.inst(w).stringAttr("name");
        row.mode = derivativeName(mode);
        row.method = "taylor";
        row.maxAbsError = t.absError;
        row.maxRelError = t.relError;
        row.passed = t.order > 1.8 && t.relError < 1e-5;
        row.note = fmt::format("order {:.2f}", t.order);
        report.rows.push_back(std::move(row));
      }
    }
  }
  if (!found)
    return makeDiagnostic(fmt::format("no fn or model named '{}'", options.function));
  return report;
}

Expected<std::vector<PointCheckRow>> checkAtPoint(const Function &f,
                                                  const std::vector<ValueId> &wrt,
                                                  const std::vector<Tensor> &args) {
  std::vector<Derivatives> modes;
  for (Derivative mode : kModes) {
    auto g = gradient(f, wrt, args, {}, mode);
    if (!g)
      return g.takeError();
    modes.push_back(std::move(*g));
  }
  std::vector<PointCheckRow> rows;
  for (std::size_t k = 0; k < wrt.size(); ++k) {
    std::size_t slot = argumentIndex(f, wrt[k]);
    Reference reference = entrywise(Engine::Interp, f, args, slot, {});
    for (std::size_t i = 0; i < reference.fd.size(); ++i) {
      PointCheckRow row;
      row.entry = f.inst(wrt[k]).stringAttr("name");
      if (reference.fd.size() > 1)
        row.entry += fmt::format("[{}]", i);
      row.symbolic = modes[0][k].value.data[i];
      row.forward = modes[1][k].value.data[i];
      row.reverse = modes[2][k].value.data[i];
      row.central = reference.fd[i];
      row.passed = closeEnough(row.symbolic, row.central) &&
                   closeEnough(row.forward, row.central) && closeEnough(row.reverse, row.central);
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

} // namespace nabla
