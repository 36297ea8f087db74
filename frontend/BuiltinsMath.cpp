// The standard library, part one: elementwise math, activations, softmax and the losses. Each
// row of the table stands below the expansion it needs, if any; rows without one are a single IR
// op (Sema::expandOp).
#include "frontend/SemaImpl.h"

#include "ir/Shapes.h"

#include <fmt/format.h>

#include <numbers>

namespace nabla::sema {

namespace {

using G = BuiltinGroup;

/// A row for an elementwise op of one tensor, called `name(x)`.
Builtin unary(std::string_view name, Op op, G group, std::string_view summary) {
  return Builtin{.name = name,
                 .group = group,
                 .args = {slot("x")},
                 .op = op,
                 .summary = summary,
                 .example = fmt::format("{}(x)", name)};
}

// ----- elementwise math ------------------------------------------------------------------------

SVal expandWhere(Sema &s, BuiltinCall &c) {
  Builder &b = s.builder();
  const Expr &call = c.where();
  SVal m = c.value(0);
  ValueId mask = s.materialize(m, DType::F64, c.expr(0).range);
  if (b.typeOf(mask).dtype != DType::Bool) {
    // Like numpy, any nonzero entry selects the first branch.
    ValueId zero = b.constantLike(0, b.typeOf(mask));
    mask = b.binary(Op::Ne, mask, zero);
  }
  SVal ifTrue = c.value(1);
  SVal ifFalse = c.value(2);
  auto [x, y] = s.unify(ifTrue, ifFalse, call, "where", true, c.expr(1).range, c.expr(2).range);
  auto shape = broadcastShapes(b.typeOf(mask).shape, b.typeOf(x).shape);
  if (!shape)
    s.fail(call.range, fmt::format("shape mismatch in 'where': mask {} vs branches {}",
                                   b.typeOf(mask).str(), b.typeOf(x).str()));
  mask = b.broadcast(mask, *shape);
  x = b.broadcast(x, *shape);
  y = b.broadcast(y, *shape);
  return Val{b.emit(Op::Select, {mask, x, y})};
}

// ----- activations -----------------------------------------------------------------------------

SVal expandHardtanh(Sema &s, BuiltinCall &c) {
  double lo = c.number(1), hi = c.number(2);
  if (lo > hi)
    s.fail(c.where().range, fmt::format("hardtanh needs lo <= hi, got {} > {}", lo, hi));
  return s.unaryOp(Op::Hardtanh, c.value(0), c.where(), {lo, hi});
}

// swish(x, beta) = x * sigmoid(beta x)
SVal expandSwish(Sema &s, BuiltinCall &c) {
  double beta = c.number(1);
  SVal x = c.value(0);
  const Expr &w = c.where();
  SVal bx = s.binaryOp(Op::Mul, Number{beta, false}, x, w, w, w, "*");
  return s.binaryOp(Op::Mul, x, s.unaryOp(Op::Sigmoid, bx, w), w, w, w, "*");
}

// gelu(x) = x * Phi(x) = x/2 * (1 + erf(x / sqrt 2)), the exact form.
SVal expandGelu(Sema &s, BuiltinCall &c) {
  SVal x = c.value(0);
  const Expr &w = c.where();
  SVal scaled = s.binaryOp(Op::Mul, x, Number{1 / std::numbers::sqrt2, false}, w, w, w, "*");
  SVal phi = s.binaryOp(Op::Add, Number{1, true}, s.unaryOp(Op::Erf, scaled, w), w, w, w, "+");
  SVal half = s.binaryOp(Op::Mul, x, Number{0.5, false}, w, w, w, "*");
  return s.binaryOp(Op::Mul, half, phi, w, w, w, "*");
}

// ----- softmax and the losses ------------------------------------------------------------------

/// The reduction `op` over `axis` kept as a size-1 axis and broadcast back to x's shape.
ValueId reduceKeep(Builder &b, Op op, ValueId x, std::int64_t axis) {
  Type t = b.typeOf(x);
  ValueId r = b.emit(op, {x}, {std::vector<std::int64_t>{axis}});
  Shape kept = t.shape;
  kept[static_cast<std::size_t>(axis)] = Dim(1);
  return b.broadcast(b.reshape(r, kept), t.shape);
}

/// x - max(x) along `axis`, the max held constant: every entry is <= 0 and the largest is
/// exactly 0, so what follows neither overflows nor loses the largest entries to rounding.
ValueId shiftByMax(Builder &b, ValueId x, std::int64_t axis) {
  return b.sub(x, b.unary(Op::StopGradient, reduceKeep(b, Op::ReduceMax, x, axis)));
}

// log_softmax(x) = s - logsumexp(s) and softmax(x) = exp(log_softmax(x)), s = x - max(x):
// exact at logits of +-1e4 (subtracting a rounded logsumexp of x itself would lose |x| eps).
SVal expandSoftmax(Sema &s, BuiltinCall &c) {
  Builder &b = s.builder();
  ValueId x = s.asFloat(c.value(0), c.expr(0).range);
  std::int64_t axis = s.resolveAxis(c.integer(1), b.typeOf(x).rank(), c.where());
  ValueId shifted = shiftByMax(b, x, axis);
  ValueId logp = b.sub(shifted, reduceKeep(b, Op::LogSumExp, shifted, axis));
  return Val{c.row().name == "log_softmax" ? logp : b.unary(Op::Exp, logp)};
}

// cross_entropy(logits, y) = logsumexp(s) - s[y] with s = logits - max(logits), per example:
// exact for any logits (the label's shifted logit is 0 when it is the largest).
SVal expandCrossEntropy(Sema &s, BuiltinCall &c) {
  Builder &b = s.builder();
  ValueId logits = s.asFloat(c.value(0), c.expr(0).range);
  ValueId labels = s.materialize(c.value(1), DType::I32, c.expr(1).range);
  const Type tl = b.typeOf(logits);
  const Type ty = b.typeOf(labels);
  if (ty.dtype != DType::I32)
    s.fail(c.expr(1).range, fmt::format("cross_entropy needs i32 labels, got {}", ty.str()));
  Shape rows(tl.shape.begin(), tl.shape.end() - (tl.rank() ? 1 : 0));
  if (tl.rank() < 1 || ty.shape != rows)
    s.fail(c.where().range,
           fmt::format("cross_entropy needs one label per row of logits: logits {} vs labels {}",
                       tl.str(), ty.str()));
  auto last = static_cast<std::int64_t>(tl.rank() - 1);
  ValueId shifted = shiftByMax(b, logits, last);
  ValueId lse = b.emit(Op::LogSumExp, {shifted}, {std::vector<std::int64_t>{last}});
  Shape column = rows;
  column.push_back(Dim(1));
  ValueId picked = b.emit(Op::TakeAlong, {shifted, b.reshape(labels, column)}, {last});
  return Val{b.sub(lse, b.reshape(picked, rows))};
}

/// The dtype and shape rules of an elementwise built-in of two arguments, checked before it is
/// expanded so that an error names the built-in and its arguments in order, not an inner '*'.
void checkOperands(Sema &s, const SVal &a, const SVal &b, const Expr &call) {
  DType floatType = DType::F64; // what untyped operands become: the typed operand's float type
  for (const SVal *v : {&b, &a})
    if (const auto *val = std::get_if<Val>(v); val && isFloat(s.builder().typeOf(val->id).dtype))
      floatType = s.builder().typeOf(val->id).dtype;
  Type ta = s.typeOf(a, floatType), tb = s.typeOf(b, floatType);
  if (isFloat(ta.dtype) && isFloat(tb.dtype) && ta.dtype != tb.dtype)
    s.fail(call.range,
           fmt::format("cannot mix f32 and f64 in '{}': {} vs {} (convert one with f32(...) or "
                       "f64(...))",
                       call.name, ta.str(), tb.str()));
  if (!broadcastShapes(ta.shape, tb.shape))
    s.fail(call.range,
           fmt::format("shape mismatch in '{}': {} vs {}", call.name, ta.str(), tb.str()));
}

/// Gives an untyped argument (`[1, 0, 1]`) the float type of a typed one, as a single
/// elementwise op would; the loss built-ins' expansions meet them only after other ops have
/// made the untyped one f64.
void shareFloatType(Sema &s, SVal &a, SVal &b, const Expr &ea, const Expr &eb) {
  if (Sema::isUntyped(a) == Sema::isUntyped(b))
    return;
  DType t = s.typeOf(Sema::isUntyped(a) ? b : a, DType::F64).dtype;
  if (!isFloat(t))
    return;
  if (Sema::isUntyped(a))
    a = Val{s.materialize(a, t, ea.range)};
  else
    b = Val{s.materialize(b, t, eb.range)};
}

// -(y log p + (1 - y) log(1 - p)), with logs clamped at -100 as PyTorch's BCELoss.
SVal expandBinaryCrossEntropy(Sema &s, BuiltinCall &c) {
  const Expr &call = c.where(), &ep = c.expr(0), &ey = c.expr(1);
  SVal p = c.value(0), y = c.value(1);
  checkOperands(s, p, y, call);
  shareFloatType(s, p, y, ep, ey);
  auto clampedLog = [&](SVal v) {
    return s.binaryOp(Op::Max, s.unaryOp(Op::Log, v, call), Number{-100, true}, call, call, call,
                      "max");
  };
  SVal oneMinusP = s.binaryOp(Op::Sub, Number{1, true}, p, call, call, ep, "-");
  SVal oneMinusY = s.binaryOp(Op::Sub, Number{1, true}, y, call, call, ey, "-");
  SVal pos = s.binaryOp(Op::Mul, y, clampedLog(p), call, ey, ep, "*");
  SVal negTerm = s.binaryOp(Op::Mul, oneMinusY, clampedLog(oneMinusP), call, call, call, "*");
  return s.negate(s.binaryOp(Op::Add, pos, negTerm, call, call, call, "+"), call);
}

// softplus(s) - y s: stable for any logit.
SVal expandBceWithLogits(Sema &s, BuiltinCall &c) {
  const Expr &call = c.where(), &es = c.expr(0), &ey = c.expr(1);
  SVal logit = c.value(0), y = c.value(1);
  checkOperands(s, logit, y, call);
  shareFloatType(s, logit, y, es, ey);
  SVal ys = s.binaryOp(Op::Mul, y, logit, call, ey, es, "*");
  return s.binaryOp(Op::Sub, s.unaryOp(Op::Softplus, logit, call), ys, call, call, call, "-");
}

// mse(a, b) = mean((a - b)^2), mae(a, b) = mean(|a - b|), over all elements.
SVal expandMeanError(Sema &s, BuiltinCall &c) {
  const Expr &call = c.where();
  bool squared = c.row().name == "mse";
  SVal a = c.value(0);
  SVal b = c.value(1);
  SVal d = s.binaryOp(Op::Sub, a, b, call, c.expr(0), c.expr(1), c.row().name);
  SVal e = squared ? s.binaryOp(Op::Mul, d, d, call, call, call, "*") : s.unaryOp(Op::Abs, d, call);
  return meanOf(s, e, nullptr, call);
}

} // namespace

std::vector<Builtin> mathBuiltins() {
  const ArgSpec x = slot("x");
  const ArgSpec axis = optionalSlot("axis", ArgKind::Integer, -1);
  return {
      // ----- elementwise math
      unary("exp", Op::Exp, G::ElementwiseMath, "e^x"),
      unary("log", Op::Log, G::ElementwiseMath, "the natural logarithm"),
      unary("ln", Op::Log, G::ElementwiseMath, "= log"),
      unary("sqrt", Op::Sqrt, G::ElementwiseMath, "the square root"),
      unary("sin", Op::Sin, G::ElementwiseMath, "the sine"),
      unary("cos", Op::Cos, G::ElementwiseMath, "the cosine"),
      unary("tan", Op::Tan, G::ElementwiseMath, "the tangent"),
      unary("tanh", Op::Tanh, G::ElementwiseMath, "the hyperbolic tangent"),
      unary("abs", Op::Abs, G::ElementwiseMath, "|x|; abs'(0) = 0"),
      unary("sign", Op::Sign, G::ElementwiseMath, "-1, 0 or 1; sign' = 0"),
      unary("log1p", Op::Log1p, G::ElementwiseMath, "log(1 + x), exact for small x"),
      unary("expm1", Op::Expm1, G::ElementwiseMath, "e^x - 1, exact for small x"),
      unary("erf", Op::Erf, G::ElementwiseMath, "the error function"),
      unary("lgamma", Op::Lgamma, G::ElementwiseMath, "log |Gamma(x)|"),
      unary("digamma", Op::Digamma, G::ElementwiseMath, "d/dx lgamma(x)"),
      unary("trigamma", Op::Trigamma, G::ElementwiseMath, "d/dx digamma(x)"),
      {.name = "polygamma",
       .group = G::ElementwiseMath,
       .args = {slot("k", ArgKind::Integer)
                    .asAttribute("k")
                    .atLeast(0)
                    .describedAs("the order of polygamma"),
                x},
       .op = Op::Polygamma,
       .summary = "the k-th derivative of digamma",
       .example = "polygamma(2, x)"},
      {.name = "pow",
       .group = G::ElementwiseMath,
       .args = {slot("a"), slot("b")},
       .op = Op::Pow,
       .summary = "a^b",
       .example = "pow(x, y)"},
      {.name = "max",
       .group = G::ElementwiseMath,
       .args = {slot("a"), slot("b")},
       .op = Op::Max,
       .exactArity = true,
       .summary = "the larger of a and b; a tie splits the gradient (max(x) reduces)",
       .example = "max(x, y)"},
      {.name = "min",
       .group = G::ElementwiseMath,
       .args = {slot("a"), slot("b")},
       .op = Op::Min,
       .exactArity = true,
       .summary = "the smaller of a and b; a tie splits the gradient (min(x) reduces)",
       .example = "min(x, y)"},
      {.name = "where",
       .group = G::ElementwiseMath,
       .args = {slot("mask"), slot("a"), slot("b")},
       .op = Op::Select,
       .expand = expandWhere,
       .summary = "a where mask is nonzero, else b; the gradient goes to the branch taken",
       .example = "where(x > 0, x, y)"},

      // ----- activations
      unary("sigmoid", Op::Sigmoid, G::Activation, "1 / (1 + e^-x)"),
      unary("logistic", Op::Sigmoid, G::Activation, "= sigmoid"),
      unary("relu", Op::Relu, G::Activation, "max(x, 0); relu'(0) = 0"),
      {.name = "leaky_relu",
       .group = G::Activation,
       .args = {x, optionalSlot("alpha", ArgKind::Number, 0.01).asAttribute("alpha")},
       .op = Op::LeakyRelu,
       .summary = "x for x > 0, else alpha*x; leaky_relu'(0) = alpha",
       .example = "leaky_relu(x, 0.2)"},
      {.name = "hardtanh",
       .group = G::Activation,
       .args = {x, optionalSlot("lo", ArgKind::Number, -1.0).asAttribute("lo"),
                optionalSlot("hi", ArgKind::Number, 1.0).asAttribute("hi")},
       .op = Op::Hardtanh,
       .expand = expandHardtanh,
       .summary = "x clamped to [lo, hi]; zero derivative at lo and hi",
       .example = "hardtanh(x, -2, 2)"},
      unary("softplus", Op::Softplus, G::Activation, "log(1 + e^x), stable for large |x|"),
      {.name = "swish",
       .group = G::Activation,
       .args = {x, optionalSlot("beta", ArgKind::Number, 1.0)},
       .expand = expandSwish,
       .summary = "x * sigmoid(beta x)",
       .example = "swish(x, 2)"},
      {.name = "gelu",
       .group = G::Activation,
       .args = {x},
       .expand = expandGelu,
       .summary = "x * Phi(x), the exact form with erf",
       .example = "gelu(x)"},

      // ----- softmax and the losses
      {.name = "softmax",
       .group = G::Learning,
       .args = {x, axis},
       .expand = expandSoftmax,
       .summary = "exp(x) / sum(exp(x)) along axis, stable",
       .example = "softmax(m, axis=0)"},
      {.name = "log_softmax",
       .group = G::Learning,
       .args = {x, axis},
       .expand = expandSoftmax,
       .summary = "x - logsumexp(x) along axis, stable",
       .example = "log_softmax(m)"},
      {.name = "cross_entropy",
       .group = G::Learning,
       .args = {slot("logits"), slot("labels")},
       .expand = expandCrossEntropy,
       .summary = "per-example loss of a row of logits against an i32 label, stable",
       .example = "cross_entropy(m, labels)"},
      {.name = "binary_cross_entropy",
       .group = G::Learning,
       .args = {slot("p"), slot("y")},
       .expand = expandBinaryCrossEntropy,
       .summary = "-(y log p + (1 - y) log(1 - p)) per element, logs clamped at -100",
       .example = "binary_cross_entropy(sigmoid(v), [0, 1, 1])"},
      {.name = "bce_with_logits",
       .group = G::Learning,
       .args = {slot("s"), slot("y")},
       .expand = expandBceWithLogits,
       .summary = "binary_cross_entropy(sigmoid(s), y) per element, stable",
       .example = "bce_with_logits(v, [0, 1, 1])"},
      {.name = "mse",
       .group = G::Learning,
       .args = {slot("a"), slot("b")},
       .expand = expandMeanError,
       .summary = "the mean of (a - b)^2 over all elements",
       .example = "mse(v, [1, 2, 3])"},
      {.name = "mae",
       .group = G::Learning,
       .args = {slot("a"), slot("b")},
       .expand = expandMeanError,
       .summary = "the mean of |a - b| over all elements",
       .example = "mae(m, v)"},
  };
}

} // namespace nabla::sema
