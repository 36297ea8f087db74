// The `nabla` binary as a user runs it: outputs, diagnostics and exit codes (LANGUAGE.md §6).
#include "tests/Shell.h"

#include <gtest/gtest.h>


#include <algorithm>
#include <cmath>
#include <sstream>
#include <filesystem>
#include <fstream>
#include <string>

namespace nabla {
namespace {

using CliResult = testing::ShellResult;
using testing::runNabla;

TEST(Cli, EvalPrintsTheLectureValueAsJson) {
  CliResult r = runNabla("eval examples/lectures.nabla --fn f --at 'x=1,y=2,z=0' --json");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "{\"value\":6.0}\n");
}

TEST(Cli, EvalPrintsPlainValues) {
  CliResult r = runNabla("eval examples/lectures.nabla --fn h --at 'x1=5, x2=4, x3=3, x4=2'");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "value = 25\n");
}

TEST(Cli, EvalTakesTensorsInline) {
  CliResult r = runNabla("eval examples/lectures.nabla --fn neuron_out "
                "--at 'w=[0.1,0.5,2.5,0.2,3.0], x=[2,3,-1,5,1], b=0' --json");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "{\"value\":0.9608342772032357}\n");
}

TEST(Cli, NerWindowEvaluatesFromJsonInputs) {
  // Reference: the same window classifier written out in plain Python floats.
  CliResult r = runNabla("eval examples/ner_window.nabla --inputs examples/ner_window.inputs.json "
                        "--dim V=20 --dim d=4 --json --engine interp");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "{\"value\":0.7199337876203341,\"outputs\":{\"p\":0.4867844860521503}}\n");
}

TEST(Cli, MlpEvaluatesFromJsonInputsInF32) {
  // Plain Python in f64 gives 0.8143408927405149; f32 arithmetic rounds it to this float.
  CliResult r = runNabla("eval examples/mlp.nabla --inputs examples/mlp.inputs.json --dim D=6 "
                        "--dim H=5 --dim C=3 --json --engine interp");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("{\"value\":0.8143409,\"outputs\":{\"pred\":[[0.44914535,"),
            std::string::npos)
      << r.out;
}

TEST(Cli, JitAgreesWithTheInterpreterOnTheExamples) {
  // The compiled code prints the same numbers up to the last digit or so (different libm and
  // summation order); compare as numbers.
  for (const char *args :
       {"eval examples/ner_window.nabla --inputs examples/ner_window.inputs.json --dim V=20 "
        "--dim d=4 --grad",
        "eval examples/mlp.nabla --inputs examples/mlp.inputs.json --dim D=6 --dim H=5 --dim C=3 "
        "--grad",
        "eval examples/lectures.nabla --fn g --at 'x1=2,x2=5' --grad --hessian"}) {
    CliResult jit = runNabla(std::string(args) + " --engine jit");
    CliResult interp = runNabla(std::string(args) + " --engine interp");
    ASSERT_EQ(jit.exitCode, 0) << jit.err;
    ASSERT_EQ(interp.exitCode, 0) << interp.err;
    std::istringstream a(jit.out), b(interp.out);
    std::string wordA, wordB;
    int numbers = 0;
    while (a >> wordA && b >> wordB) {
      // Compare token by token: numbers within 1e-6 relative (f32 in mlp), words exactly.
      auto strip = [](std::string w) {
        w.erase(std::remove_if(w.begin(), w.end(), [](char c) { return c == '[' || c == ']' || c == ','; }),
                w.end());
        return w;
      };
      std::string x = strip(wordA), y = strip(wordB);
      char *endX = nullptr, *endY = nullptr;
      double vx = std::strtod(x.c_str(), &endX), vy = std::strtod(y.c_str(), &endY);
      if (!x.empty() && *endX == '\0' && !y.empty() && *endY == '\0') {
        EXPECT_NEAR(vx, vy, 1e-6 * std::max(1.0, std::fabs(vy))) << args;
        ++numbers;
      } else {
        EXPECT_EQ(x, y) << args;
      }
    }
    EXPECT_GT(numbers, 3) << args;
  }
}

TEST(Cli, MisshapenParamNamesTheEntryAndBothShapes) {
  // Without --dim the header defaults apply: L must be 1000 x 50.
  CliResult r = runNabla("eval examples/ner_window.nabla --inputs examples/ner_window.inputs.json");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err, "error: examples/ner_window.inputs.json: entry 'L' has shape f64[20,4], but "
                   "'ner_window' expects f64[1000,50]\n");
}

TEST(Cli, MissingEntryIsNamed) {
  CliResult r = runNabla("eval examples/lectures.nabla --fn f --at 'x=1,y=2'");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err, "error: --at: missing input 'z' of type f64 for 'f'\n");
}

TEST(Cli, UnknownEntryIsNamed) {
  CliResult r = runNabla("eval examples/lectures.nabla --fn cube --at 'x=1,y=2'");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err, "error: --at: 'cube' has no input or param named 'y'\n");
}

TEST(Cli, UnknownFunctionListsTheKnownOnes) {
  CliResult r = runNabla("eval examples/basics.nabla --fn nope --at 'x=1'");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err, "error: 'examples/basics.nabla' has no fn or model named 'nope' (it has: f, g, "
                   "neuron, safe_log)\n");
}

