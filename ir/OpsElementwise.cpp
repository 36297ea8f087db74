// Elementwise ops: each op's scalar definition, written once as a template over the number type
// so that the interpreter (double, float) and later the code generator share it.
#include "ir/OpTable.h"
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

template <class Rule> OpInfo unaryFloatOp(std::vector<AttrSpec> attrs = {}) {
  return OpInfo{1, std::move(attrs), floatRule, evalElementwise<Rule, 1>};
}

template <class Rule> OpInfo binaryOp(TypeRule rule) {
  return OpInfo{2, {}, rule, evalElementwise<Rule, 2>};
}

/// `c ? a : b` on numbers; the code generator's value type overloads it with a select.
template <class T> T select(bool c, T a, T b) { return c ? a : b; }

template <class T> constexpr T nan() { return std::numeric_limits<T>::quiet_NaN(); }

// ----- one float operand -------------------------------------------------------------------------

struct NegRule {
  template <class T> static T apply(T x, const Inst &) { return -x; }
};
struct ExpRule {
  template <class T> static T apply(T x, const Inst &) { return std::exp(x); }
};
struct LogRule {
  template <class T> static T apply(T x, const Inst &) { return std::log(x); }
};
struct SqrtRule {
  template <class T> static T apply(T x, const Inst &) { return std::sqrt(x); }
};
struct SinRule {
  template <class T> static T apply(T x, const Inst &) { return std::sin(x); }
};
struct CosRule {
  template <class T> static T apply(T x, const Inst &) { return std::cos(x); }
};
struct TanRule {
  template <class T> static T apply(T x, const Inst &) { return std::tan(x); }
};
struct TanhRule {
  template <class T> static T apply(T x, const Inst &) { return std::tanh(x); }
};
struct AbsRule {
  template <class T> static T apply(T x, const Inst &) { return std::fabs(x); }
};
struct SignRule {
  // sign(NaN) is NaN, as numpy's.
  template <class T> static T apply(T x, const Inst &) {
    return x != x ? x : static_cast<T>((x > 0) - (x < 0));
  }
};
struct Log1pRule {
  template <class T> static T apply(T x, const Inst &) { return std::log1p(x); }
};
struct Expm1Rule {
  template <class T> static T apply(T x, const Inst &) { return std::expm1(x); }
};
struct ErfRule {
  template <class T> static T apply(T x, const Inst &) { return std::erf(x); }
};
struct LgammaRule {
  // lgamma_r: std::lgamma writes the global `signgam`, which is not thread-safe.
  template <class T> static T apply(T x, const Inst &) {
    int sign;
    return static_cast<T>(::lgamma_r(static_cast<double>(x), &sign));
  }
};
struct DigammaRule {
  template <class T> static T apply(T x, const Inst &) {
    return static_cast<T>(digammaF64(static_cast<double>(x)));
  }
};
struct TrigammaRule {
  template <class T> static T apply(T x, const Inst &) {
    return static_cast<T>(trigammaF64(static_cast<double>(x)));
  }
};
struct PolygammaRule {
  template <class T> static T apply(T x, const Inst &inst) {
    return static_cast<T>(polygammaF64(static_cast<int>(inst.intAttr("k")), static_cast<double>(x)));
  }
};
struct SigmoidRule {
  // Split at 0 so that neither branch overflows: exp only ever sees a non-positive argument.
  template <class T> static T apply(T x, const Inst &) {
    T e = std::exp(-std::fabs(x));
    return select(x >= 0, T(1) / (T(1) + e), e / (T(1) + e));
  }
};
struct ReluRule {
  template <class T> static T apply(T x, const Inst &) { return select(x > 0, x, T(0) * x); }
};
struct LeakyReluRule {
  template <class T> static T apply(T x, const Inst &inst) {
    return select(x > 0, x, static_cast<T>(inst.floatAttr("alpha")) * x);
  }
};
struct HardtanhRule {
  template <class T> static T apply(T x, const Inst &inst) {
    T lo = static_cast<T>(inst.floatAttr("lo")), hi = static_cast<T>(inst.floatAttr("hi"));
    return select(x < lo, lo, select(x > hi, hi, x));
  }
};
struct SoftplusRule {
  // softplus(x) = max(x, 0) + log1p(exp(-|x|)): exact for large |x| and never overflows.
  template <class T> static T apply(T x, const Inst &) {
    return select(x > 0, x, T(0)) + std::log1p(std::exp(-std::fabs(x)));
  }
};

// ----- two operands ------------------------------------------------------------------------------

