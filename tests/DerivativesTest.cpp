// Jacobians and Hessians in every mode against each other and against worked values; `diff` in
// the CLI; `nabla check` on every example.
#include "frontend/Sema.h"
#include "driver/Check.h"
#include "ir/Differentiate.h"
#include "passes/ForwardMode.h"
#include "passes/ReverseMode.h"
#include "driver/Derivatives.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace nabla {
namespace {

Module compile(const std::string &text) {
  auto m = compileSource(SourceFile("test.nabla", text));
  if (!m) {
    ADD_FAILURE() << m.error().render();
    return {};
  }
  return std::move(*m);
}

Tensor tensor(std::vector<std::int64_t> shape, std::vector<double> values) {
  Tensor t(DType::F64, std::move(shape));
  t.data = std::move(values);
  return t;
}

const Derivative kModes[] = {Derivative::Symbolic, Derivative::Forward, Derivative::Reverse};

TEST(Hessian, QuadraticFormInEveryMode) {
  // f(A, x) = x^T A x: H_xx = A + A^T, H_xA[i][j,k] = d/dx_i (x_j x_k) = δij x_k + x_j δik.
  Module m = compile("fn q(A: f64[2, 2], x: f64[2]) = x @ A @ x\n");
  const Function &f = m.functions[0];
  auto wrt = *selectArguments(f, {});
  std::vector<Tensor> args{tensor({2, 2}, {1, 2, 3, 4}), tensor({2}, {1, -1})};
  for (Derivative mode : kModes) {
    SCOPED_TRACE(derivativeName(mode));
    auto h = hessian(f, wrt, args, {}, mode);
    ASSERT_TRUE(h) << h.error().render();
    ASSERT_EQ(h->size(), 4u);
    EXPECT_EQ((*h)[3].a, "x");
    EXPECT_EQ((*h)[3].b, "x");
    EXPECT_EQ((*h)[3].value.data, (std::vector<double>{2, 5, 5, 8}));
    EXPECT_EQ((*h)[0].value.data, std::vector<double>(16, 0.0)); // H_AA: x^T A x is linear in A
    EXPECT_EQ((*h)[2].value.shape, (std::vector<std::int64_t>{2, 2, 2}));
    EXPECT_EQ((*h)[2].value.data, (std::vector<double>{2, -1, -1, 0, 0, 1, 1, -2}));
  }
}

TEST(Hessian, LectureExampleFromLanguageReference) {
  // LANGUAGE.md §7: f = x^2 y has Hessian [[2y, 2x], [2x, 0]]; at (1, 2): [[4, 2], [2, 0]].
  Module m = compile("fn f(x, y) = x^2 * y\n");
  const Function &f = m.functions[0];
  auto wrt = *selectArguments(f, {});
  for (Derivative mode : kModes) {
    auto h = hessian(f, wrt, {Tensor::scalar(1), Tensor::scalar(2)}, {}, mode);
    ASSERT_TRUE(h) << h.error().render();
    std::vector<double> flat;
    for (const HessianBlock &b : *h)
      flat.push_back(b.value.data[0]);
    EXPECT_EQ(flat, (std::vector<double>{4, 2, 2, 0})) << derivativeName(mode);
  }
}

TEST(Hessian, VectorProductIsTheHessianTimesTheDirection) {
  Module m = compile("fn q(A: f64[2, 2], x: f64[2]) = sin(x @ A @ x) + sum(A * A) * x[0]\n");
  const Function &f = m.functions[0];
  auto wrt = *selectArguments(f, {});
  std::vector<Tensor> args{tensor({2, 2}, {0.1, 0.2, -0.3, 0.4}), tensor({2}, {0.5, -0.7})};
  std::vector<Tensor> v{tensor({2, 2}, {1, -2, 0.5, 3}), tensor({2}, {-1, 2})};
  auto h = hessian(f, wrt, args, {}, Derivative::Reverse);
  ASSERT_TRUE(h) << h.error().render();
  // (H v)_a = sum_b H[a][b] v_b, with the blocks flattened row-major.
  std::vector<std::vector<double>> want(2);
  for (std::size_t a = 0; a < 2; ++a) {
    std::size_t rows = args[a].data.size();
    want[a].assign(rows, 0.0);
    for (std::size_t b = 0; b < 2; ++b) {
      const Tensor &block = (*h)[a * 2 + b].value;
      std::size_t cols = args[b].data.size();
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j)
          want[a][i] += block.data[i * cols + j] * v[b].data[j];
    }
  }
  for (Derivative mode : kModes) {
    auto hv = hessianVectorProduct(f, wrt, args, v, {}, mode);
    ASSERT_TRUE(hv) << hv.error().render();
    for (std::size_t a = 0; a < 2; ++a)
      for (std::size_t i = 0; i < want[a].size(); ++i)
        EXPECT_NEAR((*hv)[a].value.data[i], want[a][i], 1e-12) << derivativeName(mode);
  }
}

