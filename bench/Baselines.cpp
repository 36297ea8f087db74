// Hand-written C++ baselines: plain loops, written the way a careful C++ programmer would.
#include "bench/Baselines.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace nabla::bench {

// ----- g --------------------------------------------------------------------------------------

void gValue(const double *__restrict x1, const double *__restrict x2, double *__restrict out,
            std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i)
    out[i] = std::log(x1[i]) + x1[i] * x2[i] - std::sin(x2[i]);
}

void gGrad(const double *__restrict x1, const double *__restrict x2, const double *__restrict ct,
           double *__restrict out, double *__restrict g1, double *__restrict g2, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    out[i] = std::log(x1[i]) + x1[i] * x2[i] - std::sin(x2[i]);
    g1[i] = ct[i] * (1.0 / x1[i] + x2[i]);
    g2[i] = ct[i] * (x1[i] - std::cos(x2[i]));
  }
}

double gSumValue(const double *__restrict x1, const double *__restrict x2, std::int64_t n) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i)
    s += std::log(x1[i]) + x1[i] * x2[i] - std::sin(x2[i]);
  return s;
}

double gSumValueReassoc(const double *__restrict x1, const double *__restrict x2, std::int64_t n) {
#pragma clang fp reassociate(on)
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i)
    s += std::log(x1[i]) + x1[i] * x2[i] - std::sin(x2[i]);
  return s;
}

double gSumGrad(const double *__restrict x1, const double *__restrict x2, double *__restrict g1,
                double *__restrict g2, std::int64_t n) {
  // Two loops: the ordered sum keeps its loop scalar, the gradient loop vectorizes (one fused loop
  // would be scalar throughout, and slower).
  double s = gSumValue(x1, x2, n);
  for (std::int64_t i = 0; i < n; ++i) {
    g1[i] = 1.0 / x1[i] + x2[i];
    g2[i] = x1[i] - std::cos(x2[i]);
  }
  return s;
}

// ----- logsumexp -------------------------------------------------------------------------------

namespace {

double maxOf(const double *x, std::int64_t n) {
  double m = -std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i < n; ++i)
    m = std::max(m, x[i]);
  return m;
}

} // namespace

double lseValue(const double *__restrict x, std::int64_t n) {
  double m = maxOf(x, n);
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i)
    s += std::exp(x[i] - m);
  return m + std::log(s);
}

double lseValueReassoc(const double *__restrict x, std::int64_t n) {
#pragma clang fp reassociate(on)
  double m = maxOf(x, n);
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i)
    s += std::exp(x[i] - m);
  return m + std::log(s);
}

double lseGrad(const double *__restrict x, double *__restrict g, std::int64_t n) {
  double m = maxOf(x, n);
  // exp into g first (a vectorized loop), then the ordered sum over g (cheap adds only).
  for (std::int64_t i = 0; i < n; ++i)
    g[i] = std::exp(x[i] - m);
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i)
    s += g[i];
  double inv = 1.0 / s;
  for (std::int64_t i = 0; i < n; ++i)
    g[i] *= inv;
  return m + std::log(s);
}

// ----- MLP -------------------------------------------------------------------------------------

namespace {

/// z[b, j] = bias[j] + sum_k in[b, k] W[j, k]: dot products over contiguous rows.
template <class T>
void denseNaive(const T *__restrict in, const T *__restrict W, const T *__restrict bias,
                T *__restrict z, std::int64_t B, std::int64_t J, std::int64_t K) {
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t j = 0; j < J; ++j) {
      T s = bias[j];
      for (std::int64_t k = 0; k < K; ++k)
        s += in[b * K + k] * W[j * K + k];
      z[b * J + j] = s;
    }
}

} // namespace

template <class T> T mlpSoftmaxCrossEntropy(const Mlp<T> &m) {
  T total = 0;
  for (std::int64_t b = 0; b < m.B; ++b) {
    const T *z = m.z2 + b * m.C;
    T mx = -std::numeric_limits<T>::infinity();
    for (std::int64_t c = 0; c < m.C; ++c)
      mx = std::max(mx, z[c]);
    T s = 0;
    for (std::int64_t c = 0; c < m.C; ++c)
      s += std::exp(z[c] - mx);
    T lse = mx + std::log(s);
    for (std::int64_t c = 0; c < m.C; ++c)
      m.pred[b * m.C + c] = std::exp(z[c] - lse);
    total += lse - z[m.y[b]];
  }
  return total / static_cast<T>(m.B);
}

template <class T> void mlpReluForward(const Mlp<T> &m) {
  for (std::int64_t i = 0; i < m.B * m.H; ++i)
    m.a1[i] = m.z1[i] > 0 ? m.z1[i] : T(0);
}

