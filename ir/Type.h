// Element types, symbolic dimensions and tensor types of IR values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nabla {

/// Element types. `Bool` is the type of comparison masks; the language converts it to a float
/// type where it meets arithmetic.
enum class DType : std::uint8_t { F32, F64, I32, Bool };

const char *dtypeName(DType t);
std::optional<DType> parseDType(const std::string &name);
inline bool isFloat(DType t) { return t == DType::F32 || t == DType::F64; }

/// A dimension: an integer polynomial over dimension names with rational coefficients, kept in
/// a canonical form so that structurally different spellings (`2*d`, `d+d`) compare equal.
/// Runtime dimensions (a model's batch size `B`) stay symbolic until a call binds them.
class Dim {
public:
  Dim() = default;
  Dim(std::int64_t value); // NOLINT: a literal is a dimension
  static Dim symbol(const std::string &name);

  bool isConstant() const;
  /// The value of a constant dimension (0 for the empty polynomial).
  std::int64_t constant() const;
  /// The names this dimension depends on.
  std::vector<std::string> symbols() const;
  /// The value with every name bound by `env`; nullopt if a name is unbound or it is not an
  /// integer.
  std::optional<std::int64_t> evaluate(const std::map<std::string, std::int64_t> &env) const;
  /// Replaces bound names by their values.
  Dim substitute(const std::map<std::string, std::int64_t> &env) const;

  friend Dim operator+(const Dim &a, const Dim &b);
  friend Dim operator-(const Dim &a, const Dim &b);
  friend Dim operator*(const Dim &a, const Dim &b);
  /// Division by a nonzero integer; nullopt when the divisor is not one, or when a constant
  /// quotient is not an integer (`5/2`). A symbolic quotient may have rational coefficients
  /// (`d*(d-1)/2`) and is checked when its names are bound.
  static std::optional<Dim> divide(const Dim &a, const Dim &b);

  bool operator==(const Dim &o) const { return terms_ == o.terms_; }
  bool operator!=(const Dim &o) const { return !(*this == o); }
  bool operator<(const Dim &o) const { return terms_ < o.terms_; }

  /// `B`, `250`, `2*B+1`; rational coefficients print over a common denominator: `(d*d-d)/2`.
  std::string str() const;

  /// The polynomial as integer terms over a common denominator: the value is
  /// (sum of coefficient * product of names) / denominator. For code that evaluates dimensions.
  struct Term {
    std::vector<std::string> names; // with repetition for powers; empty for the constant
    std::int64_t coefficient;
  };
  std::vector<Term> terms(std::int64_t *denominator) const;

private:
  struct Rational {
    std::int64_t num = 0, den = 1;
    bool operator==(const Rational &o) const { return num == o.num && den == o.den; }
    bool operator<(const Rational &o) const {
      return num != o.num ? num < o.num : den < o.den;
    }
  };
  using Monomial = std::vector<std::string>; // sorted names, with repetition for powers
  std::map<Monomial, Rational> terms_;       // no zero coefficients

  static Rational add(Rational a, Rational b);
  static Rational mul(Rational a, Rational b);
  void addTerm(const Monomial &m, Rational c);
};

using Shape = std::vector<Dim>;

std::string shapeStr(const Shape &s); // "[B,784]"

/// The type of an IR value: an element type and a (possibly empty, i.e. scalar) shape.
struct Type {
  DType dtype = DType::F64;
  Shape shape;

  std::size_t rank() const { return shape.size(); }
  bool isScalar() const { return shape.empty(); }
  bool operator==(const Type &o) const { return dtype == o.dtype && shape == o.shape; }
  bool operator!=(const Type &o) const { return !(*this == o); }
  /// `f64`, `f32[B,784]`.
  std::string str() const;
};

/// Concrete sizes of a shape under a binding of dimension names; nullopt if one is unbound.
std::optional<std::vector<std::int64_t>>
concreteShape(const Shape &s, const std::map<std::string, std::int64_t> &env);

/// The number of elements of a concrete shape (whose count is known to fit).
std::int64_t elementCount(const std::vector<std::int64_t> &shape);
/// The number of elements, or nullopt when a dimension is negative or the product overflows.
std::optional<std::int64_t> checkedElementCount(const std::vector<std::int64_t> &shape);

} // namespace nabla
