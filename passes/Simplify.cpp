// The simplifier: each instruction is re-emitted through a table of rewrites, grouped by op, until
// nothing changes. The Builder underneath already folds constants, applies the basic identities
// and shares equal instructions (CSE).
#include "passes/Simplify.h"

#include "ir/Builder.h"
#include "ir/Rewriter.h"
#include "ir/Verifier.h"
#include "ir/Printer.h"
#include "passes/DeadCode.h"

#include <cmath>
#include <optional>

namespace nabla {

namespace {

/// The rewrite context: the builder of the new function and pattern helpers over it.
class RewriteTable {
public:
  explicit RewriteTable(Builder &b) : b_(b) {}

  /// The simplified form of `inst` (operands already in the new function).
  ValueId rewrite(const Inst &inst) {
    // A handful of ops have algebraic rules; every other op is re-emitted as it is (the
    // builder still folds constants and shares equal values).
    const auto &o = inst.operands;
    if (inst.op == Op::Add)
      return add(o[0], o[1]);
    if (inst.op == Op::Sub)
      return sub(o[0], o[1]);
    if (inst.op == Op::Mul)
      return mul(o[0], o[1]);
    if (inst.op == Op::Div)
      return div(o[0], o[1]);
    if (inst.op == Op::Neg)
      return neg(o[0]);
    if (inst.op == Op::Pow)
      return pow(o[0], o[1]);
    if (inst.op == Op::Select)
      return select(o[0], o[1], o[2], inst);
    // A loop's bodies are functions: simplified as such.
    Builder::Regions regions;
    for (const auto &region : inst.regions)
      regions.push_back(std::make_shared<const Function>(simplify(*region)));
    return b_.emit(inst.op, inst.operands, inst.attrs, inst.type, std::move(regions));
  }

private:
  const Inst &def(ValueId v) const { return b_.function().insts[v]; }
  bool is(ValueId v, Op op) const { return def(v).op == op; }
  ValueId arg(ValueId v, std::size_t i) const { return def(v).operands[i]; }
  std::optional<double> constant(ValueId v) const { return b_.constantValue(v); }
  ValueId number(double c, ValueId like) { return b_.constantLike(c, b_.typeOf(like)); }

  /// Splits `v` into coefficient * rest: 3*x -> (3, x), -x -> (-1, x), x -> (1, x).
  std::pair<double, ValueId> coefficient(ValueId v) const {
    if (is(v, Op::Mul) && constant(arg(v, 0)))
      return {*constant(arg(v, 0)), arg(v, 1)};
    if (is(v, Op::Neg)) {
      auto [c, rest] = coefficient(arg(v, 0));
      return {-c, rest};
    }
    return {1.0, v};
  }

  /// Splits `v` into base ^ constant exponent: x^3 -> (x, 3), x -> (x, 1).
  std::pair<ValueId, double> power(ValueId v) const {
    if (is(v, Op::Pow) && constant(arg(v, 1)))
      return {arg(v, 0), *constant(arg(v, 1))};
    return {v, 1.0};
  }

  ValueId scaled(double c, ValueId x) {
    if (c == 0)
      return number(0, x);
    if (c == 1)
      return x;
    if (c == -1)
      return neg(x);
    return b_.mul(number(c, x), x);
  }

  // ----- add ---------------------------------------------------------------------------------
  ValueId add(ValueId a, ValueId c) {
    if (is(c, Op::Neg)) // a + (-b) = a - b
      return sub(a, arg(c, 0));
    if (is(a, Op::Neg)) // (-a) + b = b - a
      return sub(c, arg(a, 0));
    if (constant(a) && !constant(c)) // constants last: x + 1
      std::swap(a, c);
    auto [ca, ra] = coefficient(a);
    auto [cc, rc] = coefficient(c);
    if (ra == rc && !constant(ra)) // like terms: 2*x + 3*x = 5*x
      return scaled(ca + cc, ra);
    if (!constant(c) && c < a) // canonical order, so that a + b and b + a are one value
      std::swap(a, c);
    return b_.add(a, c);
  }

  // ----- sub ---------------------------------------------------------------------------------
  ValueId sub(ValueId a, ValueId c) {
    if (is(c, Op::Neg)) // a - (-b) = a + b
      return add(a, arg(c, 0));
    auto [ca, ra] = coefficient(a);
    auto [cc, rc] = coefficient(c);
    if (ra == rc && !constant(ra)) // 3*x - x = 2*x
      return scaled(ca - cc, ra);
    if (auto k = constant(c); k && *k < 0) // x - (-2) = x + 2
      return add(a, number(-*k, c));
    return b_.sub(a, c);
  }