template <class T> void mlpLossBackward(const Mlp<T> &m) {
  T inv = T(1) / static_cast<T>(m.B);
  for (std::int64_t b = 0; b < m.B; ++b)
    for (std::int64_t c = 0; c < m.C; ++c)
      m.dz2[b * m.C + c] = (m.pred[b * m.C + c] - (c == m.y[b] ? T(1) : T(0))) * inv;
  for (std::int64_t c = 0; c < m.C; ++c)
    m.gb2[c] = 0;
  for (std::int64_t b = 0; b < m.B; ++b)
    for (std::int64_t c = 0; c < m.C; ++c)
      m.gb2[c] += m.dz2[b * m.C + c];
}

template <class T> void mlpReluBackward(const Mlp<T> &m) {
  for (std::int64_t i = 0; i < m.B * m.H; ++i)
    m.da1[i] = m.z1[i] > 0 ? m.da1[i] : T(0);
  for (std::int64_t h = 0; h < m.H; ++h)
    m.gb1[h] = 0;
  for (std::int64_t b = 0; b < m.B; ++b)
    for (std::int64_t h = 0; h < m.H; ++h)
      m.gb1[h] += m.da1[b * m.H + h];
}

template <class T> T mlpLossNaive(const Mlp<T> &m) {
  denseNaive(m.x, m.W1, m.b1, m.z1, m.B, m.H, m.D);
  mlpReluForward(m);
  denseNaive(m.a1, m.W2, m.b2, m.z2, m.B, m.C, m.H);
  return mlpSoftmaxCrossEntropy(m);
}

template <class T> T mlpGradNaive(const Mlp<T> &m) {
  T loss = mlpLossNaive(m);
  mlpLossBackward(m);
  // gW2[c, h] = sum_b dz2[b, c] a1[b, h]
  for (std::int64_t c = 0; c < m.C; ++c)
    for (std::int64_t h = 0; h < m.H; ++h) {
      T s = 0;
      for (std::int64_t b = 0; b < m.B; ++b)
        s += m.dz2[b * m.C + c] * m.a1[b * m.H + h];
      m.gW2[c * m.H + h] = s;
    }
  // da1[b, h] = sum_c dz2[b, c] W2[c, h]
  for (std::int64_t b = 0; b < m.B; ++b)
    for (std::int64_t h = 0; h < m.H; ++h) {
      T s = 0;
      for (std::int64_t c = 0; c < m.C; ++c)
        s += m.dz2[b * m.C + c] * m.W2[c * m.H + h];
      m.da1[b * m.H + h] = s;
    }
  mlpReluBackward(m);
  // gW1[h, d] = sum_b dz1[b, h] x[b, d]
  for (std::int64_t h = 0; h < m.H; ++h)
    for (std::int64_t d = 0; d < m.D; ++d) {
      T s = 0;
      for (std::int64_t b = 0; b < m.B; ++b)
        s += m.da1[b * m.H + h] * m.x[b * m.D + d];
      m.gW1[h * m.D + d] = s;
    }
  return loss;
}

template float mlpLossNaive(const Mlp<float> &);
template double mlpLossNaive(const Mlp<double> &);
template float mlpGradNaive(const Mlp<float> &);
template double mlpGradNaive(const Mlp<double> &);

template float mlpSoftmaxCrossEntropy(const Mlp<float> &);
template double mlpSoftmaxCrossEntropy(const Mlp<double> &);
template void mlpReluForward(const Mlp<float> &);
template void mlpReluForward(const Mlp<double> &);
template void mlpLossBackward(const Mlp<float> &);
template void mlpLossBackward(const Mlp<double> &);
template void mlpReluBackward(const Mlp<float> &);
template void mlpReluBackward(const Mlp<double> &);

// ----- GMM -------------------------------------------------------------------------------------

GmmScratch::GmmScratch(const GmmData &d)
    : qdiag(static_cast<std::size_t>(d.K * d.D)), sumq(static_cast<std::size_t>(d.K)),
      xc(static_cast<std::size_t>(d.K * d.D)), y(static_cast<std::size_t>(d.K * d.D)),
      beta(static_cast<std::size_t>(d.K)) {}

namespace {

/// logsumexp of n values, max-shifted.
double logSumExp(const double *v, std::int64_t n) {
  double m = -std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i < n; ++i)
    m = std::max(m, v[i]);
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i)
    s += std::exp(v[i] - m);
  return m + std::log(s);
}

/// Per component: Q's diagonal exp(q) and sum(q).
void gmmPrepare(const GmmData &d, GmmScratch &s) {
  for (std::int64_t k = 0; k < d.K; ++k) {
    double sq = 0;
    for (std::int64_t j = 0; j < d.D; ++j) {
      s.qdiag[k * d.D + j] = std::exp(d.q[k * d.D + j]);
      sq += d.q[k * d.D + j];
    }
    s.sumq[k] = sq;
  }
}

