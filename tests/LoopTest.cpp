// Loops in the IR (ir/Loop.h): the textual form, the verifier, the interpreter against plain C++
// loops, and every derivative mode through loops against central differences and each other.
#include "driver/Derivatives.h"
#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "ir/IrParser.h"
#include "ir/Loop.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace nabla {
namespace {

Function parse(const std::string &text) {
  auto m = parseIr(SourceFile("loop.ir", text));
  EXPECT_TRUE(m) << (m ? "" : m.error().render());
  return m ? m->functions.at(0) : Function{};
}

std::string parseError(const std::string &text) {
  auto m = parseIr(SourceFile("loop.ir", text));
  EXPECT_FALSE(m) << "parsed:\n" << text;
  return m ? "" : m.error().render();
}

// h = tanh(w * h + xs[t]) for t in lo..hi, returning sum(h).
const char *kRecurrence = R"(func @rnn {
  %0: f64[3] = input {name="h0"}
  %1: f64[4,3] = input {name="xs"}
  %2: f64[3] = input {name="w"}
  %3: i32 = input {name="lo"}
  %4: i32 = input {name="hi"}
  %5: i32 = loop %3, %4, %0, %1, %2 {carried=1} {
    %0: i32 = input {name="t"}
    %1: f64[3] = input {name="h"}
    %2: f64[4,3] = input {name="xs"}
    %3: f64[3] = input {name="w"}
    %4: f64[3] = take %2, %0 {axis=0}
    %5: f64[3] = mul %3, %1
    %6: f64[3] = add %5, %4
    %7: f64[3] = tanh %6
    yield %7
  }
  %6: f64[3] = loop_result %5 {index=0}
  %7: f64 = reduce_sum %6 {axes=[0]}
  return %7
}
)";

Tensor randomTensor(std::mt19937_64 &rng, std::vector<std::int64_t> shape) {
  Tensor t(DType::F64, std::move(shape));
  std::uniform_real_distribution<double> u(-1, 1);
  for (double &v : t.data)
    v = u(rng);
  return t;
}

Tensor i32(std::int64_t v) { return Tensor::scalar(static_cast<double>(v), DType::I32); }

double recurrenceByHand(const std::vector<Tensor> &args) {
  std::vector<double> h = args[0].data;
  auto lo = static_cast<std::int64_t>(args[3].data[0]);
  auto hi = static_cast<std::int64_t>(args[4].data[0]);
  for (std::int64_t t = lo; t < hi; ++t)
    for (std::size_t i = 0; i < 3; ++i)
      h[i] = std::tanh(args[2].data[i] * h[i] + args[1].data[static_cast<std::size_t>(t) * 3 + i]);
  return h[0] + h[1] + h[2];
}

TEST(Loop, PrintsAndParsesBack) {
  Function f = parse(kRecurrence);
  EXPECT_EQ(print(f), kRecurrence);
  EXPECT_EQ(verify(f), std::nullopt);
}

TEST(Loop, InterpreterRunsTheBodyOncePerIndex) {
  Function f = parse(kRecurrence);
  std::mt19937_64 rng(7);
  std::vector<Tensor> args{randomTensor(rng, {3}), randomTensor(rng, {4, 3}),
                           randomTensor(rng, {3}), i32(0), i32(4)};
  for (auto [lo, hi] : {std::pair{0, 4}, {1, 3}, {2, 2}, {3, 1}}) {
    args[3] = i32(lo);
    args[4] = i32(hi);
    auto values = interpretAll(f, args);
    ASSERT_TRUE(values) << values.error().render();
    EXPECT_NEAR((*values)[7].data[0], recurrenceByHand(args), 1e-15) << lo << ".." << hi;
    EXPECT_EQ((*values)[5].data[0], std::max(hi - lo, 0)) << "the trip count";
  }
}

TEST(Loop, AnIndexOutOfRangeInTheBodyIsReported) {
  Function f = parse(kRecurrence);
  std::mt19937_64 rng(7);
  std::vector<Tensor> args{randomTensor(rng, {3}), randomTensor(rng, {4, 3}),
                           randomTensor(rng, {3}), i32(0), i32(5)};
  auto values = interpretAll(f, args);
  ASSERT_FALSE(values);
  EXPECT_NE(values.error().render().find("out of range"), std::string::npos)
      << values.error().render();
}