  // ----- mul ---------------------------------------------------------------------------------
  ValueId mul(ValueId a, ValueId c) {
    if (constant(c) && !constant(a)) // constants first: 3*x
      std::swap(a, c);
    if (is(a, Op::Neg)) // (-a) b = -(a b)
      return neg(mul(arg(a, 0), c));
    if (is(c, Op::Neg)) // a (-b) = -(a b)
      return neg(mul(a, arg(c, 0)));
    if (auto k = constant(a)) {
      // Constants multiply here: the builder folds scalars only, and an unfolded product of
      // broadcast constants would send `2 (3 x)` and `(3 a) x` round each other forever.
      if (auto kc = constant(c)) // 2 3 = 6
        return number(*k * *kc, c);
      if (is(c, Op::Mul) && constant(arg(c, 0))) // 2 (3 x) = 6 x
        return mul(number(*k * *constant(arg(c, 0)), c), arg(c, 1));
      if (is(c, Op::Div) && constant(arg(c, 0))) // 2 (3 / x) = 6 / x
        return b_.div(number(*k * *constant(arg(c, 0)), c), arg(c, 1));
      return b_.mul(a, c);
    }
    if (is(c, Op::Mul) && constant(arg(c, 0))) // a (3 x) = 3 (a x)
      return mul(arg(c, 0), mul(a, arg(c, 1)));
    if (is(a, Op::Mul) && constant(arg(a, 0))) // (3 a) x = 3 (a x)
      return mul(arg(a, 0), mul(arg(a, 1), c));
    if (is(c, Op::Div) && constant(arg(c, 0)) == 1.0) // a (1 / b) = a / b
      return b_.div(a, arg(c, 1));
    auto [ba, ea] = power(a);
    auto [bc, ec] = power(c);
    if (ba == bc && !constant(ba)) // x^a x^b = x^(a+b)
      return pow(ba, number(ea + ec, ba));
    if (c < a && !is(a, Op::Mul) && !is(c, Op::Mul))
      std::swap(a, c);
    return b_.mul(a, c);
  }

  // ----- div ---------------------------------------------------------------------------------
  ValueId div(ValueId a, ValueId c) {
    if (is(a, Op::Neg)) // (-a) / b = -(a / b)
      return neg(div(arg(a, 0), c));
    auto [ba, ea] = power(a);
    auto [bc, ec] = power(c);
    if (ba == bc && !constant(ba) && ea > ec) // x^a / x^b = x^(a-b) for a > b (no new poles)
      return pow(ba, number(ea - ec, ba));
    return b_.div(a, c);
  }

  // ----- neg ---------------------------------------------------------------------------------
  ValueId neg(ValueId x) {
    if (is(x, Op::Mul) && constant(arg(x, 0))) // -(3 x) = -3 x
      return scaled(-*constant(arg(x, 0)), arg(x, 1));
    if (is(x, Op::Sub)) // -(a - b) = b - a
      return sub(arg(x, 1), arg(x, 0));
    return b_.neg(x);
  }

  // ----- pow ---------------------------------------------------------------------------------
  ValueId pow(ValueId a, ValueId c) {
    auto k = constant(c);
    if (k && is(a, Op::Pow) && constant(arg(a, 1)) && *k == std::floor(*k)) // (x^a)^n = x^(a n)
      return pow(arg(a, 0), number(*constant(arg(a, 1)) * *k, c));
    if (k == 1.0)
      return a;
    return b_.binary(Op::Pow, a, c);
  }

  // ----- select ------------------------------------------------------------------------------
  ValueId select(ValueId mask, ValueId a, ValueId c, const Inst &inst) {
    if (a == c) // where(m, x, x) = x
      return a;
    if (constant(a) == 1.0 && constant(c) == 0.0) // where(m, 1, 0) = m as a number
      return b_.convert(mask, b_.typeOf(a).dtype);
    return b_.emit(Op::Select, {mask, a, c}, inst.attrs);
  }

  Builder &b_;
};

/// One pass of the rewrite table over the whole function.
Function rewriteOnce(const Function &f) {
  Rewriter r(f, f.name);
  RewriteTable table(r.builder());
  for (ValueId v = 0; v < f.insts.size(); ++v)
    r.set(v, table.rewrite(r.mapped(v)));
  return eliminateDeadCode(r.finish());
}

} // namespace

Function simplify(const Function &f) {
  Function current = eliminateDeadCode(f);
  std::string text = print(current);
  for (int round = 0; round < 8; ++round) {
    Function next = rewriteOnce(current);
    std::string nextText = print(next);
    if (nextText == text)
      break;
    current = std::move(next);
    text = std::move(nextText);
  }
  return verified(std::move(current), "simplification");
}

} // namespace nabla
