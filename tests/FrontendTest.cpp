// Source to IR: golden IR for a corpus of programs, print/parse round trips on every example, and
// the values of the lecture examples (LANGUAGE.md §8) through the reference interpreter.
#include "Golden.h"
#include "frontend/Sema.h"
#include "ir/Interpreter.h"
#include "ir/IrParser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/DeadCode.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace nabla {
namespace {

namespace fs = std::filesystem;

std::string readText(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Module compileOrFail(const std::string &name, const std::string &text, SemaOptions options = {}) {
  auto m = compileSource(SourceFile(name, text), options);
  if (!m) {
    ADD_FAILURE() << m.error().render();
    return {};
  }
  return std::move(*m);
}

std::vector<fs::path> filesIn(const fs::path &dir, const std::string &ext) {
  std::vector<fs::path> out;
  for (const auto &e : fs::directory_iterator(dir))
    if (e.path().extension() == ext)
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

const fs::path kSource = NABLA_SOURCE_DIR;

/// print -> parse -> print is the identity, and the verifier accepts every function.
void expectRoundTrip(const Module &m, const std::string &what) {
  std::string text = print(m);
  auto parsed = parseIr(SourceFile(what + ".ir", text));
  ASSERT_TRUE(parsed) << what << ": " << parsed.error().render() << "\n" << text;
  EXPECT_EQ(print(*parsed), text) << what;
  for (const Function &f : m.functions) {
    auto err = verify(f);
    EXPECT_FALSE(err) << what << " @" << f.name << ": " << *err;
  }
}

TEST(SemaGolden, EveryProgramLowersToItsGoldenIr) {
  auto programs = filesIn(kSource / "tests/golden/sema", ".nabla");
  ASSERT_GE(programs.size(), 15u);
  for (const fs::path &p : programs) {
    SCOPED_TRACE(p.filename().string());
    Module m = compileOrFail(p.filename().string(), readText(p));
    Module live;
    for (const Function &f : m.functions)
      live.functions.push_back(eliminateDeadCode(f));
    expectGolden(print(live), "sema/" + p.stem().string() + ".ir");
    expectRoundTrip(live, p.stem().string());
    expectRoundTrip(m, p.stem().string() + " (before dead-code elimination)");
  }
}

TEST(SemaGolden, EveryExampleRoundTrips) {
  auto examples = filesIn(kSource / "examples", ".nabla");
  ASSERT_GE(examples.size(), 4u);
  for (const fs::path &p : examples) {
    SCOPED_TRACE(p.filename().string());
    expectRoundTrip(compileOrFail(p.filename().string(), readText(p)), p.stem().string());
  }
}

// ----- the lecture values (LANGUAGE.md §8) ---------------------------------------------------

Tensor vec(std::vector<double> v) {
  Tensor t(DType::F64, {static_cast<std::int64_t>(v.size())});
  t.data = std::move(v);
  return t;
}

double evalScalar(const Module &m, const std::string &fn, std::vector<Tensor> args) {
  const Function *f = m.find(fn);
  if (!f) {
    ADD_FAILURE() << "no function " << fn;
    return NAN;
  }
  auto r = interpret(*f, args);
  if (!r) {
    ADD_FAILURE() << r.error().render();
    return NAN;
  }
  return r->result.data[0];
}

class Lectures : public ::testing::Test {
protected:
  void SetUp() override {
    module_ = compileOrFail("lectures.nabla", readText(kSource / "examples/lectures.nabla"));
  }
  Module module_;
};

TEST_F(Lectures, MaxProduct) {
  EXPECT_EQ(evalScalar(module_, "f", {Tensor::scalar(1), Tensor::scalar(2), Tensor::scalar(0)}),
            6.0);
}

TEST_F(Lectures, LogProductSine) {
  double v = evalScalar(module_, "g", {Tensor::scalar(2), Tensor::scalar(5)});
  EXPECT_NEAR(v, 11.652, 5e-4);
  EXPECT_DOUBLE_EQ(v, std::log(2.0) + 10.0 - std::sin(5.0));
}

TEST_F(Lectures, SumTimesMinus) {
  EXPECT_EQ(evalScalar(module_, "h",
                       {Tensor::scalar(5), Tensor::scalar(4), Tensor::scalar(3),
                        Tensor::scalar(2)}),
            25.0);
}

TEST_F(Lectures, Cube) { EXPECT_EQ(evalScalar(module_, "cube", {Tensor::scalar(4)}), 64.0); }

TEST_F(Lectures, SigmoidNeuron) {
  Tensor w = vec({0.1, 0.5, 2.5, 0.2, 3.0}), x = vec({2, 3, -1, 5, 1});
  double out = evalScalar(module_, "neuron_out", {w, x, Tensor::scalar(0)});
  EXPECT_NEAR(out, 0.96, 0.005);
  EXPECT_DOUBLE_EQ(out, 1 / (1 + std::exp(-3.2)));
}

TEST_F(Lectures, LayerScore) {
  Tensor W(DType::F64, {2, 3});
  W.data = {1, 0, -1, 0.5, 2, 0};
  Tensor b = vec({0.1, -0.2}), u = vec({2, -1}), x = vec({1, 2, 3});
  double z0 = 1 - 3 + 0.1, z1 = 0.5 + 4 - 0.2;
  auto sig = [](double z) { return 1 / (1 + std::exp(-z)); };
  EXPECT_DOUBLE_EQ(evalScalar(module_, "layer_score", {W, b, u, x}), 2 * sig(z0) - sig(z1));
}

TEST_F(Lectures, SkipGramWithNegativeSampling) {
  Tensor U(DType::F64, {4, 2}), V(DType::F64, {4, 2});
  U.data = {0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8};
  V.data = {-0.1, 0.3, 0.2, -0.5, 0.4, 0.1, -0.2, 0.6};
  Tensor neg(DType::I32, {2});
  neg.data = {2, 3};
  auto sig = [](double z) { return 1 / (1 + std::exp(-z)); };
  // o = 1, c = 0: -log sig(u_1 . v_0) - sum_j log sig(-(u_j . v_0)) for j in {2, 3}
  double uo_vc = -0.3 * -0.1 + 0.4 * 0.3;
  double u2 = 0.5 * -0.1 + -0.6 * 0.3, u3 = 0.7 * -0.1 + 0.8 * 0.3;
  double want = -std::log(sig(uo_vc)) - std::log(sig(-u2)) - std::log(sig(-u3));
  EXPECT_NEAR(evalScalar(module_, "sgns",
                         {U, V, Tensor::scalar(1, DType::I32), Tensor::scalar(0, DType::I32), neg}),
              want, 1e-15);
}

// ----- GradBench's GMM objective on ADBench's test.txt -----------------------------------------

TEST(Examples, GmmMatchesGradBenchReference) {
  fs::path data = kSource / "../shared/gradbench-data/adbench/gmm/test.txt";
  if (!fs::exists(data))
    GTEST_SKIP() << "../shared/gradbench-data is absent (a user's clone): no GMM reference data";
  std::ifstream in(data);
  int d, k, n;
  in >> d >> k >> n;
  auto read = [&](std::vector<std::int64_t> shape) {
    Tensor t(DType::F64, shape);
    for (double &v : t.data)
      in >> v;
    return t;
  };
  Tensor alpha = read({k}), mu = read({k, d});
  Tensor q(DType::F64, {k, d}), l(DType::F64, {k, d * (d - 1) / 2});
  for (int c = 0; c < k; ++c) {
    for (int j = 0; j < d; ++j)
      in >> q.data[static_cast<std::size_t>(c * d + j)];
    for (int j = 0; j < d * (d - 1) / 2; ++j)
      in >> l.data[static_cast<std::size_t>(c * d * (d - 1) / 2 + j)];
  }
  Tensor x = read({n, d});
  double gamma, m;
  in >> gamma >> m;
  Module module = compileOrFail("gmm.nabla", readText(kSource / "examples/gmm.nabla"));
  double v = evalScalar(module, "gmm",
                        {alpha, mu, q, l, x, Tensor::scalar(gamma), Tensor::scalar(m)});
  // expected/reference_values.json: gradbench objective for adbench/gmm/test.txt
  EXPECT_NEAR(v, -20.067360546658307, 1e-12);
}

} // namespace
} // namespace nabla
