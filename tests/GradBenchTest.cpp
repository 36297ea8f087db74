// `nabla gradbench` as GradBench drives it: the recorded sessions of the reference tool replayed
// through the real binary and judged by GradBench's own rule, and the protocol's bad inputs.
#include "driver/Json.h"
#include "tests/Shell.h"

#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace nabla {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = NABLA_SOURCE_DIR;
const fs::path kSessions = kSource / "../shared/gradbench-data/sessions";

/// GradBench's tolerance on ρ(x, y) = |x − y| / max(1, |x| + |y|).
constexpr double kTolerance = 1e-4;

/// The answer lines of `nabla gradbench` to `messages`, one per line.
struct Served {
  int exitCode = -1;
  std::vector<Json> answers;
  std::string err;
};

Served serve(const std::vector<std::string> &messages) {
  static int counter = 0;
  fs::path in =
      fs::temp_directory_path() / fmt::format("nabla_gradbench_{}_{}.jsonl", ::getpid(), counter++);
  {
    std::ofstream file(in);
    for (const std::string &m : messages)
      file << m << "\n";
  }
  testing::ShellResult r = testing::runNabla(fmt::format("gradbench < '{}'", in.string()));
  fs::remove(in);
  Served s{r.exitCode, {}, r.err};
  std::size_t start = 0;
  while (start < r.out.size()) {
    std::size_t end = r.out.find('\n', start);
    if (end == std::string::npos)
      end = r.out.size();
    auto answer = parseJson(r.out.substr(start, end - start), "answer");
    s.answers.push_back(answer ? *answer : Json("unparsable: " + r.out.substr(start, end - start)));
    start = end + 1;
  }
  return s;
}

/// Compares `got` with the reference answer `want` as GradBench validates one: objects with the
/// same keys, arrays of the same lengths, numbers within kTolerance of ρ. Records the worst ρ
/// and the first mismatch, at its JSON path.
struct Judgement {
  double worstRho = 0;
  std::string mismatch;

  void compare(const Json &want, const Json &got, const std::string &path) {
    if (!mismatch.empty())
      return;
    if (want.is_number() && got.is_number()) {
      double x = want.get<double>(), y = got.get<double>();
      double rho = std::fabs(x - y) / std::max(1.0, std::fabs(x) + std::fabs(y));
      if (!(rho <= kTolerance)) // NaN fails too
        mismatch = fmt::format("{}: {} vs the reference's {} (rho {})", path, y, x, rho);
      worstRho = std::max(worstRho, rho);
      return;
    }
    if (want.is_array() && got.is_array()) {
      if (want.size() != got.size()) {
        mismatch =
            fmt::format("{}: {} entries, the reference has {}", path, got.size(), want.size());
        return;
      }
      for (std::size_t i = 0; i < want.size(); ++i)
        compare(want[i], got[i], fmt::format("{}[{}]", path, i));
      return;
    }
    if (want.is_object() && got.is_object()) {
      for (auto it = want.begin(); it != want.end(); ++it)
        if (!got.contains(it.key()))
          mismatch = fmt::format("{}: no key '{}'", path, it.key());
      for (auto it = got.begin(); it != got.end(); ++it)
        if (!want.contains(it.key()))
          mismatch = fmt::format("{}: key '{}' is not the reference's", path, it.key());
      for (auto it = want.begin(); it != want.end() && mismatch.empty(); ++it)
        compare(it.value(), got[it.key()], path + "." + it.key());
      return;
    }
    mismatch = fmt::format("{}: {} vs the reference's {}", path, got.type_name(), want.type_name());
  }
};

