// The C API (include/nabla/nabla_c.h): handles, layouts, running kernels, errors as messages;
// the header as strict C; and a C program built against it (examples/capi/).
#include "nabla/nabla_c.h"

#include "tests/Shell.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace nabla {
namespace {

/// Takes a message from the C API (and frees it).
std::string take(char *message) {
  std::string out = message ? message : "";
  nabla_string_free(message);
  return out;
}

TEST(CApi, GradientOfTheLectureFunction) {
  char *error = nullptr;
  nabla_program *program = nabla_program_from_source(
      "fn f(x, y, z) = (x + y) * max(y, z)\nfn g(x1, x2) = ln(x1) + x1*x2 - sin(x2)\n", "lectures",
      &error);
  ASSERT_NE(program, nullptr) << take(error);
  ASSERT_EQ(nabla_program_function_count(program), 2u);
  EXPECT_STREQ(nabla_program_function_name(program, 1), "g");
  EXPECT_EQ(nabla_program_function_name(program, 2), nullptr);

  nabla_function *grad = nabla_compile(program, "f", NABLA_GRADIENT, nullptr, 0, &error);
  nabla_program_free(program); // compiled functions outlive their program
  ASSERT_NE(grad, nullptr) << take(error);
  ASSERT_EQ(nabla_argument_count(grad), 3u);
  ASSERT_EQ(nabla_result_count(grad), 4u);
  EXPECT_STREQ(nabla_argument_name(grad, 1), "y");
  EXPECT_STREQ(nabla_argument_dtype(grad, 1), "f64");
  EXPECT_EQ(nabla_argument_rank(grad, 1), 0u);
  EXPECT_STREQ(nabla_result_name(grad, 0), "value");
  EXPECT_EQ(nabla_dimension_count(grad), 0u);

  double x = 1, y = 2, z = 0, value = 0, d[3] = {0, 0, 0};
  const void *args[] = {&x, &y, &z};
  void *results[] = {&value, &d[0], &d[1], &d[2]};
  std::vector<char> workspace(static_cast<std::size_t>(nabla_workspace_bytes(grad, nullptr, nullptr)) + 128);
  void *aligned = workspace.data() + (64 - reinterpret_cast<std::uintptr_t>(workspace.data()) % 64);
  EXPECT_EQ(nabla_run(grad, args, results, nullptr, aligned), 0);
  EXPECT_EQ(value, 6);
  EXPECT_EQ(d[0], 2);
  EXPECT_EQ(d[1], 5);
  EXPECT_EQ(d[2], 0);
  nabla_function_free(grad);
}

TEST(CApi, JvpWithRuntimeDimensionsAndAChosenWrt) {
  char *error = nullptr;
  nabla_program *program = nabla_program_from_source(
      "fn weigh(a: f64[n], b: f64[n]) -> f64 = sum(a * b * b)\n", "weigh", &error);
  ASSERT_NE(program, nullptr) << take(error);
  const char *wrt[] = {"a"};
  nabla_function *jvp = nabla_compile(program, "weigh", NABLA_JVP, wrt, 1, &error);
  ASSERT_NE(jvp, nullptr) << take(error);
  // Arguments a, b, then the tangent of a; the runtime dimension n.
  ASSERT_EQ(nabla_argument_count(jvp), 3u);
  EXPECT_STREQ(nabla_argument_dim(jvp, 0, 0), "n");
  ASSERT_EQ(nabla_dimension_count(jvp), 1u);
  EXPECT_STREQ(nabla_dimension_name(jvp, 0), "n");
  double a[3] = {1, 2, 3}, b[3] = {1, 1, 2}, ta[3] = {1, 0, 1}, value = 0, tangent = 0;
  const void *args[] = {a, b, ta};
  void *results[] = {&value, &tangent};
  std::int64_t dims[] = {3};
  std::vector<char> workspace(static_cast<std::size_t>(nabla_workspace_bytes(jvp, dims, nullptr)) + 128);
  void *aligned = workspace.data() + (64 - reinterpret_cast<std::uintptr_t>(workspace.data()) % 64);
  EXPECT_EQ(nabla_run(jvp, args, results, dims, aligned), 0);
  EXPECT_EQ(value, 1 + 2 + 12);
  EXPECT_EQ(tangent, 1 * 1 + 1 * 4); // sum(ta * b * b)
  nabla_function_free(jvp);
  nabla_program_free(program);
}

TEST(CApi, ErrorsAreMessagesNotCrashes) {
  char *error = nullptr;
  EXPECT_EQ(nabla_program_from_source("fn f(x) = x +\n", "bad.nabla", &error), nullptr);
  std::string message = take(error);
  EXPECT_NE(message.find("bad.nabla:1:"), std::string::npos) << message;
  error = nullptr;
  EXPECT_EQ(nabla_program_from_file("/no/such/file.nabla", &error), nullptr);
  EXPECT_NE(take(error).find("cannot read"), std::string::npos);
  nabla_program *program = nabla_program_from_source("fn f(x) = x * x\n", "ok", nullptr);
  ASSERT_NE(program, nullptr);
  error = nullptr;
  EXPECT_EQ(nabla_compile(program, "nosuch", NABLA_VALUE, nullptr, 0, &error), nullptr);
  EXPECT_NE(take(error).find("nosuch"), std::string::npos);
  const char *wrt[] = {"y"};
  error = nullptr;
  EXPECT_EQ(nabla_compile(program, "f", NABLA_GRADIENT, wrt, 1, &error), nullptr);
  EXPECT_FALSE(take(error).empty());
  EXPECT_EQ(nabla_compile(program, "f", static_cast<nabla_derivative>(7), nullptr, 0, nullptr),
            nullptr);
  EXPECT_EQ(nabla_compile(nullptr, "f", NABLA_VALUE, nullptr, 0, nullptr), nullptr);
  EXPECT_EQ(nabla_run(nullptr, nullptr, nullptr, nullptr, nullptr), -1);
  EXPECT_EQ(nabla_argument_name(nullptr, 0), nullptr);
  nabla_program_free(program);
  nabla_program_free(nullptr);
  nabla_function_free(nullptr);
}

TEST(CApi, HeaderIsStrictC99AndTheExampleProgramRuns) {
  using testing::runShell;
  bool haveCc = runShell("command -v clang-19 >/dev/null").exitCode == 0;
  if (!haveCc)
    GTEST_SKIP() << "clang-19 is not on PATH to compile the header as C";
  auto check = runShell("clang-19 -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c "
                        "-Iinclude include/nabla/nabla_c.h");
  EXPECT_EQ(check.exitCode, 0) << check.err;
  auto run = runShell(std::string("'") + NABLA_CAPI_EXAMPLE + "'");
  EXPECT_EQ(run.exitCode, 0) << run.err;
  EXPECT_EQ(run.out, "status 0: f = 6, grad = (2, 5, 0); results value:f64, x:f64, y:f64, z:f64\n");
}

} // namespace
} // namespace nabla
