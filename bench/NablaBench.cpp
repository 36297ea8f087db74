// nabla_bench: nabla's JIT kernels against hand-written C++ (Google Benchmark), with a summary
// table of ratios and JIT compile latencies printed after the run (see bench/run.sh).
//
// Every workload checks nabla's numbers against its baselines before anything is timed; a
// mismatch skips the nabla cases with the error (and the table says so).
#include "bench/Baselines.h"
#include "nabla/Nabla.h"

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#ifdef NABLA_BENCH_HAVE_BLAS
#include <cblas.h>
#endif

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace nabla::bench {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kSeed = 20240607;

// ----- buffers and bound kernels -----------------------------------------------------------------

/// A zero-filled, 64-byte aligned array (the alignment nabla's workspace needs; the same for every
/// buffer so that no side gets an alignment advantage).
template <class T> class Array {
public:
  Array() = default;
  explicit Array(std::size_t n) : n_(n) {
    std::size_t bytes = (std::max<std::size_t>(n, 1) * sizeof(T) + 63) / 64 * 64;
    p_.reset(static_cast<T *>(std::aligned_alloc(64, bytes)));
    if (!p_)
      throw std::bad_alloc();
    std::fill_n(p_.get(), n, T{});
  }
  T *data() const { return p_.get(); }
  std::size_t size() const { return n_; }
  T &operator[](std::size_t i) const { return p_.get()[i]; }

private:
  struct Free {
    void operator()(T *p) const { std::free(p); }
  };
  std::size_t n_ = 0;
  std::unique_ptr<T, Free> p_;
};

template <class T> Array<T> uniform(std::size_t n, double lo, double hi, std::mt19937_64 &rng) {
  Array<T> a(n);
  std::uniform_real_distribution<double> dist(lo, hi);
  for (std::size_t i = 0; i < n; ++i)
    a[i] = static_cast<T>(dist(rng));
  return a;
}

template <class T> Array<T> copyOf(const std::vector<T> &v) {
  Array<T> a(v.size());
  std::copy(v.begin(), v.end(), a.data());
  return a;
}

/// A nabla kernel bound to its buffers: run() is one call through the embedding API.
struct Bound {
  CompiledFunction fn;
  std::vector<const void *> args;
  std::vector<void *> results;
  std::vector<std::int64_t> dims;
  Array<unsigned char> workspace;

  void run() const {
    if (fn.run(args.data(), results.data(), dims.data(), workspace.data()) != 0)
      throw std::runtime_error("a nabla kernel reported an index out of range");
  }
};

std::string readFile(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Program parse(const std::string &source, const std::string &name) {
  auto program = Program::fromSource(source, name);
  if (!program)
    throw std::runtime_error(program.error().render());
  return std::move(*program);
}

/// Compiles `fn` and binds its argument and result slots, by name, to the given buffers, and its
/// runtime dimensions to `dims`.
Bound bind(const Program &program, const std::string &fn, Derivative derivative,
           const std::vector<std::string> &wrt, const std::map<std::string, const void *> &args,
           const std::map<std::string, void *> &results,
           const std::map<std::string, std::int64_t> &dims) {
  auto compiled = program.compile(fn, derivative, wrt);
  if (!compiled)
    throw std::runtime_error(compiled.error().render());
  Bound b;
  b.fn = std::move(*compiled);
  for (const Slot &s : b.fn.arguments()) {
    auto it = args.find(s.name);
    if (it == args.end())
      throw std::runtime_error(fn + ": no buffer for argument '" + s.name + "'");
    b.args.push_back(it->second);
  }
  for (const Slot &s : b.fn.results()) {
    auto it = results.find(s.name);
    if (it == results.end())
      throw std::runtime_error(fn + ": no buffer for result '" + s.name + "'");
    b.results.push_back(it->second);
  }
  for (const std::string &d : b.fn.dimensions()) {
    auto it = dims.find(d);
    if (it == dims.end())
      throw std::runtime_error(fn + ": no value for dimension '" + d + "'");
    b.dims.push_back(it->second);
  }
  b.workspace = Array<unsigned char>(static_cast<std::size_t>(b.fn.workspaceBytes(b.dims.data())));
  return b;
}

// ----- checks ------------------------------------------------------------------------------------

/// GradBench's comparison: |a - b| / max(1, |a| + |b|).
double rho(double a, double b) {
  return std::fabs(a - b) / std::max(1.0, std::fabs(a) + std::fabs(b));
}

double relative(double a, double b) {
  return a == b ? 0.0 : std::fabs(a - b) / std::max(std::fabs(a), std::fabs(b));
}

/// Collects the checks of one workload; `failure()` lists the ones beyond their tolerance.
class Checker {
public:
  template <class T>
  void arrays(const std::string &what, const T *got, const T *want, std::size_t n, double tol) {
    double worst = 0;
    std::size_t at = 0;
    for (std::size_t i = 0; i < n; ++i) {
      double r = rho(static_cast<double>(got[i]), static_cast<double>(want[i]));
      if (!(r <= worst)) { // NaN counts as worst
        worst = std::isnan(r) ? INFINITY : r;
        at = i;
      }
    }
    if (worst > tol)
      fail(what, got[at], want[at], worst, tol, " at element " + std::to_string(at));
  }
  void scalarRelative(const std::string &what, double got, double want, double tol) {
    double r = relative(got, want);
    if (!(r <= tol))
      fail(what, got, want, r, tol, " (relative)");
  }
  const std::string &failure() const { return failure_; }

private:
  void fail(const std::string &what, double got, double want, double err, double tol,
            const std::string &where) {
    std::ostringstream os;
    os.precision(17);
    os << (failure_.empty() ? "" : "; ") << what << where << ": got " << got << ", want " << want
       << " (error " << err << " > " << tol << ")";
    failure_ += os.str();
  }
  std::string failure_;
};

// ----- the benchmark loop ------------------------------------------------------------------------

/// Times `body` unless `error` says why it cannot run.
template <class Body> void timed(benchmark::State &state, const std::string &error, Body body) {
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  for (auto _ : state) {
    body();
    benchmark::ClobberMemory();
  }
}

/// Builds a workload once (the first case that needs it pays, outside its timed loop). A workload
/// that cannot be built reports why through `setupError`.
template <class W> W &workload() {
  static W w;
  return w;
}

/// A timed case: why it cannot run (empty when it can), and one call of what it times.
struct Case {
  std::function<std::string()> error;
  std::function<void()> body;
};

/// Every registered case by name, for the paired ratios of the summary table.
std::map<std::string, Case> &allCases() {
  static std::map<std::string, Case> cases;
  return cases;
}

/// Registers case `name` of workload W: `body(w)` is one call; a nabla case also reports the
/// failures of nabla's checks. `after` may add counters or a label.
template <class W, class Body>
void addCase(const std::string &name, bool nabla, Body body,
             std::function<void(benchmark::State &)> after = {}) {
  Case c{[nabla] {
           W &w = workload<W>();
           return nabla ? w.nablaCase() : w.setupError;
         },
         [body] { body(workload<W>()); }};
  allCases()[name] = c;
  benchmark::RegisterBenchmark(name.c_str(), [c, after](benchmark::State &state) {
    timed(state, c.error(), c.body);
    if (after)
      after(state);
  })->Unit(benchmark::kMicrosecond);
}

std::string sourcePath(const std::string &relative) {
  return (fs::path(NABLA_SOURCE_DIR) / relative).string();
}

// ----- g and g_sum (bench/kernels.nabla) ---------------------------------------------------------

struct GWorkload {
  static constexpr std::int64_t n = 1'000'000;
  Array<double> x1, x2, ct;
  Array<double> out, g1, g2, hOut, hG1, hG2; // nabla's results, the baseline's
  double sum = 0;
  Bound value, grad, sumValue, sumGrad;
  std::string setupError, nablaError;

  GWorkload() {
    try {
      setup();
    } catch (const std::exception &e) {
      setupError = std::string("setup failed: ") + e.what();
    }
  }

  void setup() {
    std::mt19937_64 rng(kSeed);
    auto size = static_cast<std::size_t>(n);
    x1 = uniform<double>(size, 0.5, 2.0, rng);
    x2 = uniform<double>(size, -3.0, 3.0, rng);
    ct = Array<double>(size);
    std::fill_n(ct.data(), size, 1.0);
    for (auto *a : {&out, &g1, &g2, &hOut, &hG1, &hG2})
      *a = Array<double>(size);
    Program p = parse(readFile(sourcePath("bench/kernels.nabla")), "bench/kernels.nabla");
    std::map<std::string, const void *> args{
        {"x1", x1.data()}, {"x2", x2.data()}, {"seed.ct", ct.data()}};
    std::map<std::string, std::int64_t> dims{{"n", n}};
    value = bind(p, "g", Derivative::None, {}, args, {{"value", out.data()}}, dims);
    grad = bind(p, "g", Derivative::Reverse, {}, args,
                {{"value", out.data()}, {"x1", g1.data()}, {"x2", g2.data()}}, dims);
    sumValue = bind(p, "g_sum", Derivative::None, {}, args, {{"value", &sum}}, dims);
    sumGrad = bind(p, "g_sum", Derivative::Reverse, {}, args,
                   {{"value", &sum}, {"x1", g1.data()}, {"x2", g2.data()}}, dims);
    check();
  }

  void check() {
    Checker c;
    auto size = static_cast<std::size_t>(n);
    value.run();
    gValue(x1.data(), x2.data(), hOut.data(), n);
    c.arrays("g value", out.data(), hOut.data(), size, 1e-13);
    grad.run();
    gGrad(x1.data(), x2.data(), ct.data(), hOut.data(), hG1.data(), hG2.data(), n);
    c.arrays("g gradient value", out.data(), hOut.data(), size, 1e-13);
    c.arrays("g gradient x1", g1.data(), hG1.data(), size, 1e-13);
    c.arrays("g gradient x2", g2.data(), hG2.data(), size, 1e-13);
    sumValue.run();
    // Sums of 10^6 terms: nabla may reassociate them (vectorized partial sums).
    c.scalarRelative("g_sum value", sum, gSumValue(x1.data(), x2.data(), n), 1e-10);
    c.scalarRelative("g_sum value (reassociated baseline)", sum,
                     gSumValueReassoc(x1.data(), x2.data(), n), 1e-9);
    sumGrad.run();
    double hs = gSumGrad(x1.data(), x2.data(), hG1.data(), hG2.data(), n);
    c.scalarRelative("g_sum gradient value", sum, hs, 1e-10);
    c.arrays("g_sum gradient x1", g1.data(), hG1.data(), size, 1e-13);
    c.arrays("g_sum gradient x2", g2.data(), hG2.data(), size, 1e-13);
    nablaError = c.failure();
  }
  const std::string &nablaCase() const { return setupError.empty() ? nablaError : setupError; }
};

void registerG() {
  using W = GWorkload;
  addCase<W>("BM_G_NablaValue", true, [](W &w) { w.value.run(); });
  addCase<W>("BM_G_HandValue", false,
             [](W &w) { gValue(w.x1.data(), w.x2.data(), w.hOut.data(), w.n); });
  addCase<W>("BM_G_NablaGrad", true, [](W &w) { w.grad.run(); });
  addCase<W>("BM_G_HandGrad", false, [](W &w) {
    gGrad(w.x1.data(), w.x2.data(), w.ct.data(), w.hOut.data(), w.hG1.data(), w.hG2.data(), w.n);
  });
  addCase<W>("BM_GSum_NablaValue", true, [](W &w) { w.sumValue.run(); });
  addCase<W>("BM_GSum_HandValue", false,
             [](W &w) { benchmark::DoNotOptimize(gSumValue(w.x1.data(), w.x2.data(), w.n)); });
  addCase<W>("BM_GSum_HandReassocValue", false, [](W &w) {
    benchmark::DoNotOptimize(gSumValueReassoc(w.x1.data(), w.x2.data(), w.n));
  });
  addCase<W>("BM_GSum_NablaGrad", true, [](W &w) { w.sumGrad.run(); });
  addCase<W>("BM_GSum_HandGrad", false, [](W &w) {
    benchmark::DoNotOptimize(gSumGrad(w.x1.data(), w.x2.data(), w.hG1.data(), w.hG2.data(), w.n));
  });
}

// ----- matrix products: where the BLAS starts to pay --------------------------------------------

/// C = A B for n x n f64 matrices through nabla's two paths, its own loops and the BLAS: the same
/// source compiled once with NABLA_BLAS_MIN_WORK at infinity and once at 0. The default
/// threshold (codegen/Lowering.cpp) should sit where their times cross.
template <int N> struct MatMulWorkload {
  Array<double> a, b, loops, blas, naive;
  Bound kLoops, kBlas;
  std::string setupError, nablaError;

  MatMulWorkload() {
    try {
      setup();
    } catch (const std::exception &e) {
      setupError = std::string("setup failed: ") + e.what();
    }
  }

  void setup() {
    std::mt19937_64 rng(kSeed + N);
    auto size = static_cast<std::size_t>(N) * N;
    a = uniform<double>(size, -1.0, 1.0, rng);
    b = uniform<double>(size, -1.0, 1.0, rng);
    loops = Array<double>(size);
    blas = Array<double>(size);
    naive = Array<double>(size);
    std::string source = "fn mm_loops_" + std::to_string(N) +
                         "(A: f64[n, n], B: f64[n, n]) -> f64[n, n] = A @ B\n"
                         "fn mm_blas_" + std::to_string(N) +
                         "(A: f64[n, n], B: f64[n, n]) -> f64[n, n] = A @ B\n";
    Program p = parse(source, "matmul.nabla");
    std::map<std::string, std::int64_t> dims{{"n", N}};
    auto compile = [&](const char *minWork, const std::string &fn, Array<double> &out) {
      const char *before = std::getenv("NABLA_BLAS_MIN_WORK");
      std::string saved = before ? before : "";
      setenv("NABLA_BLAS_MIN_WORK", minWork, 1);
      Bound k = bind(p, fn, Derivative::None, {}, {{"A", a.data()}, {"B", b.data()}},
                     {{"value", out.data()}}, dims);
      if (before)
        setenv("NABLA_BLAS_MIN_WORK", saved.c_str(), 1);
      else
        unsetenv("NABLA_BLAS_MIN_WORK");
      return k;
    };
    kLoops = compile("9223372036854775807", "mm_loops_" + std::to_string(N), loops);
    kBlas = compile("0", "mm_blas_" + std::to_string(N), blas);
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < N; ++j) {
        double sum = 0;
        for (int k = 0; k < N; ++k)
          sum += a.data()[i * N + k] * b.data()[k * N + j];
        naive.data()[i * N + j] = sum;
      }
    Checker c;
    kLoops.run();
    kBlas.run();
    c.arrays("matmul loops", loops.data(), naive.data(), size, 1e-13);
    c.arrays("matmul BLAS", blas.data(), naive.data(), size, 1e-13);
    nablaError = c.failure();
  }
  const std::string &nablaCase() const { return setupError.empty() ? nablaError : setupError; }
};

template <int N> void registerMatMul() {
  using W = MatMulWorkload<N>;
  addCase<W>("BM_MatMul_NablaLoops_" + std::to_string(N), true, [](W &w) { w.kLoops.run(); });
  addCase<W>("BM_MatMul_NablaBlas_" + std::to_string(N), true, [](W &w) { w.kBlas.run(); });
}

constexpr int kMatMulSizes[] = {8, 16, 24, 32, 48, 64, 128, 256};

void registerMatMuls() {
  registerMatMul<8>();
  registerMatMul<16>();
  registerMatMul<24>();
  registerMatMul<32>();
  registerMatMul<48>();
  registerMatMul<64>();
  registerMatMul<128>();
  registerMatMul<256>();
}

// ----- logsumexp ---------------------------------------------------------------------------------

struct LseWorkload {
  static constexpr std::int64_t n = 100'000;
  Array<double> x, grad, hGrad;
  double value = 0;
  Bound kValue, kGrad;
  std::string setupError, nablaError;

  LseWorkload() {
    try {
      setup();
    } catch (const std::exception &e) {
      setupError = std::string("setup failed: ") + e.what();
    }
  }

  void setup() {
    std::mt19937_64 rng(kSeed + 1);
    auto size = static_cast<std::size_t>(n);
    x = uniform<double>(size, -10.0, 10.0, rng);
    grad = Array<double>(size);
    hGrad = Array<double>(size);
    Program p = parse(readFile(sourcePath("bench/kernels.nabla")), "bench/kernels.nabla");
    std::map<std::string, std::int64_t> dims{{"n", n}};
    kValue = bind(p, "lse", Derivative::None, {}, {{"x", x.data()}}, {{"value", &value}}, dims);
    kGrad = bind(p, "lse", Derivative::Reverse, {}, {{"x", x.data()}},
                 {{"value", &value}, {"x", grad.data()}}, dims);
    Checker c;
    kValue.run();
    c.scalarRelative("lse value", value, lseValue(x.data(), n), 1e-13);
    c.scalarRelative("lse value (reassociated baseline)", value, lseValueReassoc(x.data(), n),
                     1e-12);
    kGrad.run();
    c.scalarRelative("lse gradient value", value, lseGrad(x.data(), hGrad.data(), n), 1e-13);
    c.arrays("lse gradient", grad.data(), hGrad.data(), size, 1e-13);
    nablaError = c.failure();
  }
  const std::string &nablaCase() const { return setupError.empty() ? nablaError : setupError; }
};

void registerLse() {
  using W = LseWorkload;
  addCase<W>("BM_Lse_NablaValue", true, [](W &w) { w.kValue.run(); });
  addCase<W>("BM_Lse_HandValue", false,
             [](W &w) { benchmark::DoNotOptimize(lseValue(w.x.data(), w.n)); });
  addCase<W>("BM_Lse_HandReassocValue", false,
             [](W &w) { benchmark::DoNotOptimize(lseValueReassoc(w.x.data(), w.n)); });
  addCase<W>("BM_Lse_NablaGrad", true, [](W &w) { w.kGrad.run(); });
  addCase<W>("BM_Lse_HandGrad", false,
             [](W &w) { benchmark::DoNotOptimize(lseGrad(w.x.data(), w.hGrad.data(), w.n)); });
}

// ----- MLP (examples/mlp.nabla) ------------------------------------------------------------------

/// examples/mlp.nabla as written (f32), or with every f32 made f64.
std::string mlpSource(bool f64) {
  std::string src = readFile(sourcePath("examples/mlp.nabla"));
  if (f64)
    for (std::size_t at; (at = src.find("f32")) != std::string::npos;)
      src.replace(at, 3, "f64");
  return src;
}

template <class T> struct MlpWorkload {
  static constexpr std::int64_t B = 64, D = 784, H = 256, C = 10;
  Array<T> x, W1, b1, W2, b2;
  Array<std::int32_t> y;
  T loss = 0;
  Array<T> pred, gW1, gb1, gW2, gb2;                            // nabla's results
  Array<T> z1, a1, z2, dz2, da1, hPred, hgW1, hgb1, hgW2, hgb2; // the baselines'
  Mlp<T> m{};
  Bound kLoss, kGrad;
  std::string setupError, nablaError;

  MlpWorkload() {
    try {
      setup();
    } catch (const std::exception &e) {
      setupError = std::string("setup failed: ") + e.what();
    }
  }

  void setup() {
    std::mt19937_64 rng(kSeed + (std::is_same_v<T, float> ? 2 : 3));
    auto n = [](std::int64_t a, std::int64_t b = 1) { return static_cast<std::size_t>(a * b); };
    // Pixels in [0, 1); Glorot-uniform weights; small biases; labels in [0, C).
    x = uniform<T>(n(B, D), 0.0, 1.0, rng);
    double r1 = std::sqrt(6.0 / (D + H)), r2 = std::sqrt(6.0 / (H + C));
    W1 = uniform<T>(n(H, D), -r1, r1, rng);
    b1 = uniform<T>(n(H), -0.1, 0.1, rng);
    W2 = uniform<T>(n(C, H), -r2, r2, rng);
    b2 = uniform<T>(n(C), -0.1, 0.1, rng);
    y = Array<std::int32_t>(n(B));
    for (std::size_t i = 0; i < n(B); ++i)
      y[i] = static_cast<std::int32_t>(rng() % C);
    pred = Array<T>(n(B, C));
    gW1 = Array<T>(n(H, D));
    gb1 = Array<T>(n(H));
    gW2 = Array<T>(n(C, H));
    gb2 = Array<T>(n(C));
    z1 = Array<T>(n(B, H));
    a1 = Array<T>(n(B, H));
    z2 = Array<T>(n(B, C));
    dz2 = Array<T>(n(B, C));
    da1 = Array<T>(n(B, H));
    hPred = Array<T>(n(B, C));
    hgW1 = Array<T>(n(H, D));
    hgb1 = Array<T>(n(H));
    hgW2 = Array<T>(n(C, H));
    hgb2 = Array<T>(n(C));
    m = Mlp<T>{B,           D,           H,           C,
               x.data(),    y.data(),    W1.data(),   b1.data(),
               W2.data(),   b2.data(),   z1.data(),   a1.data(),
               z2.data(),   dz2.data(),  da1.data(),  hPred.data(),
               hgW1.data(), hgb1.data(), hgW2.data(), hgb2.data()};

    Program p = parse(mlpSource(std::is_same_v<T, double>), "examples/mlp.nabla");
    std::map<std::string, const void *> args{{"x", x.data()},         {"y", y.data()},
                                             {"h.W", W1.data()},      {"h.b", b1.data()},
                                             {"logits.W", W2.data()}, {"logits.b", b2.data()}};
    std::map<std::string, std::int64_t> dims{{"B", B}};
    kLoss =
        bind(p, "mlp", Derivative::None, {}, args, {{"value", &loss}, {"pred", pred.data()}}, dims);
    kGrad = bind(p, "mlp", Derivative::Reverse, {}, args,
                 {{"value", &loss},
                  {"pred", pred.data()},
                  {"h.W", gW1.data()},
                  {"h.b", gb1.data()},
                  {"logits.W", gW2.data()},
                  {"logits.b", gb2.data()}},
                 dims);
    check();
  }

  void check() {
    Checker c;
    // f32: sums of 784 products round differently in every implementation.
    double tol = std::is_same_v<T, float> ? 1e-4 : 1e-11;
    auto compare = [&](const std::string &baseline, T hLoss, bool grads) {
      c.scalarRelative("mlp loss vs " + baseline, loss, hLoss, tol);
      c.arrays("mlp pred vs " + baseline, pred.data(), hPred.data(), pred.size(), tol);
      if (!grads)
        return;
      c.arrays("mlp grad h.W vs " + baseline, gW1.data(), hgW1.data(), gW1.size(), tol);
      c.arrays("mlp grad h.b vs " + baseline, gb1.data(), hgb1.data(), gb1.size(), tol);
      c.arrays("mlp grad logits.W vs " + baseline, gW2.data(), hgW2.data(), gW2.size(), tol);
      c.arrays("mlp grad logits.b vs " + baseline, gb2.data(), hgb2.data(), gb2.size(), tol);
    };
    kLoss.run();
    compare("naive loss", mlpLossNaive(m), false);
    kGrad.run();
    compare("naive gradient", mlpGradNaive(m), true);
#ifdef NABLA_BENCH_HAVE_BLAS
    kLoss.run();
    compare("OpenBLAS loss", mlpLossBlas(m), false);
    kGrad.run();
    compare("OpenBLAS gradient", mlpGradBlas(m), true);
#endif
    nablaError = c.failure();
  }
  const std::string &nablaCase() const { return setupError.empty() ? nablaError : setupError; }
};

template <class T> void registerMlp(const std::string &tag) {
  using W = MlpWorkload<T>;
  // Multiply-adds count 2 flops: the forward pass 2B(DH + HC); the gradient adds the two weight
  // gradients (as large again) and da1 = dz2 W2 (2BHC), not dx (x is data).
  constexpr double fwd = 2.0 * W::B * (W::D * W::H + W::H * W::C);
  constexpr double grad = 2 * fwd + 2.0 * W::B * W::H * W::C;
  auto flops = [](double f) {
    return [f](benchmark::State &state) {
      state.counters["GFLOP/s"] =
          benchmark::Counter(f * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    };
  };
  std::string p = "BM_Mlp" + tag + "_";
  addCase<W>(
      p + "NablaValue", true, [](W &w) { w.kLoss.run(); }, flops(fwd));
  addCase<W>(
      p + "NaiveValue", false, [](W &w) { benchmark::DoNotOptimize(mlpLossNaive(w.m)); },
      flops(fwd));
  addCase<W>(
      p + "NablaGrad", true, [](W &w) { w.kGrad.run(); }, flops(grad));
  addCase<W>(
      p + "NaiveGrad", false, [](W &w) { benchmark::DoNotOptimize(mlpGradNaive(w.m)); },
      flops(grad));
#ifdef NABLA_BENCH_HAVE_BLAS
  addCase<W>(
      p + "BlasValue", false, [](W &w) { benchmark::DoNotOptimize(mlpLossBlas(w.m)); }, flops(fwd));
  addCase<W>(
      p + "BlasGrad", false, [](W &w) { benchmark::DoNotOptimize(mlpGradBlas(w.m)); },
      flops(grad));
#endif
}

// ----- GMM (examples/gmm.nabla, GradBench data) --------------------------------------------------

/// The GMM data the table names (set when the GMM workload is built).
std::string &gmmLabel() {
  static std::string label = "GradBench data";
  return label;
}

fs::path gradbenchData() {
  if (const char *dir = std::getenv("NABLA_GRADBENCH_DATA"))
    return dir;
  return fs::path(NABLA_SOURCE_DIR) / ".." / "shared" / "gradbench-data";
}

/// An ADBench GMM text file: `D K N`, alpha, mu, q and l per component, x, then `gamma m`.
GmmData readGmm(const fs::path &path) {
  std::istringstream in(readFile(path));
  GmmData d;
  in >> d.D >> d.K >> d.N;
  std::int64_t L = d.D * (d.D - 1) / 2;
  auto read = [&](std::vector<double> &v, std::int64_t count) {
    for (std::int64_t i = 0; i < count; ++i) {
      double x;
      in >> x;
      v.push_back(x);
    }
  };
  read(d.alpha, d.K);
  read(d.mu, d.K * d.D);
  for (std::int64_t k = 0; k < d.K; ++k) {
    read(d.q, d.D);
    read(d.l, L);
  }
  read(d.x, d.N * d.D);
  in >> d.gamma >> d.m;
  if (!in)
    throw std::runtime_error("cannot parse " + path.string());
  return d;
}

/// The GMM inputs of one data file bound to nabla's objective and gradient kernels.
struct GmmInstance {
  GmmData data;
  std::unique_ptr<GmmScratch> scratch;
  Array<double> alpha, mu, q, l, x;
  double value = 0;
  Array<double> gAlpha, gMu, gQ, gL, hAlpha, hMu, hQ, hL;
  Bound kValue, kGrad;

  GmmInstance(const Program &p, GmmData d) : data(std::move(d)) {
    scratch = std::make_unique<GmmScratch>(data);
    alpha = copyOf(data.alpha);
    mu = copyOf(data.mu);
    q = copyOf(data.q);
    l = copyOf(data.l);
    x = copyOf(data.x);
    for (auto *a : {&gAlpha, &hAlpha})
      *a = Array<double>(data.alpha.size());
    for (auto *a : {&gMu, &hMu, &gQ, &hQ})
      *a = Array<double>(data.mu.size());
    for (auto *a : {&gL, &hL})
      *a = Array<double>(data.l.size());
    std::map<std::string, const void *> args{
        {"alpha", alpha.data()}, {"mu", mu.data()},      {"q", q.data()}, {"l", l.data()},
        {"x", x.data()},         {"gamma", &data.gamma}, {"m", &data.m}};
    std::map<std::string, std::int64_t> dims{{"D", data.D}, {"K", data.K}, {"N", data.N}};
    kValue = bind(p, "gmm", Derivative::None, {}, args, {{"value", &value}}, dims);
    // GradBench's gradient: with respect to the parameters only (not the data x, gamma or m).
    kGrad = bind(p, "gmm", Derivative::Reverse, {"alpha", "mu", "q", "l"}, args,
                 {{"value", &value},
                  {"alpha", gAlpha.data()},
                  {"mu", gMu.data()},
                  {"q", gQ.data()},
                  {"l", gL.data()}},
                 dims);
  }

  double handObjective() { return gmmObjective(data, *scratch); }
  double handGradient() {
    return gmmGradient(data, *scratch, hAlpha.data(), hMu.data(), hQ.data(), hL.data());
  }

  /// nabla against the hand-written objective (1e-10 relative) and gradient.
  void check(Checker &c, const std::string &tag) {
    kValue.run();
    c.scalarRelative(tag + " objective", value, handObjective(), 1e-10);
    kGrad.run();
    c.scalarRelative(tag + " gradient's objective", value, handGradient(), 1e-10);
    c.arrays(tag + " d/dalpha", gAlpha.data(), hAlpha.data(), gAlpha.size(), 1e-10);
    c.arrays(tag + " d/dmu", gMu.data(), hMu.data(), gMu.size(), 1e-10);
    c.arrays(tag + " d/dq", gQ.data(), hQ.data(), gQ.size(), 1e-10);
    c.arrays(tag + " d/dl", gL.data(), hL.data(), gL.size(), 1e-10);
  }
};

struct GmmWorkload {
  std::string file; // the timed data file, relative to gradbench-data
  std::unique_ptr<GmmInstance> timed;
  std::string setupError, nablaError;

  GmmWorkload() {
    try {
      setup();
    } catch (const std::exception &e) {
      setupError = e.what();
    }
  }

  void setup() {
    fs::path root = gradbenchData();
    if (!fs::exists(root / "README.md"))
      throw std::runtime_error("gradbench-data not found at " + root.string() +
                               " (set NABLA_GRADBENCH_DATA); GMM skipped");
    // GradBench's d=10, K=25, n=1000 when the data set has it; else the largest d=10 file.
    for (const char *f : {"adbench/gmm/1k/gmm_d10_K25.txt", "adbench/gmm/1k/gmm_d10_K10.txt",
                          "adbench/gmm/1k/gmm_d10_K5.txt"})
      if (fs::exists(root / f)) {
        file = f;
        break;
      }
    if (file.empty())
      throw std::runtime_error("no d=10 GMM file under " + (root / "adbench/gmm/1k").string());
    if (file.find("K25") == std::string::npos)
      std::cerr << "nabla_bench: adbench/gmm/1k/gmm_d10_K25.txt is not in " << root.string()
                << "; timing " << file << " instead\n";
    Program p = parse(readFile(sourcePath("examples/gmm.nabla")), "examples/gmm.nabla");
    timed = std::make_unique<GmmInstance>(p, readGmm(root / file));
    const GmmData &d = timed->data;
    gmmLabel() = "d=" + std::to_string(d.D) + " K=" + std::to_string(d.K) +
                 " N=" + std::to_string(d.N) + " (" + fs::path(file).filename().string() + ")";
    Checker c;
    timed->check(c, file);
    checkReference(p, root, c);
    nablaError = c.failure();
  }

  /// Both sides against gradbench-data's reference values (GradBench's sign convention), on
  /// gmm_d10_K5.txt, which has a full reference gradient.
  static void checkReference(const Program &p, const fs::path &root, Checker &c) {
    const std::string file = "adbench/gmm/1k/gmm_d10_K5.txt";
    fs::path refPath = root / "expected" / "reference_values.json";
    if (!fs::exists(root / file) || !fs::exists(refPath))
      return;
    auto ref = nlohmann::json::parse(readFile(refPath))["gmm"][file]["gradbench"];
    GmmInstance g(p, readGmm(root / file));
    g.check(c, file);
    Checker baseline;
    double objective = ref["objective"].get<double>();
    baseline.scalarRelative(file + " reference objective (hand-written)", g.handObjective(),
                            objective, 1e-12);
    c.scalarRelative(file + " reference objective", g.value, objective, 1e-12);
    auto flat = [](const nlohmann::json &j) {
      std::vector<double> out;
      for (const auto &row : j)
        if (row.is_array())
          for (const auto &v : row)
            out.push_back(v.get<double>());
        else
          out.push_back(row.get<double>());
      return out;
    };
    std::vector<double> want[] = {flat(ref["alpha"]), flat(ref["mu"]), flat(ref["q"]),
                                  flat(ref["l"])};
    const Array<double> *got[] = {&g.gAlpha, &g.gMu, &g.gQ, &g.gL};
    const char *names[] = {"alpha", "mu", "q", "l"};
    const Array<double> *hand[] = {&g.hAlpha, &g.hMu, &g.hQ, &g.hL};
    for (int i = 0; i < 4; ++i) {
      if (want[i].size() != got[i]->size())
        throw std::runtime_error(file + ": reference d/d" + names[i] + " has the wrong size");
      c.arrays(file + " reference d/d" + names[i], got[i]->data(), want[i].data(), want[i].size(),
               1e-9);
      baseline.arrays(file + " reference d/d" + names[i] + " (hand-written)", hand[i]->data(),
                      want[i].data(), want[i].size(), 1e-9);
    }
    if (!baseline.failure().empty())
      throw std::runtime_error("the hand-written GMM baseline is wrong: " + baseline.failure());
  }
  const std::string &nablaCase() const { return setupError.empty() ? nablaError : setupError; }
};

void registerGmm() {
  using W = GmmWorkload;
  auto label = [](benchmark::State &state) {
    if (const W &w = workload<W>(); w.timed)
      state.SetLabel(w.file);
  };
  addCase<W>(
      "BM_Gmm_NablaValue", true, [](W &w) { w.timed->kValue.run(); }, label);
  addCase<W>(
      "BM_Gmm_HandValue", false, [](W &w) { benchmark::DoNotOptimize(w.timed->handObjective()); },
      label);
  addCase<W>(
      "BM_Gmm_NablaGrad", true, [](W &w) { w.timed->kGrad.run(); }, label);
  addCase<W>(
      "BM_Gmm_HandGrad", false, [](W &w) { benchmark::DoNotOptimize(w.timed->handGradient()); },
      label);
}

// ----- JIT compile latency -----------------------------------------------------------------------

/// Times Program::compile of `fn` in `source` (parsing is not timed). The JIT caches kernels by
/// their IR, so every iteration renames the function (`fn g(` -> `fn g_c7(`) to compile afresh.
void compileLatency(benchmark::State &state, const std::function<std::string()> &source,
                    const std::string &keyword, const std::string &fn, Derivative derivative,
                    const std::vector<std::string> &wrt) {
  static int counter = 0;
  std::string text;
  try {
    text = source();
  } catch (const std::exception &e) {
    state.SkipWithError(e.what());
    return;
  }
  std::string header = keyword + " " + fn + "(";
  std::size_t at = text.find(header);
  if (at == std::string::npos) {
    state.SkipWithError(("no '" + header + "' in the source").c_str());
    return;
  }
  // bench/run.sh pins the process to one core for the kernels; compiling uses every core (one
  // thread per core: codegen/Jit.cpp), so it runs with the whole machine's affinity.
  cpu_set_t pinned, all;
  sched_getaffinity(0, sizeof pinned, &pinned);
  CPU_ZERO(&all);
  for (int c = 0; c < CPU_SETSIZE; ++c)
    CPU_SET(c, &all);
  sched_setaffinity(0, sizeof all, &all);
  struct RestoreAffinity {
    cpu_set_t set;
    ~RestoreAffinity() { sched_setaffinity(0, sizeof set, &set); }
  } restore{pinned};
  double cpu = 0;
  for (auto _ : state) {
    std::string name = fn + "_c" + std::to_string(counter++);
    std::string renamed = text;
    renamed.replace(at, header.size(), keyword + " " + name + "(");
    auto program = Program::fromSource(renamed, fn);
    if (!program) {
      state.SkipWithError(program.error().render().c_str());
      return;
    }
    auto t0 = std::chrono::steady_clock::now();
    std::clock_t c0 = std::clock();
    auto compiled = program->compile(name, derivative, wrt);
    std::clock_t c1 = std::clock();
    auto t1 = std::chrono::steady_clock::now();
    cpu += static_cast<double>(c1 - c0) / CLOCKS_PER_SEC;
    if (!compiled) {
      state.SkipWithError(compiled.error().render().c_str());
      return;
    }
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  // The process's CPU time in compile, all compile threads together.
  state.counters["cpu_ms"] = benchmark::Counter(cpu * 1e3, benchmark::Counter::kAvgIterations);
}

void registerCompile() {
  auto kernels = [] { return readFile(sourcePath("bench/kernels.nabla")); };
  auto gmm = [] { return readFile(sourcePath("examples/gmm.nabla")); };
  struct Case {
    const char *name;
    std::function<std::string()> source;
    const char *keyword, *fn;
    Derivative derivative;
    std::vector<std::string> wrt;
  };
  std::vector<Case> cases = {
      {"BM_Compile_GValue", kernels, "fn", "g", Derivative::None, {}},
      {"BM_Compile_GGrad", kernels, "fn", "g", Derivative::Reverse, {}},
      {"BM_Compile_GSumValue", kernels, "fn", "g_sum", Derivative::None, {}},
      {"BM_Compile_GSumGrad", kernels, "fn", "g_sum", Derivative::Reverse, {}},
      {"BM_Compile_LseValue", kernels, "fn", "lse", Derivative::None, {}},
      {"BM_Compile_LseGrad", kernels, "fn", "lse", Derivative::Reverse, {}},
      {"BM_Compile_MlpF32Value",
       [] { return mlpSource(false); },
       "model",
       "mlp",
       Derivative::None,
       {}},
      {"BM_Compile_MlpF32Grad",
       [] { return mlpSource(false); },
       "model",
       "mlp",
       Derivative::Reverse,
       {}},
      {"BM_Compile_MlpF64Value",
       [] { return mlpSource(true); },
       "model",
       "mlp",
       Derivative::None,
       {}},
      {"BM_Compile_MlpF64Grad",
       [] { return mlpSource(true); },
       "model",
       "mlp",
       Derivative::Reverse,
       {}},
      {"BM_Compile_GmmValue", gmm, "fn", "gmm", Derivative::None, {}},
      {"BM_Compile_GmmGrad", gmm, "fn", "gmm", Derivative::Reverse, {"alpha", "mu", "q", "l"}},
  };
  for (const Case &c : cases)
    benchmark::RegisterBenchmark(c.name,
                                 [c](benchmark::State &state) {
                                   compileLatency(state, c.source, c.keyword, c.fn, c.derivative,
                                                  c.wrt);
                                 })
        ->Unit(benchmark::kMillisecond)
        ->UseManualTime()
        ->Iterations(1);
}

// ----- the summary table -------------------------------------------------------------------------

/// The console output (the aggregates only, when there are repetitions), and every repetition's
/// time per case.
class TableReporter : public benchmark::ConsoleReporter {
public:
  void ReportRuns(const std::vector<Run> &runs) override {
    bool repeated = false;
    for (const Run &r : runs) {
      const std::string &name = r.run_name.function_name;
      if (r.error_occurred) {
        errors_[name] = r.error_message;
        continue;
      }
      if (r.run_type == Run::RT_Aggregate)
        continue;
      repeated = repeated || r.repetitions > 1;
      // Kernels: CPU time of the (single) benchmark thread, which other processes do not inflate
      // the way they inflate wall time. Compiles: their manual (wall) time, and CPU time.
      bool manual = r.run_name.time_type.find("manual") != std::string::npos;
      double seconds = (manual ? r.GetAdjustedRealTime() : r.GetAdjustedCPUTime()) /
                       benchmark::GetTimeUnitMultiplier(r.time_unit);
      samples_[name].push_back(seconds);
      if (auto cpuMs = r.counters.find("cpu_ms"); cpuMs != r.counters.end())
        compileCpu_[name].push_back(cpuMs->second.value * 1e-3);
    }
    // Google Benchmark reports a case's repetitions, then their aggregates: show the aggregates.
    if (!repeated)
      ConsoleReporter::ReportRuns(runs);
  }

  /// The median over repetitions of a case's time.
  std::optional<double> seconds(const std::string &name) const {
    return median(find(samples_, name));
  }
  /// A compile case's median CPU seconds (the cpu_ms counter).
  std::optional<double> compileCpu(const std::string &name) const {
    return median(find(compileCpu_, name));
  }
  std::string error(const std::string &name) const {
    auto it = errors_.find(name);
    return it == errors_.end() ? "" : it->second;
  }

private:
  using Samples = std::map<std::string, std::vector<double>>;
  static const std::vector<double> &find(const Samples &s, const std::string &name) {
    static const std::vector<double> none;
    auto it = s.find(name);
    return it == s.end() ? none : it->second;
  }
  static std::optional<double> median(std::vector<double> v) {
    if (v.empty())
      return std::nullopt;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  }

  Samples samples_, compileCpu_;
  std::map<std::string, std::string> errors_;
};

std::string formatTime(double s) {
  char buf[32];
  if (s < 1e-3)
    std::snprintf(buf, sizeof buf, "%.1f µs", s * 1e6);
  else if (s < 1)
    std::snprintf(buf, sizeof buf, "%.3g ms", s * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.3g s", s);
  return buf;
}

double threadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

/// Two cases timed back to back: medians of their times and of their ratio.
struct Paired {
  double a, b, ratio;
};

/// Times cases a and b back to back over 31 rounds, each timing a then b (or b then a) for at
/// least 5 ms apiece after one untimed call. A slow phase of the machine slows both sides of a
/// round, so the median ratio is much steadier than a ratio of medians taken minutes apart (on
/// this VM those differ by up to 2x). `estimateA/B` (the cases' benchmark medians) size the rounds.
std::optional<Paired> timePaired(const std::string &a, const std::string &b, double estimateA,
                                 double estimateB) {
  auto ia = allCases().find(a), ib = allCases().find(b);
  if (ia == allCases().end() || ib == allCases().end() || !ia->second.error().empty() ||
      !ib->second.error().empty())
    return std::nullopt;
  auto seconds = [](const Case &c, int calls) {
    c.body(); // untimed: bring this case's data back into cache after the other case ran
    double t0 = threadCpuSeconds();
    for (int i = 0; i < calls; ++i) {
      c.body();
      benchmark::ClobberMemory();
    }
    return (threadCpuSeconds() - t0) / calls;
  };
  auto calls = [](double estimate) {
    return std::max(1, static_cast<int>(std::ceil(5e-3 / estimate)));
  };
  int na = calls(estimateA), nb = calls(estimateB);
  std::vector<double> ta, tb, ratios;
  for (int round = 0; round < 31; ++round) {
    if (round % 2) {
      ta.push_back(seconds(ia->second, na));
      tb.push_back(seconds(ib->second, nb));
    } else {
      tb.push_back(seconds(ib->second, nb));
      ta.push_back(seconds(ia->second, na));
    }
    ratios.push_back(ta.back() / tb.back());
  }
  auto median = [](std::vector<double> &v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  return Paired{median(ta), median(tb), median(ratios)};
}

/// One line of the table: nabla's case over a baseline's, against `target` (none when 0).
struct Row {
  std::string workload, nablaCase, baselineCase, baselineLabel;
  double target;
  std::string targetText;
};

constexpr const char *kTableHeader =
    "\n| workload | nabla | baseline | ratio | target | status |\n|---|---|---|---|---|---|\n";

/// The markdown summary: every row timed back to back (timePaired), then the compile latencies
/// (medians over the repetitions).
void printTable(const TableReporter &r, std::ostream &os) {
  std::vector<Row> rows = {
      {"g value, n=10^6 (elementwise)", "BM_G_NablaValue", "BM_G_HandValue", "hand C++", 1.1,
       "≤ 1.1× hand"},
      {"g gradient (VJP), vs hand gradient", "BM_G_NablaGrad", "BM_G_HandGrad", "hand C++", 0, ""},
      {"g gradient / nabla value", "BM_G_NablaGrad", "BM_G_NablaValue", "nabla value", 2.0,
       "≤ 2.0× fprop"},
      {"g_sum value, n=10^6 (ordered sum)", "BM_GSum_NablaValue", "BM_GSum_HandValue", "hand C++",
       1.1, "≤ 1.1× hand"},
      {"g_sum value, vs reassociated sum", "BM_GSum_NablaValue", "BM_GSum_HandReassocValue",
       "hand C++, reassoc", 0, ""},
      {"g_sum gradient, vs hand gradient", "BM_GSum_NablaGrad", "BM_GSum_HandGrad", "hand C++", 0,
       ""},
      {"g_sum gradient / nabla value", "BM_GSum_NablaGrad", "BM_GSum_NablaValue", "nabla value",
       2.0, "≤ 2.0× fprop"},
      {"logsumexp value, n=10^5", "BM_Lse_NablaValue", "BM_Lse_HandValue", "hand C++", 1.1,
       "≤ 1.1× hand"},
      {"logsumexp value, vs reassociated sum", "BM_Lse_NablaValue", "BM_Lse_HandReassocValue",
       "hand C++, reassoc", 0, ""},
      {"logsumexp gradient, vs hand gradient", "BM_Lse_NablaGrad", "BM_Lse_HandGrad", "hand C++", 0,
       ""},
      {"logsumexp gradient / nabla value", "BM_Lse_NablaGrad", "BM_Lse_NablaValue", "nabla value",
       2.0, "≤ 2.0× fprop"},
  };
  for (const char *t : {"F32", "F64"}) {
    std::string p = std::string("BM_Mlp") + t + "_", dt = t[1] == '3' ? "f32" : "f64";
    std::vector<Row> mlp = {
        {"MLP " + dt + " loss, B=64", p + "NablaValue", p + "BlasValue", "OpenBLAS", 1.1,
         "≤ 1.1× hand"},
        {"MLP " + dt + " loss, vs naive loops", p + "NablaValue", p + "NaiveValue", "naive loops",
         0, ""},
        {"MLP " + dt + " loss+gradient", p + "NablaGrad", p + "BlasGrad", "OpenBLAS", 1 / 0.9,
         "≥ 0.9× OpenBLAS speed"},
        {"MLP " + dt + " loss+gradient, vs naive loops", p + "NablaGrad", p + "NaiveGrad",
         "naive loops", 0, ""},
        {"MLP " + dt + " gradient / nabla loss", p + "NablaGrad", p + "NablaValue", "nabla value",
         2.0, "≤ 2.0× fprop"},
    };
    rows.insert(rows.end(), mlp.begin(), mlp.end());
  }
  std::vector<Row> gmm = {
      {"GMM objective, " + gmmLabel(), "BM_Gmm_NablaValue", "BM_Gmm_HandValue", "hand C++", 1.1,
       "≤ 1.1× hand"},
      {"GMM gradient, vs hand gradient", "BM_Gmm_NablaGrad", "BM_Gmm_HandGrad", "hand C++", 0, ""},
      {"GMM gradient / nabla objective", "BM_Gmm_NablaGrad", "BM_Gmm_NablaValue", "nabla value",
       2.0, "≤ 2.0× fprop"},
  };
  rows.insert(rows.end(), gmm.begin(), gmm.end());
  // Where nabla's own matmul loops and its BLAS path cross (the BLAS threshold).
  for (int n : kMatMulSizes) {
    std::string size = std::to_string(n);
    rows.push_back({"matmul " + size + "×" + size + "×" + size + " f64, nabla loops vs BLAS",
                    "BM_MatMul_NablaLoops_" + size, "BM_MatMul_NablaBlas_" + size,
                    "nabla via OpenBLAS", 0, ""});
  }

  bool header = false;
  for (const Row &row : rows) {
    auto a = r.seconds(row.nablaCase), b = r.seconds(row.baselineCase);
    if (!a || !b) {
      std::string why = r.error(row.nablaCase);
      if (why.empty())
        why = r.error(row.baselineCase);
      if (why.empty())
        continue; // filtered out of this run
      if (!std::exchange(header, true))
        os << kTableHeader;
      std::replace(why.begin(), why.end(), '\n', ' ');
      std::replace(why.begin(), why.end(), '|', '/');
      if (why.size() > 120)
        why = why.substr(0, 117) + "...";
      os << "| " << row.workload << " | — | — | — | " << row.targetText << " | skipped: " << why
         << " |\n";
      continue;
    }
    if (!std::exchange(header, true))
      os << kTableHeader;
    auto paired = timePaired(row.nablaCase, row.baselineCase, *a, *b);
    if (!paired)
      continue;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f×", paired->ratio);
    std::string status = row.target <= 0               ? "(info)"
                         : paired->ratio <= row.target ? "met"
                                                       : "not met";
    os << "| " << row.workload << " | " << formatTime(paired->a) << " | " << formatTime(paired->b)
       << " (" << row.baselineLabel << ") | " << buf << " | "
       << (row.targetText.empty() ? "—" : row.targetText) << " | " << status << " |\n";
  }

  struct Compile {
    std::string kernel, name;
    double target;
  };
  std::vector<Compile> compiles = {
      {"g value", "BM_Compile_GValue", 0},
      {"g gradient", "BM_Compile_GGrad", 0},
      {"g_sum value", "BM_Compile_GSumValue", 0},
      {"g_sum gradient", "BM_Compile_GSumGrad", 0},
      {"logsumexp value", "BM_Compile_LseValue", 0},
      {"logsumexp gradient", "BM_Compile_LseGrad", 0},
      {"MLP f32 loss", "BM_Compile_MlpF32Value", 0},
      {"MLP f32 gradient", "BM_Compile_MlpF32Grad", 0.050},
      {"MLP f64 loss", "BM_Compile_MlpF64Value", 0},
      {"MLP f64 gradient", "BM_Compile_MlpF64Grad", 0.050},
      {"GMM objective", "BM_Compile_GmmValue", 0},
      {"GMM gradient", "BM_Compile_GmmGrad", 0},
  };
  header = false;
  for (const Compile &c : compiles) {
    auto t = r.seconds(c.name);
    if (!t)
      continue;
    if (!std::exchange(header, true))
      os << "\n| kernel | Program::compile (wall) | CPU time, all threads | target | status |\n"
         << "|---|---|---|---|---|\n";
    auto cpu = r.compileCpu(c.name);
    os << "| " << c.kernel << " | " << formatTime(*t) << " | " << (cpu ? formatTime(*cpu) : "—")
       << " | " << (c.target > 0 ? "< " + formatTime(c.target) : "—") << " | "
       << (c.target <= 0   ? "(info)"
           : *t < c.target ? "met"
                           : "not met")
       << " |\n";
  }
}

} // namespace
} // namespace nabla::bench

int main(int argc, char **argv) {
  using namespace nabla::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
#ifdef NABLA_BENCH_HAVE_BLAS
  // Single-threaded like nabla's kernels (whose large products call this same OpenBLAS).
  openblas_set_num_threads(1);
#endif
#ifdef NABLA_BENCH_HAVE_BLAS
  std::cerr << "nabla_bench: OpenBLAS " << openblas_get_config() << ", core "
            << openblas_get_corename() << ", 1 thread\n";
#endif
  // Start the JIT (LLVM's target setup) before anything is timed.
  if (auto warm = nabla::Program::fromSource("fn warm(x) = x"); warm)
    (void)warm->compile("warm");
  registerG();
  registerLse();
  registerMlp<float>("F32");
  registerMlp<double>("F64");
  registerGmm();
  registerMatMuls();
  registerCompile();
  TableReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  printTable(reporter, std::cout);
  benchmark::Shutdown();
  return 0;
}