TEST(GradBench, TheJudgementCatchesWhatGradBenchRejects) {
  auto check = [](const char *want, const char *got) {
    Judgement j;
    j.compare(*parseJson(want, "want"), *parseJson(got, "got"), "output");
    return j;
  };
  EXPECT_TRUE(check("[1, 2.5]", "[1.0, 2.5000001]").mismatch.empty());
  EXPECT_FALSE(check("[1, 2.5]", "[1.0, 2.6]").mismatch.empty());
  EXPECT_FALSE(check("[1, 2]", "[1, 2, 3]").mismatch.empty());
  EXPECT_FALSE(check(R"({"a": 1})", R"({"a": 1, "b": 2})").mismatch.empty());
  EXPECT_FALSE(check(R"({"a": 1})", R"({"b": 1})").mismatch.empty());
  EXPECT_FALSE(check("1", "NaN").mismatch.empty());
  EXPECT_FALSE(check("1", "[1]").mismatch.empty());
  EXPECT_NEAR(check("1e6", "1.000001e6").worstRho, 0.5e-6, 1e-9);
}

/// A recorded session: each message and the reference tool's answer to it.
struct Exchange {
  Json message;
  Json response;
};

std::vector<Exchange> readSession(const fs::path &path) {
  std::vector<Exchange> session;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    Json entry = *parseJson(line, path.string());
    if (entry.contains("message"))
      session.push_back({entry["message"], nullptr});
    else if (!session.empty())
      session.back().response = entry["response"];
  }
  return session;
}

class RecordedSession : public ::testing::TestWithParam<std::string> {};

TEST_P(RecordedSession, AnswersMatchTheReferenceTool) {
  fs::path path = kSessions / (GetParam() + ".jsonl");
  if (!fs::exists(path))
    GTEST_SKIP() << "../shared/gradbench-data is absent (a user's clone): no recorded sessions";
  std::vector<Exchange> session = readSession(path);
  ASSERT_FALSE(session.empty());
  // Each evaluate asks for 1 s of runs; one run per message keeps the suite quick, and
  // RunsAtLeastMinRunsAndMinSeconds checks the rule itself.
  std::vector<std::string> lines;
  for (Exchange &e : session) {
    if (e.message.value("kind", "") == "evaluate" && e.message["input"].is_object())
      e.message["input"]["min_seconds"] = 0;
    lines.push_back(dumpJson(e.message));
  }
  Served served = serve(lines);
  EXPECT_EQ(served.exitCode, 0) << served.err;
  ASSERT_EQ(served.answers.size(), session.size()) << served.err;

  double worstRho = 0;
  int evaluations = 0;
  for (std::size_t i = 0; i < session.size(); ++i) {
    const Json &message = session[i].message, &want = session[i].response;
    const Json &got = served.answers[i];
    SCOPED_TRACE(fmt::format("message {}: {}", i, dumpJson(message).substr(0, 120)));
    ASSERT_TRUE(got.is_object()) << dumpJson(got);
    EXPECT_EQ(got["id"], message["id"]);
    std::string kind = message["kind"];
    if (kind == "start") {
      EXPECT_EQ(got.value("tool", ""), "nabla");
    } else if (kind == "define") {
      EXPECT_EQ(got.value("success", false), true) << dumpJson(got);
    } else if (kind == "evaluate") {
      ASSERT_EQ(got.value("success", false), true) << dumpJson(got);
      EXPECT_FALSE(got.contains("error"));
      ASSERT_TRUE(got["timings"].is_array());
      EXPECT_GE(got["timings"].size(), 1u);
      Judgement j;
      j.compare(want["output"], got["output"], "output");
      EXPECT_TRUE(j.mismatch.empty()) << j.mismatch;
      worstRho = std::max(worstRho, j.worstRho);
      ++evaluations;
    } else {
      EXPECT_EQ(got, Json({{"id", message["id"]}}));
    }
  }
  EXPECT_GT(evaluations, 0);
  std::cout << fmt::format("[ gradbench ] {}: {} evaluations, worst rho {:.3g}\n", GetParam(),
                           evaluations, worstRho);
}

