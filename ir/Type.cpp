// Symbolic dimension arithmetic and type printing.
#include "ir/Type.h"

#include <algorithm>
#include <numeric>

namespace nabla {

const char *dtypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::F64:
    return "f64";
  case DType::I32:
    return "i32";
  case DType::Bool:
    return "bool";
  }
  return "?";
}

std::optional<DType> parseDType(const std::string &name) {
  if (name == "f32")
    return DType::F32;
  if (name == "f64")
    return DType::F64;
  if (name == "i32")
    return DType::I32;
  if (name == "bool")
    return DType::Bool;
  return std::nullopt;
}

Dim::Rational Dim::add(Rational a, Rational b) {
  Rational r{a.num * b.den + b.num * a.den, a.den * b.den};
  std::int64_t g = std::gcd(r.num, r.den);
  if (g > 1) {
    r.num /= g;
    r.den /= g;
  }
  return r;
}

Dim::Rational Dim::mul(Rational a, Rational b) {
  Rational r{a.num * b.num, a.den * b.den};
  std::int64_t g = std::gcd(r.num, r.den);
  if (g > 1) {
    r.num /= g;
    r.den /= g;
  }
  return r;
}

void Dim::addTerm(const Monomial &m, Rational c) {
  if (c.num == 0)
    return;
  auto it = terms_.find(m);
  if (it == terms_.end()) {
    terms_.emplace(m, c);
    return;
  }
  it->second = add(it->second, c);
  if (it->second.num == 0)
    terms_.erase(it);
}

Dim::Dim(std::int64_t value) { addTerm({}, Rational{value, 1}); }

Dim Dim::symbol(const std::string &name) {
  Dim d;
  d.addTerm({name}, Rational{1, 1});
  return d;
}

bool Dim::isConstant() const {
  return terms_.empty() ||
         (terms_.size() == 1 && terms_.begin()->first.empty() && terms_.begin()->second.den == 1);
}

std::int64_t Dim::constant() const {
  if (terms_.empty())
    return 0;
  return terms_.begin()->second.num / terms_.begin()->second.den;
}

std::vector<std::string> Dim::symbols() const {
  std::vector<std::string> out;
  for (const auto &[m, c] : terms_)
    for (const auto &s : m)
      if (std::find(out.begin(), out.end(), s) == out.end())
        out.push_back(s);
  return out;
}

std::optional<std::int64_t> Dim::evaluate(const std::map<std::string, std::int64_t> &env) const {
  Dim d = substitute(env);
  if (!d.isConstant())
    return std::nullopt;
  return d.constant();
}

Dim Dim::substitute(const std::map<std::string, std::int64_t> &env) const {
  Dim out;
  for (const auto &[m, c] : terms_) {
    Rational coef = c;
    Monomial rest;
    for (const auto &s : m) {
      auto it = env.find(s);
      if (it == env.end())
        rest.push_back(s);
      else
        coef = mul(coef, Rational{it->second, 1});
    }
    out.addTerm(rest, coef);
  }
  return out;
}

Dim operator+(const Dim &a, const Dim &b) {
  Dim r = a;
  for (const auto &[m, c] : b.terms_)
    r.addTerm(m, c);
  return r;
}

Dim operator-(const Dim &a, const Dim &b) {
  Dim r = a;
  for (const auto &[m, c] : b.terms_)
    r.addTerm(m, Dim::Rational{-c.num, c.den});
  return r;
}

Dim operator*(const Dim &a, const Dim &b) {
  Dim r;
  for (const auto &[ma, ca] : a.terms_)
    for (const auto &[mb, cb] : b.terms_) {
      Dim::Monomial m = ma;
      m.insert(m.end(), mb.begin(), mb.end());
      std::sort(m.begin(), m.end());
      r.addTerm(m, Dim::mul(ca, cb));
    }
  return r;
}

std::optional<Dim> Dim::divide(const Dim &a, const Dim &b) {
  if (!b.isConstant() || b.constant() == 0)
    return std::nullopt; // only division by a nonzero integer is defined on dimensions
  std::int64_t k = b.constant();
  Dim r;
  for (const auto &[m, c] : a.terms_)
    r.addTerm(m, mul(c, Rational{k < 0 ? -1 : 1, k < 0 ? -k : k}));
  // A constant quotient must be an integer; a symbolic one may have rational coefficients
  // (`d*(d-1)/2`) and is checked when the names are bound.
  if (r.symbols().empty() && !r.isConstant())
    return std::nullopt;
  return r;
}

namespace {
std::string monomialStr(const std::vector<std::string> &m) {
  std::string out;
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (i)
      out += '*';
    out += m[i];
  }
  return out;
}
} // namespace

std::string Dim::str() const {
  if (terms_.empty())
    return "0";
  std::int64_t lcm = 1;
  for (const auto &[m, c] : terms_)
    lcm = std::lcm(lcm, c.den);
  // Highest-degree terms first, the constant last: `2*B+1`.
  std::vector<std::pair<Monomial, std::int64_t>> ordered;
  for (const auto &[m, c] : terms_)
    ordered.emplace_back(m, c.num * (lcm / c.den));
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const auto &x, const auto &y) { return x.first.size() > y.first.size(); });
  std::string out;
  bool first = true;
  for (const auto &[m, coef] : ordered) {
    std::int64_t mag = coef < 0 ? -coef : coef;
    if (coef < 0)
      out += "-";
    else if (!first)
      out += "+";
    if (m.empty())
      out += std::to_string(mag);
    else if (mag == 1)
      out += monomialStr(m);
    else
      out += std::to_string(mag) + "*" + monomialStr(m);
    first = false;
  }
  if (lcm != 1)
    out = "(" + out + ")/" + std::to_string(lcm);
  return out;
}

std::vector<Dim::Term> Dim::terms(std::int64_t *denominator) const {
  std::int64_t lcm = 1;
  for (const auto &[m, c] : terms_)
    lcm = std::lcm(lcm, c.den);
  std::vector<Term> out;
  for (const auto &[m, c] : terms_)
    out.push_back(Term{m, c.num * (lcm / c.den)});
  *denominator = lcm;
  return out;
}

std::string shapeStr(const Shape &s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i)
      out += ",";
    out += s[i].str();
  }
  return out + "]";
}

std::string Type::str() const {
  std::string out = dtypeName(dtype);
  if (!shape.empty())
    out += shapeStr(shape);
  return out;
}

std::optional<std::vector<std::int64_t>>
concreteShape(const Shape &s, const std::map<std::string, std::int64_t> &env) {
  std::vector<std::int64_t> out;
  out.reserve(s.size());
  for (const Dim &d : s) {
    auto v = d.evaluate(env);
    if (!v)
      return std::nullopt;
    out.push_back(*v);
  }
  return out;
}

std::optional<std::int64_t> checkedElementCount(const std::vector<std::int64_t> &shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return std::nullopt;
  return n;
}

std::int64_t elementCount(const std::vector<std::int64_t> &shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape)
    n *= d;
  return n;
}

} // namespace nabla
