// The MLP baseline with OpenBLAS GEMMs: the hand-written C++ a practitioner would call fast.
#include "bench/Baselines.h"

#include <cblas.h>

#include <type_traits>

namespace nabla::bench {

namespace {

/// C = alpha op(A) op(B) + beta C, row-major, for float or double.
template <class T>
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::int64_t m, std::int64_t n, std::int64_t k,
          const T *a, std::int64_t lda, const T *b, std::int64_t ldb, T beta, T *c,
          std::int64_t ldc) {
  auto i = [](std::int64_t v) { return static_cast<blasint>(v); };
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, i(m), i(n), i(k), 1.0f, a, i(lda), b, i(ldb), beta, c,
                i(ldc));
  else
    cblas_dgemm(CblasRowMajor, ta, tb, i(m), i(n), i(k), 1.0, a, i(lda), b, i(ldb), beta, c,
                i(ldc));
}

/// z[b, :] += bias, and a = relu(z) when `a` is given: one pass after the GEMM (cheaper than
/// pre-filling z with the bias and asking the GEMM for beta = 1).
template <class T>
void addBias(T *__restrict z, const T *__restrict bias, T *__restrict a, std::int64_t B,
             std::int64_t J) {
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t j = 0; j < J; ++j) {
      T v = z[b * J + j] + bias[j];
      z[b * J + j] = v;
      if (a)
        a[b * J + j] = v > 0 ? v : T(0);
    }
}

} // namespace

template <class T> T mlpLossBlas(const Mlp<T> &m) {
  gemm<T>(CblasNoTrans, CblasTrans, m.B, m.H, m.D, m.x, m.D, m.W1, m.D, T(0), m.z1, m.H);
  addBias(m.z1, m.b1, m.a1, m.B, m.H);
  gemm<T>(CblasNoTrans, CblasTrans, m.B, m.C, m.H, m.a1, m.H, m.W2, m.H, T(0), m.z2, m.C);
  addBias<T>(m.z2, m.b2, nullptr, m.B, m.C);
  return mlpSoftmaxCrossEntropy(m);
}

template <class T> T mlpGradBlas(const Mlp<T> &m) {
  T loss = mlpLossBlas(m);
  mlpLossBackward(m);
  // gW2 = dz2^T a1 [C, H]; da1 = dz2 W2 [B, H]; gW1 = dz1^T x [H, D].
  gemm<T>(CblasTrans, CblasNoTrans, m.C, m.H, m.B, m.dz2, m.C, m.a1, m.H, T(0), m.gW2, m.H);
  gemm<T>(CblasNoTrans, CblasNoTrans, m.B, m.H, m.C, m.dz2, m.C, m.W2, m.H, T(0), m.da1, m.H);
  mlpReluBackward(m);
  gemm<T>(CblasTrans, CblasNoTrans, m.H, m.D, m.B, m.da1, m.H, m.x, m.D, T(0), m.gW1, m.D);
  return loss;
}

template float mlpLossBlas(const Mlp<float> &);
template double mlpLossBlas(const Mlp<double> &);
template float mlpGradBlas(const Mlp<float> &);
template double mlpGradBlas(const Mlp<double> &);

} // namespace nabla::bench