/// Central differences of f's scalar value w.r.t. every entry of argument `a`.
Tensor finiteDifferences(const Function &f, std::vector<Tensor> args, std::size_t a) {
  Tensor g(DType::F64, args[a].shape);
  for (std::size_t e = 0; e < g.data.size(); ++e) {
    double x = args[a].data[e], h = 1e-6 * std::max(1.0, std::fabs(x));
    args[a].data[e] = x + h;
    double plus = interpret(f, args)->result.data[0];
    args[a].data[e] = x - h;
    double minus = interpret(f, args)->result.data[0];
    args[a].data[e] = x;
    g.data[e] = (plus - minus) / (2 * h);
  }
  return g;
}

/// Every mode's gradient of scalar-valued `f` at `args` agrees with central differences, and
/// forward and reverse agree with each other to rounding.
void expectGradientsAgree(const Function &f, const std::vector<Tensor> &args,
                          const std::string &label) {
  ASSERT_EQ(verify(f), std::nullopt) << label;
  std::vector<ValueId> wrt, all = f.arguments();
  std::vector<std::size_t> positions;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (isFloat(f.typeOf(all[i]).dtype)) {
      wrt.push_back(all[i]);
      positions.push_back(i);
    }
  auto reverse = gradient(f, wrt, args, {}, Derivative::Reverse);
  ASSERT_TRUE(reverse) << label << ": " << reverse.error().render();
  for (Derivative mode : {Derivative::Symbolic, Derivative::Forward, Derivative::Reverse}) {
    auto g = mode == Derivative::Reverse ? reverse : gradient(f, wrt, args, {}, mode);
    ASSERT_TRUE(g) << label << ": " << g.error().render();
    for (std::size_t k = 0; k < wrt.size(); ++k) {
      Tensor fd = finiteDifferences(f, args, positions[k]);
      const Tensor &got = (*g)[k].value;
      ASSERT_EQ(got.shape, fd.shape) << label;
      for (std::size_t e = 0; e < fd.data.size(); ++e) {
        EXPECT_NEAR(got.data[e], fd.data[e], 1e-7 * std::max(1.0, std::fabs(fd.data[e])))
            << label << " " << derivativeName(mode) << " d/d" << (*g)[k].name << "[" << e << "]";
        EXPECT_NEAR(got.data[e], (*reverse)[k].value.data[e],
                    1e-12 * std::max(1.0, std::fabs(fd.data[e])))
            << label << " forward vs reverse d/d" << (*g)[k].name << "[" << e << "]";
      }
    }
  }
}

TEST(Loop, GradientsThroughARecurrence) {
  Function f = parse(kRecurrence);
  std::mt19937_64 rng(11);
  for (auto [lo, hi] : {std::pair{0, 4}, {1, 4}, {2, 2}, {3, 0}}) {
    std::vector<Tensor> args{randomTensor(rng, {3}), randomTensor(rng, {4, 3}),
                             randomTensor(rng, {3}), i32(lo), i32(hi)};
    expectGradientsAgree(f, args, "rnn " + std::to_string(lo) + ".." + std::to_string(hi));
  }
}

TEST(Loop, ReverseModeTapesTheCarriesAndRunsBackwards) {
  Function f = parse(kRecurrence);
  auto wrt = std::vector<ValueId>{0, 1, 2};
  std::mt19937_64 rng(3);
  std::vector<Tensor> args{randomTensor(rng, {3}), randomTensor(rng, {4, 3}),
                           randomTensor(rng, {3}), i32(0), i32(4)};
  auto g = gradient(f, wrt, args, {}, Derivative::Reverse);
  ASSERT_TRUE(g) << g.error().render();
  // With no iteration, h0's gradient is the seed and the captures' gradients are zero.
  args[4] = i32(0);
  auto none = gradient(f, wrt, args, {}, Derivative::Reverse);
  ASSERT_TRUE(none) << none.error().render();
  for (double v : (*none)[0].value.data)
    EXPECT_EQ(v, 1.0);
  for (std::size_t k : {1u, 2u})
    for (double v : (*none)[k].value.data)
      EXPECT_EQ(v, 0.0);
}

