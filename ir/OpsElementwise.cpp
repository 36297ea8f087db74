// Elementwise ops: each op's scalar definition, written once as a template over the number type
// so that the interpreter (double, float) and later the code generator share it, then its partial
// derivatives, from which forward mode, reverse mode and symbolic differentiation all derive.
#include "ir/DerivativeRules.h"
#include "ir/OpTable.h"
#include "ir/ScalarEmitter.h"
#include "ir/SpecialFunctions.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace nabla {

namespace {

// ----- shared type rules and evaluation loops -------------------------------------------------

TypeOrError sameTypeRule(std::span<const Type> ops, const Inst &inst, bool floatOnly) {
  for (const Type &t : ops) {
    if (t != ops[0])
      return fmt::format("'{}' needs operands of one type, got {} and {}", mnemonic(inst.op),
                         ops[0].str(), t.str());
  }
  if (floatOnly && !isFloat(ops[0].dtype))
    return fmt::format("'{}' needs a float operand, got {}", mnemonic(inst.op), ops[0].str());
  if (!floatOnly && ops[0].dtype == DType::Bool)
    return fmt::format("'{}' does not take a bool mask, got {}", mnemonic(inst.op), ops[0].str());
  return ops[0];
}

TypeOrError floatRule(std::span<const Type> ops, const Inst &inst, const std::optional<Type> &) {
  return sameTypeRule(ops, inst, true);
}

TypeOrError numericRule(std::span<const Type> ops, const Inst &inst, const std::optional<Type> &) {
  return sameTypeRule(ops, inst, false);
}

TypeOrError compareRule(std::span<const Type> ops, const Inst &inst,
                        const std::optional<Type> &declared) {
  auto t = numericRule(ops, inst, declared);
  if (auto *err = std::get_if<std::string>(&t))
    return *err;
  return Type{DType::Bool, ops[0].shape};
}

/// Evaluates Rule::apply elementwise in the operands' precision: float math for f32.
template <class Rule, int Arity>
void evalElementwise(const Inst &inst, std::span<const Tensor *const> in, Tensor &out) {
  const DType t = in[0]->dtype;
  const std::size_t n = out.data.size();
  for (std::size_t i = 0; i < n; ++i) {
    if constexpr (Arity == 1) {
      double x = in[0]->data[i];
      out.data[i] = t == DType::F32 ? static_cast<double>(Rule::apply(static_cast<float>(x), inst))
                                    : Rule::apply(x, inst);
    } else {
      double a = in[0]->data[i], b = in[1]->data[i];
      out.data[i] = t == DType::F32 ? static_cast<double>(Rule::apply(static_cast<float>(a),
                                                                      static_cast<float>(b), inst))
                                    : Rule::apply(a, b, inst);
    }
  }
}

/// Lowering: the same definition, instantiated with Scalar (comparisons give a ScalarMask).
template <class Rule, int Arity>
void *lowerElementwise(std::span<void *const> in, const Inst &inst) {
  if constexpr (Arity == 1)
    return Rule::apply(Scalar::wrap(in[0]), inst).h;
  else
    return Rule::apply(Scalar::wrap(in[0]), Scalar::wrap(in[1]), inst).h;
}

template <class Rule> OpInfo unaryFloatOp(std::vector<AttrSpec> attrs = {}) {
  OpInfo info{1,
              std::move(attrs),
              floatRule,
              evalElementwise<Rule, 1>,
              rules::elementwiseJvp<Rule>,
              rules::elementwiseVjp<Rule>};
  info.lowerScalar = lowerElementwise<Rule, 1>;
  return info;
}

/// An op's own forward rule when it states one, else the one derived from its partials.
template <class Rule> constexpr JvpRule jvpOf() {
  if constexpr (requires { &Rule::jvp; })
    return Rule::jvp;
  else
    return rules::elementwiseJvp<Rule>;
}
template <class Rule> constexpr VjpRule vjpOf() {
  if constexpr (requires { &Rule::vjp; })
    return Rule::vjp;
  else
    return rules::elementwiseVjp<Rule>;
}

template <class Rule> OpInfo binaryOp(TypeRule rule) {
  OpInfo info{2, {}, rule, evalElementwise<Rule, 2>, jvpOf<Rule>(), vjpOf<Rule>()};
  info.lowerScalar = lowerElementwise<Rule, 2>;
  return info;
}

/// Comparisons give masks, whose derivative is zero.
template <class Rule> OpInfo compareOp() {
  OpInfo info{2, {}, compareRule, evalElementwise<Rule, 2>, rules::zeroJvp, rules::zeroVjp};
  info.lowerScalar = lowerElementwise<Rule, 2>;
  return info;
}

using Partials = std::vector<ValueId>;
ValueId operand(const Inst &inst, std::size_t i) { return inst.operands[i]; }
ValueId one(Builder &b, ValueId like) { return rules::constantLike(b, 1, like); }
ValueId number(Builder &b, double v, ValueId like) { return rules::constantLike(b, v, like); }

// The math of the definitions below, for float and double; `Scalar` (ir/ScalarEmitter.h) has
// its own overloads, found by argument-dependent lookup, that emit code instead.
using std::cos;
using std::erf;
using std::exp;
using std::expm1;
using std::fabs;
using std::log;
using std::log1p;
using std::pow;
using std::sin;
using std::sqrt;
using std::tan;
using std::tanh;

/// `c ? a : b` on numbers.
template <class T> T select(bool c, T a, T b) { return c ? a : b; }

// lgamma_r: std::lgamma writes the global `signgam`, which is not thread-safe.
double lgammaOf(double x) {
  int sign;
  return ::lgamma_r(x, &sign);
}
float lgammaOf(float x) { return static_cast<float>(lgammaOf(static_cast<double>(x))); }
double digammaOf(double x) { return digammaF64(x); }
float digammaOf(float x) { return static_cast<float>(digammaF64(x)); }
double trigammaOf(double x) { return trigammaF64(x); }
float trigammaOf(float x) { return static_cast<float>(trigammaF64(x)); }
double polygammaOf(int k, double x) { return polygammaF64(k, x); }
float polygammaOf(int k, float x) { return static_cast<float>(polygammaF64(k, x)); }

template <class T> constexpr T nan() { return std::numeric_limits<T>::quiet_NaN(); }

// ----- one float operand -------------------------------------------------------------------------

struct NegRule {
  template <class T> static T apply(T x, const Inst &) { return -x; }
  // d/dx (-x) = -1
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {number(b, -1, y)};
  }
};
struct ExpRule {
  template <class T> static T apply(T x, const Inst &) { return exp(x); }
  // d/dx exp(x) = exp(x)
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {y};
  }
};
struct LogRule {
  template <class T> static T apply(T x, const Inst &) { return log(x); }
  // d/dx log(x) = 1/x
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.div(one(b, y), operand(inst, 0))};
  }
};
struct SqrtRule {
  template <class T> static T apply(T x, const Inst &) { return sqrt(x); }
  // d/dx sqrt(x) = 1/(2 sqrt(x))
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.div(number(b, 0.5, y), y)};
  }
};
struct SinRule {
  template <class T> static T apply(T x, const Inst &) { return sin(x); }
  // d/dx sin(x) = cos(x)
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.unary(Op::Cos, operand(inst, 0))};
  }
};
struct CosRule {
  template <class T> static T apply(T x, const Inst &) { return cos(x); }
  // d/dx cos(x) = -sin(x)
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.neg(b.unary(Op::Sin, operand(inst, 0)))};
  }
};
struct TanRule {
  template <class T> static T apply(T x, const Inst &) { return tan(x); }
  // d/dx tan(x) = 1 + tan(x)^2
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.add(one(b, y), b.mul(y, y))};
  }
};
struct TanhRule {
  template <class T> static T apply(T x, const Inst &) { return tanh(x); }
  // d/dx tanh(x) = 1 - tanh(x)^2
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.sub(one(b, y), b.mul(y, y))};
  }
};
struct AbsRule {
  template <class T> static T apply(T x, const Inst &) { return fabs(x); }
  // d/dx |x| = sign(x); abs'(0) = 0
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.unary(Op::Sign, operand(inst, 0))};
  }
};
struct SignRule {
  // sign(NaN) is NaN, as numpy's.
  template <class T> static T apply(T x, const Inst &) {
    return select(x != x, x, select(x > 0, T(1), select(x < 0, T(-1), T(0))));
  }
  // d/dx sign(x) = 0 (sign' = 0, also at 0)
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {number(b, 0, y)};
  }
};
struct Log1pRule {
  template <class T> static T apply(T x, const Inst &) { return log1p(x); }
  // d/dx log(1 + x) = 1/(1 + x)
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.div(one(b, y), b.add(one(b, y), operand(inst, 0)))};
  }
};
struct Expm1Rule {
  template <class T> static T apply(T x, const Inst &) { return expm1(x); }
  // d/dx (exp(x) - 1) = exp(x) = expm1(x) + 1
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.add(y, one(b, y))};
  }
};
struct ErfRule {
  template <class T> static T apply(T x, const Inst &) { return erf(x); }
  // d/dx erf(x) = 2/sqrt(pi) exp(-x^2)
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    ValueId x = operand(inst, 0);
    return {b.mul(number(b, 1.1283791670955126, y), b.unary(Op::Exp, b.neg(b.mul(x, x))))};
  }
};
struct LgammaRule {
  template <class T> static T apply(T x, const Inst &) { return lgammaOf(x); }
  // d/dx lgamma(x) = digamma(x)
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.unary(Op::Digamma, operand(inst, 0))};
  }
};
struct DigammaRule {
  template <class T> static T apply(T x, const Inst &) { return digammaOf(x); }
  // d/dx digamma(x) = trigamma(x)
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.unary(Op::Trigamma, operand(inst, 0))};
  }
};
struct TrigammaRule {
  template <class T> static T apply(T x, const Inst &) { return trigammaOf(x); }
  // d/dx trigamma(x) = polygamma(2, x)
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.emit(Op::Polygamma, {operand(inst, 0)}, {std::int64_t{2}})};
  }
};
struct PolygammaRule {
  template <class T> static T apply(T x, const Inst &inst) {
    return polygammaOf(static_cast<int>(inst.intAttr("k")), x);
  }
  // d/dx polygamma(k, x) = polygamma(k + 1, x)
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.emit(Op::Polygamma, {operand(inst, 0)}, {inst.intAttr("k") + 1})};
  }
};
struct SigmoidRule {
  // Split at 0 so that neither branch overflows: exp only ever sees a non-positive argument.
  template <class T> static T apply(T x, const Inst &) {
    T e = exp(-fabs(x));
    return select(x >= 0, T(1) / (T(1) + e), e / (T(1) + e));
  }
  // d/dx sigmoid(x) = sigmoid(x) (1 - sigmoid(x))
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.mul(y, b.sub(one(b, y), y))};
  }
};
struct ReluRule {
  template <class T> static T apply(T x, const Inst &) { return select(x > 0, x, T(0) * x); }
  // d/dx relu(x) = (x > 0); relu'(0) = 0
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.binary(Op::Gt, operand(inst, 0), number(b, 0, y))};
  }
};
struct LeakyReluRule {
  template <class T> static T apply(T x, const Inst &inst) {
    return select(x > 0, x, static_cast<T>(inst.floatAttr("alpha")) * x);
  }
  // d/dx leaky_relu(x) = 1 if x > 0 else alpha; leaky_relu'(0) = alpha
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    ValueId x = operand(inst, 0);
    ValueId positive = rules::floatMask(b, Op::Gt, x, number(b, 0, y));
    ValueId alpha = number(b, inst.floatAttr("alpha"), y);
    // alpha + (1 - alpha) (x > 0)
    return {b.add(alpha, b.mul(b.sub(one(b, y), alpha), positive))};
  }
};
struct HardtanhRule {
  template <class T> static T apply(T x, const Inst &inst) {
    T lo = static_cast<T>(inst.floatAttr("lo")), hi = static_cast<T>(inst.floatAttr("hi"));
    return select(x < lo, lo, select(x > hi, hi, x));
  }
  // d/dx hardtanh(x) = (lo < x < hi); hardtanh'(lo) = hardtanh'(hi) = 0
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    ValueId x = operand(inst, 0);
    ValueId aboveLo = b.binary(Op::Gt, x, number(b, inst.floatAttr("lo"), y));
    ValueId belowHi = b.binary(Op::Lt, x, number(b, inst.floatAttr("hi"), y));
    return {b.emit(Op::Select, {aboveLo, belowHi, aboveLo})}; // lo < x and x < hi
  }
};
struct SoftplusRule {
  // softplus(x) = max(x, 0) + log1p(exp(-|x|)): exact for large |x| and never overflows.
  template <class T> static T apply(T x, const Inst &) {
    return select(x > 0, x, T(0)) + log1p(exp(-fabs(x)));
  }
  // d/dx softplus(x) = sigmoid(x)
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {b.unary(Op::Sigmoid, operand(inst, 0))};
  }
};

