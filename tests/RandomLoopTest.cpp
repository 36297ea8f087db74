// Random looped programs (tests/RandomLoops.h) under every oracle: the printed IR parses back
// to itself; symbolic, forward and reverse gradients agree with each other and with central
// differences; on a sample, Hessians agree across the three modes; the JIT equals the
// interpreter once it compiles loops; and corrupted printed IR never crashes the parser.
//
// Environment: NABLA_RANDOM_LOOPS=N checks N programs (default 500, ~the CI budget; heavier runs
// such as NABLA_RANDOM_LOOPS=20000 are for a soak), NABLA_SEED=S starts at seed S (a failure
// prints the seed, the point and the printed IR: NABLA_SEED=S NABLA_RANDOM_LOOPS=1 reproduces
// it alone), NABLA_LOOP_JIT_EVERY=K compiles every K-th program (default 25).
#include "RandomLoops.h"

#include "codegen/LowerRule.h"
#include "driver/Derivatives.h"
#include "driver/Execute.h"
#include "ir/Interpreter.h"
#include "ir/IrParser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/ForwardMode.h"
#include "passes/ReverseMode.h"
#include "passes/Symbolic.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace nabla {
namespace {

using testing::LoopGenerator;
using testing::LoopGenOptions;
using testing::LoopGenStats;
using testing::LoopProgram;

int envInt(const char *name, int fallback) {
  const char *env = std::getenv(name);
  return env ? std::max(0, std::atoi(env)) : fallback;
}

std::uint64_t baseSeed(std::uint64_t fallback) {
  const char *env = std::getenv("NABLA_SEED");
  return env ? std::strtoull(env, nullptr, 10) : fallback;
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// What reproduces a failure: the seed, the point and the program.
std::string reproducer(const LoopProgram &p, std::uint64_t seed) {
  return fmt::format("\nseed {} (NABLA_SEED={} NABLA_RANDOM_LOOPS=1), at {}\n{}", seed, seed,
                     p.describePoint(), print(p.f));
}

/// |a - b| within `rel` of the larger magnitude, or of 1 below it (entries near zero compare
/// absolutely: a relative error of a cancelled sum means nothing).
bool close(double a, double b, double rel) {
  if (!std::isfinite(a) || !std::isfinite(b))
    return false;
  return std::fabs(a - b) <= rel * std::max({1.0, std::fabs(a), std::fabs(b)});
}

std::vector<ValueId> floatArguments(const Function &f) {
  std::vector<ValueId> wrt;
  for (ValueId a : f.arguments())
    if (isFloat(f.typeOf(a).dtype))
      wrt.push_back(a);
  return wrt;
}

// ----- the oracles ------------------------------------------------------------------------------

bool printsAndParsesBack(const LoopProgram &p, const std::string &repro) {
  if (auto err = verify(p.f)) {
    ADD_FAILURE() << "the generator built an invalid function: " << *err << repro;
    return false;
  }
  std::string text = print(p.f);
  auto back = parseIrFunction(SourceFile("random.ir", text));
  if (!back) {
    ADD_FAILURE() << "does not parse back: " << back.error().render() << repro;
    return false;
  }
  if (print(*back) != text || verify(*back)) {
    ADD_FAILURE() << "parses back to something else:\n" << print(*back) << repro;
    return false;
  }
  return true;
}

/// Central differences of the value w.r.t. every entry of argument `a` (step 1e-6 relative).
Tensor finiteDifferences(const LoopProgram &p, std::size_t a) {
  std::vector<Tensor> args = p.args;
  Tensor g(DType::F64, args[a].shape);
  for (std::size_t e = 0; e < g.data.size(); ++e) {
    double x = args[a].data[e], h = 1e-6 * std::max(1.0, std::fabs(x));
    args[a].data[e] = x + h;
    double plus = interpret(p.f, args, p.dims)->result.data[0];
    args[a].data[e] = x - h;
    double minus = interpret(p.f, args, p.dims)->result.data[0];
    args[a].data[e] = x;
    g.data[e] = (plus - minus) / (2 * h);
  }
  return g;
}

/// The three modes' gradients agree to 1e-10 and with central differences to 1e-6.
bool gradientsAgree(const LoopProgram &p, const std::string &repro, int &entries) {
  std::vector<ValueId> wrt = floatArguments(p.f);
  std::vector<ValueId> all = p.f.arguments();
  auto value = interpret(p.f, p.args, p.dims);
  if (!value) {
    ADD_FAILURE() << "does not run: " << value.error().render() << repro;
    return false;
  }
  std::vector<Derivatives> byMode;
  for (Derivative mode : {Derivative::Reverse, Derivative::Forward, Derivative::Symbolic}) {
    Expected<Derivatives> g = [&]() -> Expected<Derivatives> {
      try {
        return gradient(p.f, wrt, p.args, p.dims, mode);
      } catch (const std::exception &e) {
        return makeDiagnostic(fmt::format("threw: {}", e.what()));
      }
    }();
    if (!g) {
      ADD_FAILURE() << derivativeName(mode) << " gradient failed: " << g.error().render()
                    << repro;
      return false;
    }
    byMode.push_back(std::move(*g));
  }
  const Derivatives &reverse = byMode[0];
  for (std::size_t k = 0; k < wrt.size(); ++k) {
    auto position = static_cast<std::size_t>(std::find(all.begin(), all.end(), wrt[k]) -
                                             all.begin());
    Tensor fd = finiteDifferences(p, position);
    entries += static_cast<int>(fd.data.size());
    for (std::size_t e = 0; e < fd.data.size(); ++e) {
      double r = reverse[k].value.data[e];
      if (!close(r, fd.data[e], 1e-6)) {
        ADD_FAILURE() << "reverse d/d" << reverse[k].name << "[" << e << "] = " << r
                      << ", central differences " << fd.data[e] << repro;
        return false;
      }
      for (std::size_t m = 1; m < byMode.size(); ++m)
        if (!close(byMode[m][k].value.data[e], r, 1e-10)) {
          ADD_FAILURE() << (m == 1 ? "forward" : "symbolic") << " d/d" << reverse[k].name << "["
                        << e << "] = " << byMode[m][k].value.data[e] << ", reverse " << r
                        << repro;
          return false;
        }
    }
  }
  return true;
}

/// Forward over forward, over reverse (through loop_grad) and over symbolic agree to 1e-8.
bool hessiansAgree(const LoopProgram &p, const std::string &repro) {
  std::vector<ValueId> wrt = floatArguments(p.f);
  std::vector<std::vector<HessianBlock>> byMode;
  for (Derivative mode : {Derivative::Reverse, Derivative::Forward, Derivative::Symbolic}) {
    Expected<std::vector<HessianBlock>> h = [&]() -> Expected<std::vector<HessianBlock>> {
      try {
        return hessian(p.f, wrt, p.args, p.dims, mode);
      } catch (const std::exception &e) {
        return makeDiagnostic(fmt::format("threw: {}", e.what()));
      }
    }();
    if (!h) {
      ADD_FAILURE() << derivativeName(mode) << " Hessian failed: " << h.error().render()
                    << repro;
      return false;
    }
    byMode.push_back(std::move(*h));
  }
  for (std::size_t m = 1; m < byMode.size(); ++m)
    for (std::size_t k = 0; k < byMode[0].size(); ++k)
      for (std::size_t i = 0; i < byMode[0][k].value.data.size(); ++i) {
        double r = byMode[0][k].value.data[i], o = byMode[m][k].value.data[i];
        if (!close(o, r, 1e-8)) {
          ADD_FAILURE() << (m == 1 ? "forward" : "symbolic") << " H[" << byMode[0][k].a << "]["
                        << byMode[0][k].b << "] entry " << i << " = " << o << ", reverse " << r
                        << repro;
          return false;
        }
      }
  return true;
}

/// Why `f` is not compared on the JIT, or nullopt when it is compared: the JIT against the
/// interpreter on `f` and on its forward, reverse and symbolic gradient functions, to 1e-12.
std::optional<std::string> jitEqualsInterpreter(const LoopProgram &p, const std::string &repro,
                                                std::mt19937_64 &rng) {
  std::vector<ValueId> wrt = floatArguments(p.f);
  std::vector<std::pair<std::string, Function>> kernels;
  kernels.emplace_back("value", p.f);
  kernels.emplace_back("forward", forwardMode(p.f, wrt, 2));
  kernels.emplace_back("reverse", reverseMode(p.f, wrt));
  kernels.emplace_back("symbolic", symbolicGradient(p.f, wrt));
  for (const auto &[what, g] : kernels) {
    std::vector<Tensor> args = p.args;
    std::vector<ValueId> all = g.arguments();
    for (std::size_t i = args.size(); i < all.size(); ++i) { // tangents, a cotangent seed
      Tensor t(g.typeOf(all[i]).dtype, *concreteShape(g.typeOf(all[i]).shape, p.dims));
      for (double &v : t.data)
        v = std::uniform_real_distribution<double>(-1, 1)(rng);
      args.push_back(std::move(t));
    }
    auto ref = execute(Engine::Interp, g, args, p.dims);
    auto jit = execute(Engine::Jit, g, args, p.dims);
    // The code generator refuses, saying so, a reverse sweep whose bounds it cannot size the
    // tape for before the run (an inner loop bounded by an enclosing index).
    if (ref && !jit && jit.error().render().find("--engine interp") != std::string::npos)
      return fmt::format("the {} function: {}", what, jit.error().render());
    if (!ref || !jit) {
      ADD_FAILURE() << what << " did not run: "
                    << (ref ? jit.error().render() : ref.error().render()) << repro;
      return std::nullopt;
    }
    for (std::size_t r = 0; r < ref->size(); ++r)
      for (std::size_t i = 0; i < (*ref)[r].data.size(); ++i)
        if (!close((*jit)[r].data[i], (*ref)[r].data[i], 1e-12)) {
          ADD_FAILURE() << what << " result " << r << " entry " << i << ": jit "
                        << (*jit)[r].data[i] << ", interpreter " << (*ref)[r].data[i] << repro;
          return std::nullopt;
        }
  }
  return std::nullopt;
}

// ----- the runs ---------------------------------------------------------------------------------

LoopGenOptions ciOptions(std::uint64_t seed) {
  LoopGenOptions o;
  o.maxNesting = seed % 5 == 0 ? 3 : 2; // a fifth go three deep
  return o;
}

struct Report {
  int programs = 0, gradientEntries = 0, hessians = 0, jitCompared = 0;
  LoopGenStats gen;
};

TEST(RandomLoops, GradientsHessiansAndTextAgreeAcrossModes) {
  auto t0 = std::chrono::steady_clock::now();
  const int wanted = envInt("NABLA_RANDOM_LOOPS", 500);
  const int jitEvery = std::max(1, envInt("NABLA_LOOP_JIT_EVERY", 25));
  std::uint64_t base = baseSeed(20261208);
  Report report;
  int jitRefused = 0; // programs the code generator refuses, saying why (see jitEqualsInterpreter)
  int failures = 0;
  for (std::uint64_t seed = base; report.programs < wanted && failures < 5; ++seed) {
    LoopProgram p = LoopGenerator(seed, ciOptions(seed)).program();
    std::string repro = reproducer(p, seed);
    if (std::getenv("NABLA_DEBUG_PROGRAMS"))
      std::fprintf(stderr, "%s", repro.c_str());
    ++report.programs;
    report.gen += p.stats;
    bool ok = printsAndParsesBack(p, repro) && gradientsAgree(p, repro, report.gradientEntries);
    if (ok && report.programs % 8 == 0) {
      ok = hessiansAgree(p, repro);
      ++report.hessians;
    }
    if (ok && report.programs % jitEvery == 0) {
      std::mt19937_64 rng(seed);
      bool refused = jitEqualsInterpreter(p, repro, rng).has_value();
      report.jitCompared += refused ? 0 : 1;
      jitRefused += refused ? 1 : 0;
    }
    failures += ok ? 0 : 1;
  }
  const LoopGenStats &g = report.gen;
  std::printf("[ loops    ] %d programs, %d loops (%d nested, deepest %d, %d zero-trip), %d "
              "stacks, %d counters, %d captures, bounds from %d arguments / %d dim_size / %d "
              "indices, %d takes, %d matmuls; %d gradient entries, %d Hessians, %d on the JIT, "
              "%.1f s\n",
              report.programs, g.loops, g.nested, g.deepest, g.zeroTrip, g.stacks, g.counters,
              g.captures, g.boundsFromArgs, g.boundsFromDims, g.boundsFromIndex, g.takes,
              g.matmuls, report.gradientEntries, report.hessians, report.jitCompared,
              secondsSince(t0));
  EXPECT_EQ(failures, 0);
  // The generator reaches what it promises (a change that stops it fails here, not silently).
  if (wanted >= 200) {
    EXPECT_GE(g.deepest, 3);
    EXPECT_GT(g.nested, 0);
    EXPECT_GT(g.zeroTrip, 0);
    EXPECT_GT(g.stacks, 0);
    EXPECT_GT(g.counters, 0);
    EXPECT_GT(g.boundsFromArgs, 0);
    EXPECT_GT(g.boundsFromDims, 0);
    EXPECT_GT(g.boundsFromIndex, 0);
  }
  std::printf("[ loops    ] JIT == interpreter on %d programs; %d refused by the code generator "
              "(a reverse sweep bounded by an enclosing index)\n",
              report.jitCompared, jitRefused);
  if (wanted >= 200)
    EXPECT_GT(report.jitCompared, 2 * jitRefused) << "the JIT comparison hardly runs";
}

// The JIT comparison above is skipped while loops are not compiled; here it runs on loop-free
// programs of the same generator, so that it is never dead code.
TEST(RandomLoops, JitComparisonRunsOnLoopFreePrograms) {
  LoopGenOptions o;
  o.maxLoops = 0;
  int compared = 0;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    LoopProgram p = LoopGenerator(seed, o).program();
    std::mt19937_64 rng(seed);
    auto skipped = jitEqualsInterpreter(p, reproducer(p, seed), rng);
    EXPECT_EQ(skipped, std::nullopt) << reproducer(p, seed);
    compared += skipped ? 0 : 1;
  }
  EXPECT_EQ(compared, 3);
}

// ----- corrupted text ---------------------------------------------------------------------------

/// One random edit of printed IR: a line deleted, duplicated or swapped with its neighbour, a
/// type changed, a value number or an integer attribute changed.
std::string corrupt(const std::string &text, std::mt19937_64 &rng) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  auto any = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  std::size_t at = 1 + any(lines.size() - 1);
  std::string &line = lines[at];
  auto replaceOne = [&](const std::vector<std::pair<std::string, std::string>> &edits) {
    for (std::size_t tries = 0; tries < 8; ++tries) {
      const auto &[from, to] = edits[any(edits.size())];
      if (auto pos = line.find(from); pos != std::string::npos) {
        line.replace(pos, from.size(), to);
        return;
      }
    }
  };
  switch (rng() % 6) {
  case 0:
    lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(at));
    break;
  case 1:
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at), line);
    break;
  case 2:
    if (at + 1 < lines.size())
      std::swap(lines[at], lines[at + 1]);
    break;
  case 3:
    replaceOne({{"f64[2]", "f64[3]"}, {"f64[3]", "f64"}, {"f64 ", "i32 "}, {"i32", "f64"},
                {"f64[2,3]", "f64[3,2]"}, {"[n]", "[2]"}, {"f64:", "f64[0]:"}});
    break;
  case 4: {
    // A value number: %k becomes %j, j anywhere from 0 to beyond the last value.
    std::size_t pos = line.find('%', any(std::max<std::size_t>(line.size(), 1)));
    if (pos == std::string::npos)
      pos = line.find('%');
    if (pos != std::string::npos) {
      std::size_t end = pos + 1;
      while (end < line.size() && std::isdigit(static_cast<unsigned char>(line[end])))
        ++end;
      line.replace(pos + 1, end - pos - 1, std::to_string(any(40)));
    }
    break;
  }
  default:
    replaceOne({{"{carried=1}", "{carried=2}"}, {"{carried=2}", "{carried=0}"},
                {"{carried=", "{carried=-"}, {"{index=0}", "{index=3}"}, {"{index=1}", "{index=0}"},
                {"{axis=0}", "{axis=1}"}, {"{axis=0}", "{axis=-1}"}, {"{axes=[0]}", "{axes=[1]}"},
                {"loop_result", "loop"}, {"loop ", "loop_grad "}, {"yield ", "yield %0, "}});
    break;
  }
  std::string out;
  for (const std::string &l : lines)
    out += l + "\n";
  return out;
}

