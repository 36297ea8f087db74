// Compiled code against the reference interpreter: every golden program and example, and their
// derivative functions in all three modes, on seeded random inputs. f64 to 1e-12 relative, f32
// within f32 rounding.
#include "codegen/Jit.h"
#include "frontend/Sema.h"
#include "ir/Differentiate.h"
#include "passes/ForwardMode.h"
#include "passes/ReverseMode.h"
#include "passes/Symbolic.h"
#include "driver/Execute.h"

#include "tests/Random.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace nabla {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> programs() {
  std::vector<fs::path> out;
  for (const char *dir : {"tests/golden/sema", "examples"})
    for (const auto &e : fs::directory_iterator(fs::path(NABLA_SOURCE_DIR) / dir))
      if (e.path().extension() == ".nabla")
        out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

using testing::randomArgs;

/// |a - b| <= tol * max(1, |b|) element by element, NaN matching NaN.
void expectClose(const Tensor &jit, const Tensor &ref, double tol, const std::string &what) {
  ASSERT_EQ(jit.shape, ref.shape) << what;
  for (std::size_t i = 0; i < ref.data.size(); ++i) {
    double a = jit.data[i], b = ref.data[i];
    if (std::isnan(b)) {
      EXPECT_TRUE(std::isnan(a)) << what << " entry " << i;
      continue;
    }
    if (std::isinf(b)) {
      EXPECT_EQ(a, b) << what << " entry " << i;
      continue;
    }
    EXPECT_NEAR(a, b, tol * std::max(1.0, std::fabs(b))) << what << " entry " << i;
  }
}

void compareEngines(const Function &f, const DimBinding &dims, std::mt19937_64 &rng,
                    const std::string &what, int *compared) {
  bool isF32 = false;
  for (const Inst &inst : f.insts)
    isF32 = isF32 || inst.type.dtype == DType::F32;
  double tol = isF32 ? 1e-5 : 1e-12;
  std::vector<Tensor> args = randomArgs(f, dims, rng);
  // Derived functions may take extra arguments (tangents, a seed): random too.
  auto ref = execute(Engine::Interp, f, args, dims);
  ASSERT_TRUE(ref) << what << ": " << ref.error().render();
  auto jit = execute(Engine::Jit, f, args, dims);
  ASSERT_TRUE(jit) << what << ": " << jit.error().render();
  ASSERT_EQ(jit->size(), ref->size());
  for (std::size_t r = 0; r < ref->size(); ++r)
    expectClose((*jit)[r], (*ref)[r], tol, what + " result " + std::to_string(r));
  ++*compared;
}

TEST(Jit, AgreesWithTheInterpreterOnEveryProgramAndItsDerivatives) {
  std::mt19937_64 rng(20261122);
  int compared = 0;
  for (const fs::path &p : programs()) {
    std::ifstream in(p);
    std::stringstream text;
    text << in.rdbuf();
    SemaOptions options;
    if (p.filename() == "ner_window.nabla")
      options.dims = {{"V", 20}, {"d", 4}};
    if (p.filename() == "mlp.nabla")
      options.dims = {{"D", 6}, {"H", 5}, {"C", 3}};
    auto module = compileSource(SourceFile(p.string(), text.str()), options);
    ASSERT_TRUE(module) << module.error().render();
    for (const Function &f : module->functions) {
      DimBinding dims;
      for (const std::string &d : f.dimParams)
        dims[d] = 3;
      std::string name = p.filename().string() + " @" + f.name;
      compareEngines(f, dims, rng, name, &compared);
      auto wrt = *selectArguments(f, {});
      if (wrt.empty())
        continue;
      compareEngines(forwardMode(f, wrt, 2), dims, rng, name + " forward", &compared);
      compareEngines(reverseMode(f, wrt), dims, rng, name + " reverse", &compared);
      compareEngines(symbolicGradient(f, wrt), dims, rng, name + " symbolic", &compared);
    }
  }
  EXPECT_GE(compared, 100);
}

