// The kernel plan (codegen/Plan.h) as golden text: what is stored, which values fuse into which
// loops, the row groups, and how each matrix product runs, for the examples, their gradients and
// kernels chosen to show each decision. NABLA_UPDATE_GOLDEN=1 rewrites tests/golden/plan/.
#include "codegen/Plan.h"
#include "codegen/Jit.h"
#include "frontend/Sema.h"
#include "ir/Differentiate.h"
#include "passes/ReverseMode.h"
#include "tests/Golden.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace nabla {
namespace {

namespace fs = std::filesystem;
using codegen::LoopGroup;
using codegen::LoopPlan;
using codegen::PlanTarget;
using codegen::ProductPath;

/// Goldens do not depend on the build or the environment: a BLAS, at its default threshold.
PlanTarget goldenTarget() { return PlanTarget{true, 16 * 16 * 16}; }

Module compile(const std::string &name, const std::string &source, SemaOptions options = {}) {
  auto module = compileSource(SourceFile(name, source), options);
  EXPECT_TRUE(module) << module.error().render();
  return module ? *module : Module{};
}

std::string readFile(const fs::path &p) {
  std::ifstream in(p);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The plans of every function of `module` and of its reverse-mode gradient.
std::string plansOf(const Module &module) {
  std::string out;
  for (const Function &f : module.functions) {
    out += printPlan(f, planKernel(f, goldenTarget()));
    auto wrt = *selectArguments(f, {});
    if (wrt.empty())
      continue;
    Function grad = reverseMode(f, wrt);
    out += "\n" + printPlan(grad, planKernel(grad, goldenTarget())) + "\n";
  }
  return out;
}

int rowGroups(const LoopPlan &plan) {
  return static_cast<int>(std::count_if(plan.groups.begin(), plan.groups.end(),
                                        [](const LoopGroup &g) { return g.rows.has_value(); }));
}

int loopFunctions(const LoopPlan &plan) {
  return static_cast<int>(std::count_if(plan.groups.begin(), plan.groups.end(),
                                        [](const LoopGroup &g) { return !g.inKernel; }));
}

TEST(Plan, ExamplesAndTheirGradients) {
  int count = 0;
  for (const auto &e : fs::directory_iterator(fs::path(NABLA_SOURCE_DIR) / "examples")) {
    if (e.path().extension() != ".nabla")
      continue;
    ++count;
    SCOPED_TRACE(e.path().filename().string());
    Module module = compile(e.path().string(), readFile(e.path()));
    expectGolden(plansOf(module), "plan/" + e.path().stem().string() + ".plan");
  }
  EXPECT_GE(count, 5);
}

// Kernels that show one decision each: elementwise results sharing a loop, a scalar in the
// kernel, a softmax-cross-entropy in row groups, column sums, transposed and broadcast matmul
// operands read in place, products summed over a batch, folded GEMMs and the BLAS rule.
const char *kKernels = R"(
fn g(x1: f64[n], x2: f64[n]) -> f64[n] = ln(x1) + x1*x2 - sin(x2)
fn scalar(x, y) = x * y + exp(x)
fn xent(z: f64[b, c], y: i32[b]) -> f64 = mean(cross_entropy(z, y)) + sum(softmax(z) ^ 2)
fn colsum(x: f64[b, c], w: f64[c]) -> f64[c] = sum(x * w, axis=0) + max(x, axis=0)
fn matvec(Q: f64[k, d, d], x: f64[n, k, d]) -> f64 =
  sum(reshape(Q @ reshape(x, [n, k, d, 1]), [n, k, d]) ^ 2)
fn shared_t(A: f64[p, m], X: f64[b, p, q]) -> f64 = sum(sin(A.T @ X))
fn outers(u: f64[n, k, d], v: f64[n, k, d]) -> f64[k, d, d] =
  sum(reshape(u, [n, k, d, 1]) @ reshape(v, [n, k, 1, d]), axis=0)
fn summed(A: f64[b, m, p], X: f64[b, p, q]) -> f64[m, q] = sum(A @ X, axis=0)
fn big(A: f64[64, 64], X: f64[64, 64]) -> f64[64, 64] = A @ X
fn small(A: f64[4, 4], X: f64[4, 4]) -> f64[4, 4] = A @ X
fn batched(A: f64[b, 8, 8], X: f64[b, 8, 8]) -> f64[b, 8, 8] = A @ X
fn tall(A: f64[n, 300], x: f64[300]) -> f64[n] = A @ x
)";

TEST(Plan, KernelsThatShowEachDecision) {
  expectGolden(plansOf(compile("kernels.nabla", kKernels)), "plan/kernels.plan");
}

const Function &named(const Module &m, const std::string &name) {
  for (const Function &f : m.functions)
    if (f.name == name)
      return f;
  ADD_FAILURE() << "no fn " << name;
  return m.functions.front();
}

// A reverse kernel of an elementwise fn computes its value and every gradient in one loop: one
// pass over the arguments and the cotangent, not one per result.
TEST(Plan, ElementwiseResultsOfOneShapeShareOneLoop) {
  Module m = compile("kernels.nabla", kKernels);
  const Function &g = named(m, "g");
  Function grad = reverseMode(g, *selectArguments(g, {}));
  LoopPlan plan = planKernel(grad, goldenTarget());
  ASSERT_EQ(plan.groups.size(), 1u) << printPlan(grad, plan);
  ASSERT_EQ(plan.groups[0].loops.size(), 1u);
  EXPECT_EQ(plan.groups[0].loops[0].size(), 3u) << printPlan(grad, plan);
}

// The softmax-cross-entropy chain over [b, c], with its gradient, runs row by row.
TEST(Plan, CrossEntropyGradientRunsInRowGroups) {
  Module m = compile("kernels.nabla", kKernels);
  const Function &xent = named(m, "xent");
  Function grad = reverseMode(xent, *selectArguments(xent, {}));
  LoopPlan plan = planKernel(grad, goldenTarget());
  EXPECT_GE(rowGroups(plan), 1) << printPlan(grad, plan);
}

// The MLP gradient kernel's plan, which is what its compile time follows (docs/performance.md):
// the GEMMs, one row group per chain of row-local loops, the batch sums; nothing else.
TEST(Plan, MlpGradientIsAFewLoopFunctions) {
  SemaOptions options;
  options.dims = {{"D", 784}, {"H", 256}, {"C", 10}};
  fs::path path = fs::path(NABLA_SOURCE_DIR) / "examples/mlp.nabla";
  Module m = compile(path.string(), readFile(path), options);
  const Function &mlp = m.functions[0];
  Function grad = reverseMode(mlp, *selectArguments(mlp, {}));
  LoopPlan plan = planKernel(grad, goldenTarget());
  EXPECT_LE(loopFunctions(plan), 11) << printPlan(grad, plan);
  EXPECT_EQ(rowGroups(plan), 2) << printPlan(grad, plan);
  // Every matmul of an MLP with a batch goes to the BLAS, without a loop fallback.
  int products = 0;
  for (const auto &p : plan.products)
    if (p) {
      ++products;
      EXPECT_EQ(p->path, ProductPath::Blas) << printPlan(grad, plan);
    }
  EXPECT_GE(products, 4);
}

// A batch of matrix-vector products over a shared matrix, and a sum of outer products over a
// batch, fold the batch into the rows of one GEMM per trailing batch entry.
TEST(Plan, SharedMatrixProductsFoldIntoGemms) {
  Module m = compile("kernels.nabla", kKernels);
  for (const char *name : {"matvec", "outers"}) {
    const Function &f = named(m, name);
    LoopPlan plan = planKernel(f, goldenTarget());
    bool folded = false;
    for (const auto &p : plan.products)
      folded = folded || (p && p->path == ProductPath::FoldedGemmIfLarge && p->foldedAxes == 1);
    EXPECT_TRUE(folded) << printPlan(f, plan);
    // Without a BLAS, the same products run loops.
    LoopPlan noBlas = planKernel(f, PlanTarget{false, 4096});
    for (const auto &p : noBlas.products)
      if (p)
        EXPECT_EQ(p->path, ProductPath::Loops) << printPlan(f, noBlas);
  }
}

// The kernel emitter follows the plan: one LLVM function per loop group outside the kernel.
TEST(Plan, KernelHasOneFunctionPerLoopGroup) {
  auto jit = codegen::Jit::instance();
  ASSERT_TRUE(jit);
  std::vector<Function> functions;
  for (const Function &f : compile("kernels.nabla", kKernels).functions) {
    functions.push_back(f);
    if (auto wrt = *selectArguments(f, {}); !wrt.empty())
      functions.push_back(reverseMode(f, wrt));
  }
  for (const Function &f : functions) {
    auto ir = (*jit)->llvmIr(f, false);
    ASSERT_TRUE(ir);
    int defined = 0;
    for (std::size_t at = 0; (at = ir->find("define internal i32 @", at)) != std::string::npos;
         ++at)
      ++defined;
    EXPECT_EQ(defined, loopFunctions(codegen::planKernel(f))) << f.name;
  }
}

} // namespace
} // namespace nabla