/// Two nested loops and a slice update of a carried stack, built through buildLoop:
///   hs = zeros([T, 2]); h = h0
///   for t in 0..T { z = xs[t]; for k in 0..L { z = tanh(W[k] * z + h) }; h = z; hs[t] = h }
///   return sum(hs * hs) + counter (an i32 carry converted)
Function stacked(std::int64_t T, std::int64_t L) {
  Function f;
  f.name = "stacked";
  Builder b(f);
  Type row{DType::F64, {Dim(2)}};
  ValueId W = b.input("W", Type{DType::F64, {Dim(L), Dim(2)}});
  ValueId h0 = b.input("h0", row);
  ValueId xs = b.input("xs", Type{DType::F64, {Dim(T), Dim(2)}});
  ValueId hs0 = b.constantLike(0, Type{DType::F64, {Dim(T), Dim(2)}});
  ValueId zero = b.constant(0, DType::I32);
  std::vector<ValueId> inits{hs0, h0, zero}, captures{xs, W};
  ValueId outer = loops::buildLoop(
      b, zero, b.constant(static_cast<double>(T), DType::I32), inits, captures,
      [L](Builder &bb, ValueId t, std::span<const ValueId> c, std::span<const ValueId> x) {
        ValueId z0 = bb.emit(Op::Take, {x[0], t}, {std::int64_t{0}});
        std::vector<ValueId> innerInits{z0}, innerCaptures{x[1], c[1]};
        ValueId inner = loops::buildLoop(
            bb, bb.constant(0, DType::I32), bb.constant(static_cast<double>(L), DType::I32),
            innerInits, innerCaptures,
            [](Builder &ib, ValueId k, std::span<const ValueId> z, std::span<const ValueId> y) {
              ValueId wk = ib.emit(Op::Take, {y[0], k}, {std::int64_t{0}});
              return std::vector<ValueId>{ib.unary(Op::Tanh, ib.add(ib.mul(wk, z[0]), y[1]))};
            },
            "k");
        ValueId h = loops::result(bb, inner, 0);
        ValueId hs = bb.emit(Op::Update, {c[0], t, h}, {std::int64_t{0}});
        return std::vector<ValueId>{hs, h, bb.add(c[2], bb.constant(1, DType::I32))};
      });
  ValueId hs = loops::result(b, outer, 0);
  ValueId count = b.convert(loops::result(b, outer, 2), DType::F64);
  f.result = b.add(b.reduceSum(b.mul(hs, hs), {0, 1}), count);
  return f;
}

TEST(Loop, NestedLoopsWithASliceUpdate) {
  std::mt19937_64 rng(5);
  for (auto [T, L] : {std::pair{3, 2}, {1, 1}, {0, 2}, {4, 0}}) {
    Function f = stacked(T, L);
    std::vector<Tensor> args{randomTensor(rng, {L, 2}), randomTensor(rng, {2}),
                             randomTensor(rng, {T, 2})};
    expectGradientsAgree(f, args, "stacked T=" + std::to_string(T) + " L=" + std::to_string(L));
    // The printed form parses back to the same function.
    Function back = parse(print(f));
    EXPECT_EQ(print(back), print(f));
  }
}