// Every corruption of a looped program's text is reported as an error or parses to a verified
// function that runs (to a value or an error); nothing crashes or throws.
TEST(RandomLoops, CorruptedTextIsAnErrorOrAVerifiedFunction) {
  const int programs = std::max(1, envInt("NABLA_RANDOM_LOOPS", 500) / 2);
  std::uint64_t base = baseSeed(20261208);
  int rejected = 0, accepted = 0;
  for (std::uint64_t seed = base; seed < base + static_cast<std::uint64_t>(programs); ++seed) {
    LoopProgram p = LoopGenerator(seed, ciOptions(seed)).program();
    std::string text = print(p.f);
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 6; ++i) {
      std::string bad = corrupt(text, rng);
      std::string where = fmt::format("corruption {} of seed {}:\n{}", i, seed, bad);
      try {
        auto m = parseIr(SourceFile("corrupt.ir", bad));
        if (!m) {
          ++rejected;
          continue;
        }
        ++accepted;
        ASSERT_EQ(verify(*m), std::nullopt) << where;
        for (const Function &f : m->functions)
          (void)interpret(f, p.args, p.dims); // a value or an error, whichever
      } catch (const std::exception &e) {
        FAIL() << "threw " << e.what() << "\n" << where;
      }
    }
  }
  std::printf("[ loops    ] %d corruptions rejected, %d parsed to verified functions\n", rejected,
              accepted);
  EXPECT_GT(rejected, accepted);
}

} // namespace
} // namespace nabla