struct AddRule {
  template <class T> static T apply(T a, T b, const Inst &) { return a + b; }
};
struct SubRule {
  template <class T> static T apply(T a, T b, const Inst &) { return a - b; }
};
struct MulRule {
  template <class T> static T apply(T a, T b, const Inst &) { return a * b; }
};
struct DivRule {
  template <class T> static T apply(T a, T b, const Inst &) { return a / b; }
};
struct PowRule {
  // A negative base with a non-integer exponent gives NaN, as numpy's.
  template <class T> static T apply(T a, T b, const Inst &) { return std::pow(a, b); }
};
struct MaxRule {
  // NaN propagates from either side, as numpy's maximum.
  template <class T> static T apply(T a, T b, const Inst &) {
    return select(a > b || a != a, a, b);
  }
};
struct MinRule {
  template <class T> static T apply(T a, T b, const Inst &) {
    return select(a < b || a != a, a, b);
  }
};
struct LtRule {
  template <class T> static T apply(T a, T b, const Inst &) { return a < b; }
};
struct LeRule {
  template <class T> static T apply(T a, T b, const Inst &) { return a <= b; }
};
struct GtRule {
  template <class T> static T apply(T a, T b, const Inst &) { return a > b; }
};
struct GeRule {
  template <class T> static T apply(T a, T b, const Inst &) { return a >= b; }
};
struct EqRule {
  template <class T> static T apply(T a, T b, const Inst &) { return a == b; }
};
struct NeRule {
  template <class T> static T apply(T a, T b, const Inst &) { return a != b; }
};

// Integer arithmetic is exact in doubles, so i32 operands share the float evaluation loop.
OpInfo binaryNumericOp(EvalRule eval) { return OpInfo{2, {}, numericRule, eval}; }

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

} // namespace

const OpInfo opNeg = unaryFloatOp<NegRule>();
const OpInfo opExp = unaryFloatOp<ExpRule>();
const OpInfo opLog = unaryFloatOp<LogRule>();
const OpInfo opSqrt = unaryFloatOp<SqrtRule>();
const OpInfo opSin = unaryFloatOp<SinRule>();
const OpInfo opCos = unaryFloatOp<CosRule>();
const OpInfo opTan = unaryFloatOp<TanRule>();
const OpInfo opTanh = unaryFloatOp<TanhRule>();
const OpInfo opAbs = unaryFloatOp<AbsRule>();
const OpInfo opSign = unaryFloatOp<SignRule>();
const OpInfo opLog1p = unaryFloatOp<Log1pRule>();
const OpInfo opExpm1 = unaryFloatOp<Expm1Rule>();
const OpInfo opErf = unaryFloatOp<ErfRule>();
const OpInfo opLgamma = unaryFloatOp<LgammaRule>();
const OpInfo opDigamma = unaryFloatOp<DigammaRule>();
const OpInfo opTrigamma = unaryFloatOp<TrigammaRule>();
const OpInfo opPolygamma = unaryFloatOp<PolygammaRule>({{"k", AttrKind::Int}});
const OpInfo opSigmoid = unaryFloatOp<SigmoidRule>();
const OpInfo opRelu = unaryFloatOp<ReluRule>();
const OpInfo opLeakyRelu = unaryFloatOp<LeakyReluRule>({{"alpha", AttrKind::Float}});
const OpInfo opHardtanh =
    unaryFloatOp<HardtanhRule>({{"lo", AttrKind::Float}, {"hi", AttrKind::Float}});
const OpInfo opSoftplus = unaryFloatOp<SoftplusRule>();

const OpInfo opAdd = binaryNumericOp(evalElementwise<AddRule, 2>);
const OpInfo opSub = binaryNumericOp(evalElementwise<SubRule, 2>);
const OpInfo opMul = binaryNumericOp(evalElementwise<MulRule, 2>);
const OpInfo opDiv = binaryOp<DivRule>(floatRule);
const OpInfo opPow = binaryOp<PowRule>(floatRule);
const OpInfo opMax = binaryNumericOp(evalElementwise<MaxRule, 2>);
const OpInfo opMin = binaryNumericOp(evalElementwise<MinRule, 2>);

const OpInfo opLt = binaryOp<LtRule>(compareRule);
const OpInfo opLe = binaryOp<LeRule>(compareRule);
const OpInfo opGt = binaryOp<GtRule>(compareRule);
const OpInfo opGe = binaryOp<GeRule>(compareRule);
const OpInfo opEq = binaryOp<EqRule>(compareRule);
const OpInfo opNe = binaryOp<NeRule>(compareRule);

const OpInfo opSelect = OpInfo{3, {}, selectRule, evalSelect};
const OpInfo opConvert = OpInfo{1, {{"dtype", AttrKind::DTypeAttr}}, convertRule, evalConvert};

} // namespace nabla
