// The C++ embedding API (include/nabla/Nabla.h, nabla/Check.h) as an application uses it: only
// the public headers, every kind of derivative, and the finite-difference check.
#include "nabla/Check.h"
#include "nabla/Nabla.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace nabla {
namespace {

/// Workspace memory aligned to 64 for `f` with no runtime dimensions.
struct Workspace {
  explicit Workspace(const CompiledFunction &f)
      : bytes(static_cast<std::size_t>(f.workspaceBytes(nullptr)) + 64) {}
  void *get() {
    auto address = reinterpret_cast<std::uintptr_t>(bytes.data());
    return bytes.data() + (64 - address % 64) % 64;
  }
  std::vector<char> bytes;
};

constexpr const char *kLecture = "fn g(x1, x2) = ln(x1) + x1*x2 - sin(x2)\n";

TEST(Api, EveryDerivativeOfTheLectureFunction) {
  auto program = Program::fromSource(kLecture, "lecture");
  ASSERT_TRUE(program) << program.error().render();
  ASSERT_EQ(program->functions(), std::vector<std::string>{"g"});
  double x1 = 2, x2 = 5;
  const void *args[] = {&x1, &x2};
  // dg/dx1 = 1/x1 + x2, dg/dx2 = x1 - cos(x2): the reverse and symbolic gradients agree.
  for (Derivative d : {Derivative::Reverse, Derivative::Symbolic}) {
    auto grad = program->compile("g", d);
    ASSERT_TRUE(grad) << derivativeName(d) << ": " << grad.error().render();
    ASSERT_EQ(grad->results().size(), 3u) << derivativeName(d);
    EXPECT_EQ(grad->results()[1].name, "x1");
    double value = 0, d1 = 0, d2 = 0;
    void *results[] = {&value, &d1, &d2};
    Workspace w(*grad);
    ASSERT_EQ(grad->run(args, results, nullptr, w.get()), 0);
    EXPECT_NEAR(value, std::log(2.0) + 10 - std::sin(5.0), 1e-12) << derivativeName(d);
    EXPECT_NEAR(d1, 0.5 + 5, 1e-12) << derivativeName(d);
    EXPECT_NEAR(d2, 2 - std::cos(5.0), 1e-12) << derivativeName(d);
  }
  // Forward mode along (1, 0) w.r.t. both: the partial in x1.
  auto jvp = program->compile("g", Derivative::Forward);
  ASSERT_TRUE(jvp) << jvp.error().render();
  ASSERT_EQ(jvp->arguments().size(), 4u);
  double t1 = 1, t2 = 0, value = 0, tangent = 0;
  const void *jvpArgs[] = {&x1, &x2, &t1, &t2};
  void *jvpResults[] = {&value, &tangent};
  Workspace w(*jvp);
  ASSERT_EQ(jvp->run(jvpArgs, jvpResults, nullptr, w.get()), 0);
  EXPECT_NEAR(tangent, 0.5 + 5, 1e-12);
}

TEST(Api, ErrorsAreDiagnostics) {
  auto bad = Program::fromSource("fn f(x) = x +\n", "bad");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().render().find("bad:"), std::string::npos) << bad.error().render();
  auto program = Program::fromSource(kLecture, "lecture");
  ASSERT_TRUE(program);
  auto missing = program->compile("h");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().render().find("no fn or model named 'h'"), std::string::npos);
  auto wrongWrt = program->compile("g", Derivative::Reverse, {"nope"});
  EXPECT_FALSE(wrongWrt);
  EXPECT_FALSE(Program::fromFile("/nonexistent/model.nabla"));
}

TEST(Api, CheckPassesForTheLectureFunction) {
  auto program = Program::fromSource(kLecture, "lecture");
  ASSERT_TRUE(program);
  for (Engine engine : {Engine::Jit, Engine::Interp}) {
    CheckOptions options;
    options.engine = engine;
    auto report = check(*program, options);
    ASSERT_TRUE(report) << report.error().render();
    EXPECT_TRUE(report->passed()) << engineName(engine) << "\n" << report->table();
    // Two arguments, three modes.
    EXPECT_EQ(report->rows.size(), 6u) << report->table();
  }
}

} // namespace
} // namespace nabla