// ----- two operands ------------------------------------------------------------------------------

// max and min route the (co)tangent to the winning operand by selection, never by multiplying
// with a 0/1 mask, so that a NaN or infinite (co)tangent of the losing operand stays out.
// `wins` is Gt for max, Lt for min.
MaybeValue routeJvp(Builder &b, const Inst &inst, ValueId y, std::span<const MaybeValue> t,
                    Op wins) {
  if (rules::allZero(t))
    return std::nullopt;
  ValueId a = operand(inst, 0), c = operand(inst, 1);
  ValueId ta = t[0] ? *t[0] : rules::zerosOf(b, y), tc = t[1] ? *t[1] : rules::zerosOf(b, y);
  Op loses = wins == Op::Gt ? Op::Lt : Op::Gt;
  ValueId tie = b.mul(number(b, 0.5, y), b.add(ta, tc));
  return b.emit(Op::Select, {b.binary(wins, a, c), ta,
                             b.emit(Op::Select, {b.binary(loses, a, c), tc, tie})});
}

std::vector<MaybeValue> routeVjp(Builder &b, const Inst &inst, ValueId y, ValueId ct, Op wins) {
  ValueId a = operand(inst, 0), c = operand(inst, 1);
  ValueId zero = rules::zerosOf(b, y), half = b.mul(number(b, 0.5, y), ct);
  ValueId aWins = b.binary(wins, a, c), cWins = b.binary(wins, c, a);
  return {b.emit(Op::Select, {aWins, ct, b.emit(Op::Select, {cWins, zero, half})}),
          b.emit(Op::Select, {cWins, ct, b.emit(Op::Select, {aWins, zero, half})})};
}

