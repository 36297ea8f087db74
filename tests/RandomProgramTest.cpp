// Random .nabla programs, seeded: scalar expressions over every elementwise op and small tensor
// programs over the tensor ops. For each, the gradient by symbolic, forward and reverse mode agree
// with each other and with central differences, and (scalar programs) every printed symbolic
// derivative parses back and evaluates to the same numbers. Set NABLA_SEED to choose the first
// program's seed (a failure prints the seed that reproduces it as the first program).
#include "frontend/InfixPrinter.h"
#include "frontend/Sema.h"
#include "ir/Interpreter.h"
#include "ir/Differentiate.h"
#include "passes/ForwardMode.h"
#include "passes/ReverseMode.h"
#include "passes/Simplify.h"
#include "passes/Symbolic.h"
#include "driver/Derivatives.h"
#include "driver/Execute.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <random>

namespace nabla {
namespace {

using Rng = std::mt19937_64;

std::uint64_t baseSeed(std::uint64_t fallback) {
  if (const char *env = std::getenv("NABLA_SEED"))
    return std::strtoull(env, nullptr, 10);
  return fallback;
}

int uniformInt(Rng &rng, int lo, int hi) { // inclusive
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}
double uniformReal(Rng &rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}
bool chance(Rng &rng, double p) { return uniformReal(rng, 0, 1) < p; }
template <class T> const T &pick(Rng &rng, const std::vector<T> &v) {
  return v[static_cast<std::size_t>(uniformInt(rng, 0, static_cast<int>(v.size()) - 1))];
}

/// Substitutes `{}` placeholders in order (the templates below are not fmt format strings
/// because some contain literal braces of their own only through arguments).
std::string fill(const std::string &pattern, const std::vector<std::string> &args) {
  std::string out;
  std::size_t next = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '{' && i + 1 < pattern.size() && pattern[i + 1] == '}') {
      out += args.at(next++);
      ++i;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

// ----- domain and kink checks on the compiled IR ------------------------------------------------

/// Whether `f` at this point is too close to a kink (relu, abs, max, a comparison, ...) or to the
/// edge of a domain (log, sqrt, division, ...) for central differences with step ~h to see the
/// derivative the rules give. Exact hits on a kink are allowed: they come from clamps and ties of
/// values that move together, where every convention gives the same derivative.
/// Which values the result depends on at this point: the branch of a scalar `where` not taken
/// (and whatever only it uses) does not count, so that it may be NaN (LANGUAGE.md section 3).
std::vector<bool> liveValues(const Function &f, const std::vector<Tensor> &values) {
  std::vector<bool> live(f.insts.size(), false);
  live[f.result] = true;
  for (std::size_t v = f.insts.size(); v-- > 0;) {
    if (!live[v])
      continue;
    const Inst &inst = f.insts[v];
    if (inst.op == Op::Select && values[v].data.size() == 1) {
      live[inst.operands[0]] = true;
      live[inst.operands[values[inst.operands[0]].data[0] != 0 ? 1 : 2]] = true;
      continue;
    }
    for (ValueId o : inst.operands)
      live[o] = true;
  }
  return live;
}

bool nearKinkOrEdge(const Function &f, const std::vector<Tensor> &values, double gap) {
  auto near = [&](double a, double b) {
    double d = std::fabs(a - b);
    return d > 0 && d < gap * std::max({1.0, std::fabs(a), std::fabs(b)});
  };
  std::vector<bool> live = liveValues(f, values);
  for (std::size_t v = 0; v < f.insts.size(); ++v) {
    const Inst &inst = f.insts[v];
    if (!live[v])
      continue;
    if (!isFloat(inst.type.dtype) && inst.op != Op::Lt && inst.op != Op::Le && inst.op != Op::Gt &&
        inst.op != Op::Ge && inst.op != Op::Eq && inst.op != Op::Ne)
      continue;
    auto operand = [&](std::size_t i) -> const Tensor & { return values[inst.operands[i]]; };
    const std::size_t n = inst.operands.empty() ? 0 : operand(0).data.size();
    for (std::size_t i = 0; i < n; ++i) {
      double x = operand(0).data[i];
      switch (inst.op) {
      case Op::Log:
      case Op::Sqrt:
        if (x < 1e-3)
          return true;
        break;
      case Op::Log1p:
        if (x < -1 + 1e-3)
          return true;
        break;
      case Op::Lgamma:
      case Op::Digamma:
      case Op::Trigamma:
      case Op::Polygamma:
        if (x < 1e-2)
          return true;
        break;
      case Op::Tan:
        if (std::fabs(std::cos(x)) < 1e-2)
          return true;
        break;
      case Op::Div:
        if (std::fabs(operand(1).data[i]) < 1e-3)
          return true;
        break;
      case Op::Pow: {
        double e = operand(1).data[i];
        if (x < 1e-3 && (e != std::floor(e) || std::fabs(x) < 1e-3))
          return true;
        break;
      }
      case Op::Abs:
      case Op::Sign:
      case Op::Relu:
      case Op::LeakyRelu:
        if (near(x, 0))
          return true;
        break;
      case Op::Hardtanh:
        if (near(x, inst.floatAttr("lo")) || near(x, inst.floatAttr("hi")))
          return true;
        break;
      case Op::Max:
      case Op::Min:
      case Op::Lt:
      case Op::Le:
      case Op::Gt:
      case Op::Ge:
      case Op::Eq:
      case Op::Ne:
        if (near(x, operand(1).data[i]))
          return true;
        break;
      default:
        break;
      }
    }
    if (inst.op == Op::ReduceMax || inst.op == Op::ReduceMin) {
      // Group the entries by their reduced position; the extreme must not nearly tie another.
      const Tensor &x = operand(0);
      const auto &axes = inst.intsAttr("axes");
      std::map<std::int64_t, std::vector<double>> groups;
      std::vector<std::int64_t> index(x.rank());
      for (std::size_t flat = 0; flat < x.data.size(); ++flat) {
        std::int64_t rest = static_cast<std::int64_t>(flat), key = 0;
        for (std::size_t d = x.rank(); d-- > 0;) {
          index[d] = rest % x.shape[d];
          rest /= x.shape[d];
        }
        for (std::size_t d = 0; d < x.rank(); ++d)
          if (std::find(axes.begin(), axes.end(), static_cast<std::int64_t>(d)) == axes.end())
            key = key * x.shape[d] + index[d];
        groups[key].push_back(x.data[flat]);
      }
      for (auto &[key, g] : groups) {
        double extreme = inst.op == Op::ReduceMax ? *std::max_element(g.begin(), g.end())
                                                  : *std::min_element(g.begin(), g.end());
        for (double e : g)
          if (near(e, extreme))
            return true;
      }
    }
  }
  return false;
}

// ----- checking one program ---------------------------------------------------------------------

struct Stats {
  int programs = 0;      // programs checked
  int rejected = 0;      // programs whose every drawn point was near a kink or out of range
  int printedBack = 0;   // printed symbolic derivatives compiled and evaluated again
  int printedBlocks = 0; // of which printed as a block `{ t1 = ...; return ... }`
  int gradientEntries = 0;
  int hessians = 0;    // programs whose Hessian was checked too
  int inF32 = 0;       // programs also checked in f32
  int nanNotTaken = 0; // programs with a NaN or infinity in a where's branch not taken
  int jitChecked = 0;  // programs whose value and derivative functions also ran compiled
};

/// Every how many programs the compiled code is compared with the interpreter (a kernel costs
/// ~0.1 s to compile, so a sample; NABLA_JIT_EVERY=1 checks them all).
int jitEvery() {
  const char *env = std::getenv("NABLA_JIT_EVERY");
  return env ? std::max(1, std::atoi(env)) : 50;
}

/// The JIT against the interpreter on `f` and its forward, reverse and symbolic derivative
/// functions: f64 to 1e-12 relative.
bool checkJit(const Function &f, const std::vector<Tensor> &point, const std::string &source,
              std::uint64_t seed, Rng &rng, Stats &stats) {
  auto wrt = *selectArguments(f, {});
  std::vector<std::pair<std::string, Function>> kernels;
  kernels.emplace_back("value", f);
  kernels.emplace_back("forward", forwardMode(f, wrt, 2));
  kernels.emplace_back("reverse", reverseMode(f, wrt));
  kernels.emplace_back("symbolic", symbolicGradient(f, wrt));
  bool ok = true;
  for (const auto &[what, g] : kernels) {
    std::vector<Tensor> args = point;
    // Extra arguments of derived functions (tangents, a cotangent seed): random.
    std::vector<ValueId> all = g.arguments();
    for (std::size_t i = args.size(); i < all.size(); ++i) {
      Tensor t(g.typeOf(all[i]).dtype, *concreteShape(g.typeOf(all[i]).shape, {}));
      for (double &v : t.data)
        v = std::uniform_real_distribution<double>(-1, 1)(rng);
      args.push_back(std::move(t));
    }
    auto ref = execute(Engine::Interp, g, args);
    auto jit = execute(Engine::Jit, g, args);
    if (!ref || !jit) {
      ADD_FAILURE() << what << " did not run: "
                    << (ref ? jit.error().render() : ref.error().render()) << "seed " << seed
                    << ":\n" << source;
      return false;
    }
    for (std::size_t r = 0; r < ref->size(); ++r)
      for (std::size_t i = 0; i < (*ref)[r].data.size(); ++i) {
        double a = (*jit)[r].data[i], b = (*ref)[r].data[i];
        bool close = std::fabs(a - b) <= 1e-12 * std::max({1.0, std::fabs(a), std::fabs(b)});
        if (std::isfinite(b) ? close : (std::isnan(b) ? std::isnan(a) : a == b))
          continue;
        ADD_FAILURE() << what << " result " << r << " entry " << i << ": jit " << a
                      << " vs interpreter " << b << ", seed " << seed << ":\n" << source;
        ok = false;
        break;
      }
  }
  ++stats.jitChecked;
  return ok;
}

bool closeTo(double a, double b, double rel) {
  if (std::isnan(a) || std::isnan(b))
    return false;
  return std::fabs(a - b) <= rel * std::max({1.0, std::fabs(a), std::fabs(b)});
}

/// The arguments of `f` as tensors filled by `draw` (floats) and `ints` (i32, by argument name).
using Point = std::vector<Tensor>;

/// Checks the gradient of `f` at `point` in every mode against each other and against central
/// differences. Returns false (and records failures) on a mismatch.
bool checkGradients(const Function &f, const Point &point, const std::string &source,
                    std::uint64_t seed, Stats &stats) {
  auto trace = [&] {
    return fmt::format("program seed {} (NABLA_SEED={} runs it first):\n{}", seed, seed, source);
  };
  std::vector<ValueId> wrt = *selectArguments(f, {});
  std::vector<ValueId> all = f.arguments();
  std::vector<Derivatives> byMode;
  for (Derivative mode : {Derivative::Reverse, Derivative::Forward, Derivative::Symbolic}) {
    auto g = gradient(f, wrt, point, {}, mode);
    if (!g) {
      ADD_FAILURE() << derivativeName(mode) << ": " << g.error().render() << trace();
      return false;
    }
    byMode.push_back(std::move(*g));
  }
  bool ok = true;
  for (std::size_t m = 1; m < byMode.size(); ++m)
    for (std::size_t k = 0; k < wrt.size(); ++k)
      for (std::size_t i = 0; i < byMode[0][k].value.data.size(); ++i) {
        double r = byMode[0][k].value.data[i], o = byMode[m][k].value.data[i];
        if (!closeTo(r, o, 1e-10)) {
          ADD_FAILURE() << "d/d" << byMode[0][k].name << "[" << i << "]: reverse " << r << " vs "
                        << (m == 1 ? "forward " : "symbolic ") << o << "\n"
                        << trace();
          ok = false;
        }
      }
  // Central differences, entry by entry.
  for (std::size_t k = 0; k < wrt.size(); ++k) {
    std::size_t a =
        static_cast<std::size_t>(std::find(all.begin(), all.end(), wrt[k]) - all.begin());
    for (std::size_t i = 0; i < point[a].data.size(); ++i) {
      double x = point[a].data[i];
      double h = 1e-6 * std::max(1.0, std::fabs(x));
      Point plus = point, minus = point;
      plus[a].data[i] = x + h;
      minus[a].data[i] = x - h;
      auto fp = interpret(f, plus), fm = interpret(f, minus);
      if (!fp || !fm) {
        ADD_FAILURE() << "finite differences: " << (fp ? fm : fp).error().render() << trace();
        return false;
      }
      double fd = (fp->result.data[0] - fm->result.data[0]) / (plus[a].data[i] - minus[a].data[i]);
      double g = byMode[0][k].value.data[i];
      ++stats.gradientEntries;
      if (!closeTo(g, fd, 1e-5)) {
        ADD_FAILURE() << "d/d" << byMode[0][k].name << "[" << i << "] = " << g
                      << " but central differences give " << fd << "\n"
                      << trace();
        ok = false;
      }
    }
  }
  return ok;
}

/// Draws points until one is in range and away from kinks; nullopt after `tries` draws.
template <class Draw>
std::optional<Point> drawPoint(const Function &f, Rng &rng, Draw draw, int tries) {
  for (int t = 0; t < tries; ++t) {
    Point p = draw(rng);
    auto values = interpretAll(f, p);
    if (!values)
      continue;
    const Tensor &result = (*values)[f.result];
    if (!std::isfinite(result.data[0]) || std::fabs(result.data[0]) > 1e4)
      continue;
    bool finite = true;
    std::vector<bool> live = liveValues(f, *values);
    for (std::size_t v = 0; v < values->size(); ++v)
      for (double d : (*values)[v].data)
        finite = finite && (!live[v] || (std::isfinite(d) && std::fabs(d) < 1e8));
    if (!finite || nearKinkOrEdge(f, *values, 1e-3))
      continue;
    return p;
  }
  return std::nullopt;
}

/// The Hessian by forward over reverse, forward over forward and forward over symbolic agree, and
/// match central differences of the reverse-mode gradient.
bool checkHessians(const Function &f, const Point &point, const std::string &source,
                   std::uint64_t seed, Stats &stats) {
  auto trace = [&] {
    return fmt::format("program seed {} (NABLA_SEED={} runs it first):\n{}", seed, seed, source);
  };
  std::vector<ValueId> wrt = *selectArguments(f, {});
  std::vector<ValueId> all = f.arguments();
  std::vector<std::vector<HessianBlock>> byMode;
  for (Derivative mode : {Derivative::Reverse, Derivative::Forward, Derivative::Symbolic}) {
    auto h = hessian(f, wrt, point, {}, mode);
    if (!h) {
      ADD_FAILURE() << "Hessian, " << derivativeName(mode) << ": " << h.error().render() << trace();
      return false;
    }
    byMode.push_back(std::move(*h));
  }
  ++stats.hessians;
  bool ok = true;
  for (std::size_t m = 1; m < byMode.size(); ++m)
    for (std::size_t k = 0; k < byMode[0].size(); ++k)
      for (std::size_t i = 0; i < byMode[0][k].value.data.size(); ++i) {
        double r = byMode[0][k].value.data[i], o = byMode[m][k].value.data[i];
        if (!closeTo(r, o, 1e-8)) {
          ADD_FAILURE() << "H[" << byMode[0][k].a << "][" << byMode[0][k].b << "][" << i
                        << "]: forward over reverse " << r << " vs "
                        << (m == 1 ? "forward over forward " : "forward over symbolic ") << o
                        << "\n"
                        << trace();
          ok = false;
        }
      }
  // Column by column: central differences of the gradient.
  for (std::size_t kb = 0; kb < wrt.size(); ++kb) {
    std::size_t a =
        static_cast<std::size_t>(std::find(all.begin(), all.end(), wrt[kb]) - all.begin());
    std::size_t cols = point[a].data.size();
    for (std::size_t e = 0; e < cols; ++e) {
      double x = point[a].data[e];
      double h = 1e-5 * std::max(1.0, std::fabs(x));
      Point plus = point, minus = point;
      plus[a].data[e] = x + h;
      minus[a].data[e] = x - h;
      auto gp = gradient(f, wrt, plus, {}, Derivative::Reverse);
      auto gm = gradient(f, wrt, minus, {}, Derivative::Reverse);
      if (!gp || !gm)
        return false;
      double step = plus[a].data[e] - minus[a].data[e];
      for (std::size_t ka = 0; ka < wrt.size(); ++ka) {
        const HessianBlock &block = byMode[0][ka * wrt.size() + kb];
        for (std::size_t r = 0; r < (*gp)[ka].value.data.size(); ++r) {
          double fd = ((*gp)[ka].value.data[r] - (*gm)[ka].value.data[r]) / step;
          double an = block.value.data[r * cols + e];
          if (!closeTo(an, fd, 1e-4)) {
            ADD_FAILURE() << "H[" << block.a << "][" << block.b << "] entry (" << r << ", " << e
                          << ") = " << an << " but central differences of the gradient give " << fd
                          << "\n"
                          << trace();
            ok = false;
          }
        }
      }
    }
  }
  return ok;
}

Expected<Module> compile(const std::string &text) {
  return compileSource(SourceFile("random.nabla", text));
}

// ----- scalar programs --------------------------------------------------------------------------

/// Random scalar expressions over every elementwise op, built to stay in the ops' domains: the
/// argument of log, sqrt, lgamma, ... is made positive, that of tan and exp bounded.
class ScalarGenerator {
public:
  /// Expressions of at most `budget` operations over `leaves` (variables and bound names).
  ScalarGenerator(Rng &rng, std::vector<std::string> leaves, int budget)
      : rng_(rng), leaves_(std::move(leaves)), budget_(budget) {}

  std::string expr(int depth) {
    if (depth <= 0 || --budget_ < 0 || (depth <= 2 && chance(rng_, 0.2)))
      return leaf();
    int d = depth - 1;
    switch (uniformInt(rng_, 0, 48)) {
    case 0:
    case 1:
      return "(" + expr(d) + " + " + expr(d) + ")";
    case 2:
    case 3:
      return "(" + expr(d) + " - " + expr(d) + ")";
    case 4:
    case 5:
      return "(" + expr(d) + " * " + expr(d) + ")";
    case 6:
      return "(" + expr(d) + " / " + positive(d) + ")";
    case 7:
      return "-(" + expr(d) + ")";
    case 8:
      return fill("{}({})", {pick(rng_, kSmooth), expr(d)});
    case 9:
      return fill("{}({})", {pick(rng_, kSmooth), expr(d)});
    case 10:
      return fill("{}({})", {pick(rng_, kKinked), expr(d)});
    case 11:
      return pick(rng_, kLeaky) + "(" + expr(d) + pick(rng_, kLeakyArgs) + ")";
    case 12:
      return "hardtanh(" + expr(d) + pick(rng_, kHardtanhArgs) + ")";
    case 13:
      return "swish(" + expr(d) + pick(rng_, kSwishArgs) + ")";
    case 14:
      return "exp(" + bounded(d) + ")";
    case 15:
      return "exp(2*" + bounded(d) + ")";
    case 16:
      return pick(rng_, std::vector<std::string>{"log", "ln"}) + "(" + positive(d) + ")";
    case 17:
      return "sqrt(" + positive(d) + ")";
    case 18:
      return "log1p(" + positive(d) + ")";
    case 19:
      return "log1p(0.5*" + bounded(d) + ")";
    case 20:
      return "expm1(" + bounded(d) + ")";
    case 21:
      return "tan(" + bounded(d) + ")";
    case 22:
      return "lgamma(" + positive(d) + ")";
    case 23:
      return "digamma(" + positive(d) + " + 0.3)";
    case 24:
      return "trigamma(" + positive(d) + " + 0.3)";
    case 25:
      return fill("polygamma({}, {} + 0.5)", {std::to_string(uniformInt(rng_, 0, 3)), positive(d)});
    case 26:
      return "pow(" + positive(d) + ", " + bounded(d) + ")";
    case 27:
      return positive(d) + "^" + bounded(d);
    case 28:
      return "(" + expr(d) + ")^" + pick(rng_, std::vector<std::string>{"2", "3", "4"});
    case 29:
      return positive(d) + "^" +
             pick(rng_, std::vector<std::string>{"-1", "-2", "-0.5", "0.5", "1.5", "(-1.5)"});
    case 30:
      return "pow(" + expr(d) + ", " + pick(rng_, std::vector<std::string>{"2", "3"}) + ")";
    case 31:
    case 32:
      return fill("{}({}, {})",
                  {pick(rng_, std::vector<std::string>{"max", "min"}), expr(d), expr(d)});
    case 33:
    case 34:
      return fill("where({} {} {}, {}, {})",
                  {expr(d), pick(rng_, kCompare), expr(d), expr(d), expr(d)});
    case 35:
      return fill("(({} {} {}) * {})", {expr(d), pick(rng_, kCompare), expr(d), expr(d)});
    case 36:
      return "gelu(" + expr(d) + ")";
    case 37:
      return "(" + pick(rng_, kConstants) + " * " + expr(d) + ")";
    case 38:
      return "(" + expr(d) + " + " + pick(rng_, kConstants) + ")";
    case 39:
      return "-" + expr(d) + "^2"; // -(a^2): precedence of unary minus and ^
    case 40:
      return expr(d) + " * " + expr(d) + " - " + expr(d) + " / " + positive(d); // precedence
    case 41:
      return "erf(" + expr(d) + ")";
    case 42:
      return "sign(" + expr(d) + ") * " + expr(d);
    case 43:
      return "abs(" + expr(d) + ")";
    case 44: { // powers of one base, which the simplifier merges: p^a * p^b, p^a / p^b
      std::string p = positive(d);
      return fill("({}^{} {} {}^{})",
                  {p, pick(rng_, kExponents), uniformInt(rng_, 0, 1) ? "*" : "/", p,
                   pick(rng_, kExponents)});
    }
    case 45: {
      std::string e = expr(d);
      return fill("({} * {} - {})", {e, e, e}); // like terms and x*x
    }
    case 46:
    case 47: { // a where whose branch not taken is NaN or infinite at about half the points
      static const std::vector<std::string> kSingular = {
          "log({})",     "sqrt({})",      "lgamma({})", "1 / ({})",
          "digamma({})", "log1p({} - 1)", "({})^0.5",   "tan({} * 1.5707963267948966)"};
      std::string e = expr(d), c = pick(rng_, std::vector<std::string>{"0", "0.5", "-0.25"});
      std::string singular = fill(pick(rng_, kSingular), {"(" + e + " - " + c + ")"});
      if (chance(rng_, 0.5))
        return fill("where({} > {}, {}, {})", {e, c, singular, expr(d)});
      return fill("where({} <= {}, {}, {})", {e, c, expr(d), singular});
    }
    default:
      return "relu(" + expr(d) + ")";
    }
  }

private:
  std::string leaf() {
    if (chance(rng_, 0.2))
      return pick(rng_, kConstants);
    return pick(rng_, leaves_);
  }
  /// A value in [-1, 1].
  std::string bounded(int d) {
    return fill("{}({})", {pick(rng_, std::vector<std::string>{"tanh", "sin", "cos", "sigmoid",
                                                               "erf", "hardtanh", "logistic"}),
                           expr(d)});
  }
  /// A value of at least 0.1.
  std::string positive(int d) {
    switch (uniformInt(rng_, 0, 5)) {
    case 0:
      return "(softplus(" + expr(d) + ") + 0.1)";
    case 1:
      return "exp(" + bounded(d) + ")";
    case 2:
      return "(1 + sigmoid(" + expr(d) + "))";
    case 3:
      return "((" + expr(d) + ")^2 + 0.5)";
    case 4:
      return "(abs(" + expr(d) + ") + 0.2)";
    default:
      return "(2 + sin(" + expr(d) + "))";
    }
  }

  inline static const std::vector<std::string> kSmooth = {
      "sin", "cos", "tanh", "erf", "sigmoid", "logistic", "softplus", "gelu", "swish"};
  inline static const std::vector<std::string> kKinked = {"abs", "sign", "relu", "leaky_relu",
                                                          "hardtanh"};
  inline static const std::vector<std::string> kLeaky = {"leaky_relu"};
  inline static const std::vector<std::string> kLeakyArgs = {"", ", 0.2", ", alpha=0.1"};
  inline static const std::vector<std::string> kHardtanhArgs = {"", ", -0.5, 2", ", lo=-2, hi=0.5",
                                                                ", hi=3"};
  inline static const std::vector<std::string> kSwishArgs = {"", ", 0.5", ", beta=2"};
  inline static const std::vector<std::string> kExponents = {"2", "3", "0.5", "-1", "1.5"};
  inline static const std::vector<std::string> kCompare = {"<", "<=", ">", ">=", "==", "!="};
  inline static const std::vector<std::string> kConstants = {"0.5", "2",   "1.5",  "3",  "0.25",
                                                             "pi",  ".75", "1e-1", "c1", "c2"};

  Rng &rng_;
  std::vector<std::string> leaves_;
  int budget_;
};

/// Whether `text` uses the name `v` (as a whole identifier, not inside `exp`).
bool mentions(const std::string &text, const std::string &v) {
  auto isName = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (std::size_t at = text.find(v); at != std::string::npos; at = text.find(v, at + 1))
    if ((at == 0 || !isName(text[at - 1])) &&
        (at + v.size() == text.size() || !isName(text[at + v.size()])))
      return true;
  return false;
}

struct ScalarProgram {
  std::string source;
  std::string params; // "x, y, z"
};

ScalarProgram scalarProgram(Rng &rng) {
  static const std::vector<std::string> kVars = {"x", "y", "z", "w"};
  int nvars = uniformInt(rng, 2, 4);
  std::vector<std::string> vars(kVars.begin(), kVars.begin() + nvars);
  std::string params = fmt::format("{}", fmt::join(vars, ", "));
  std::string text = fmt::format("let c1 = {}\nlet c2 = -{}\n", uniformInt(rng, 1, 9) / 4.0,
                                 uniformInt(rng, 1, 9) / 8.0);
  std::vector<std::string> leaves = vars;
  // Sometimes a helper function, inlined where it is called.
  bool helper = chance(rng, 0.25);
  if (helper) {
    ScalarGenerator hg(rng, {"p", "q"}, 6);
    text += "fn h(p, q) = " + hg.expr(3) + "\n";
  }
  // Every variable appears: a term that names it is added where the expression does not.
  auto mentionAll = [&](std::string body, ScalarGenerator &g) {
    for (const std::string &v : vars)
      if (!mentions(body, v))
        body = fmt::format("({}) {} {}", body, pick(rng, std::vector<std::string>{"+", "*", "-"}),
                           fill(pick(rng, std::vector<std::string>{"{}", "sin({} * {})", "{} * {}",
                                                                   "tanh({} - {})"}),
                                {v, g.expr(1)}));
    return body;
  };
  int depth = uniformInt(rng, 3, 5);
  int budget = uniformInt(rng, 8, 30);
  if (chance(rng, 0.35)) { // a block with bindings
    text += "fn f(" + params + ") {\n";
    int bindings = uniformInt(rng, 1, 3);
    for (int i = 1; i <= bindings; ++i) {
      ScalarGenerator g(rng, leaves, budget / 2);
      text += fmt::format("  u{} = {}\n", i, g.expr(depth - 1));
      leaves.push_back(fmt::format("u{}", i));
    }
    ScalarGenerator g(rng, leaves, budget);
    std::string body = g.expr(depth);
    if (helper)
      body = fmt::format("h({}, {}) + {}", pick(rng, leaves), pick(rng, leaves), body);
    text += "  return " + mentionAll(body, g) + "\n}\n";
  } else {
    ScalarGenerator g(rng, leaves, budget);
    std::string body = g.expr(depth);
    if (helper)
      body = fmt::format("h({}, {}) * {}", g.expr(1), pick(rng, leaves), body);
    text += "fn f(" + params + ") = " + mentionAll(body, g) + "\n";
  }
  return {text, params};
}

/// Every symbolic partial derivative, printed, parses back as the body of `fn d(PARAMS)` and gives
/// the same numbers as the gradient.
bool checkPrintedDerivatives(const Function &f, const Point &point, const std::string &params,
                             const std::string &source, std::uint64_t seed, Stats &stats) {
  std::vector<ValueId> wrt = f.arguments();
  auto reverse = gradient(f, wrt, point, {}, Derivative::Reverse);
  if (!reverse)
    return false; // reported by checkGradients
  bool ok = true;
  for (std::size_t k = 0; k < wrt.size(); ++k) {
    Function d = symbolicDerivative(f, {wrt[k]});
    auto text = printInfix(d);
    if (!text) {
      ADD_FAILURE() << "printInfix: " << text.error().render() << "program seed " << seed << ":\n"
                    << source;
      return false;
    }
    std::string fn = text->front() == '{' ? fmt::format("fn d({}) {}\n", params, *text)
                                          : fmt::format("fn d({}) = {}\n", params, *text);
    auto m = compile(fn);
    if (!m) {
      ADD_FAILURE() << "the printed derivative does not compile: " << m.error().render() << fn
                    << "program seed " << seed << ":\n"
                    << source;
      ok = false;
      continue;
    }
    auto value = interpret(m->functions.at(0), point);
    if (!value) {
      ADD_FAILURE() << value.error().render() << fn << "program seed " << seed << ":\n" << source;
      ok = false;
      continue;
    }
    ++stats.printedBack;
    stats.printedBlocks += text->front() == '{' ? 1 : 0;
    double printed = value->result.data[0], expected = (*reverse)[k].value.data[0];
    if (!closeTo(printed, expected, 1e-10)) {
      ADD_FAILURE() << "d/d" << (*reverse)[k].name << ": printed derivative gives " << printed
                    << ", reverse mode " << expected << "\n"
                    << fn << "program seed " << seed << " (NABLA_SEED=" << seed
                    << " runs it first):\n"
                    << source;
      ok = false;
    }
  }
  return ok;
}

Point scalarPoint(const Function &f, Rng &rng) {
  Point p;
  for (std::size_t i = 0; i < f.arguments().size(); ++i)
    p.push_back(Tensor::scalar(uniformReal(rng, -2, 2)));
  return p;
}

// ----- tensor programs --------------------------------------------------------------------------

using Dims = std::vector<std::int64_t>;

std::string dimsText(const Dims &s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

std::optional<Dims> broadcastDims(const Dims &a, const Dims &b) {
  std::size_t r = std::max(a.size(), b.size());
  Dims out(r);
  for (std::size_t i = 0; i < r; ++i) {
    std::int64_t x = i < r - a.size() ? 1 : a[i - (r - a.size())];
    std::int64_t y = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (x != y && x != 1 && y != 1)
      return std::nullopt;
    out[i] = std::max(x, y);
  }
  return out;
}

std::int64_t elements(const Dims &s) {
  std::int64_t n = 1;
  for (std::int64_t d : s)
    n *= d;
  return n;
}

struct Term {
  std::string name;
  Dims shape;
};

/// A small tensor program: typed float params, i32 index params, and a block of bindings, each a
/// tensor op on earlier values, ending in a scalar.
class TensorGenerator {
public:
  explicit TensorGenerator(Rng &rng) : rng_(rng) {}

  std::string program() {
    static const std::vector<std::string> kNames = {"A", "B", "C", "D"};
    int nparams = uniformInt(rng_, 2, 4);
    for (int i = 0; i < nparams; ++i) {
      Dims shape;
      int rank = uniformInt(rng_, 0, 10) == 0 ? 0 : uniformInt(rng_, 1, 3);
      for (int d = 0; d < rank; ++d)
        shape.push_back(uniformInt(rng_, 2, 3));
      pool_.push_back({kNames[static_cast<std::size_t>(i)], shape});
      const std::string &name = kNames[static_cast<std::size_t>(i)];
      params_.push_back(rank == 0 ? fmt::format("{}: f64", name)
                                  : fmt::format("{}: f64{}", name, dimsText(shape)));
    }
    int steps = uniformInt(rng_, 3, 8);
    for (int s = 0; s < steps; ++s)
      for (int attempt = 0; attempt < 20; ++attempt)
        if (auto t = step()) {
          std::string name = fmt::format("t{}", ++bound_);
          lines_.push_back(fmt::format("  {} = {}", name, t->name));
          pool_.push_back({name, t->shape});
          break;
        }
    // The result: the last value made scalar, plus sometimes another one.
    std::string result = scalarize(pool_.back());
    for (int extra = uniformInt(rng_, 0, 2); extra > 0; --extra)
      result +=
          pick(rng_, std::vector<std::string>{" + ", " - ", " * "}) + scalarize(pick(rng_, pool_));
    if (ids_)
      params_.push_back("ids: i32[3]");
    if (labels2_)
      params_.push_back("y2: i32[2]");
    if (labels3_)
      params_.push_back("y3: i32[3]");
    if (index_)
      params_.push_back("i: i32");
    std::string text = fmt::format("fn f({}) -> f64 {{\n", fmt::join(params_, ", "));
    for (const std::string &l : lines_)
      text += l + "\n";
    return text + "  return " + result + "\n}\n";
  }

  /// Values for the i32 params (all valid indices of any axis of size 2 or 3).
  static Tensor intValues(const std::string &name, Rng &rng) {
    if (name == "i")
      return Tensor::scalar(uniformInt(rng, -2, 1), DType::I32);
    Tensor t(DType::I32, {name == "y2" ? 2 : 3});
    for (double &v : t.data)
      v = name == "ids" ? uniformInt(rng, -2, 1) : uniformInt(rng, 0, 1);
    return t;
  }

private:
  Term &operand() {
    // Recent values are likelier, so that programs grow deep rather than wide.
    if (chance(rng_, 0.5))
      return pool_.back();
    return pool_[static_cast<std::size_t>(uniformInt(rng_, 0, static_cast<int>(pool_.size()) - 1))];
  }

  Term *withShape(const std::function<bool(const Dims &)> &fits) {
    std::vector<Term *> found;
    for (Term &t : pool_)
      if (fits(t.shape))
        found.push_back(&t);
    if (found.empty())
      return nullptr;
    return pick(rng_, found);
  }

  std::optional<Term> step() {
    Term t = operand();
    const Dims &s = t.shape;
    const std::string &x = t.name;
    auto r = static_cast<int>(s.size());
    switch (uniformInt(rng_, 0, 19)) {
    case 0: { // elementwise unary
      static const std::vector<std::string> kUnary = {"sin({})",
                                                      "cos({})",
                                                      "tanh({})",
                                                      "sigmoid({})",
                                                      "gelu({})",
                                                      "swish({})",
                                                      "softplus({})",
                                                      "exp(tanh({}))",
                                                      "log(softplus({}) + 0.5)",
                                                      "sqrt(softplus({}) + 0.1)",
                                                      "abs({})",
                                                      "relu({})",
                                                      "leaky_relu({}, 0.1)",
                                                      "hardtanh({}, -0.5, 0.5)",
                                                      "erf({})",
                                                      "({})^2",
                                                      "-{}",
                                                      "2*{} - 1",
                                                      "{} / 3",
                                                      "bce_with_logits({}, 0.3)",
                                                      "binary_cross_entropy(sigmoid({}), 0.7)"};
      std::string f = pick(rng_, kUnary);
      return Term{fill(f, std::vector<std::string>(4, x)), s};
    }
    case 1:
    case 2: { // elementwise binary, broadcasting
      Term *u = withShape([&](const Dims &o) { return broadcastDims(s, o).has_value(); });
      if (!u)
        return std::nullopt;
      static const std::vector<std::string> kBinary = {"{} + {}",
                                                       "{} - {}",
                                                       "{} * {}",
                                                       "{} / (softplus({}) + 0.5)",
                                                       "max({}, {})",
                                                       "min({}, {})",
                                                       "pow(softplus({}) + 0.5, tanh({}))",
                                                       "where({} > {}, {}, -{})",
                                                       "({} > {}) * {}"};
      std::string f = pick(rng_, kBinary);
      std::vector<std::string> args = {x, u->name, x, u->name};
      if (f == "where({} > {}, {}, -{})")
        args = {x, u->name, u->name, x};
      if (f == "({} > {}) * {}")
        args = {x, u->name, u->name};
      auto shape = *broadcastDims(s, u->shape);
      return Term{fill(f, args), shape};
    }
    case 3: { // matmul in its forms
      if (r == 0)
        return std::nullopt;
      // numpy's matmul: vectors get a unit axis (dropped again), batch axes broadcast.
      auto product = [&](const Dims &o) -> std::optional<Dims> {
        if (o.empty())
          return std::nullopt;
        Dims a = s, b = o;
        bool vecA = a.size() == 1, vecB = b.size() == 1;
        if (vecA)
          a.insert(a.begin(), 1);
        if (vecB)
          b.push_back(1);
        if (a.back() != b[b.size() - 2])
          return std::nullopt;
        auto out = broadcastDims(Dims(a.begin(), a.end() - 2), Dims(b.begin(), b.end() - 2));
        if (!out)
          return std::nullopt;
        if (!vecA)
          out->push_back(a[a.size() - 2]);
        if (!vecB)
          out->push_back(b.back());
        return out;
      };
      Term *u = withShape([&](const Dims &o) { return product(o).has_value(); });
      if (!u)
        return std::nullopt;
      Dims out = *product(u->shape);
      if (s.size() == 1 && u->shape.size() == 1 && chance(rng_, 0.5))
        return Term{fmt::format("dot({}, {})", x, u->name), out};
      return Term{fmt::format("{} @ {}", x, u->name), out};
    }
    case 4: { // x @ u.T, outer
      if (r == 1) {
        Term *u = withShape([](const Dims &o) { return o.size() == 1; });
        return Term{fmt::format("outer({}, {})", x, u->name), Dims{s[0], u->shape[0]}};
      }
      if (r != 2)
        return std::nullopt;
      Term *u = withShape([&](const Dims &o) { return o.size() == 2 && o[1] == s[1]; });
      if (!u)
        return std::nullopt;
      return Term{fmt::format("{} @ {}.T", x, u->name), Dims{s[0], u->shape[0]}};
    }
    case 5:
    case 6: { // reductions with an axis
      if (r == 0)
        return std::nullopt;
      static const std::vector<std::string> kReduce = {"sum", "mean",      "max",
                                                       "min", "logsumexp", "norm"};
      int axis = uniformInt(rng_, -r, r - 1);
      Dims out = s;
      out.erase(out.begin() + (axis < 0 ? axis + r : axis));
      std::string f = pick(rng_, kReduce);
      if (chance(rng_, 0.3) && f != "max" && f != "min") // max(x, 1) is the binary max
        return Term{fmt::format("{}({}, {})", f, x, axis), out};
      return Term{fmt::format("{}({}, axis={})", f, x, axis), out};
    }
    case 7: { // softmax, log_softmax
      if (r == 0)
        return std::nullopt;
      std::string f = chance(rng_, 0.5) ? "softmax" : "log_softmax";
      if (chance(rng_, 0.4))
        return Term{fmt::format("{}({})", f, x), s};
      return Term{fmt::format("{}({}, axis={})", f, x, uniformInt(rng_, -r, r - 1)), s};
    }
    case 8: { // transposes
      if (r < 2)
        return std::nullopt;
      Dims rev(s.rbegin(), s.rend());
      if (r == 3 && chance(rng_, 0.5)) {
        std::vector<std::int64_t> perm = {0, 1, 2};
        std::shuffle(perm.begin(), perm.end(), rng_);
        Dims out;
        for (std::int64_t p : perm)
          out.push_back(s[static_cast<std::size_t>(p)]);
        return Term{fmt::format("transpose({}, {})", x, dimsText(perm)), out};
      }
      return Term{chance(rng_, 0.5) ? x + ".T" : "transpose(" + x + ")", rev};
    }
    case 9: { // reshape, flatten
      if (r == 0)
        return std::nullopt;
      std::int64_t n = elements(s);
      if (chance(rng_, 0.3))
        return Term{"flatten(" + x + ")", Dims{n}};
      std::vector<Dims> shapes = {{n}, {1, n}, {n, 1}};
      for (std::int64_t a = 2; a < n; ++a)
        if (n % a == 0) {
          shapes.push_back({a, n / a});
          shapes.push_back({a, 1, n / a});
        }
      Dims to = pick(rng_, shapes);
      return Term{fmt::format("reshape({}, {})", x, dimsText(to)), to};
    }
    case 10: { // static indexing and slices
      if (r == 0 || (r >= 2 && s[1] < 2))
        return std::nullopt;
      std::int64_t d0 = s[0];
      std::int64_t lo = uniformInt(rng_, 0, static_cast<int>(d0) - 1);
      std::int64_t hi = uniformInt(rng_, static_cast<int>(lo) + 1, static_cast<int>(d0));
      Dims rest(s.begin() + 1, s.end());
      switch (uniformInt(rng_, 0, r >= 2 ? 4 : 1)) {
      case 0:
        return Term{fmt::format("{}[{}]", x, lo), rest};
      case 1: {
        Dims out = rest;
        out.insert(out.begin(), hi - lo);
        return Term{fmt::format("{}[{}:{}]", x, lo, hi), out};
      }
      case 2: {
        Dims out = s;
        out.erase(out.begin() + 1);
        return Term{fmt::format("{}[:, {}]", x, uniformInt(rng_, 0, static_cast<int>(s[1]) - 1)),
                    out};
      }
      case 3: {
        Dims out(s.begin() + 2, s.end());
        return Term{fmt::format("{}[{}, -1]", x, lo), out};
      }
      default: {
        Dims out = s;
        out[1] = 1;
        return Term{fmt::format("{}[:, 1:2]", x), out};
      }
      }
    }
    case 11: { // gather E[ids], E[i], take (the indices are valid for axes of 2 or more)
      if (r == 0 || std::find(s.begin(), s.end(), 1) != s.end())
        return std::nullopt;
      Dims rest(s.begin() + 1, s.end());
      switch (uniformInt(rng_, 0, 3)) {
      case 0: {
        ids_ = true;
        Dims out = rest;
        out.insert(out.begin(), 3);
        return Term{fmt::format("{}[ids]", x), out};
      }
      case 1:
        index_ = true;
        return Term{fmt::format("{}[i]", x), rest};
      case 2: {
        Dims out = rest;
        out.insert(out.begin(), {2, 2});
        return Term{fmt::format("{}[[[0, 1], [1, 1]]]", x), out};
      }
      default: {
        ids_ = true;
        int axis = uniformInt(rng_, 0, r - 1);
        Dims out = s;
        out[static_cast<std::size_t>(axis)] = 3;
        return Term{fmt::format("take({}, ids, axis={})", x, axis), out};
      }
      }
    }
    case 12: { // take_along with a literal index array
      if (r == 0 || r > 2)
        return std::nullopt;
      int axis = uniformInt(rng_, 0, r - 1);
      Dims shape = s;
      shape[static_cast<std::size_t>(axis)] = uniformInt(rng_, 1, 3);
      std::int64_t extent = s[static_cast<std::size_t>(axis)];
      auto entry = [&] {
        return std::to_string(uniformInt(rng_, 0, static_cast<int>(extent) - 1));
      };
      std::string lit;
      if (r == 1) {
        std::vector<std::string> v;
        for (std::int64_t i = 0; i < shape[0]; ++i)
          v.push_back(entry());
        lit = fmt::format("[{}]", fmt::join(v, ", "));
      } else {
        std::vector<std::string> rows;
        for (std::int64_t i = 0; i < shape[0]; ++i) {
          std::vector<std::string> v;
          for (std::int64_t j = 0; j < shape[1]; ++j)
            v.push_back(entry());
          rows.push_back(fmt::format("[{}]", fmt::join(v, ", ")));
        }
        lit = fmt::format("[{}]", fmt::join(rows, ", "));
      }
      return Term{fmt::format("take_along({}, {}, axis={})", x, lit, axis), shape};
    }
    case 13: { // concat, stack
      if (r == 0)
        return std::nullopt;
      if (chance(rng_, 0.5)) {
        int axis = uniformInt(rng_, 0, r);
        Term *u = withShape([&](const Dims &o) { return o == s; });
        Dims out = s;
        out.insert(out.begin() + axis, 2);
        return Term{fmt::format("stack({}, {}, axis={})", x, u->name, axis), out};
      }
      int axis = uniformInt(rng_, 0, r - 1);
      auto a = static_cast<std::size_t>(axis);
      Term *u = withShape([&](const Dims &o) {
        if (o.size() != s.size())
          return false;
        for (std::size_t d = 0; d < o.size(); ++d)
          if (d != a && o[d] != s[d])
            return false;
        return true;
      });
      Dims out = s;
      out[a] += u->shape[a] + s[a];
      return Term{fmt::format("concat({}, {}, tanh({}), axis={})", x, u->name, x, axis), out};
    }
    case 14: { // diag, lower
      if (r == 0 || r > 2)
        return std::nullopt;
      std::int64_t n = s.back();
      if (chance(rng_, 0.5) || (n != 1 && n != 3)) {
        Dims out = s;
        out.push_back(n);
        return Term{fmt::format("diag({})", x), out};
      }
      std::int64_t size = n == 1 ? 2 : 3;
      Dims out = s;
      out.back() = size;
      out.push_back(size);
      return Term{fmt::format("lower({}, {})", x, size), out};
    }
    case 15: { // cross_entropy, per example or for one vector
      if (r == 2 && (s[0] == 2 || s[0] == 3) && s[1] >= 2) {
        if (s[0] == 2)
          labels2_ = true;
        else
          labels3_ = true;
        return Term{fmt::format("cross_entropy({}, y{})", x, s[0]), Dims{s[0]}};
      }
      if (r == 1 && s[0] >= 2)
        return Term{fmt::format("cross_entropy({}, 1)", x), Dims{}};
      return std::nullopt;
    }
    case 16: { // mse, mae
      Term *u = withShape([&](const Dims &o) { return o == s; });
      return Term{fmt::format("{}({}, {})", chance(rng_, 0.7) ? "mse" : "mae", x, u->name), Dims{}};
    }
    case 17: { // where with a broadcast scalar branch
      return Term{fmt::format("where({} > 0.2, {}, 0.5 * {})", x, x, x), s};
    }
    case 18: { // eye as a mask in arithmetic
      if (r != 2 || s[0] != s[1])
        return std::nullopt;
      return Term{fmt::format("{} * eye({}) + {}", x, s[0], x), s};
    }
    default: { // a scalar reduction broadcast back
      return Term{fmt::format("{} - mean({})", x, x), s};
    }
    }
  }

  std::string scalarize(const Term &t) {
    if (t.shape.empty())
      return t.name;
    if (t.shape.size() == 1 && chance(rng_, 0.2))
      return fmt::format("{} @ {}", t.name, t.name);
    static const std::vector<std::string> kReduce = {"sum",  "mean", "logsumexp",
                                                     "norm", "max",  "min"};
    return fmt::format("{}({})", pick(rng_, kReduce), t.name);
  }

  Rng &rng_;
  std::vector<Term> pool_;
  std::vector<std::string> params_;
  std::vector<std::string> lines_;
  int bound_ = 0;
  bool ids_ = false, labels2_ = false, labels3_ = false, index_ = false;
};

/// The same program in f32 (every f64 in its text replaced): the gradient in every mode agrees
/// with the f64 gradient at the same (f32-representable) point, to f32 accuracy.
bool checkInF32(const Function &f64fn, const Point &point, const std::string &source,
                std::uint64_t seed, Stats &stats) {
  std::string text = source;
  for (std::size_t at; (at = text.find("f64")) != std::string::npos;)
    text.replace(at, 3, "f32");
  auto trace = [&] {
    return fmt::format("program seed {} (NABLA_SEED={} runs it first), in f32:\n{}", seed, seed,
                       text);
  };
  auto m = compile(text);
  if (!m) {
    ADD_FAILURE() << "does not compile in f32: " << m.error().render() << trace();
    return false;
  }
  const Function &f = *m->find("f");
  Point p32 = point, p64 = point;
  for (std::size_t i = 0; i < point.size(); ++i)
    if (point[i].dtype == DType::F64) {
      p32[i].dtype = DType::F32;
      p32[i].roundToDType();
      p64[i].data = p32[i].data;
    }
  auto values = interpretAll(f64fn, p64);
  if (!values || nearKinkOrEdge(f64fn, *values, 1e-3))
    return true; // rounding moved the point next to a kink: nothing to compare
  std::vector<ValueId> wrt = *selectArguments(f, {});
  auto want = gradient(f64fn, *selectArguments(f64fn, {}), p64, {},
                       Derivative::Reverse);
  if (!want)
    return false;
  ++stats.inF32;
  bool ok = true;
  for (Derivative mode : {Derivative::Reverse, Derivative::Forward, Derivative::Symbolic}) {
    auto g = gradient(f, wrt, p32, {}, mode);
    if (!g) {
      ADD_FAILURE() << derivativeName(mode) << ": " << g.error().render() << trace();
      return false;
    }
    for (std::size_t k = 0; k < wrt.size(); ++k) {
      double scale = 1;
      for (double v : (*want)[k].value.data)
        scale = std::max(scale, std::fabs(v));
      for (std::size_t i = 0; i < (*g)[k].value.data.size(); ++i) {
        double got = (*g)[k].value.data[i], expected = (*want)[k].value.data[i];
        if (!(std::fabs(got - expected) <= 1e-3 * scale)) {
          ADD_FAILURE() << "d/d" << (*g)[k].name << "[" << i << "] in f32, " << derivativeName(mode)
                        << ": " << got << ", in f64: " << expected << "\n"
                        << trace();
          ok = false;
        }
      }
    }
  }
  return ok;
}

Point tensorPoint(const Function &f, Rng &rng) {
  Point p;
  for (ValueId a : f.arguments()) {
    const Inst &arg = f.inst(a);
    if (arg.type.dtype == DType::I32) {
      p.push_back(TensorGenerator::intValues(arg.stringAttr("name"), rng));
      continue;
    }
    std::vector<std::int64_t> shape;
    for (const Dim &d : arg.type.shape)
      shape.push_back(d.constant());
    Tensor t(DType::F64, shape);
    for (double &v : t.data)
      v = uniformReal(rng, -1.5, 1.5);
    p.push_back(std::move(t));
  }
  return p;
}

int programCount(const char *env, int fallback) {
  if (const char *v = std::getenv(env))
    return std::atoi(v);
  return fallback;
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ----- the tests --------------------------------------------------------------------------------

TEST(RandomPrograms, ScalarExpressionsOverEveryElementwiseOp) {
  auto t0 = std::chrono::steady_clock::now();
  std::uint64_t base = baseSeed(20260101);
  const int wanted = programCount("NABLA_SCALAR_PROGRAMS", 2000);
  Stats stats;
  int failures = 0;
  for (std::uint64_t seed = base; stats.programs < wanted && failures < 10; ++seed) {
    Rng rng(seed);
    ScalarProgram p = scalarProgram(rng);
    if (std::getenv("NABLA_DEBUG_PROGRAMS"))
      std::fprintf(stderr, "seed %llu:\n%s", static_cast<unsigned long long>(seed),
                   p.source.c_str());
    auto m = compile(p.source);
    if (!m) {
      ADD_FAILURE() << "does not compile: " << m.error().render() << "program seed " << seed
                    << ":\n"
                    << p.source;
      ++failures;
      continue;
    }
    const Function &f = *m->find("f");
    auto point = drawPoint(
        f, rng, [&](Rng &r) { return scalarPoint(f, r); }, 20);
    if (!point) {
      ++stats.rejected;
      continue;
    }
    ++stats.programs;
    if (auto values = interpretAll(f, *point)) {
      std::vector<bool> live = liveValues(f, *values);
      bool hidden = false;
      for (std::size_t v = 0; v < live.size(); ++v)
        hidden = hidden || (!live[v] && !std::isfinite((*values)[v].data[0]));
      stats.nanNotTaken += hidden ? 1 : 0;
    }
    bool ok = checkGradients(f, *point, p.source, seed, stats);
    ok = checkPrintedDerivatives(f, *point, p.params, p.source, seed, stats) && ok;
    if (stats.programs % 4 == 0)
      ok = checkHessians(f, *point, p.source, seed, stats) && ok;
    if (stats.programs % jitEvery() == 0)
      ok = checkJit(f, *point, p.source, seed, rng, stats) && ok;
    failures += ok ? 0 : 1;
  }
  EXPECT_EQ(stats.programs, wanted);
  std::printf("[ scalar   ] %d programs (%d rejected: no point away from kinks), %d gradient "
              "entries, %d printed derivatives parsed back (%d of them blocks), %.1f s\n",
              stats.programs, stats.rejected, stats.gradientEntries, stats.printedBack,
              stats.printedBlocks, secondsSince(t0));
  std::printf("[ scalar   ] %d of them with Hessians in every mode, %d with a NaN or infinity in "
              "a where's branch not taken, %d also compiled (value and three derivative "
              "functions) against the interpreter\n",
              stats.hessians, stats.nanNotTaken, stats.jitChecked);
  EXPECT_GT(stats.printedBlocks, 0); // both printed forms were exercised
}

TEST(RandomPrograms, TensorPrograms) {
  auto t0 = std::chrono::steady_clock::now();
  std::uint64_t base = baseSeed(20260202);
  const int wanted = programCount("NABLA_TENSOR_PROGRAMS", 1000);
  Stats stats;
  int failures = 0;
  for (std::uint64_t seed = base; stats.programs < wanted && failures < 10; ++seed) {
    Rng rng(seed);
    std::string source = TensorGenerator(rng).program();
    if (std::getenv("NABLA_DEBUG_PROGRAMS"))
      std::fprintf(stderr, "seed %llu:\n%s", static_cast<unsigned long long>(seed), source.c_str());
    auto m = compile(source);
    if (!m) {
      ADD_FAILURE() << "does not compile: " << m.error().render() << "program seed " << seed
                    << ":\n"
                    << source;
      ++failures;
      continue;
    }
    const Function &f = *m->find("f");
    auto point = drawPoint(
        f, rng, [&](Rng &r) { return tensorPoint(f, r); }, 20);
    if (!point) {
      ++stats.rejected;
      continue;
    }
    ++stats.programs;
    bool ok = checkGradients(f, *point, source, seed, stats);
    std::size_t entries = 0;
    for (const Tensor &t : *point)
      entries += t.dtype == DType::F64 ? t.data.size() : 0;
    if (stats.programs % 5 == 0 && entries <= 24)
      ok = checkHessians(f, *point, source, seed, stats) && ok;
    if (stats.programs % 3 == 0)
      ok = checkInF32(f, *point, source, seed, stats) && ok;
    if (stats.programs % jitEvery() == 0)
      ok = checkJit(f, *point, source, seed, rng, stats) && ok;
    failures += ok ? 0 : 1;
  }
  EXPECT_EQ(stats.programs, wanted);
  std::printf("[ tensor   ] %d programs (%d rejected: no point away from kinks), %d gradient "
              "entries, %d Hessians, %d also in f32, %d also compiled, %.1f s\n",
              stats.programs, stats.rejected, stats.gradientEntries, stats.hessians, stats.inF32,
              stats.jitChecked, secondsSince(t0));
}

// ----- no expression swell -------------------------------------------------------------------

/// The instructions of `g` that compute something (arguments and constants excluded).
std::size_t operations(const Function &g) {
  std::size_t n = 0;
  for (const Inst &inst : g.insts)
    n += inst.op != Op::Input && inst.op != Op::Param && inst.op != Op::Const ? 1 : 0;
  return n;
}

const Function &compiled(Module &m, const std::string &text) {
  auto r = compile(text);
  EXPECT_TRUE(r) << (r ? "" : r.error().render()) << text;
  m = r ? std::move(*r) : Module{};
  return m.functions.at(0);
}

// The derivative of a product of n factors, and of an n-deep composition, stays O(n) after
// simplification: forward tangents and reverse adjoints share the partial products instead of
// spelling out n copies of n - 1 factors.
TEST(ExpressionSwell, ProductOfManyFactors) {
  std::vector<std::size_t> gradientOps, chainOps, symbolicOps;
  for (int n : {25, 50, 100}) {
    // x1*x2*...*xn: the whole gradient by reverse mode, simplified.
    std::vector<std::string> names, factors;
    for (int i = 1; i <= n; ++i) {
      names.push_back(fmt::format("x{}", i));
      factors.push_back(fmt::format("sin(x + {})", i));
    }
    Module m1, m2;
    const Function &p =
        compiled(m1, fmt::format("fn p({}) = {}\n", fmt::join(names, ", "), fmt::join(names, "*")));
    std::vector<ValueId> wrt = p.arguments();
    Function g = simplify(reverseMode(p, wrt));
    gradientOps.push_back(operations(g));
    // One partial by symbolic differentiation: the product of the other n - 1.
    Function d1 = symbolicDerivative(p, {wrt[static_cast<std::size_t>(n / 2)]});
    EXPECT_LE(operations(d1), static_cast<std::size_t>(n)) << "d/dx" << n / 2 + 1;
    // sin(x + 1) * ... * sin(x + n): d/dx is a sum of n products of n - 1 factors each.
    const Function &q = compiled(m2, fmt::format("fn q(x) = {}\n", fmt::join(factors, " * ")));
    Function dq = symbolicDerivative(q, q.arguments());
    chainOps.push_back(operations(dq));
    EXPECT_LE(operations(g), static_cast<std::size_t>(3 * n)) << n << " factors: gradient";
    EXPECT_LE(operations(dq), static_cast<std::size_t>(7 * n)) << n << " factors of x: d/dx";
    symbolicOps.push_back(operations(symbolicGradient(p, wrt)));
    // And it is right: at x = 0.3 against the reverse-mode derivative.
    std::vector<Tensor> at{Tensor::scalar(0.3)};
    auto viaSymbolic = interpret(dq, at);
    auto viaReverse = gradient(q, q.arguments(), at, {}, Derivative::Reverse);
    ASSERT_TRUE(viaSymbolic && viaReverse);
    EXPECT_NEAR(viaSymbolic->result.data[0], (*viaReverse)[0].value.data[0],
                1e-12 * std::max(1.0, std::fabs((*viaReverse)[0].value.data[0])));
  }
  std::printf("[ swell    ] x1*...*xn, reverse-mode gradient after simplify, for n = 25, 50, 100: "
              "%zu, %zu, %zu operations\n",
              gradientOps[0], gradientOps[1], gradientOps[2]);
  std::printf("[ swell    ] sin(x+1)*...*sin(x+n), symbolic d/dx for n = 25, 50, 100: %zu, %zu, "
              "%zu operations\n",
              chainOps[0], chainOps[1], chainOps[2]);
  std::printf("[ swell    ] x1*...*xn, symbolicGradient (one forward sweep per variable) for n = "
              "25, 50, 100: %zu, %zu, %zu operations\n",
              symbolicOps[0], symbolicOps[1], symbolicOps[2]);
  // Linear: doubling n at most doubles the count (plus a constant).
  EXPECT_LE(gradientOps[2], 2 * gradientOps[1] + 10);
  EXPECT_LE(chainOps[2], 2 * chainOps[1] + 10);
}

TEST(ExpressionSwell, DeepComposition) {
  std::vector<std::size_t> ops, secondOps;
  for (int depth = 1; depth <= 12; ++depth) {
    std::string body = "x";
    for (int i = 0; i < depth; ++i)
      body = "sin(" + body + ")";
    Module m;
    const Function &f = compiled(m, "fn f(x) = " + body + "\n");
    Function d = symbolicDerivative(f, f.arguments());
    Function d2 = symbolicDerivative(f, {f.arguments()[0], f.arguments()[0]});
    ops.push_back(operations(d));
    secondOps.push_back(operations(d2));
    // d/dx = cos(s_{k-1}) * ... * cos(x): the k sines, k cosines and k - 1 products.
    EXPECT_LE(operations(d), static_cast<std::size_t>(3 * depth)) << "depth " << depth;
    EXPECT_LE(operations(d2), static_cast<std::size_t>(8 * depth)) << "depth " << depth;
    auto text = printInfix(d);
    ASSERT_TRUE(text);
    EXPECT_LE(text->size(), static_cast<std::size_t>(40 * depth)) << *text;
  }
  std::printf("[ swell    ] sin(sin(...sin(x))), symbolic d/dx for depth 1..12: %s operations\n",
              fmt::format("{}", fmt::join(ops, ", ")).c_str());
  std::printf("[ swell    ] the same, d2/dx2: %s operations\n",
              fmt::format("{}", fmt::join(secondOps, ", ")).c_str());
}

// ----- regressions found by the generators ------------------------------------------------------

// The simplifier multiplied broadcast constants with the builder, which folds scalars only; the
// unfolded product made `2 (3 x)` -> `(2*3) x` -> `2 (3 x)` loop forever (a tensor program's
// symbolic gradient hung).
TEST(RandomProgramsRegression, SimplifyFoldsTensorConstants) {
  Function f;
  f.name = "f";
  Builder b(f);
  Type t{DType::F64, {Dim(3)}};
  ValueId x = b.input("x", t);
  ValueId prod = b.mul(b.constantLike(2, t), b.mul(b.constantLike(3, t), x));
  f.result = b.reduceSum(prod, {0});
  Function g = simplify(f);
  auto r = interpret(g, {Tensor(DType::F64, {3})});
  ASSERT_TRUE(r);
  // 6 x: one multiplication by one constant.
  std::size_t muls = 0;
  for (const Inst &inst : g.insts)
    muls += inst.op == Op::Mul ? 1 : 0;
  EXPECT_EQ(muls, 1u);
  Module m;
  const Function &p = compiled(m, "fn f(B: f64[3, 3, 2], a) -> f64 = sum(pow(softplus(a) + 0.5, "
                                  "tanh(B)) * 2 * (3 * B))\n");
  EXPECT_GT(operations(symbolicGradient(p, p.arguments())), 0u);
}

} // namespace
} // namespace nabla