TEST(Cli, SourceErrorsHavePositionAndCaret) {
  std::string path = (std::filesystem::temp_directory_path() / "nabla_cli_bad.nabla").string();
  std::ofstream(path) << "fn f(x: f64[3], y: f64[4]) = x + y\n";
  CliResult r = runNabla("eval '" + path + "' --fn f --at 'x=[1,2,3],y=[1,2,3,4]'");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err, path + ":1:30: error: shape mismatch in '+': f64[3] vs f64[4]\n"
                          "fn f(x: f64[3], y: f64[4]) = x + y\n"
                          "                             ^~~~~\n");
  std::filesystem::remove(path);
}

TEST(Cli, BadJsonIsReportedWithPosition) {
  std::string path = (std::filesystem::temp_directory_path() / "nabla_cli_bad.json").string();
  std::ofstream(path) << "{\"x\": 1,\n \"y\": }\n";
  CliResult r = runNabla("eval examples/lectures.nabla --fn cube --inputs '" + path + "'");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find(path + ":2:7: error: invalid JSON"), std::string::npos) << r.err;
  std::filesystem::remove(path);
}

TEST(Cli, NonFiniteNumbersRoundTrip) {
  CliResult r = runNabla("eval examples/lectures.nabla --fn cube --at 'x=Infinity' --json");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "{\"value\":Infinity}\n");
  r = runNabla("eval examples/lectures.nabla --fn cube --at 'x=NaN' --json");
  EXPECT_EQ(r.out, "{\"value\":NaN}\n");
}

TEST(Cli, EmitIrPrintsTheTypedIr) {
  CliResult r = runNabla("emit ir examples/lectures.nabla --fn cube");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "func @cube {\n"
                   "  %0: f64 = input {name=\"x\"}\n"
                   "  %1: f64 = const {value=[3.0]}\n"
                   "  %2: f64 = pow %0, %1\n"
                   "  return %2\n"
                   "}\n");
}

TEST(Cli, EmitPlanPrintsTheKernelPlans) {
  // The plan of the value kernel, then (grad-plan) of its gradient's; the formats themselves
  // are pinned by tests/golden/plan/.
  CliResult r = runNabla("emit plan examples/mlp.nabla --dim B=4");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out.rfind("plan @mlp\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\nproduct %"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nresult 0: %"), std::string::npos) << r.out;
  CliResult grad = runNabla("emit grad-plan examples/mlp.nabla --dim B=4");
  EXPECT_EQ(grad.exitCode, 0) << grad.err;
  EXPECT_EQ(grad.out.rfind("plan @", 0), 0u) << grad.out;
  EXPECT_NE(grad.out, r.out);
}

TEST(Cli, ReplAnswersTheLanguageReferenceSession) {
  // LANGUAGE.md §7, line by line.
  std::string path = (std::filesystem::temp_directory_path() / "nabla_repl_input.txt").string();
  std::ofstream(path) << "f(x, y) = x^2 * y\nf(3, 4)\nd/dx sin(x)^2\ngrad f\n"
                         "grad f at x=1, y=2\nhessian f\nhessian f at x=1, y=2\n:quit\n";
  CliResult r = runNabla("repl < '" + path + "'");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "36\n2*sin(x)*cos(x)\n[2*x*y, x^2]\n[4, 1]\n[[2*y, 2*x], [2*x, 0]]\n"
                   "[[4, 2], [2, 0]]\n");
  std::filesystem::remove(path);
}

TEST(Cli, ReplChecksAndTracesAtAPoint) {
  std::string path = (std::filesystem::temp_directory_path() / "nabla_repl_check.txt").string();
  std::ofstream(path) << "fn g(x1, x2) = ln(x1) + x1*x2 - sin(x2)\ncheck g at x1=2, x2=5\n"
                         "trace g at x1=2, x2=5\nmodel m(B) {\n  input x: f64[B]\n"
                         "  param w: f64[B]\n  loss sum(w*x)\n}\nundefined(1)\n";
  CliResult r = runNabla("repl < '" + path + "'");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("x1                    5.5            5.5            5.5"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("adjoint"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("error: unknown function 'undefined'"), std::string::npos) << r.out;
  std::filesystem::remove(path);
}

TEST(Cli, HelpAndVersion) {
  EXPECT_EQ(runNabla("--version").exitCode, 0);
  EXPECT_EQ(runNabla("--version").out, "nabla 0.1.0\n");
  for (const char *cmd : {"--help", "eval --help", "emit --help", "check --help", "diff --help",
                          "repl --help"}) {
    CliResult r = runNabla(cmd);
    EXPECT_EQ(r.exitCode, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd;
  }
}

TEST(Cli, UsageErrorsExitWithTwo) {
  EXPECT_EQ(runNabla("").exitCode, 2);
  EXPECT_EQ(runNabla("frobnicate").exitCode, 2);
  EXPECT_EQ(runNabla("eval examples/lectures.nabla --fn f").exitCode, 2);
  EXPECT_EQ(runNabla("eval missing.nabla --fn f --at 'x=1'").exitCode, 2);
  EXPECT_EQ(runNabla("eval examples/lectures.nabla --fn f --at 'x=1' --dim B=-3").exitCode, 2);
}

} // namespace

// LANGUAGE.md §3b's loop programs pass the finite-difference check of every mode; the JIT does
// not compile loops yet, so they run on the interpreter.
TEST(CliLoops, ExamplesCheckOnTheInterpreter) {
  for (const char *file : {"examples/loops/rnn.nabla", "examples/loops/stacked.nabla"}) {
    CliResult r = runNabla(std::string("check ") + file + " --engine interp");
    EXPECT_EQ(r.exitCode, 0) << file << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find(" 0 failed"), std::string::npos) << file << "\n" << r.out;
  }
}

} // namespace nabla
