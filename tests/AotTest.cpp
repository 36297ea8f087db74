// `nabla compile` end to end: objects linked into C programs generated here, whose values and
// derivatives must match the reference interpreter (f64 to 1e-12 relative, f32 within f32
// rounding); the header as strict C99 and C++17; failures that leave existing outputs alone.
#include "codegen/Aot.h"
#include "codegen/CHeader.h"
#include "frontend/Sema.h"
#include "ir/Differentiate.h"
#include "passes/ForwardMode.h"
#include "passes/ReverseMode.h"
#include "passes/CastFloat.h"
#include "driver/Derivatives.h"
#include "driver/Execute.h"
#include "driver/Json.h"
#include "driver/DerivedFunction.h"

#include "tests/Random.h"
#include "tests/Shell.h"

#include <gtest/gtest.h>

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace nabla {
namespace {

namespace fs = std::filesystem;

using Shell = testing::ShellResult;

Shell shell(const std::string &command) { return testing::runShell(command); }
Shell nabla(const std::string &args) { return testing::runNabla(args); }

/// The first of `candidates` on PATH, or "".
std::string findProgram(std::initializer_list<const char *> candidates) {
  for (const char *c : candidates)
    if (shell(fmt::format("command -v {} >/dev/null", c)).exitCode == 0)
      return c;
  return "";
}

const std::string &cCompiler() {
  static const std::string cc = findProgram({"clang-19", "cc", "gcc"});
  return cc;
}

const std::string &cxxCompiler() {
  static const std::string cxx = findProgram({"clang++-19", "c++", "g++"});
  return cxx;
}

std::string readFile(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Module loadModule(const std::string &file, const std::map<std::string, std::int64_t> &dims) {
  fs::path path = fs::path(NABLA_SOURCE_DIR) / file;
  SemaOptions options;
  options.dims = dims;
  auto module = compileSource(SourceFile(path.string(), readFile(path)), options);
  EXPECT_TRUE(module) << module.error().render();
  return module ? std::move(*module) : Module{};
}

/// A tensor of `dtype` with `t`'s values rounded to it.
Tensor withDType(Tensor t, DType dtype) {
  if (isFloat(t.dtype) && isFloat(dtype)) {
    t.dtype = dtype;
    t.roundToDType();
  }
  return t;
}

/// One fn or model called with concrete arguments: every kernel it gets is run.
struct Call {
  std::string fn;
  std::vector<Tensor> args; // of the function as declared
};

using testing::randomArgs;

/// Arguments from a JSON file of examples/, as `nabla eval --inputs` reads them.
std::vector<Tensor> jsonArgs(const Function &f, const std::string &file,
                             const std::map<std::string, std::int64_t> &dims) {
  auto doc = parseJson(readFile(fs::path(NABLA_SOURCE_DIR) / file), file);
  EXPECT_TRUE(doc);
  std::map<std::string, Json> values;
  for (auto it = doc->begin(); it != doc->end(); ++it)
    values[it.key()] = it.value();
  auto args = collectArguments(f, values, file, dims);
  EXPECT_TRUE(args) << args.error().render();
  return args ? *args : std::vector<Tensor>{};
}

using codegen::cType;

/// A kernel the driver calls and what the interpreter says it must compute.
struct Expectation {
  std::string symbol;
  std::vector<Tensor> results;
  double tolerance;
};

/// Generates, builds and runs C programs that call kernels through the header's typed wrappers,
/// and checks what they print against the interpreter.
class Driver {
public:
  explicit Driver(fs::path dir) : dir_(std::move(dir)) {}

  /// Adds a call of kernel `symbol` computing `g` on `args` (g's arguments); `expected` are its
  /// results by the interpreter.
  void call(const std::string &symbol, const Function &g, const std::vector<Tensor> &args,
            const DimBinding &dims, std::vector<Tensor> expected, double tolerance) {
    std::string block = "  {\n";
    std::vector<std::string> params;
    for (std::size_t i = 0; i < args.size(); ++i) {
      std::string values;
      for (double v : args[i].data)
        values += (values.empty() ? "" : ", ") + fmt::format("{:.17g}", v);
      block += fmt::format("    static const {} a{}[] = {{{}}};\n", cType(args[i].dtype), i,
                           values.empty() ? "0" : values);
      params.push_back(fmt::format("a{}", i));
    }
    std::vector<std::size_t> sizes;
    for (std::size_t r = 0; r < expected.size(); ++r) {
      std::size_t n = expected[r].data.size();
      block += fmt::format("    static {} r{}[{}];\n", cType(expected[r].dtype), r, std::max<std::size_t>(n, 1));
      params.push_back(fmt::format("r{}", r));
      sizes.push_back(n);
    }
    std::string dimValues;
    for (const std::string &d : g.dimParams) {
      params.push_back(fmt::format("{}", dims.at(d)));
      dimValues += (dimValues.empty() ? "" : ", ") + fmt::format("{}", dims.at(d));
    }
    block += fmt::format("    int64_t bytes = {}_workspace_bytes({});\n", symbol, dimValues);
    block += "    void *ws = aligned_alloc(64, (size_t)(bytes + 127) / 64 * 64);\n";
    params.push_back("ws");
    std::string list;
    for (const std::string &p : params)
      list += (list.empty() ? "" : ", ") + p;
    block += fmt::format("    int rc = {}_call({});\n", symbol, list);
    block += fmt::format("    printf(\"kernel {} %d\\n\", rc);\n", symbol);
    for (std::size_t r = 0; r < expected.size(); ++r)
      block += fmt::format("    for (size_t i = 0; i < {}; ++i) printf(\"%.17g\\n\", (double)r{}[i]);\n",
                           sizes[r], r);
    block += "    free(ws);\n  }\n";
    body_ += block;
    expected_.push_back({symbol, std::move(expected), tolerance});
  }

  /// Builds the program with `linkLine` (what `nabla compile` printed, `cc app.c OUT.o ...`) and
  /// runs it; checks every kernel's results.
  void runAndCheck(const std::string &header, const std::string &linkLine) {
    fs::path source = dir_ / "driver.c", binary = dir_ / "driver";
    std::ofstream(source) << "#include \"" << header << "\"\n"
                          << "#include <stdio.h>\n#include <stdlib.h>\n\n"
                          << "int main(void) {\n" << body_ << "  return 0;\n}\n";
    ASSERT_EQ(linkLine.rfind("cc app.c ", 0), 0u) << linkLine;
    std::string build = fmt::format("{} -std=c11 -O1 -Wall -Wextra -Werror -I'{}' '{}' -o '{}' {}",
                                    cCompiler(), dir_.string(), source.string(), binary.string(),
                                    linkLine.substr(std::string("cc app.c ").size()));
    Shell built = shell(build);
    ASSERT_EQ(built.exitCode, 0) << build << "\n" << built.err;
    Shell ran = shell("'" + binary.string() + "'");
    ASSERT_EQ(ran.exitCode, 0) << ran.err;
    std::istringstream in(ran.out);
    for (const Expectation &e : expected_) {
      std::string word, symbol;
      int rc = -1;
      in >> word >> symbol >> rc;
      ASSERT_EQ(word, "kernel");
      ASSERT_EQ(symbol, e.symbol);
      EXPECT_EQ(rc, 0) << symbol;
      for (std::size_t r = 0; r < e.results.size(); ++r)
        for (std::size_t i = 0; i < e.results[r].data.size(); ++i) {
          std::string text;
          in >> text;
          double got = std::strtod(text.c_str(), nullptr), want = e.results[r].data[i];
          if (std::isnan(want)) {
            EXPECT_TRUE(std::isnan(got)) << symbol << " result " << r << " entry " << i;
            continue;
          }
          EXPECT_NEAR(got, want, e.tolerance * std::max(1.0, std::fabs(want)))
              << symbol << " result " << r << " entry " << i;
          ++compared_;
        }
    }
  }

  int compared() const { return compared_; }

private:
  fs::path dir_;
  std::string body_;
  std::vector<Expectation> expected_;
  int compared_ = 0;
};

/// The line of `nabla compile`'s output that starts with `link: `, without it.
std::string linkLine(const std::string &out) {
  auto at = out.find("link: ");
  if (at == std::string::npos)
    return "";
  return out.substr(at + 6, out.find('\n', at) - at - 6);
}

class Aot : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("nabla_aot_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure())
      fs::remove_all(dir_);
  }

  /// `nabla compile FILE -o DIR/NAME.o FLAGS`; the link line it printed.
  std::string compile(const std::string &file, const std::string &name, const std::string &flags) {
    Shell r = nabla(fmt::format("compile {} -o '{}' {}", file, (dir_ / (name + ".o")).string(), flags));
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_TRUE(fs::exists(dir_ / (name + ".h")));
    return linkLine(r.out);
  }

  /// Compiles `file` (flags as given to `nabla compile`, `dims` the --dim values), calls the
  /// value, gradient and JVP kernels of each of `calls` from C, and compares with the
  /// interpreter on the function in the precision `dtype` gives. Sets `link_` to the link line
  /// that `nabla compile` printed, which built the program.
  void expectKernelsMatchInterpreter(const std::string &file, const std::string &name,
                                     const std::map<std::string, std::int64_t> &dims,
                                     std::optional<DType> dtype, const std::vector<Call> &calls,
                                     const std::string &extraFlags = "") {
    if (cCompiler().empty())
      GTEST_SKIP() << "no C compiler (clang-19, cc or gcc) on PATH to link the object with";
    std::string flags = extraFlags;
    for (const auto &[d, v] : dims)
      flags += fmt::format(" --dim {}={}", d, v);
    if (dtype)
      flags += fmt::format(" --dtype {}", dtypeName(*dtype));
    std::string link = link_ = compile(file, name, flags);
    ASSERT_FALSE(link.empty());
    Module module = loadModule(file, dims);
    Driver driver(dir_);
    std::mt19937_64 rng(7);
    for (const Call &call : calls) {
      const Function *declared = module.find(call.fn);
      ASSERT_TRUE(declared) << call.fn;
      Function f = dtype ? castFloats(*declared, *dtype) : *declared;
      std::vector<Tensor> args;
      bool f32 = false;
      for (std::size_t i = 0; i < call.args.size(); ++i) {
        args.push_back(withDType(call.args[i], f.typeOf(f.arguments()[i]).dtype));
        f32 = f32 || args.back().dtype == DType::F32;
      }
      for (const Inst &inst : f.insts)
        f32 = f32 || inst.type.dtype == DType::F32;
      double tol = f32 ? 1e-5 : 1e-12;
      auto bound = bindDimensions(f, args);
      ASSERT_TRUE(bound) << bound.error().render();
      std::string symbol = "nabla_" + f.name;

      auto value = execute(Engine::Interp, f, args, *bound);
      ASSERT_TRUE(value) << value.error().render();
      auto g = derivedFunction(f, Derivative::None);
      ASSERT_TRUE(g);
      driver.call(symbol, *g, args, *bound, *value, tol);

      auto wrt = *selectArguments(f, {});
      auto grads = gradient(f, wrt, args, *bound, Derivative::Reverse, Engine::Interp);
      ASSERT_TRUE(grads) << grads.error().render();
      std::vector<Tensor> withGrads = *value;
      for (const NamedTensor &t : *grads)
        withGrads.push_back(t.value);
      auto grad = derivedFunction(f, Derivative::Reverse);
      ASSERT_TRUE(grad);
      driver.call(symbol + "_grad", *grad, args, *bound, withGrads, tol);

      // Forward mode along a random direction; its value tangent must also be <grad, t>.
      auto jvp = derivedFunction(f, Derivative::Forward);
      ASSERT_TRUE(jvp);
      std::vector<Tensor> jvpArgs = args;
      double dot = 0, scale = 0;
      for (std::size_t w = 0; w < wrt.size(); ++w) {
        Tensor t(f.typeOf(wrt[w]).dtype, *concreteShape(f.typeOf(wrt[w]).shape, *bound));
        for (std::size_t i = 0; i < t.data.size(); ++i) {
          t.data[i] = roundTo(t.dtype, std::uniform_real_distribution<double>(-1, 1)(rng));
          dot += t.data[i] * (*grads)[w].value.data[i];
          scale += std::fabs(t.data[i] * (*grads)[w].value.data[i]);
        }
        jvpArgs.push_back(std::move(t));
      }
      auto tangents = execute(Engine::Interp, *jvp, jvpArgs, *bound);
      ASSERT_TRUE(tangents) << tangents.error().render();
      double valueTangent = (*tangents)[1 + f.outputs.size()].data.at(0);
      EXPECT_NEAR(valueTangent, dot, (f32 ? 1e-4 : 1e-10) * std::max(1.0, scale)) << f.name;
      driver.call(symbol + "_jvp", *jvp, jvpArgs, *bound, *tangents, tol);
    }
    driver.runAndCheck(name + ".h", link);
    EXPECT_GT(driver.compared(), 0);
  }

  fs::path dir_;
  std::string link_;
};

TEST_F(Aot, LectureExamplesMatchTheInterpreter) {
  Module module = loadModule("examples/lectures.nabla", {});
  std::mt19937_64 rng(20261122);
  std::vector<Call> calls;
  calls.push_back({"f", {Tensor::scalar(1), Tensor::scalar(2), Tensor::scalar(0)}});
  calls.push_back({"g", {Tensor::scalar(2), Tensor::scalar(5)}});
  for (const char *name : {"h", "cube", "neuron_out"})
    calls.push_back({name, randomArgs(*module.find(name), {}, rng)});
  // Runtime dimensions (n, m) and i32 indices (o, c, neg) with V, d, k given at call time.
  calls.push_back({"layer_score", randomArgs(*module.find("layer_score"), {{"n", 3}, {"m", 4}}, rng)});
  calls.push_back({"sgns", randomArgs(*module.find("sgns"), {{"V", 4}, {"d", 3}, {"k", 2}}, rng)});
  expectKernelsMatchInterpreter("examples/lectures.nabla", "lectures", {}, std::nullopt, calls);
}

TEST_F(Aot, MlpMatchesTheInterpreterInF32AndInF64ByDtype) {
  std::map<std::string, std::int64_t> dims = {{"D", 6}, {"H", 5}, {"C", 3}};
  Module module = loadModule("examples/mlp.nabla", dims);
  // The batch size B stays a runtime dimension: 4 in the bundled inputs.
  std::vector<Tensor> args = jsonArgs(module.functions[0], "examples/mlp.inputs.json", dims);
  expectKernelsMatchInterpreter("examples/mlp.nabla", "mlp32", dims, std::nullopt, {{"mlp", args}});
  expectKernelsMatchInterpreter("examples/mlp.nabla", "mlp64", dims, DType::F64, {{"mlp", args}});
}

// Objects for other machines: `--cpu x86-64-v3` (AVX2) must not use AVX-512 registers or
// libmvec's AVX-512 variants, and must still compute the same numbers (it runs here too).
TEST_F(Aot, ObjectsForAnotherCpuUseOnlyItsFeatures) {
  Module module = loadModule("examples/gmm.nabla", {});
  std::mt19937_64 rng(3);
  std::map<std::string, std::int64_t> dims{{"K", 3}, {"D", 4}, {"N", 40}};
  std::vector<Call> calls{{"gmm", randomArgs(*module.find("gmm"), dims, rng)}};
  expectKernelsMatchInterpreter("examples/gmm.nabla", "gmm_avx2", {}, std::nullopt, calls,
                                "--cpu x86-64-v3");
  if (HasFatalFailure() || IsSkipped())
    return;
  Shell disassembly = shell(fmt::format("objdump -d '{}'", (dir_ / "gmm_avx2.o").string()));
  if (disassembly.exitCode != 0)
    GTEST_SKIP() << "objdump is not available to read the object";
  EXPECT_EQ(disassembly.out.find("zmm"), std::string::npos);
  EXPECT_NE(disassembly.out.find("ymm"), std::string::npos); // it does vectorize, for AVX2
  EXPECT_NE(readFile(dir_ / "gmm_avx2.h").find("x86-64-v3"), std::string::npos);
}

// Two objects with a fn of the same name link into one program when their prefixes differ.
TEST_F(Aot, PrefixesKeepTwoObjectsOfOneFnApart) {
  if (cCompiler().empty())
    GTEST_SKIP() << "no C compiler (clang-19, cc or gcc) on PATH to link the objects with";
  std::ofstream(dir_ / "a.nabla") << "fn f(x) = x * x\n";
  std::ofstream(dir_ / "b.nabla") << "fn f(x) = x + 1\n";
  for (const char *name : {"a", "b"}) {
    Shell r = nabla(fmt::format("compile '{0}/{1}.nabla' -o '{0}/{1}.o' --prefix {1}_", dir_.string(),
                                name));
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }
  std::ofstream(dir_ / "main.c") << "#include <stdio.h>\n#include \"a.h\"\n#include \"b.h\"\n"
                                    "int main(void) {\n  double x = 3, ya = 0, yb = 0;\n"
                                    "  a_f_call(&x, &ya, 0);\n  b_f_call(&x, &yb, 0);\n"
                                    "  printf(\"%g %g\\n\", ya, yb);\n  return 0;\n}\n";
  Shell build = shell(fmt::format("cd '{0}' && {1} -std=c99 -I. main.c a.o b.o -lm -o main && ./main",
                                  dir_.string(), cCompiler()));
  ASSERT_EQ(build.exitCode, 0) << build.err;
  EXPECT_EQ(build.out, "9 4\n");
  Shell bad = nabla(fmt::format("compile examples/lectures.nabla -o '{}' --prefix 9lives",
                                (dir_ / "c.o").string()));
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_NE(bad.err.find("not a C identifier"), std::string::npos) << bad.err;
}

TEST_F(Aot, AnUnknownCpuIsAnErrorBeforeAnythingIsWritten) {
  Shell r = nabla(fmt::format("compile examples/lectures.nabla -o '{}' --cpu pentium-9000",
                              (dir_ / "x.o").string()));
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("unknown CPU 'pentium-9000'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("not a recognized processor"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "x.o"));
}

TEST_F(Aot, GmmWithEveryDimensionAtRuntimeMatchesTheInterpreter) {
  Module module = loadModule("examples/gmm.nabla", {});
  std::mt19937_64 rng(3);
  std::vector<Tensor> args = randomArgs(module.functions[0], {{"K", 3}, {"D", 3}, {"N", 5}}, rng);
  expectKernelsMatchInterpreter("examples/gmm.nabla", "gmm", {}, std::nullopt, {{"gmm", args}});
  if (IsSkipped())
    return;
  // lgamma in the prior: the object needs libnabla_rt, and the link line (header and stdout,
  // the one that just built the program) says where it is.
  EXPECT_NE(link_.find(fmt::format("-L{} -lnabla_rt", NABLA_RT_LIBRARY_DIR)), std::string::npos)
      << link_;
  EXPECT_TRUE(fs::exists(fs::path(NABLA_RT_LIBRARY_DIR) / "libnabla_rt.a"));
  EXPECT_NE(readFile(dir_ / "gmm.h").find(link_), std::string::npos);
}

TEST_F(Aot, NerWindowWithI32IndicesMatchesTheInterpreter) {
  std::map<std::string, std::int64_t> dims = {{"V", 20}, {"d", 4}};
  Module module = loadModule("examples/ner_window.nabla", dims);
  std::vector<Tensor> args = jsonArgs(module.functions[0], "examples/ner_window.inputs.json", dims);
  expectKernelsMatchInterpreter("examples/ner_window.nabla", "ner", dims, std::nullopt,
                                {{"ner_window", args}});
}

TEST_F(Aot, DtypeF32MatchesTheInterpreterWithinF32Rounding) {
  Module module = loadModule("examples/lectures.nabla", {});
  std::mt19937_64 rng(5);
  std::vector<Tensor> args = randomArgs(*module.find("layer_score"), {{"n", 4}, {"m", 3}}, rng);
  expectKernelsMatchInterpreter("examples/lectures.nabla", "score32", {}, DType::F32,
                                {{"layer_score", args}}, "--fn layer_score");
  if (IsSkipped())
    return;
  EXPECT_NE(readFile(dir_ / "score32.h").find("const float *W"), std::string::npos);
}

TEST_F(Aot, HeaderIsStrictC99AndCxx17AndTwoHeadersMix) {
  if (cCompiler().empty() || cxxCompiler().empty())
    GTEST_SKIP() << "no C or C++ compiler on PATH";
  compile("examples/lectures.nabla", "lectures", "");
  compile("examples/mlp.nabla", "mlp", "--dim D=6 --dim H=5 --dim C=3");
  std::string header = readFile(dir_ / "mlp.h");
  for (const char *needle : {"#ifndef NABLA_MLP_H", "extern \"C\" {", "#include <stdint.h>",
                             " *   args[0]  x         f32[B, 6]  input",
                             " *   results[2]  grad h.W       f32[5, 6]  d loss / d h.W",
                             " * dims: the runtime dimensions, dims[0] = B",
                             "int64_t nabla_mlp_grad_workspace(const int64_t *dims, void *const *args);",
                             "static inline int32_t nabla_mlp_grad_call(const float *x, const "
                             "int32_t *y, const float *h_W,"})
    EXPECT_NE(header.find(needle), std::string::npos) << needle << "\n" << header;
  std::ofstream(dir_ / "both.c") << "#include \"lectures.h\"\n#include \"mlp.h\"\n"
                                    "#include \"lectures.h\"\nint main(void) { return 0; }\n";
  Shell c = shell(fmt::format("{} -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only -I'{}' '{}'",
                              cCompiler(), dir_.string(), (dir_ / "both.c").string()));
  EXPECT_EQ(c.exitCode, 0) << c.err;
  fs::copy_file(dir_ / "both.c", dir_ / "both.cpp");
  Shell cxx = shell(fmt::format("{} -std=c++17 -Wall -Wextra -Werror -pedantic -Wold-style-cast "
                                "-Wzero-as-null-pointer-constant -fsyntax-only -I'{}' '{}'",
                                cxxCompiler(), dir_.string(), (dir_ / "both.cpp").string()));
  EXPECT_EQ(cxx.exitCode, 0) << cxx.err;
}

TEST_F(Aot, ObjectExportsOnlyTheKernels) {
  std::string nm = findProgram({"llvm-nm-19", "nm"});
  if (nm.empty())
    GTEST_SKIP() << "no nm on PATH";
  compile("examples/lectures.nabla", "cube", "--fn cube");
  Shell r = shell(fmt::format("{} -g --defined-only '{}'", nm, (dir_ / "cube.o").string()));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::vector<std::string> symbols;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);)
    symbols.push_back(line.substr(line.rfind(' ') + 1));
  std::sort(symbols.begin(), symbols.end());
  EXPECT_EQ(symbols, (std::vector<std::string>{"nabla_cube", "nabla_cube_grad",
                                               "nabla_cube_grad_workspace", "nabla_cube_jvp",
                                               "nabla_cube_jvp_workspace", "nabla_cube_workspace"}));
}

TEST_F(Aot, BadSourceExits2AndLeavesTheOldOutputsAlone) {
  fs::path object = dir_ / "out.o", header = dir_ / "out.h", bad = dir_ / "bad.nabla";
  std::ofstream(object) << "old object";
  std::ofstream(header) << "old header";
  std::ofstream(bad) << "fn f(x) = x +\n";
  Shell r = nabla(fmt::format("compile '{}' -o '{}'", bad.string(), object.string()));
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("bad.nabla:1:14: error:"), std::string::npos) << r.err;
  EXPECT_EQ(readFile(object), "old object");
  EXPECT_EQ(readFile(header), "old header");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 3);
}