TEST(Jit, IndexOutOfRangeIsAnErrorNotACrash) {
  auto module = compileSource(SourceFile("t.nabla", "fn f(E: f64[3, 2], ids: i32[2]) = sum(E[ids])\n"));
  ASSERT_TRUE(module);
  Tensor e(DType::F64, {3, 2}), ids(DType::I32, {2});
  ids.data = {1, 7};
  auto r = execute(Engine::Jit, module->functions[0], {e, ids});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().list[0].message.find("out of range"), std::string::npos);
  ids.data = {1, -3}; // negative indices count from the end, as numpy's
  EXPECT_TRUE(execute(Engine::Jit, module->functions[0], {e, ids}));
}

TEST(Jit, CompiledKernelsAreCachedByContent) {
  auto module = compileSource(SourceFile("t.nabla", "fn f(x) = exp(x) + 1\n"));
  ASSERT_TRUE(module);
  auto first = execute(Engine::Jit, module->functions[0], {Tensor::scalar(1)});
  auto second = execute(Engine::Jit, module->functions[0], {Tensor::scalar(2)});
  ASSERT_TRUE(first && second);
  EXPECT_DOUBLE_EQ((*second)[0].data[0], std::exp(2.0) + 1);
}

// Matrix products whose operands are batch broadcasts (read in place, not copied), transposed
// broadcasts, matrix-vector products (dot products in registers), and products summed over batch
// axes (contraction loops, no [batch, m, n] buffer) — in the loop path and through the BLAS —
// with their derivatives in every mode.
TEST(Jit, BatchedProductsOverBroadcastOperandsAgreeWithTheInterpreter) {
  const char *source = R"(
fn matvec(Q: f64[k, d, d], x: f64[n, k, d]) -> f64 =
  sum(reshape(Q @ reshape(x, [n, k, d, 1]), [n, k, d]) ^ 2)
fn shared(A: f64[m, p], X: f64[b, p, q]) -> f64 = sum(sin(A @ X))
fn shared_t(A: f64[p, m], X: f64[b, p, q]) -> f64 = sum(sin(A.T @ X))
fn outers(u: f64[n, k, d], v: f64[n, k, d]) -> f64[k, d, d] =
  sum(reshape(u, [n, k, d, 1]) @ reshape(v, [n, k, 1, d]), axis=0)
fn summed(A: f64[b, m, p], X: f64[b, p, q]) -> f64[m, q] = sum(A @ X, axis=0)
)";
  auto module = compileSource(SourceFile("t.nabla", source));
  ASSERT_TRUE(module) << module.error().render();
  std::mt19937_64 rng(5);
  int compared = 0;
  // Small sizes run loops; m p q = 40^3 goes through the BLAS where nabla has one.
  for (std::int64_t size : {3, 40}) {
    for (const Function &f : module->functions) {
      DimBinding dims;
      for (const std::string &d : f.dimParams)
        dims[d] = d == "b" || d == "n" ? 3 : d == "k" ? 2 : size;
      std::string name = "@" + f.name + " at size " + std::to_string(size);
      compareEngines(f, dims, rng, name, &compared);
      auto wrt = *selectArguments(f, {});
      compareEngines(forwardMode(f, wrt, 2), dims, rng, name + " forward", &compared);
      compareEngines(reverseMode(f, wrt), dims, rng, name + " reverse", &compared);
    }
  }
  // 400 points: matvec and outers fold the point axis into one GEMM per k (400 * 10 * 10
  // multiply-adds) where nabla has a BLAS.
  for (const Function &f : module->functions) {
    if (f.name != "matvec" && f.name != "outers")
      continue;
    DimBinding dims{{"n", 400}, {"k", 2}, {"d", 10}};
    auto wrt = *selectArguments(f, {});
    compareEngines(f, dims, rng, "@" + f.name + " folded", &compared);
    compareEngines(reverseMode(f, wrt), dims, rng, "@" + f.name + " folded reverse", &compared);
  }
  EXPECT_EQ(compared, 34);
}

