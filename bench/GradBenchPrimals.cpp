// Hand-written C++ primals of GradBench's lse, llsq, gmm and kmeans, timed on a recorded session's
// input: the baseline bench/gradbench.sh divides nabla's kernel times by. Standalone on purpose
// (no nabla code): `GradBenchPrimals EVAL SESSION.jsonl` prints the mean seconds of one primal.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

using nlohmann::json;

namespace {

std::vector<double> flat(const json &a) {
  std::vector<double> out;
  std::function<void(const json &)> walk = [&](const json &v) {
    if (v.is_array())
      for (const json &e : v)
        walk(e);
    else
      out.push_back(v.get<double>());
  };
  walk(a);
  return out;
}

double lse(const std::vector<double> &x) {
  double a = *std::max_element(x.begin(), x.end()), s = 0;
  for (double v : x)
    s += std::exp(v - a);
  return a + std::log(s);
}

double llsq(const std::vector<double> &x, long n) {
  double y = 0;
  for (long i = 0; i < n; ++i) {
    double t = -1 + 2.0 * i / (n - 1), s = (t > 0) - (t < 0), p = 1, poly = 0;
    for (double c : x) {
      poly += c * p;
      p *= t;
    }
    y += (s - poly) * (s - poly);
  }
  return 0.5 * y;
}

double logsumexp(const double *v, int n) {
  double a = *std::max_element(v, v + n), s = 0;
  for (int i = 0; i < n; ++i)
    s += std::exp(v[i] - a);
  return a + std::log(s);
}

struct Gmm {
  int d, k, n;
  double gamma, m;
  std::vector<double> alpha, mu, q, l, x;
};

double gmm(const Gmm &g) {
  int d = g.d, k = g.k, n = g.n;
  double gamma = g.gamma, m = g.m;
  const std::vector<double> &alpha = g.alpha, &mu = g.mu, &q = g.q, &l = g.l, &x = g.x;
  int nl = d * (d - 1) / 2;
  std::vector<double> beta(k), xc(d), sumq(k);
  for (int c = 0; c < k; ++c)
    for (int j = 0; j < d; ++j)
      sumq[c] += q[c * d + j];
  double total = 0;
  for (int i = 0; i < n; ++i) {
    for (int c = 0; c < k; ++c) {
      for (int j = 0; j < d; ++j)
        xc[j] = x[i * d + j] - mu[c * d + j];
      double sq = 0;
      int li = 0;
      // (Q xc)_r = exp(q_r) xc_r + sum_{col < r} L[r, col] xc_col, L filled column by column
      std::vector<double> qx(d);
      for (int r = 0; r < d; ++r)
        qx[r] = std::exp(q[c * d + r]) * xc[r];
      for (int col = 0; col < d; ++col)
        for (int r = col + 1; r < d; ++r)
          qx[r] += l[c * nl + li++] * xc[col];
      for (int r = 0; r < d; ++r)
        sq += qx[r] * qx[r];
      beta[c] = alpha[c] + sumq[c] - 0.5 * sq;
    }
    total += logsumexp(beta.data(), k);
  }
  double nw = d + m + 1, lgd = 0.25 * d * (d - 1) * std::log(M_PI);
  for (int j = 0; j < d; ++j)
    lgd += std::lgamma(nw / 2 - j / 2.0);
  double prior = k * (nw * d * (std::log(gamma) - 0.5 * std::log(2.0)) - lgd);
  for (int c = 0; c < k; ++c) {
    double fro = 0;
    for (int j = 0; j < d; ++j)
      fro += std::exp(2 * q[c * d + j]);
    for (int j = 0; j < nl; ++j)
      fro += l[c * nl + j] * l[c * nl + j];
    prior -= 0.5 * gamma * gamma * fro - m * sumq[c];
  }
  return -n * (d / 2.0) * std::log(2 * M_PI) + total - n * logsumexp(alpha.data(), k) + prior;
}

double kmeans(const std::vector<double> &p, const std::vector<double> &c, std::size_t d) {
  std::size_t n = p.size() / d, k = c.size() / d;
  double cost = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double best = INFINITY;
    for (std::size_t j = 0; j < k; ++j) {
      double s = 0;
      for (std::size_t e = 0; e < d; ++e)
        s += (c[j * d + e] - p[i * d + e]) * (c[j * d + e] - p[i * d + e]);
      best = std::min(best, s);
    }
    cost += best;
  }
  return cost;
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::cerr << "usage: GradBenchPrimals lse|llsq|gmm|kmeans SESSION.jsonl\n";
    return 2;
  }
  std::string eval = argv[1];
  std::ifstream file(argv[2]);
  std::string line;
  json input;
  while (std::getline(file, line)) {
    json entry = json::parse(line);
    if (entry.contains("message") && entry["message"]["kind"] == "evaluate") {
      input = entry["message"]["input"];
      break;
    }
  }
  std::vector<double> x = input.contains("x") ? flat(input["x"]) : std::vector<double>{};
  std::function<double()> primal;
  if (eval == "lse" || eval == "llsq" || eval == "gmm" || eval == "kmeans") {
  } else {
    return 2;
  }
  if (eval == "lse")
    primal = [&] { return lse(x); };
  else if (eval == "llsq")
    primal = [&] { return llsq(x, input["n"].get<long>()); };
  Gmm g{};
  std::vector<double> points, centroids;
  if (eval == "gmm") {
    g = {input["d"], input["k"], input["n"], input["gamma"], input["m"], flat(input["alpha"]),
         flat(input["mu"]), flat(input["q"]), flat(input["l"]), x};
    primal = [&] { return gmm(g); };
  } else if (eval == "kmeans") {
    points = flat(input["points"]);
    centroids = flat(input["centroids"]);
    std::size_t d = input["points"][0].size();
    primal = [&] { return kmeans(points, centroids, d); };
  }
  using Clock = std::chrono::steady_clock;
  double sink = 0, seconds = 0;
  long runs = 0;
  while (seconds < 0.5) {
    auto start = Clock::now();
    sink += primal();
    seconds += std::chrono::duration<double>(Clock::now() - start).count();
    ++runs;
  }
  std::cout << seconds / runs << " " << sink / runs << "\n";
}