struct AddRule {
  template <class T> static T apply(T a, T b, const Inst &) { return a + b; }
  // d(a + b) = da + db
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {one(b, y), one(b, y)};
  }
};
struct SubRule {
  template <class T> static T apply(T a, T b, const Inst &) { return a - b; }
  // d(a - b) = da - db
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {one(b, y), number(b, -1, y)};
  }
};
struct MulRule {
  template <class T> static T apply(T a, T b, const Inst &) { return a * b; }
  // d(a b) = b da + a db
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    return {operand(inst, 1), operand(inst, 0)};
  }
};
struct DivRule {
  template <class T> static T apply(T a, T b, const Inst &) { return a / b; }
  // d(a / b) = da / b - (a / b^2) db = (da - y db) / b
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    ValueId den = operand(inst, 1);
    return {b.div(one(b, y), den), b.neg(b.div(y, den))};
  }
};
struct PowRule {
  // A negative base with a non-integer exponent gives NaN, as numpy's.
  template <class T> static T apply(T a, T b, const Inst &) { return pow(a, b); }
  // d(a^b) = b a^(b-1) da + log(a) a^b db
  static Partials partials(Builder &b, const Inst &inst, ValueId y) {
    ValueId base = operand(inst, 0), exponent = operand(inst, 1);
    ValueId lowered = b.binary(Op::Pow, base, b.sub(exponent, one(b, y)));
    return {b.mul(exponent, lowered), b.mul(b.unary(Op::Log, base), y)};
  }
};
struct MaxRule {
  // NaN propagates from either side, as numpy's maximum.
  template <class T> static T apply(T a, T b, const Inst &) {
    return select(a > b || a != a, a, b);
  }
  // d max(a, b) = da where a > b, db where a < b; a tie splits evenly: (da + db) / 2
  static MaybeValue jvp(Builder &b, const Inst &inst, ValueId y, std::span<const MaybeValue> t) {
    return routeJvp(b, inst, y, t, Op::Gt);
  }
  static std::vector<MaybeValue> vjp(Builder &b, const Inst &inst, ValueId y, ValueId ct, bool) {
    return routeVjp(b, inst, y, ct, Op::Gt);
  }
};
struct MinRule {
  template <class T> static T apply(T a, T b, const Inst &) {
    return select(a < b || a != a, a, b);
  }
  // d min(a, b) = da where a < b, db where a > b; a tie splits evenly: (da + db) / 2
  static MaybeValue jvp(Builder &b, const Inst &inst, ValueId y, std::span<const MaybeValue> t) {
    return routeJvp(b, inst, y, t, Op::Lt);
  }
  static std::vector<MaybeValue> vjp(Builder &b, const Inst &inst, ValueId y, ValueId ct, bool) {
    return routeVjp(b, inst, y, ct, Op::Lt);
  }
};
struct LtRule {
  template <class T> static auto apply(T a, T b, const Inst &) { return a < b; }
};
struct LeRule {
  template <class T> static auto apply(T a, T b, const Inst &) { return a <= b; }
};
struct GtRule {
  template <class T> static auto apply(T a, T b, const Inst &) { return a > b; }
};
struct GeRule {
  template <class T> static auto apply(T a, T b, const Inst &) { return a >= b; }
};
struct EqRule {
  template <class T> static auto apply(T a, T b, const Inst &) { return a == b; }
};
struct NeRule {
  template <class T> static auto apply(T a, T b, const Inst &) { return a != b; }
};