INSTANTIATE_TEST_SUITE_P(GradBench, RecordedSession,
                         ::testing::Values("hello", "lse", "llsq", "gmm", "kmeans"),
                         [](const auto &info) { return info.param; });

// The protocol's edges: each bad message gets an answer with its id (null when there is none
// to read) and `success: false`, and the tool keeps serving the messages after it.

const char *kDefineLse = R"({"id": 1, "kind": "define", "module": "lse"})";

std::string evaluateLse(int id, const std::string &input) {
  return fmt::format(R"({{"id": {}, "kind": "evaluate", "module": "lse", "function": "primal", )"
                     R"("input": {}}})",
                     id, input);
}

void expectError(const Json &answer, const Json &id) {
  EXPECT_EQ(answer["id"], id) << dumpJson(answer);
  EXPECT_EQ(answer.value("success", true), false) << dumpJson(answer);
  EXPECT_TRUE(answer.contains("error") && answer["error"].is_string() &&
              !answer["error"].get<std::string>().empty())
      << dumpJson(answer);
}

TEST(GradBench, BadMessagesGetErrorAnswersAndTheToolKeepsServing) {
  Served s = serve({
      R"({"id": 0, "kind": "start", "eval": "lse"})",
      R"({"id": 1, "kind": "define", "module": "lse"} trailing)",
      R"(not json at all)",
      R"([1, 2, 3])",
      R"({"id": 4, "kind": "launch"})",
      R"({"id": 5})",
      R"({"id": 6, "kind": 7})",
      evaluateLse(7, R"({"x": [1, 2]})"), // before define
      kDefineLse,
      R"({"id": 9, "kind": "define"})",
      R"({"id": 10, "kind": "evaluate", "module": "lse", "function": "primal"})",
      R"({"id": 11, "kind": "evaluate", "module": "lse", "function": "hessian", "input": {}})",
      evaluateLse(12, R"({"y": [1, 2]})"),
      evaluateLse(13, R"({"x": [[1, 2], [3]]})"),
      evaluateLse(14, R"({"x": ["a", "b"]})"),
      evaluateLse(15, R"({"x": []})"),
      evaluateLse(16, R"({"x": [1, 2], "min_runs": -1})"),
      evaluateLse(17, R"({"x": [1, 2], "min_seconds": "soon"})"),
      evaluateLse(18, R"({"x": [[1, 2], [3, 4]]})"),
      evaluateLse(19, R"({"x": [1, 2], "min_runs": 3})"),
  });
  EXPECT_EQ(s.exitCode, 0) << s.err;
  ASSERT_EQ(s.answers.size(), 20u) << s.err;
  EXPECT_EQ(s.answers[0], Json({{"id", 0}, {"tool", "nabla"}}));
  for (int i : {1, 2, 3})
    expectError(s.answers[i], nullptr);
  for (int i : {4, 5, 6, 7})
    expectError(s.answers[i], i);
  EXPECT_EQ(s.answers[8].value("success", false), true) << dumpJson(s.answers[8]);
  for (int i = 9; i <= 18; ++i)
    expectError(s.answers[i], i);
  // After all that, a good message still gets the right answer: log(e + e^2) = 2 + log1p(1/e).
  const Json &good = s.answers[19];
  ASSERT_EQ(good.value("success", false), true) << dumpJson(good);
  EXPECT_NEAR(good["output"].get<double>(), 2 + std::log1p(std::exp(-1.0)), 1e-14);
  EXPECT_EQ(good["timings"].size(), 3u);
}