/// For point i: xc = x_i - mu_k, y = Q_k xc and beta_k for every k.
void gmmBeta(const GmmData &d, GmmScratch &s, std::int64_t i) {
  const std::int64_t D = d.D, L = D * (D - 1) / 2;
  const double *xi = d.x.data() + i * D;
  for (std::int64_t k = 0; k < d.K; ++k) {
    double *xc = s.xc.data() + k * D, *y = s.y.data() + k * D;
    const double *mu = d.mu.data() + k * D, *qd = s.qdiag.data() + k * D;
    const double *l = d.l.data() + k * L;
    for (std::int64_t j = 0; j < D; ++j) {
      xc[j] = xi[j] - mu[j];
      y[j] = qd[j] * xc[j];
    }
    // The strictly lower triangle, filled column by column.
    std::int64_t idx = 0;
    for (std::int64_t c = 0; c < D; ++c)
      for (std::int64_t r = c + 1; r < D; ++r)
        y[r] += l[idx++] * xc[c];
    double sq = 0;
    for (std::int64_t j = 0; j < D; ++j)
      sq += y[j] * y[j];
    s.beta[k] = d.alpha[k] + s.sumq[k] - 0.5 * sq;
  }
}

/// The terms that do not depend on the data points.
double gmmConstantAndPrior(const GmmData &d) {
  const double D = static_cast<double>(d.D), K = static_cast<double>(d.K);
  const std::int64_t L = d.D * (d.D - 1) / 2;
  double nw = D + d.m + 1;
  double logGammaD = 0.25 * D * (D - 1) * std::log(M_PI);
  for (std::int64_t j = 0; j < d.D; ++j)
    logGammaD += std::lgamma(nw / 2 - static_cast<double>(j) / 2);
  double prior = K * (nw * D * (std::log(d.gamma) - 0.5 * std::log(2.0)) - logGammaD);
  for (std::int64_t k = 0; k < d.K; ++k) {
    double frob = 0, sq = 0;
    for (std::int64_t j = 0; j < d.D; ++j) {
      frob += std::exp(2 * d.q[k * d.D + j]);
      sq += d.q[k * d.D + j];
    }
    for (std::int64_t j = 0; j < L; ++j)
      frob += d.l[k * L + j] * d.l[k * L + j];
    prior -= 0.5 * d.gamma * d.gamma * frob - d.m * sq;
  }
  double N = static_cast<double>(d.N);
  return -N * (D / 2) * std::log(2 * M_PI) - N * logSumExp(d.alpha.data(), d.K) + prior;
}

} // namespace

double gmmObjective(const GmmData &d, GmmScratch &s) {
  gmmPrepare(d, s);
  double total = 0;
  for (std::int64_t i = 0; i < d.N; ++i) {
    gmmBeta(d, s, i);
    total += logSumExp(s.beta.data(), d.K);
  }
  return total + gmmConstantAndPrior(d);
}

double gmmGradient(const GmmData &d, GmmScratch &s, double *gAlpha, double *gMu, double *gQ,
                   double *gL) {
  const std::int64_t D = d.D, K = d.K, L = D * (D - 1) / 2;
  std::fill(gAlpha, gAlpha + K, 0.0);
  std::fill(gMu, gMu + K * D, 0.0);
  std::fill(gQ, gQ + K * D, 0.0);
  std::fill(gL, gL + K * L, 0.0);
  gmmPrepare(d, s);
  double total = 0;
  for (std::int64_t i = 0; i < d.N; ++i) {
    gmmBeta(d, s, i);
    double lse = logSumExp(s.beta.data(), K);
    total += lse;
    for (std::int64_t k = 0; k < K; ++k) {
      // dF/dbeta_k = softmax(beta)_k; dbeta/dy = -y.
      double w = std::exp(s.beta[k] - lse);
      const double *xc = s.xc.data() + k * D, *y = s.y.data() + k * D;
      const double *qd = s.qdiag.data() + k * D, *l = d.l.data() + k * L;
      double *gmu = gMu + k * D, *gq = gQ + k * D, *gl = gL + k * L;
      gAlpha[k] += w;
      // d/dmu = Q^T y (y = Q (x - mu)), d/dq_j = 1 - y_j exp(q_j) xc_j, d/dl(r,c) = -y_r xc_c.
      for (std::int64_t j = 0; j < D; ++j) {
        gmu[j] += w * qd[j] * y[j];
        gq[j] += w * (1 - y[j] * qd[j] * xc[j]);
      }
      std::int64_t idx = 0;
      for (std::int64_t c = 0; c < D; ++c)
        for (std::int64_t r = c + 1; r < D; ++r, ++idx) {
          gmu[c] += w * l[idx] * y[r];
          gl[idx] -= w * y[r] * xc[c];
        }
    }
  }
  // -N logsumexp(alpha) and the prior.
  double lseAlpha = logSumExp(d.alpha.data(), K);
  for (std::int64_t k = 0; k < K; ++k)
    gAlpha[k] -= static_cast<double>(d.N) * std::exp(d.alpha[k] - lseAlpha);
  double g2 = d.gamma * d.gamma;
  for (std::int64_t j = 0; j < K * D; ++j)
    gQ[j] += d.m - g2 * std::exp(2 * d.q[j]);
  for (std::int64_t j = 0; j < K * L; ++j)
    gL[j] -= g2 * d.l[j];
  return total + gmmConstantAndPrior(d);
}

} // namespace nabla::bench