// Forward over reverse differentiates the loop_grad that reverse mode made (a loop_grad again);
// forward over forward and over symbolic differentiate tangent loops. All agree, and agree with
// central differences of the reverse-mode gradient.
TEST(Loop, HessiansThroughLoopsAgreeAcrossModes) {
  std::mt19937_64 rng(3);
  struct Case {
    Function f;
    std::vector<Tensor> args;
  };
  std::vector<Case> cases;
  cases.push_back({parse(kRecurrence),
                   {randomTensor(rng, {3}), randomTensor(rng, {4, 3}), randomTensor(rng, {3}),
                    i32(0), i32(4)}});
  cases.push_back({stacked(3, 2),
                   {randomTensor(rng, {2, 2}), randomTensor(rng, {2}), randomTensor(rng, {3, 2})}});
  for (const Case &c : cases) {
    std::vector<ValueId> wrt;
    for (ValueId a : c.f.arguments())
      if (isFloat(c.f.typeOf(a).dtype))
        wrt.push_back(a);
    auto reverse = hessian(c.f, wrt, c.args, {}, Derivative::Reverse);
    ASSERT_TRUE(reverse) << reverse.error().render();
    for (Derivative mode : {Derivative::Forward, Derivative::Symbolic}) {
      auto h = hessian(c.f, wrt, c.args, {}, mode);
      ASSERT_TRUE(h) << h.error().render();
      ASSERT_EQ(h->size(), reverse->size());
      for (std::size_t k = 0; k < h->size(); ++k)
        for (std::size_t i = 0; i < (*h)[k].value.data.size(); ++i)
          EXPECT_NEAR((*h)[k].value.data[i], (*reverse)[k].value.data[i], 1e-10)
              << c.f.name << " " << derivativeName(mode) << " H[" << (*h)[k].a << "]["
              << (*h)[k].b << "] entry " << i;
    }
    // Central differences of the gradient, block H[a][a] of the first argument.
    const Tensor &x = c.args[0];
    std::size_t n = x.data.size();
    for (std::size_t e = 0; e < n; ++e) {
      std::vector<Tensor> plus = c.args, minus = c.args;
      double h = 1e-5;
      plus[0].data[e] += h;
      minus[0].data[e] -= h;
      auto gp = gradient(c.f, wrt, plus, {}, Derivative::Reverse);
      auto gm = gradient(c.f, wrt, minus, {}, Derivative::Reverse);
      ASSERT_TRUE(gp && gm);
      for (std::size_t r = 0; r < n; ++r)
        EXPECT_NEAR((*reverse)[0].value.data[r * n + e],
                    ((*gp)[0].value.data[r] - (*gm)[0].value.data[r]) / (2 * h), 1e-6)
            << c.f.name << " H[0][0] (" << r << ", " << e << ")";
    }
  }
}

TEST(Loop, VerifierNamesWhatDoesNotFit) {
  std::string text = kRecurrence;
  // A yield of the wrong type.
  std::string badYield = text;
  badYield.replace(badYield.find("yield %7"), 8, "yield %0");
  EXPECT_NE(parseError(badYield).find("yield 0 of the forward body is i32, expected f64[3]"),
            std::string::npos)
      << parseError(badYield);
  // A loop_result beyond the loop's results.
  std::string badIndex = text;
  badIndex.replace(badIndex.find("{index=0}"), 9, "{index=1}");
  EXPECT_NE(parseError(badIndex).find("index 1 is out of range: %5 has 1 result(s)"),
            std::string::npos)
      << parseError(badIndex);
  // A bound that is not an i32 scalar.
  std::string badBound = text;
  badBound.replace(badBound.find("loop %3, %4"), 11, "loop %3, %2");
  EXPECT_NE(parseError(badBound).find("bounds must be i32 scalars"), std::string::npos)
      << parseError(badBound);
  // A body instruction's own error points into the body.
  std::string badBody = text;
  badBody.replace(badBody.find("%5: f64[3] = mul %3, %1"), 23, "%5: f64[3] = mul %3, %9");
  EXPECT_NE(parseError(badBody).find("loop.ir:13:"), std::string::npos) << parseError(badBody);
}

} // namespace
} // namespace nabla

namespace nabla {
namespace {

// Values that would not fit in memory are an error naming the value, not an attempt: a huge
// broadcast, and a tape that grows past the budget one step at a time.
TEST(InterpreterBudget, AValueBeyondTheBudgetIsAnError) {
  Function f;
  f.name = "big";
  Builder b(f);
  ValueId x = b.input("x", Type{DType::F64, {}});
  ValueId huge = b.broadcast(x, {Dim(std::int64_t{1} << 40)});
  f.result = b.reduceSum(huge, {0});
  auto r = interpret(f, {Tensor::scalar(1, DType::F64)});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().render().find("memory budget"), std::string::npos) << r.error().render();
  Shape overflowing{Dim(std::int64_t{1} << 32), Dim(std::int64_t{1} << 32)};
  EXPECT_EQ(checkedElementCount({std::int64_t{1} << 32, std::int64_t{1} << 32}), std::nullopt);
  EXPECT_EQ(checkedElementCount({3, -1}), std::nullopt);
  EXPECT_EQ(checkedElementCount({3, 4}), 12);
}

} // namespace
} // namespace nabla