TEST_F(Aot, UnknownFnIsAnErrorThatListsTheKnownOnes) {
  Shell r = nabla(fmt::format("compile examples/lectures.nabla --fn nosuch -o '{}'",
                              (dir_ / "x.o").string()));
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("no fn or model named 'nosuch' (it has: f, g, h, cube"), std::string::npos)
      << r.err;
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(Aot, AnUnwritableHeaderReplacesNeitherFile) {
  fs::path object = dir_ / "out.o";
  std::ofstream(object) << "old object";
  fs::create_directory(dir_ / "out.h"); // the header's path is a directory: it cannot be written
  Shell r = nabla(fmt::format("compile examples/lectures.nabla --fn cube -o '{}'", object.string()));
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("out.h"), std::string::npos) << r.err;
  EXPECT_EQ(readFile(object), "old object");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);

  r = nabla(fmt::format("compile examples/lectures.nabla --fn cube -o '{}'",
                        (dir_ / "missing" / "x.o").string()));
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("cannot write"), std::string::npos) << r.err;
}

TEST_F(Aot, ClashingKernelSymbolsAreADiagnostic) {
  fs::path source = dir_ / "clash.nabla";
  std::ofstream(source) << "fn f(x) = x^2\nfn f_grad(x) = x\n";
  Shell r = nabla(fmt::format("compile '{}' -o '{}'", source.string(), (dir_ / "clash.o").string()));
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("two kernels would define the symbol 'nabla_f_grad'"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "clash.o"));
}