TEST(Jacobian, ModesAgreeAndMatchTheFormula) {
  // v(x) = exp(x) * sum(x): J[i][j] = δij exp(x_i) sum(x) + exp(x_i).
  Module m = compile("fn v(x: f64[3]) = exp(x) * sum(x)\n");
  const Function &f = m.functions[0];
  auto wrt = *selectArguments(f, {});
  std::vector<double> x{1, 2, 3};
  for (Derivative mode : kModes) {
    auto j = jacobian(f, wrt, {tensor({3}, x)}, {}, mode);
    ASSERT_TRUE(j) << j.error().render();
    ASSERT_EQ((*j)[0].value.shape, (std::vector<std::int64_t>{3, 3}));
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) {
        double want = std::exp(x[r]) + (r == c ? std::exp(x[r]) * 6 : 0);
        EXPECT_NEAR((*j)[0].value.data[r * 3 + c], want, 1e-12 * want) << derivativeName(mode);
      }
  }
}

TEST(Jacobian, GradientOfAScalarIsItsJacobian) {
  Module m = compile("fn g(x1, x2) = ln(x1) + x1*x2 - sin(x2)\n");
  const Function &f = m.functions[0];
  auto wrt = *selectArguments(f, {});
  for (Derivative mode : kModes) {
    auto j = jacobian(f, wrt, {Tensor::scalar(2), Tensor::scalar(5)}, {}, mode);
    ASSERT_TRUE(j);
    EXPECT_DOUBLE_EQ((*j)[0].value.data[0], 5.5);
    EXPECT_DOUBLE_EQ((*j)[1].value.data[0], 2 - std::cos(5.0));
  }
}

TEST(Gradient, NonScalarValueIsAClearError) {
  Module m = compile("fn v(x: f64[3]) = exp(x)\n");
  const Function &f = m.functions[0];
  auto wrt = *selectArguments(f, {});
  auto g = gradient(f, wrt, {tensor({3}, {1, 2, 3})}, {}, Derivative::Reverse);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().list[0].message,
            "the gradient needs a scalar value, but 'v' returns f64[3]; use the Jacobian");
}

TEST(Check, EveryExamplePassesInEveryMode) {
  const std::filesystem::path examples = std::filesystem::path(NABLA_SOURCE_DIR) / "examples";
  int files = 0;
  for (const auto &entry : std::filesystem::directory_iterator(examples)) {
    if (entry.path().extension() != ".nabla")
      continue;
    ++files;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    auto module = compileSource(SourceFile(entry.path().string(), text.str()));
    ASSERT_TRUE(module) << module.error().render();
    CheckOptions options;
    // The big default layers are exercised by the CLI; here the Taylor path runs on mlp.
    options.dims = {{"V", 20}, {"d", 4}};
    auto report = checkModule(*module, options);
    ASSERT_TRUE(report) << entry.path() << ": " << report.error().render();
    EXPECT_TRUE(report->passed()) << entry.path() << "\n" << report->table();
  }
  EXPECT_GE(files, 5);
}

TEST(Check, AFunctionUndefinedEverywhereIsReportedNotPassed) {
  // log(-x) is NaN at every sampled input (they are positive): no verdict can be "ok".
  Module m = compile("fn f(x) = log(-x)\n");
  CheckOptions options;
  auto report = checkModule(m, options);
  ASSERT_FALSE(report);
  EXPECT_NE(report.error().list[0].message.find("could not find inputs"), std::string::npos);
}

} // namespace
} // namespace nabla