// Row groups: the softmax-cross-entropy chain over [b, c] runs row by row in one function (max,
// shift, logsumexp, exp, gather, scatter), and sums over the batch axis walk the input in memory
// order. Both must still agree with the interpreter, values and gradients; the max and the
// ties of a row must stay within the row.
TEST(Jit, RowGroupsAndBatchSumsAgreeWithTheInterpreter) {
  const char *source = R"(
fn xent(z: f64[b, c], y: i32[b]) -> f64 = mean(cross_entropy(z, y)) + sum(softmax(z) ^ 2)
fn colsum(x: f64[b, c], w: f64[c]) -> f64[c] = sum(x * w, axis=0) + max(x, axis=0)
fn rows_then_all(x: f64[b, c]) -> f64 = sum(exp(x - reshape(max(x, axis=1), [b, 1])) * x) / max(x)
)";
  auto module = compileSource(SourceFile("t.nabla", source));
  ASSERT_TRUE(module) << module.error().render();
  auto xent = (*codegen::Jit::instance())->llvmIr(
      reverseMode(module->functions[0],
                  *selectArguments(module->functions[0], {})),
      false);
  ASSERT_TRUE(xent);
  EXPECT_NE(xent->find(".rows"), std::string::npos) << *xent;
  std::mt19937_64 rng(11);
  int compared = 0;
  for (std::int64_t rows : {1, 3, 17}) {
    for (const Function &f : module->functions) {
      DimBinding dims{{"b", rows}, {"c", 5}};
      std::string name = "@" + f.name + " with " + std::to_string(rows) + " rows";
      compareEngines(f, dims, rng, name, &compared);
      auto wrt = *selectArguments(f, {});
      compareEngines(forwardMode(f, wrt, 2), dims, rng, name + " forward", &compared);
      compareEngines(reverseMode(f, wrt), dims, rng, name + " reverse", &compared);
    }
  }
  EXPECT_EQ(compared, 27);
}

// The MLP gradient kernel's plan, which is what its compile time follows (docs/performance.md):
// the GEMMs, one row group per chain of row-local loops, the batch sums; nothing else.
TEST(Jit, MlpGradientKernelIsAFewLoopFunctions) {
  std::ifstream in(fs::path(NABLA_SOURCE_DIR) / "examples/mlp.nabla");
  std::stringstream text;
  text << in.rdbuf();
  SemaOptions options;
  options.dims = {{"D", 784}, {"H", 256}, {"C", 10}};
  auto module = compileSource(SourceFile("mlp.nabla", text.str()), options);
  ASSERT_TRUE(module) << module.error().render();
  const Function &mlp = module->functions[0];
  Function grad = reverseMode(mlp, *selectArguments(mlp, {}));
  auto ir = (*codegen::Jit::instance())->llvmIr(grad, false);
  ASSERT_TRUE(ir);
  std::vector<std::string> functions;
  for (std::size_t at = 0; (at = ir->find("define internal i32 @", at)) != std::string::npos;) {
    at += std::string("define internal i32 @").size();
    functions.push_back(ir->substr(at, ir->find('(', at) - at));
  }
  std::string list;
  for (const std::string &name : functions)
    list += name + "\n";
  EXPECT_LE(functions.size(), 11u) << list;
  EXPECT_EQ(std::count_if(functions.begin(), functions.end(),
                          [](const std::string &n) { return n.find(".rows") != std::string::npos; }),
            2)
      << list;
}

// A reverse kernel of an elementwise fn computes its value and every gradient in one loop: one
// pass over the arguments and the cotangent, not one per result.
TEST(Jit, ElementwiseResultsOfOneShapeShareOneLoop) {
  auto module = compileSource(
      SourceFile("t.nabla", "fn g(x1: f64[n], x2: f64[n]) -> f64[n] = ln(x1) + x1*x2 - sin(x2)\n"));
  ASSERT_TRUE(module);
  const Function &g = module->functions[0];
  Function grad = reverseMode(g, *selectArguments(g, {}));
  auto jit = codegen::Jit::instance();
  ASSERT_TRUE(jit);
  auto ir = (*jit)->llvmIr(grad, false);
  ASSERT_TRUE(ir);
  EXPECT_NE(ir->find(".fused3("), std::string::npos) << *ir;
  std::mt19937_64 rng(7);
  DimBinding dims{{"n", 37}};
  std::vector<Tensor> args = randomArgs(grad, dims, rng);
  auto viaJit = execute(Engine::Jit, grad, args);
  auto viaInterp = execute(Engine::Interp, grad, args);
  ASSERT_TRUE(viaJit && viaInterp);
  ASSERT_EQ(viaJit->size(), 3u);
  for (std::size_t r = 0; r < 3; ++r)
    expectClose((*viaJit)[r], (*viaInterp)[r], 1e-12, "result " + std::to_string(r));
}

} // namespace
} // namespace nabla