// Integer arithmetic is exact in doubles, so i32 operands share the float evaluation loop.
template <class Rule> OpInfo binaryNumericOp() { return binaryOp<Rule>(numericRule); }

// ----- select and convert ------------------------------------------------------------------------

TypeOrError selectRule(std::span<const Type> ops, const Inst &, const std::optional<Type> &) {
  if (ops[0].dtype != DType::Bool)
    return fmt::format("'select' needs a bool mask first, got {}", ops[0].str());
  if (ops[1] != ops[2])
    return fmt::format("'select' needs branches of one type, got {} and {}", ops[1].str(),
                       ops[2].str());
  if (ops[0].shape != ops[1].shape)
    return fmt::format("'select' mask {} does not match branches {}", ops[0].str(), ops[1].str());
  return ops[1];
}

void evalSelect(const Inst &, std::span<const Tensor *const> in, Tensor &out) {
  for (std::size_t i = 0; i < out.data.size(); ++i)
    out.data[i] = in[0]->data[i] != 0 ? in[1]->data[i] : in[2]->data[i];
}

// d where(m, a, b) = where(m, da, db): the branch not taken gets nothing.
MaybeValue selectJvp(Builder &b, const Inst &inst, ValueId, std::span<const MaybeValue> t) {
  if (!t[1] && !t[2])
    return std::nullopt;
  ValueId ta = t[1] ? *t[1] : rules::zerosOf(b, inst.operands[1]);
  ValueId tb = t[2] ? *t[2] : rules::zerosOf(b, inst.operands[2]);
  return b.emit(Op::Select, {inst.operands[0], ta, tb});
}