TEST_F(Aot, KernelsWithoutDerivativesAreNotedInTheHeader) {
  fs::path source = dir_ / "ints.nabla";
  std::ofstream(source) << "fn add(a: i32, b: i32) = a + b\n";
  Shell r = nabla(fmt::format("compile '{}' -o '{}'", source.string(), (dir_ / "ints.o").string()));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(readFile(dir_ / "ints.h").find("nabla_add_grad and nabla_add_jvp are not compiled: "
                                           "the value of add is i32"),
            std::string::npos);
  EXPECT_NE(r.out.find("note: nabla_add_grad"), std::string::npos) << r.out;
}

TEST_F(Aot, TheBundledCExampleTrainsTheMlp) {
  if (cCompiler().empty())
    GTEST_SKIP() << "no C compiler (clang-19, cc or gcc) on PATH";
  std::string link = compile("examples/mlp.nabla", "mlp", "--dim D=2 --dim H=16 --dim C=2");
  ASSERT_EQ(link.rfind("cc app.c ", 0), 0u) << link;
  fs::path binary = dir_ / "mlp_sgd";
  Shell built = shell(fmt::format("{} -std=c11 -O2 -Wall -Wextra -Werror -I'{}' "
                                  "examples/aot/mlp_sgd.c -o '{}' {}",
                                  cCompiler(), dir_.string(), binary.string(),
                                  link.substr(std::string("cc app.c ").size())));
  ASSERT_EQ(built.exitCode, 0) << built.err;
  Shell ran = shell("'" + binary.string() + "'");
  ASSERT_EQ(ran.exitCode, 0) << ran.err;
  // It prints `step S loss L` lines, then `accuracy A`.
  std::istringstream in(ran.out);
  std::vector<double> losses;
  double accuracy = -1;
  for (std::string word; in >> word;) {
    if (word == "loss") {
      losses.push_back(0);
      in >> losses.back();
    } else if (word == "accuracy") {
      in >> accuracy;
    }
  }
  ASSERT_GE(losses.size(), 2u) << ran.out;
  EXPECT_LT(losses.back(), 0.5 * losses.front()) << ran.out;
  EXPECT_GT(accuracy, 0.9) << ran.out;
}

TEST(AotLibrary, TwoKernelsWithOneSymbolAreADiagnosticNotACrash) {
  auto module = compileSource(SourceFile("t.nabla", "fn f(x) = exp(x)\n"));
  ASSERT_TRUE(module);
  std::vector<codegen::AotKernel> kernels = {{"k", module->functions[0]},
                                             {"k", module->functions[0]}};
  auto object = codegen::compileObject(kernels);
  ASSERT_FALSE(object);
  EXPECT_NE(object.error().render().find("'k'"), std::string::npos);
}

TEST(AotLibrary, LinkLibrariesFollowTheSymbolsAnObjectNeeds) {
  EXPECT_EQ(codegen::linkLibraries({"exp", "memset"}), (std::vector<std::string>{"-lm"}));
  EXPECT_EQ(codegen::linkLibraries({"_ZGVeN8v_exp", "cblas_dgemm", "nabla_rt_lgamma"}),
            (std::vector<std::string>{"-lnabla_rt", "-lopenblas", "-lmvec", "-lm"}));
}

} // namespace
} // namespace nabla
