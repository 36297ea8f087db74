// Hand-written C++ baselines for nabla_bench: the same math as the benchmarked .nabla kernels.
//
// Baselines.cpp (and BlasBaseline.cpp) are compiled with -O3 -march=native -fno-math-errno
// -fveclib=libmvec, so that their exp/log/sin loops vectorize through glibc's libmvec, the same
// vector math library that nabla's JIT calls. No -ffast-math: like nabla's kernels, a baseline sums
// in source order unless it says otherwise (the *Reassoc variants).
#pragma once

#include <cstdint>
#include <vector>

namespace nabla::bench {

// ----- g(x1, x2) = ln(x1) + x1*x2 - sin(x2), elementwise over n points ------------------------

/// out[i] = g(x1[i], x2[i]).
void gValue(const double *x1, const double *x2, double *out, std::int64_t n);
/// out = g, and the vector-Jacobian product with cotangent ct: g1 = ct*(1/x1 + x2),
/// g2 = ct*(x1 - cos x2) (what nabla's reverse mode computes for a vector-valued fn).
void gGrad(const double *x1, const double *x2, const double *ct, double *out, double *g1,
           double *g2, std::int64_t n);

// ----- gsum(x1, x2) = sum_i g(x1[i], x2[i]) -----------------------------------------------------

/// The sum in index order (no reassociation: the loop stays scalar, as nabla's does).
double gSumValue(const double *x1, const double *x2, std::int64_t n);
/// The sum with reassociation allowed (`#pragma clang fp reassociate(on)`): vectorized.
double gSumValueReassoc(const double *x1, const double *x2, std::int64_t n);
/// The sum in index order and its gradient g1 = 1/x1 + x2, g2 = x1 - cos x2.
double gSumGrad(const double *x1, const double *x2, double *g1, double *g2, std::int64_t n);

// ----- logsumexp -------------------------------------------------------------------------------

/// max + log(sum(exp(x - max))), summed in index order.
double lseValue(const double *x, std::int64_t n);
/// The same with reassociation allowed: vectorized.
double lseValueReassoc(const double *x, std::int64_t n);
/// logsumexp and its gradient softmax(x), summed in index order.
double lseGrad(const double *x, double *g, std::int64_t n);

// ----- MLP 784-256-10, ReLU, mean softmax cross-entropy -----------------------------------------

/// One batch of the mlp model of examples/mlp.nabla, its params, scratch and results (row-major;
/// W1: [H, D], W2: [C, H] as `dense` declares them).
template <class T> struct Mlp {
  std::int64_t B, D, H, C;
  const T *x;            // [B, D]
  const std::int32_t *y; // [B]
  const T *W1, *b1, *W2, *b2;
  T *z1, *a1, *z2, *dz2, *da1; // scratch: [B, H], [B, H], [B, C], [B, C], [B, H]
  T *pred;                     // [B, C] softmax (the model's output)
  T *gW1, *gb1, *gW2, *gb2;    // gradients, shaped like the params
};

/// The parts shared by both MLP baselines: loss and pred from the logits z2 (the mean over the
/// batch of logsumexp(z) - z[y]); a1 = relu(z1); dz2 = (pred - onehot(y)) / B and gb2; da1 becomes
/// dz1 = da1 * (z1 > 0) in place, and gb1.
template <class T> T mlpSoftmaxCrossEntropy(const Mlp<T> &m);
template <class T> void mlpReluForward(const Mlp<T> &m);
template <class T> void mlpLossBackward(const Mlp<T> &m);
template <class T> void mlpReluBackward(const Mlp<T> &m);

/// The loss (and pred) with textbook triple loops.
template <class T> T mlpLossNaive(const Mlp<T> &m);
/// The loss, pred and every param gradient with textbook triple loops.
template <class T> T mlpGradNaive(const Mlp<T> &m);
/// The same with cblas_sgemm/cblas_dgemm for the matrix products (BlasBaseline.cpp; only when
/// OpenBLAS was found).
template <class T> T mlpLossBlas(const Mlp<T> &m);
template <class T> T mlpGradBlas(const Mlp<T> &m);

// ----- GMM objective (GradBench's formulation, see gradbench-data/README.md) ---------------------

struct GmmData {
  std::int64_t D = 0, K = 0, N = 0;
  std::vector<double> alpha, mu, q, l, x; // [K], [K, D], [K, D], [K, D(D-1)/2], [N, D]
  double gamma = 0, m = 0;
};

/// Scratch for the GMM baselines, sized once outside the timed loop.
struct GmmScratch {
  explicit GmmScratch(const GmmData &d);
  std::vector<double> qdiag, sumq, xc, y, beta;
};

/// The objective.
double gmmObjective(const GmmData &d, GmmScratch &s);
/// The objective and its gradient with respect to alpha, mu, q and l (hand-derived reverse mode).
double gmmGradient(const GmmData &d, GmmScratch &s, double *gAlpha, double *gMu, double *gQ,
                   double *gL);

} // namespace nabla::bench