std::vector<MaybeValue> selectVjp(Builder &b, const Inst &inst, ValueId, ValueId ct, bool) {
  ValueId zero = rules::zerosOf(b, ct);
  ValueId mask = inst.operands[0];
  return {std::nullopt, b.emit(Op::Select, {mask, ct, zero}), b.emit(Op::Select, {mask, zero, ct})};
}

TypeOrError convertRule(std::span<const Type> ops, const Inst &inst, const std::optional<Type> &) {
  DType to = inst.dtypeAttr("dtype");
  if (to == DType::Bool)
    return std::string("'convert' cannot produce a bool mask");
  return Type{to, ops[0].shape};
}

void evalConvert(const Inst &inst, std::span<const Tensor *const> in, Tensor &out) {
  DType to = inst.dtypeAttr("dtype");
  for (std::size_t i = 0; i < out.data.size(); ++i) {
    double v = in[0]->data[i];
    out.data[i] = to == DType::I32 ? std::trunc(v) : roundTo(to, v);
  }
}

// Between float types a conversion is linear (its transpose converts back); to or from integers
// and masks it carries no derivative.
bool isFloatConversion(Builder &b, const Inst &inst) {
  return isFloat(b.typeOf(inst.operands[0]).dtype) && isFloat(inst.dtypeAttr("dtype"));
}