TEST(GradBench, ShapesMustAgreeWithTheSizesTheInputStates) {
  Served s = serve({
      R"({"id": 0, "kind": "define", "module": "llsq"})",
      R"({"id": 1, "kind": "evaluate", "module": "llsq", "function": "primal", "input": {"x": [1, 2], "n": -3}})",
      R"({"id": 2, "kind": "evaluate", "module": "llsq", "function": "primal", "input": {"x": [1, 2], "n": 2.5}})",
      R"({"id": 3, "kind": "evaluate", "module": "llsq", "function": "primal", "input": {"x": [1, 2], "n": 3}})",
      R"({"id": 4, "kind": "define", "module": "gmm"})",
      // d says 3 but the arrays have 2 columns
      R"({"id": 5, "kind": "evaluate", "module": "gmm", "function": "objective", "input": {"d": 3, "k": 1, "n": 1, "x": [[0, 0]], "m": 0, "gamma": 1, "alpha": [0], "mu": [[0, 0]], "q": [[0, 0]], "l": [[0]]}})",
      // 17 TB of powers t^j: more memory than any machine has is an answer, not a crash
      fmt::format(R"({{"id": 6, "kind": "evaluate", "module": "llsq", "function": "primal", )"
                  R"("input": {{"x": [{}], "n": 2147483647}}}})",
                  fmt::join(std::vector<int>(1000, 0), ", ")),
  });
  EXPECT_EQ(s.exitCode, 0) << s.err;
  ASSERT_EQ(s.answers.size(), 7u) << s.err;
  expectError(s.answers[1], 1);
  expectError(s.answers[2], 2);
  // n = 3: t = (-1, 0, 1), residuals sign(t) - (1 + 2t) = (0, -1, -2), y = (0 + 1 + 4) / 2.
  ASSERT_EQ(s.answers[3].value("success", false), true) << dumpJson(s.answers[3]);
  EXPECT_DOUBLE_EQ(s.answers[3]["output"].get<double>(), 2.5);
  EXPECT_EQ(s.answers[4].value("success", false), true) << dumpJson(s.answers[4]);
  expectError(s.answers[5], 5);
  expectError(s.answers[6], 6);
}

TEST(GradBench, UnknownModulesAreNotImplemented) {
  Served s = serve({R"({"id": 0, "kind": "define", "module": "ba"})",
                    R"({"id": 1, "kind": "define", "module": "no-such-eval"})"});
  EXPECT_EQ(s.exitCode, 0) << s.err;
  ASSERT_EQ(s.answers.size(), 2u) << s.err;
  expectError(s.answers[0], 0);
  expectError(s.answers[1], 1);
}

TEST(GradBench, DefineReportsTheCompileTime) {
  Served s = serve({kDefineLse});
  ASSERT_EQ(s.answers.size(), 1u) << s.err;
  const Json &timings = s.answers[0]["timings"];
  ASSERT_TRUE(timings.is_array() && timings.size() == 1) << dumpJson(s.answers[0]);
  EXPECT_EQ(timings[0]["name"], "compile");
  EXPECT_GT(timings[0]["nanoseconds"].get<std::int64_t>(), 0);
}

TEST(GradBench, RunsAtLeastMinRunsAndMinSeconds) {
  Served s = serve({kDefineLse, evaluateLse(2, R"({"x": [1, 2, 3], "min_runs": 7})"),
                    evaluateLse(3, R"({"x": [1, 2, 3], "min_runs": 1, "min_seconds": 0.01})")});
  ASSERT_EQ(s.answers.size(), 3u) << s.err;
  const Json &counted = s.answers[1]["timings"];
  EXPECT_EQ(counted.size(), 7u) << dumpJson(s.answers[1]);
  for (const Json &t : counted)
    EXPECT_EQ(t["name"], "evaluate");
  const Json &timed = s.answers[2]["timings"];
  std::int64_t total = 0;
  for (const Json &t : timed)
    total += t["nanoseconds"].get<std::int64_t>();
  EXPECT_GE(total, 10'000'000);
  EXPECT_GT(timed.size(), 1u);
}

TEST(GradBench, EmptyInputExitsCleanly) {
  Served s = serve({});
  EXPECT_EQ(s.exitCode, 0) << s.err;
  EXPECT_TRUE(s.answers.empty());
}

} // namespace
} // namespace nabla
