// A target for scalar math that is not a number: each elementwise op defines its math once, as a
// template over the number type; instantiated with `Scalar`, the same definition drives a code
// generator through this interface instead of computing.
#pragma once

#include <cstdint>

namespace nabla {

/// The functions an elementwise definition may call on its number type.
enum class MathFn : std::uint8_t {
  Neg, Exp, Log, Sqrt, Sin, Cos, Tan, Tanh, Abs, Log1p, Expm1, Erf, Lgamma, Digamma, Trigamma
};
enum class MathOp : std::uint8_t { Add, Sub, Mul, Div, Pow };
/// Comparisons are unordered-false except `Ne`, as C++'s on floats (`x != x` finds NaN).
enum class MathCmp : std::uint8_t { Lt, Le, Gt, Ge, Eq, Ne };

class ScalarEmitter {
public:
  using Handle = void *;

  virtual ~ScalarEmitter() = default;
  /// A constant of the element type being emitted.
  virtual Handle constant(double value) = 0;
  virtual Handle call(MathFn fn, Handle x) = 0;
  virtual Handle polygamma(int order, Handle x) = 0;
  virtual Handle binary(MathOp op, Handle a, Handle b) = 0;
  /// A mask (one bit per element).
  virtual Handle compare(MathCmp cmp, Handle a, Handle b) = 0;
  virtual Handle maskOr(Handle a, Handle b) = 0;
  virtual Handle maskAnd(Handle a, Handle b) = 0;
  virtual Handle maskNot(Handle a) = 0;
  /// The mask of NaN entries (an unordered comparison of x with itself).
  virtual Handle isNaN(Handle x) = 0;
  virtual Handle select(Handle mask, Handle a, Handle b) = 0;

  /// The emitter that `Scalar(double)` constants go to: set by a Scope around each emission.
  static ScalarEmitter *current();

  class Scope {
  public:
    explicit Scope(ScalarEmitter &e);
    ~Scope();
    Scope(const Scope &) = delete;
    Scope &operator=(const Scope &) = delete;

  private:
    ScalarEmitter *previous_;
  };
};

/// A scalar under construction. Arithmetic and the math functions below emit code.
struct Scalar {
  ScalarEmitter::Handle h;
  Scalar(double v) : h(ScalarEmitter::current()->constant(v)) {} // NOLINT: T(1) in definitions
  /// (Not a constructor: `T(0)` must not read as a null handle.)
  static Scalar wrap(ScalarEmitter::Handle handle) {
    Scalar s(0.0, Raw{});
    s.h = handle;
    return s;
  }

private:
  struct Raw {};
  Scalar(double, Raw) : h(nullptr) {}
};

/// A comparison result under construction.
struct ScalarMask {
  ScalarEmitter::Handle h;
};

namespace scalar_detail {
inline Scalar op(MathOp o, Scalar a, Scalar b) {
  return Scalar::wrap(ScalarEmitter::current()->binary(o, a.h, b.h));
}
inline ScalarMask cmp(MathCmp c, Scalar a, Scalar b) {
  return ScalarMask{ScalarEmitter::current()->compare(c, a.h, b.h)};
}
inline Scalar fn(MathFn f, Scalar x) { return Scalar::wrap(ScalarEmitter::current()->call(f, x.h)); }
} // namespace scalar_detail

inline Scalar operator+(Scalar a, Scalar b) { return scalar_detail::op(MathOp::Add, a, b); }
inline Scalar operator-(Scalar a, Scalar b) { return scalar_detail::op(MathOp::Sub, a, b); }
inline Scalar operator*(Scalar a, Scalar b) { return scalar_detail::op(MathOp::Mul, a, b); }
inline Scalar operator/(Scalar a, Scalar b) { return scalar_detail::op(MathOp::Div, a, b); }
inline Scalar operator-(Scalar x) { return scalar_detail::fn(MathFn::Neg, x); }
inline ScalarMask operator<(Scalar a, Scalar b) { return scalar_detail::cmp(MathCmp::Lt, a, b); }
inline ScalarMask operator<=(Scalar a, Scalar b) { return scalar_detail::cmp(MathCmp::Le, a, b); }
inline ScalarMask operator>(Scalar a, Scalar b) { return scalar_detail::cmp(MathCmp::Gt, a, b); }
inline ScalarMask operator>=(Scalar a, Scalar b) { return scalar_detail::cmp(MathCmp::Ge, a, b); }
inline ScalarMask operator==(Scalar a, Scalar b) { return scalar_detail::cmp(MathCmp::Eq, a, b); }
inline ScalarMask operator!=(Scalar a, Scalar b) { return scalar_detail::cmp(MathCmp::Ne, a, b); }
inline ScalarMask operator||(ScalarMask a, ScalarMask b) {
  return ScalarMask{ScalarEmitter::current()->maskOr(a.h, b.h)};
}
inline ScalarMask operator&&(ScalarMask a, ScalarMask b) {
  return ScalarMask{ScalarEmitter::current()->maskAnd(a.h, b.h)};
}
inline ScalarMask operator!(ScalarMask a) {
  return ScalarMask{ScalarEmitter::current()->maskNot(a.h)};
}
inline ScalarMask isNaN(Scalar x) { return ScalarMask{ScalarEmitter::current()->isNaN(x.h)}; }
inline Scalar select(ScalarMask m, Scalar a, Scalar b) {
  return Scalar::wrap(ScalarEmitter::current()->select(m.h, a.h, b.h));
}

// Found by argument-dependent lookup from the elementwise definitions' unqualified calls.
inline Scalar exp(Scalar x) { return scalar_detail::fn(MathFn::Exp, x); }
inline Scalar log(Scalar x) { return scalar_detail::fn(MathFn::Log, x); }
inline Scalar sqrt(Scalar x) { return scalar_detail::fn(MathFn::Sqrt, x); }
inline Scalar sin(Scalar x) { return scalar_detail::fn(MathFn::Sin, x); }
inline Scalar cos(Scalar x) { return scalar_detail::fn(MathFn::Cos, x); }
inline Scalar tan(Scalar x) { return scalar_detail::fn(MathFn::Tan, x); }
inline Scalar tanh(Scalar x) { return scalar_detail::fn(MathFn::Tanh, x); }
inline Scalar fabs(Scalar x) { return scalar_detail::fn(MathFn::Abs, x); }
inline Scalar log1p(Scalar x) { return scalar_detail::fn(MathFn::Log1p, x); }
inline Scalar expm1(Scalar x) { return scalar_detail::fn(MathFn::Expm1, x); }
inline Scalar erf(Scalar x) { return scalar_detail::fn(MathFn::Erf, x); }
inline Scalar pow(Scalar a, Scalar b) { return scalar_detail::op(MathOp::Pow, a, b); }
inline Scalar lgammaOf(Scalar x) { return scalar_detail::fn(MathFn::Lgamma, x); }
inline Scalar digammaOf(Scalar x) { return scalar_detail::fn(MathFn::Digamma, x); }
inline Scalar trigammaOf(Scalar x) { return scalar_detail::fn(MathFn::Trigamma, x); }
inline Scalar polygammaOf(int order, Scalar x) {
  return Scalar::wrap(ScalarEmitter::current()->polygamma(order, x.h));
}

} // namespace nabla