MaybeValue convertJvp(Builder &b, const Inst &inst, ValueId, std::span<const MaybeValue> t) {
  if (!t[0] || !isFloatConversion(b, inst))
    return std::nullopt;
  return b.convert(*t[0], inst.dtypeAttr("dtype"));
}

std::vector<MaybeValue> convertVjp(Builder &b, const Inst &inst, ValueId, ValueId ct, bool) {
  if (!isFloatConversion(b, inst))
    return {std::nullopt};
  return {b.convert(ct, b.typeOf(inst.operands[0]).dtype)};
}

// stop_gradient(x) = x, with no derivative: the shift of a stable softmax, x - max(x), whose
// derivative with respect to the max is zero anyway (the shift cancels), so carrying it would
// only add work and a masking reduction to every classifier's gradient.
struct StopGradientRule {
  template <class T> static T apply(T x, const Inst &) { return x; }
};

} // namespace

const OpInfo opNeg = unaryFloatOp<NegRule>();
const OpInfo opExp = unaryFloatOp<ExpRule>();
const OpInfo opLog = unaryFloatOp<LogRule>();
const OpInfo opSqrt = unaryFloatOp<SqrtRule>();
const OpInfo opSin = unaryFloatOp<SinRule>();
const OpInfo opCos = unaryFloatOp<CosRule>();
const OpInfo opTan = unaryFloatOp<TanRule>();
const OpInfo opTanh = unaryFloatOp<TanhRule>();
const OpInfo opAbs = masking(unaryFloatOp<AbsRule>());
const OpInfo opSign = masking(unaryFloatOp<SignRule>());
const OpInfo opLog1p = unaryFloatOp<Log1pRule>();
const OpInfo opExpm1 = unaryFloatOp<Expm1Rule>();
const OpInfo opErf = unaryFloatOp<ErfRule>();
const OpInfo opLgamma = unaryFloatOp<LgammaRule>();
const OpInfo opDigamma = unaryFloatOp<DigammaRule>();
const OpInfo opTrigamma = unaryFloatOp<TrigammaRule>();
const OpInfo opPolygamma = unaryFloatOp<PolygammaRule>({{"k", AttrKind::Int}});
const OpInfo opSigmoid = unaryFloatOp<SigmoidRule>();
const OpInfo opRelu = masking(unaryFloatOp<ReluRule>());
const OpInfo opLeakyRelu = unaryFloatOp<LeakyReluRule>({{"alpha", AttrKind::Float}});
const OpInfo opHardtanh =
    masking(unaryFloatOp<HardtanhRule>({{"lo", AttrKind::Float}, {"hi", AttrKind::Float}}));
const OpInfo opSoftplus = unaryFloatOp<SoftplusRule>();

const OpInfo opAdd = binaryNumericOp<AddRule>();
const OpInfo opSub = binaryNumericOp<SubRule>();
const OpInfo opMul = binaryNumericOp<MulRule>();
const OpInfo opDiv = binaryOp<DivRule>(floatRule);
const OpInfo opPow = binaryOp<PowRule>(floatRule);
const OpInfo opMax = masking(binaryNumericOp<MaxRule>());
const OpInfo opMin = masking(binaryNumericOp<MinRule>());

const OpInfo opLt = compareOp<LtRule>();
const OpInfo opLe = compareOp<LeRule>();
const OpInfo opGt = compareOp<GtRule>();
const OpInfo opGe = compareOp<GeRule>();
const OpInfo opEq = compareOp<EqRule>();
const OpInfo opNe = compareOp<NeRule>();

const OpInfo opSelect = masking(OpInfo{3, {}, selectRule, evalSelect, selectJvp, selectVjp});
const OpInfo opStopGradient = [] {
  OpInfo info{1, {}, floatRule, evalElementwise<StopGradientRule, 1>, rules::zeroJvp,
              rules::zeroVjp};
  info.lowerScalar = lowerElementwise<StopGradientRule, 1>;
  return info;
}();
const OpInfo opConvert =
    OpInfo{1, {{"dtype", AttrKind::DTypeAttr}}, convertRule, evalConvert, convertJvp, convertVjp};

} // namespace nabla
