// Driven by the op table: every op has all its rules, and every differentiable op's derivative
// rules pass the dot-product identity <J t, c> = <t, J^T c> and agree with finite differences
// (and with each other in all three modes), entry by entry, on random inputs of suitable shapes.
#include "frontend/InfixPrinter.h"
#include "frontend/Sema.h"
#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "ir/OpTable.h"
#include "ir/Printer.h"
#include "ir/Differentiate.h"
#include "ir/Rewriter.h"
#include "passes/ForwardMode.h"
#include "passes/ReverseMode.h"
#include "passes/Symbolic.h"
#include "driver/Derivatives.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>

namespace nabla {
namespace {

using Rng = std::mt19937_64;

constexpr double kPi = 3.141592653589793;

double uniform(Rng &rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

Shape dims(const std::vector<std::int64_t> &shape) { return Shape(shape.begin(), shape.end()); }

/// One op applied to fresh arguments: the function `op(a0, a1, ...)` and argument values.
struct OpCase {
  std::string label;
  Op op;
  Function f;
  std::vector<Tensor> args;
  double fdStep = 1e-6; // relative central-difference step
  double fdTol = 1e-7;  // relative tolerance of the finite-difference check
};

/// Builds an OpCase: arguments with values drawn by the caller, then the op on them.
class CaseMaker {
public:
  CaseMaker(std::string label, Op op, Rng &rng) : rng_(rng) {
    c_.label = std::move(label);
    c_.op = op;
    c_.f.name = "case";
  }

  Builder &b() { return b_; }
  Rng &rng() { return rng_; }

  /// A float argument whose entries come from `draw`.
  ValueId floatArg(std::vector<std::int64_t> shape, const std::function<double()> &draw,
                   DType dtype = DType::F64) {
    Tensor t(dtype, shape);
    for (double &v : t.data)
      v = roundTo(dtype, draw());
    return add(std::move(t));
  }
  /// Entries uniform in [lo, hi], redrawn while within `gap` of any of `kinks`.
  ValueId floatArg(std::vector<std::int64_t> shape, double lo, double hi,
                   std::vector<double> kinks = {}, double gap = 0.1) {
    return floatArg(std::move(shape), [=, this] {
      for (;;) {
        double v = uniform(rng_, lo, hi);
        bool near = false;
        for (double k : kinks)
          near = near || std::fabs(v - k) < gap;
        if (!near)
          return v;
      }
    });
  }
  /// Pairwise distinct entries (no ties for max/min), at least `gap` apart.
  ValueId distinctArg(std::vector<std::int64_t> shape, double lo, double hi, double gap = 0.1) {
    std::vector<double> taken;
    return floatArg(std::move(shape), [=, this]() mutable {
      for (;;) {
        double v = uniform(rng_, lo, hi);
        bool near = false;
        for (double k : taken)
          near = near || std::fabs(v - k) < gap;
        if (!near) {
          taken.push_back(v);
          return v;
        }
      }
    });
  }
  ValueId intArg(std::vector<std::int64_t> shape, std::vector<double> values) {
    Tensor t(DType::I32, std::move(shape));
    t.data = std::move(values);
    return add(std::move(t));
  }
  ValueId maskArg(std::vector<std::int64_t> shape) {
    Tensor t(DType::Bool, std::move(shape));
    for (double &v : t.data)
      v = uniform(rng_, 0, 1) < 0.5 ? 1 : 0;
    return add(std::move(t));
  }

  OpCase finish(ValueId result) {
    c_.f.result = result;
    return std::move(c_);
  }
  OpCase &pending() { return c_; }

private:
  ValueId add(Tensor t) {
    Type type{t.dtype, dims(t.shape)};
    ValueId v = b_.input(fmt::format("a{}", c_.args.size()), type);
    c_.args.push_back(std::move(t));
    return v;
  }

  Rng &rng_;
  OpCase c_;
  Builder b_{c_.f};
};

/// A unary elementwise op on a 2x3 argument drawn from [lo, hi] away from `kinks`.
OpCase unaryCase(Rng &rng, Op op, double lo, double hi, std::vector<AttrValue> attrs = {},
                 std::vector<double> kinks = {}, std::string suffix = "") {
  CaseMaker m(std::string(mnemonic(op)) + suffix, op, rng);
  ValueId x = m.floatArg({2, 3}, lo, hi, std::move(kinks));
  return m.finish(m.b().emit(op, {x}, std::move(attrs)));
}

OpCase binaryCase(Rng &rng, Op op, std::pair<double, double> a, std::pair<double, double> c,
                  bool awayFromZero = false) {
  CaseMaker m(std::string(mnemonic(op)), op, rng);
  std::vector<double> kinks;
  if (awayFromZero)
    kinks.push_back(0);
  ValueId x = m.floatArg({2, 3}, a.first, a.second);
  ValueId y = m.floatArg({2, 3}, c.first, c.second, kinks, 0.3);
  return m.finish(m.b().emit(op, {x, y}));
}

/// max/min without ties: both operands drawn from one set of distinct numbers.
OpCase extremumCase(Rng &rng, Op op) {
  CaseMaker m(std::string(mnemonic(op)), op, rng);
  std::vector<double> pool;
  while (pool.size() < 12) {
    double v = uniform(rng, -2, 2);
    bool near = false;
    for (double p : pool)
      near = near || std::fabs(p - v) < 0.05;
    if (!near)
      pool.push_back(v);
  }
  std::size_t next = 0;
  auto draw = [&] { return pool[next++]; };
  ValueId x = m.floatArg({2, 3}, draw);
  ValueId y = m.floatArg({2, 3}, draw);
  return m.finish(m.b().emit(op, {x, y}));
}

OpCase reduceCase(Rng &rng, Op op, std::vector<std::int64_t> axes) {
  CaseMaker m(fmt::format("{} axes=[{}]", mnemonic(op), fmt::join(axes, ",")), op, rng);
  ValueId x = m.distinctArg({2, 3, 2}, -2, 2, 0.05);
  return m.finish(m.b().emit(op, {x}, {std::move(axes)}));
}

/// Every differentiable op at least once (some in several forms).
std::vector<OpCase> allCases(Rng &rng) {
  std::vector<OpCase> cases;
  auto unary = [&](Op op, double lo, double hi, std::vector<AttrValue> attrs = {},
                   std::vector<double> kinks = {}, std::string suffix = "") {
    cases.push_back(unaryCase(rng, op, lo, hi, std::move(attrs), std::move(kinks), suffix));
  };
  unary(Op::Neg, -2, 2);
  unary(Op::Exp, -2, 2);
  unary(Op::Log, 0.2, 3);
  unary(Op::Sqrt, 0.2, 3);
  unary(Op::Sin, -3, 3);
  unary(Op::Cos, -3, 3);
  unary(Op::Tan, -1.2, 1.2);
  unary(Op::Tanh, -2, 2);
  unary(Op::Abs, -2, 2, {}, {0});
  unary(Op::Sign, -2, 2, {}, {0});
  unary(Op::Log1p, -0.8, 3);
  unary(Op::Expm1, -2, 2);
  unary(Op::Erf, -2, 2);
  unary(Op::Lgamma, 0.3, 4);
  unary(Op::Digamma, 0.3, 4);
  unary(Op::Trigamma, 0.3, 4);
  for (std::int64_t k : {0, 1, 2, 3})
    unary(Op::Polygamma, 0.5, 4, {k}, {}, fmt::format(" k={}", k));
  unary(Op::Sigmoid, -4, 4);
  unary(Op::Relu, -2, 2, {}, {0});
  unary(Op::LeakyRelu, -2, 2, {0.2}, {0});
  unary(Op::Hardtanh, -1.5, 2.5, {-0.5, 1.5}, {-0.5, 1.5});
  unary(Op::Softplus, -4, 4);

  cases.push_back(binaryCase(rng, Op::Add, {-2, 2}, {-2, 2}));
  cases.push_back(binaryCase(rng, Op::Sub, {-2, 2}, {-2, 2}));
  cases.push_back(binaryCase(rng, Op::Mul, {-2, 2}, {-2, 2}));
  cases.push_back(binaryCase(rng, Op::Div, {-2, 2}, {-2, 2}, true));
  cases.push_back(binaryCase(rng, Op::Pow, {0.3, 3}, {-2, 2}));
  cases.push_back(extremumCase(rng, Op::Max));
  cases.push_back(extremumCase(rng, Op::Min));

  { // where(mask, a, b)
    CaseMaker m("select", Op::Select, rng);
    ValueId mask = m.maskArg({2, 3});
    ValueId a = m.floatArg({2, 3}, -2, 2), c = m.floatArg({2, 3}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Select, {mask, a, c})));
  }
  // Conversions between float types; inputs on a 1/64 grid so that f32 holds them exactly.
  for (auto [from, to] : {std::pair{DType::F32, DType::F64}, std::pair{DType::F64, DType::F32}}) {
    CaseMaker m(fmt::format("convert {}->{}", dtypeName(from), dtypeName(to)), Op::Convert, rng);
    Rng &r = m.rng();
    ValueId x = m.floatArg(
        {2, 3}, [&] { return std::round(uniform(r, -1, 1) * 64) / 64; }, from);
    m.pending().fdStep = 1.0 / 64;
    m.pending().fdTol = 1e-6;
    cases.push_back(m.finish(m.b().emit(Op::Convert, {x}, {to})));
  }

  for (Op op : {Op::ReduceSum, Op::ReduceMax, Op::ReduceMin, Op::LogSumExp})
    for (std::vector<std::int64_t> axes :
         {std::vector<std::int64_t>{0}, {1}, {2}, {0, 2}, {0, 1, 2}})
      cases.push_back(reduceCase(rng, op, axes));

  { // broadcast [3] -> [2, 3], [2, 1] -> [2, 2, 3] and a scalar
    CaseMaker m("broadcast [3]->[2,3]", Op::Broadcast, rng);
    ValueId x = m.floatArg({3}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Broadcast, {x}, {dims({2, 3})})));
  }
  {
    CaseMaker m("broadcast [2,1]->[2,2,3]", Op::Broadcast, rng);
    ValueId x = m.floatArg({2, 1}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Broadcast, {x}, {dims({2, 2, 3})})));
  }
  {
    CaseMaker m("broadcast []->[4]", Op::Broadcast, rng);
    ValueId x = m.floatArg({}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Broadcast, {x}, {dims({4})})));
  }
  {
    CaseMaker m("reshape", Op::Reshape, rng);
    ValueId x = m.floatArg({2, 3}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Reshape, {x}, {dims({3, 1, 2})})));
  }
  {
    CaseMaker m("transpose", Op::Transpose, rng);
    ValueId x = m.floatArg({2, 3, 4}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Transpose, {x}, {std::vector<std::int64_t>{2, 0, 1}})));
  }
  {
    CaseMaker m("slice", Op::Slice, rng);
    ValueId x = m.floatArg({4, 5}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Slice, {x}, {dims({1, 0}), dims({3, 4})})));
  }
  {
    CaseMaker m("pad", Op::Pad, rng);
    ValueId x = m.floatArg({2, 3}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Pad, {x}, {dims({1, 0}), dims({0, 2})})));
  }
  {
    CaseMaker m("concat axis=1", Op::Concat, rng);
    ValueId x = m.floatArg({2, 3}, -2, 2), y = m.floatArg({2, 2}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Concat, {x, y}, {std::int64_t{1}})));
  }
  {
    CaseMaker m("concat axis=0 of 3", Op::Concat, rng);
    ValueId x = m.floatArg({1, 3}, -2, 2), y = m.floatArg({2, 3}, -2, 2);
    ValueId z = m.floatArg({1, 3}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Concat, {x, y, z}, {std::int64_t{0}})));
  }
  {
    CaseMaker m("take axis=0 (repeated and negative ids)", Op::Take, rng);
    ValueId x = m.floatArg({4, 3}, -2, 2);
    ValueId ids = m.intArg({2, 3}, {0, 2, 2, -1, 0, 3});
    cases.push_back(m.finish(m.b().emit(Op::Take, {x, ids}, {std::int64_t{0}})));
  }
  {
    CaseMaker m("take axis=1", Op::Take, rng);
    ValueId x = m.floatArg({2, 4, 2}, -2, 2);
    ValueId ids = m.intArg({3}, {3, 1, 3});
    cases.push_back(m.finish(m.b().emit(Op::Take, {x, ids}, {std::int64_t{1}})));
  }
  {
    CaseMaker m("take scalar id", Op::Take, rng);
    ValueId x = m.floatArg({4, 3}, -2, 2);
    ValueId ids = m.intArg({}, {2});
    cases.push_back(m.finish(m.b().emit(Op::Take, {x, ids}, {std::int64_t{0}})));
  }
  {
    CaseMaker m("take_along axis=1", Op::TakeAlong, rng);
    ValueId x = m.floatArg({3, 4}, -2, 2);
    ValueId ids = m.intArg({3, 2}, {0, 3, 2, 2, 1, -1});
    cases.push_back(m.finish(m.b().emit(Op::TakeAlong, {x, ids}, {std::int64_t{1}})));
  }
  {
    CaseMaker m("take_along axis=0", Op::TakeAlong, rng);
    ValueId x = m.floatArg({3, 2}, -2, 2);
    ValueId ids = m.intArg({4, 2}, {0, 2, 2, 2, 1, 0, 1, 1});
    cases.push_back(m.finish(m.b().emit(Op::TakeAlong, {x, ids}, {std::int64_t{0}})));
  }
  {
    CaseMaker m("update axis=0", Op::Update, rng);
    ValueId x = m.floatArg({4, 3}, -2, 2);
    ValueId id = m.intArg({}, {2});
    ValueId v = m.floatArg({3}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Update, {x, id, v}, {std::int64_t{0}})));
  }
  {
    CaseMaker m("update axis=1 (negative index)", Op::Update, rng);
    ValueId x = m.floatArg({2, 3}, -2, 2);
    ValueId id = m.intArg({}, {-1});
    ValueId v = m.floatArg({2}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Update, {x, id, v}, {std::int64_t{1}})));
  }
  {
    CaseMaker m("scatter_add axis=0", Op::ScatterAdd, rng);
    ValueId u = m.floatArg({5, 3}, -2, 2);
    ValueId ids = m.intArg({5}, {1, 3, 1, 0, 1});
    cases.push_back(
        m.finish(m.b().emit(Op::ScatterAdd, {u, ids}, {std::int64_t{0}, dims({4, 3})})));
  }
  {
    CaseMaker m("scatter_add axis=1", Op::ScatterAdd, rng);
    ValueId u = m.floatArg({2, 2, 2, 3}, -2, 2);
    ValueId ids = m.intArg({2, 2}, {0, 2, 2, 2});
    cases.push_back(
        m.finish(m.b().emit(Op::ScatterAdd, {u, ids}, {std::int64_t{1}, dims({2, 3, 3})})));
  }
  {
    CaseMaker m("scatter_add_along axis=1", Op::ScatterAddAlong, rng);
    ValueId u = m.floatArg({3, 2}, -2, 2);
    ValueId ids = m.intArg({3, 2}, {0, 3, 2, 2, 1, 0});
    cases.push_back(
        m.finish(m.b().emit(Op::ScatterAddAlong, {u, ids}, {std::int64_t{1}, dims({3, 4})})));
  }
  {
    CaseMaker m("diag (batched)", Op::Diag, rng);
    ValueId v = m.floatArg({2, 3}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Diag, {v})));
  }
  {
    CaseMaker m("diag_part (batched)", Op::DiagPart, rng);
    ValueId x = m.floatArg({2, 3, 3}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::DiagPart, {x})));
  }
  {
    CaseMaker m("lower n=4", Op::Lower, rng);
    ValueId v = m.floatArg({6}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Lower, {v}, {dims({4})})));
  }
  {
    CaseMaker m("lower n=3 (batched)", Op::Lower, rng);
    ValueId v = m.floatArg({2, 3}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::Lower, {v}, {dims({3})})));
  }
  {
    CaseMaker m("lower_part (batched)", Op::LowerPart, rng);
    ValueId x = m.floatArg({2, 3, 3}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::LowerPart, {x})));
  }
  {
    CaseMaker m("matmul", Op::MatMul, rng);
    ValueId a = m.floatArg({2, 3}, -2, 2), c = m.floatArg({3, 4}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::MatMul, {a, c})));
  }
  {
    CaseMaker m("matmul (batched)", Op::MatMul, rng);
    ValueId a = m.floatArg({2, 2, 3}, -2, 2), c = m.floatArg({2, 3, 2}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::MatMul, {a, c})));
  }
  {
    CaseMaker m("matmul (shared operand)", Op::MatMul, rng);
    ValueId a = m.floatArg({3, 3}, -2, 2);
    cases.push_back(m.finish(m.b().emit(Op::MatMul, {a, a})));
  }
  return cases;
}

/// Loops run bodies, which an op case cannot build: tests/LoopTest.cpp holds them to the same
/// oracles (finite differences, every mode, the dot-product identity).
bool isLoopOp(Op op) { return op == Op::Loop || op == Op::LoopGrad || op == Op::LoopResult; }

/// Ops with no derivative: leaves and comparisons (masks).
bool isNonDifferentiable(Op op) {
  switch (op) {
  case Op::StopGradient: // by definition: ComparisonsAndLeavesHaveZeroDerivatives checks it
  case Op::Input:
  case Op::Param:
  case Op::Const:
  case Op::Iota:
  case Op::DimSize:
  case Op::Lt:
  case Op::Le:
  case Op::Gt:
  case Op::Ge:
  case Op::Eq:
  case Op::Ne:
    return true;
  default:
    return false;
  }
}

Tensor tensorOfSame(std::vector<std::int64_t> shape, double value) {
  Tensor t(DType::F64, std::move(shape));
  for (double &v : t.data)
    v = value;
  return t;
}

Tensor tensorOf2(std::vector<double> values) {
  Tensor t(DType::F64, {static_cast<std::int64_t>(values.size())});
  t.data = std::move(values);
  return t;
}

Tensor randomLike(Rng &rng, DType dtype, const std::vector<std::int64_t> &shape, bool grid) {
  Tensor t(dtype, shape);
  for (double &v : t.data) {
    v = uniform(rng, -1, 1);
    if (grid) // exact in f32 and in any sum of a few of them
      v = std::round(v * 64) / 64;
    v = roundTo(dtype, v);
  }
  return t;
}

std::vector<ValueId> floatArgs(const Function &f) {
  return *selectArguments(f, {});
}

Tensor named(const Function &g, const std::vector<Tensor> &values, const std::string &name) {
  for (const NamedValue &o : g.outputs)
    if (o.name == name)
      return values[o.value];
  ADD_FAILURE() << "no output " << name;
  return {};
}

struct DotProduct {
  double lhs = 0, rhs = 0, scale = 0;
};

/// <J t, c> and <t, J^T c> from tangents pushed and cotangents pulled through a copy of `c.f`.
DotProduct dotProduct(const OpCase &c, Rng &rng, bool grid) {
  const Function &f = c.f;
  std::vector<ValueId> wrt = floatArgs(f);
  Rewriter r(f, "dot");
  r.copyAll();
  Builder &b = r.builder();
  const std::vector<ValueId> &map = r.valueMap();
  std::map<ValueId, ValueId> seeds;
  std::vector<Tensor> args = c.args;
  for (ValueId w : wrt) {
    seeds[w] = b.input(fmt::format("t{}", w), f.typeOf(w));
    std::vector<std::int64_t> shape;
    for (const Dim &d : f.typeOf(w).shape)
      shape.push_back(d.constant());
    args.push_back(randomLike(rng, f.typeOf(w).dtype, shape, grid));
  }
  const Type &rt = f.typeOf(f.result);
  ValueId ct = b.input("ct", rt);
  std::vector<std::int64_t> rshape;
  for (const Dim &d : rt.shape)
    rshape.push_back(d.constant());
  Tensor cot = randomLike(rng, rt.dtype, rshape, grid);
  args.push_back(cot);
  std::vector<MaybeValue> tangents = pushTangents(b, f, map, seeds, f.insts.size());
  std::vector<MaybeValue> adjoints = pullCotangents(b, f, map, f.result, ct, wrt);
  ValueId tangent = tangents[f.result] ? *tangents[f.result] : b.constantLike(0, rt);
  std::vector<NamedValue> outputs;
  for (ValueId w : wrt) {
    ValueId a = w < adjoints.size() && adjoints[w] ? *adjoints[w] : b.constantLike(0, f.typeOf(w));
    outputs.push_back({fmt::format("adj{}", w), a, OutputRole::Gradient});
  }
  Function g = r.finish();
  g.result = tangent;
  g.outputs = std::move(outputs);
  auto values = interpretAll(g, args);
  if (!values) {
    ADD_FAILURE() << c.label << ": " << values.error().render() << print(g);
    return {};
  }
  DotProduct d;
  const Tensor &jt = (*values)[g.result];
  for (std::size_t i = 0; i < jt.data.size(); ++i) {
    d.lhs += jt.data[i] * cot.data[i];
    d.scale += std::fabs(jt.data[i] * cot.data[i]);
  }
  std::size_t k = 0;
  for (ValueId w : wrt) {
    Tensor adj = named(g, *values, fmt::format("adj{}", w));
    const Tensor &t = args[c.args.size() + k++];
    for (std::size_t i = 0; i < adj.data.size(); ++i) {
      d.rhs += t.data[i] * adj.data[i];
      d.scale += std::fabs(t.data[i] * adj.data[i]);
    }
  }
  return d;
}

/// The same identity through the public passes: forwardMode's tangent and reverseMode's gradient
/// for a cotangent argument (`seed.ct`) when the value is not a scalar.
DotProduct dotProductViaPasses(const OpCase &c, Rng &rng) {
  const Function &f = c.f;
  std::vector<ValueId> wrt = floatArgs(f);
  Function jvp = forwardMode(f, wrt);
  Function grad = reverseMode(f, wrt);
  std::vector<Tensor> jvpArgs = c.args, gradArgs = c.args;
  std::vector<Tensor> tangents;
  for (ValueId w : wrt) {
    std::vector<std::int64_t> shape;
    for (const Dim &d : f.typeOf(w).shape)
      shape.push_back(d.constant());
    tangents.push_back(randomLike(rng, f.typeOf(w).dtype, shape, true));
    jvpArgs.push_back(tangents.back());
  }
  const Type &rt = f.typeOf(f.result);
  std::vector<std::int64_t> rshape;
  for (const Dim &d : rt.shape)
    rshape.push_back(d.constant());
  Tensor cot =
      rt.isScalar() ? Tensor::scalar(1, rt.dtype) : randomLike(rng, rt.dtype, rshape, true);
  if (!rt.isScalar())
    gradArgs.push_back(cot);
  auto jv = interpretAll(jvp, jvpArgs);
  auto gv = interpretAll(grad, gradArgs);
  if (!jv || !gv) {
    ADD_FAILURE() << c.label << ": " << (jv ? gv.error().render() : jv.error().render());
    return {};
  }
  DotProduct d;
  Tensor jt = named(jvp, *jv, "t0");
  for (std::size_t i = 0; i < jt.data.size(); ++i) {
    d.lhs += jt.data[i] * cot.data[i];
    d.scale += std::fabs(jt.data[i] * cot.data[i]);
  }
  for (std::size_t k = 0; k < wrt.size(); ++k) {
    Tensor adj = named(grad, *gv, f.inst(wrt[k]).stringAttr("name"));
    for (std::size_t i = 0; i < adj.data.size(); ++i) {
      d.rhs += tangents[k].data[i] * adj.data[i];
      d.scale += std::fabs(tangents[k].data[i] * adj.data[i]);
    }
  }
  return d;
}

/// Runs one case's checks; an exception (an IrError from a rule) fails the case, not the test.
template <class Body> void guarded(const std::string &label, Body body) {
  try {
    body();
  } catch (const std::exception &e) {
    ADD_FAILURE() << label << ": " << e.what();
  }
}

/// A fixed seed per test (FNV-1a of its name), or NABLA_SEED from the environment.
std::uint64_t seedOf(std::string_view what) {
  if (const char *env = std::getenv("NABLA_SEED"))
    return std::strtoull(env, nullptr, 10);
  std::uint32_t h = 2166136261u;
  for (char ch : what)
    h = (h ^ static_cast<unsigned char>(ch)) * 16777619u;
  return h;
}

// ----- (a) every op has every rule ------------------------------------------------------------

TEST(OpRules, EveryOpHasEveryRule) {
  for (std::size_t i = 0; i < kOpCount; ++i) {
    Op op = static_cast<Op>(i);
    const OpInfo &info = opInfo(op);
    EXPECT_NE(info.inferType, nullptr) << mnemonic(op) << " lacks a type rule";
    if (!isLoopOp(op)) // the interpreter runs loops itself: their bodies are functions
      EXPECT_NE(info.eval, nullptr) << mnemonic(op) << " lacks an evaluation rule";
    EXPECT_NE(info.jvp, nullptr) << mnemonic(op) << " lacks a JVP rule";
    EXPECT_NE(info.vjp, nullptr) << mnemonic(op) << " lacks a VJP rule";
    EXPECT_EQ(opFromMnemonic(mnemonic(op)), op) << mnemonic(op);
  }
}

TEST(OpRules, CasesCoverEveryDifferentiableOp) {
  Rng rng(1);
  std::set<Op> covered;
  for (const OpCase &c : allCases(rng))
    covered.insert(c.op);
  for (std::size_t i = 0; i < kOpCount; ++i) {
    Op op = static_cast<Op>(i);
    if (!isNonDifferentiable(op) && !isLoopOp(op))
      EXPECT_TRUE(covered.count(op)) << mnemonic(op) << " has no derivative test case";
  }
}

TEST(OpRules, ComparisonsAndLeavesHaveZeroDerivatives) {
  Function f;
  Builder b(f);
  Type t{DType::F64, {Dim(2)}};
  ValueId x = b.input("x", t), y = b.input("y", t);
  for (Op op : {Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::Eq, Op::Ne}) {
    ValueId r = b.emit(op, {x, y});
    std::vector<MaybeValue> tangents{x, y};
    EXPECT_FALSE(opInfo(op).jvp(b, f.inst(r), r, tangents)) << mnemonic(op);
    for (const MaybeValue &ct : opInfo(op).vjp(b, f.inst(r), r, x, false))
      EXPECT_FALSE(ct) << mnemonic(op);
  }
  // A float-to-integer conversion carries no derivative either.
  ValueId i = b.convert(x, DType::I32);
  std::vector<MaybeValue> tangents{x};
  EXPECT_FALSE(opInfo(Op::Convert).jvp(b, f.inst(i), i, tangents));
  // stop_gradient is the identity with no derivative at all.
  ValueId s = b.unary(Op::StopGradient, x);
  EXPECT_FALSE(opInfo(Op::StopGradient).jvp(b, f.inst(s), s, tangents));
  for (const MaybeValue &ct : opInfo(Op::StopGradient).vjp(b, f.inst(s), s, x, false))
    EXPECT_FALSE(ct);
}

// ----- (b) the dot-product identity <J t, c> = <t, J^T c> ----------------------------------

TEST(OpRules, DotProductIdentity) {
  std::uint64_t seed = seedOf("OpRules.DotProduct");
  SCOPED_TRACE(fmt::format("seed {} (set NABLA_SEED to reproduce)", seed));
  Rng rng(seed);
  for (int round = 0; round < 3; ++round)
    for (const OpCase &c : allCases(rng))
      guarded(c.label, [&] {
        // Conversions to f32 are exact only on a grid.
        bool grid = c.op == Op::Convert;
        DotProduct d = dotProduct(c, rng, grid);
        EXPECT_NEAR(d.lhs, d.rhs, 1e-12 * std::max(d.scale, 1e-300)) << c.label;
        if (c.op != Op::Sign)
          EXPECT_GT(d.scale, 0) << c.label << ": derivative vanishes identically";
        DotProduct p = dotProductViaPasses(c, rng);
        EXPECT_NEAR(p.lhs, p.rhs, 1e-12 * std::max(p.scale, 1e-300)) << c.label << " (passes)";
      });
}

// With zeroSafe (inside a `where`), a VJP gives exactly zero where the cotangent is zero and the
// plain product elsewhere.
TEST(OpRules, ZeroSafeVjpKeepsZeroCotangentsZero) {
  Rng rng(seedOf("OpRules.ZeroSafe"));
  for (const OpCase &c : allCases(rng))
    guarded(c.label, [&] {
      Function g = c.f;
      Builder b(g);
      const Type rt = g.typeOf(g.result);
      ValueId ct = b.input("ct", rt);
      Inst inst = g.inst(g.result);
      std::vector<MaybeValue> plain = opInfo(c.op).vjp(b, inst, g.result, ct, false);
      inst = g.inst(g.result);
      std::vector<MaybeValue> safe = opInfo(c.op).vjp(b, inst, g.result, ct, true);
      ASSERT_EQ(plain.size(), safe.size()) << c.label;
      for (std::size_t i = 0; i < plain.size(); ++i) {
        ASSERT_EQ(plain[i].has_value(), safe[i].has_value()) << c.label;
        if (plain[i])
          g.outputs.push_back({fmt::format("p{}", i), *plain[i], OutputRole::Gradient});
        if (safe[i])
          g.outputs.push_back({fmt::format("s{}", i), *safe[i], OutputRole::Gradient});
      }
      std::vector<std::int64_t> rshape;
      for (const Dim &d : rt.shape)
        rshape.push_back(d.constant());
      Tensor cot = randomLike(rng, rt.dtype, rshape, false);
      for (std::size_t i = 0; i < cot.data.size(); i += 2)
        cot.data[i] = 0;
      std::vector<Tensor> args = c.args;
      args.push_back(cot);
      auto values = interpretAll(g, args);
      ASSERT_TRUE(values) << c.label << ": " << values.error().render();
      for (std::size_t i = 0; i < plain.size(); ++i)
        if (plain[i]) {
          Tensor p = named(g, *values, fmt::format("p{}", i));
          Tensor s = named(g, *values, fmt::format("s{}", i));
          for (std::size_t k = 0; k < p.data.size(); ++k)
            EXPECT_EQ(p.data[k], s.data[k]) << c.label << " operand " << i << " entry " << k;
        }
    });
}

// Where a partial is infinite or NaN (log and sqrt at 0, division by 0, lgamma at a pole), the
// zero-safe VJP still turns a zero cotangent into an exact zero: a `where` relies on it.
TEST(OpRules, ZeroSafeVjpAtInfinitePartials) {
  struct Case {
    Op op;
    std::vector<double> operands; // one value per operand
  };
  const Case cases[] = {{Op::Log, {0}},          {Op::Sqrt, {0}},     {Op::Log1p, {-1}},
                        {Op::Div, {1, 0}},       {Op::Pow, {0, 0.5}}, {Op::Pow, {-1, 0.5}},
                        {Op::Lgamma, {0}},       {Op::Digamma, {-2}}, {Op::Log, {-1}},
                        {Op::Mul, {INFINITY, 2}}};
  for (const Case &c : cases) {
    Function f;
    Builder b(f);
    Type t{DType::F64, {Dim(2)}};
    std::vector<ValueId> xs;
    std::vector<Tensor> args;
    for (std::size_t i = 0; i < c.operands.size(); ++i) {
      xs.push_back(b.input(fmt::format("x{}", i), t));
      args.push_back(tensorOfSame({2}, c.operands[i]));
    }
    ValueId y = b.emit(c.op, xs);
    ValueId ct = b.input("ct", t);
    args.push_back(tensorOf2({0, 1}));
    Inst inst = f.inst(y);
    std::vector<MaybeValue> safe = opInfo(c.op).vjp(b, inst, y, ct, true);
    for (std::size_t i = 0; i < safe.size(); ++i)
      if (safe[i])
        f.outputs.push_back({fmt::format("s{}", i), *safe[i], OutputRole::Gradient});
    f.result = y;
    auto values = interpretAll(f, args);
    ASSERT_TRUE(values) << mnemonic(c.op) << ": " << values.error().render();
    for (const NamedValue &o : f.outputs)
      EXPECT_EQ((*values)[o.value].data[0], 0.0)
          << mnemonic(c.op) << " at " << fmt::format("{}", fmt::join(c.operands, ", ")) << ": "
          << o.name << " for a zero cotangent";
  }
}

// ----- (c) every mode against central finite differences, entry by entry ------------------

/// d(result entry r)/d(argument entry e) by central differences, for every r and e.
Tensor finiteDifferenceJacobian(const OpCase &c, std::size_t argIndex, const Tensor &value) {
  const Tensor &x = c.args[argIndex];
  std::vector<std::int64_t> shape = value.shape;
  shape.insert(shape.end(), x.shape.begin(), x.shape.end());
  Tensor jac(DType::F64, shape);
  std::size_t n = x.data.size();
  for (std::size_t e = 0; e < n; ++e) {
    double h = c.fdStep * std::max(1.0, std::fabs(x.data[e]));
    std::vector<Tensor> plus = c.args, minus = c.args;
    plus[argIndex].data[e] += h;
    minus[argIndex].data[e] -= h;
    auto fp = interpret(c.f, plus), fm = interpret(c.f, minus);
    EXPECT_TRUE(fp && fm) << c.label;
    if (!fp || !fm)
      return jac;
    double step = plus[argIndex].data[e] - minus[argIndex].data[e];
    for (std::size_t r = 0; r < value.data.size(); ++r)
      jac.data[r * n + e] = (fp->result.data[r] - fm->result.data[r]) / step;
  }
  return jac;
}

TEST(OpRules, DerivativesMatchFiniteDifferences) {
  std::uint64_t seed = seedOf("OpRules.FiniteDifferences");
  SCOPED_TRACE(fmt::format("seed {} (set NABLA_SEED to reproduce)", seed));
  Rng rng(seed);
  for (const OpCase &c : allCases(rng))
    guarded(c.label, [&] {
      std::vector<ValueId> wrt = floatArgs(c.f);
      auto value = interpret(c.f, c.args);
      ASSERT_TRUE(value) << c.label << ": " << value.error().render();
      std::vector<ValueId> all = c.f.arguments();
      for (Derivative mode : {Derivative::Symbolic, Derivative::Forward, Derivative::Reverse}) {
        auto jac = jacobian(c.f, wrt, c.args, {}, mode);
        ASSERT_TRUE(jac) << c.label << " " << derivativeName(mode) << ": " << jac.error().render();
        for (std::size_t k = 0; k < wrt.size(); ++k) {
          std::size_t argIndex =
              static_cast<std::size_t>(std::find(all.begin(), all.end(), wrt[k]) - all.begin());
          Tensor fd = finiteDifferenceJacobian(c, argIndex, value->result);
          const Tensor &j = (*jac)[k].value;
          ASSERT_EQ(j.shape, fd.shape) << c.label << " " << derivativeName(mode);
          for (std::size_t i = 0; i < j.data.size(); ++i)
            EXPECT_NEAR(j.data[i], fd.data[i], c.fdTol * std::max(1.0, std::fabs(fd.data[i])))
                << c.label << " " << derivativeName(mode) << " d/d" << (*jac)[k].name << " entry "
                << i;
        }
      }
    });
}

// The second derivative through each op's rules (forward over reverse, forward over forward,
// forward over symbolic) on the scalar <op(x), c>: the Hessian agrees across modes and with
// central differences of the reverse-mode gradient.
TEST(OpRules, HessiansAgreeAcrossModesAndWithFiniteDifferences) {
  std::uint64_t seed = seedOf("OpRules.Hessian");
  SCOPED_TRACE(fmt::format("seed {} (set NABLA_SEED to reproduce)", seed));
  Rng rng(seed);
  for (OpCase c : allCases(rng))
    guarded(c.label, [&] {
      if (c.op == Op::Convert)
        return; // f32: not a second-derivative accuracy test
      // s = sum(op(x) * c) with a constant random c.
      Function &f = c.f;
      Builder b(f);
      const Type rt = f.typeOf(f.result);
      std::vector<double> weights;
      std::int64_t n = 1;
      for (const Dim &d : rt.shape)
        n *= d.constant();
      for (std::int64_t i = 0; i < n; ++i)
        weights.push_back(uniform(rng, -1, 1));
      ValueId w = b.literal(weights, rt);
      std::vector<std::int64_t> axes;
      for (std::size_t a = 0; a < rt.rank(); ++a)
        axes.push_back(static_cast<std::int64_t>(a));
      f.result = b.reduceSum(b.mul(f.result, w), axes);
      std::vector<ValueId> wrt = floatArgs(f);
      auto reverse = hessian(f, wrt, c.args, {}, Derivative::Reverse);
      ASSERT_TRUE(reverse) << c.label << ": " << reverse.error().render();
      for (Derivative mode : {Derivative::Symbolic, Derivative::Forward}) {
        auto h = hessian(f, wrt, c.args, {}, mode);
        ASSERT_TRUE(h) << c.label << ": " << h.error().render();
        ASSERT_EQ(h->size(), reverse->size());
        for (std::size_t k = 0; k < h->size(); ++k)
          for (std::size_t i = 0; i < (*h)[k].value.data.size(); ++i) {
            double r = (*reverse)[k].value.data[i], m = (*h)[k].value.data[i];
            EXPECT_NEAR(m, r, 1e-10 * std::max(1.0, std::fabs(r)))
                << c.label << " " << derivativeName(mode) << " H[" << (*h)[k].a << "][" << (*h)[k].b
                << "] entry " << i;
          }
      }
      // Central differences of the gradient, one argument entry at a time.
      std::vector<ValueId> all = f.arguments();
      for (std::size_t kb = 0; kb < wrt.size(); ++kb) {
        std::size_t argIndex =
            static_cast<std::size_t>(std::find(all.begin(), all.end(), wrt[kb]) - all.begin());
        std::size_t cols = c.args[argIndex].data.size();
        for (std::size_t e = 0; e < cols; ++e) {
          double h = 1e-5 * std::max(1.0, std::fabs(c.args[argIndex].data[e]));
          std::vector<Tensor> plus = c.args, minus = c.args;
          plus[argIndex].data[e] += h;
          minus[argIndex].data[e] -= h;
          auto gp = gradient(f, wrt, plus, {}, Derivative::Reverse);
          auto gm = gradient(f, wrt, minus, {}, Derivative::Reverse);
          ASSERT_TRUE(gp && gm) << c.label;
          double step = plus[argIndex].data[e] - minus[argIndex].data[e];
          for (std::size_t ka = 0; ka < wrt.size(); ++ka) {
            const Tensor &block = (*reverse)[ka * wrt.size() + kb].value;
            for (std::size_t r = 0; r < (*gp)[ka].value.data.size(); ++r) {
              double fd = ((*gp)[ka].value.data[r] - (*gm)[ka].value.data[r]) / step;
              double an = block.data[r * cols + e];
              EXPECT_NEAR(an, fd, 1e-6 * std::max(1.0, std::fabs(fd)))
                  << c.label << " H[" << (*reverse)[ka * wrt.size() + kb].a << "]["
                  << (*reverse)[ka * wrt.size() + kb].b << "] (" << r << ", " << e << ")";
            }
          }
        }
      }
    });
}

// ----- regressions -----------------------------------------------------------------------------

// Builder::constantLike read its Type argument after emitting the scalar constant, but callers
// pass typeOf(v), a reference into the instructions that the emission can reallocate (and whose
// moved-from shapes are empty): max/min's VJP then built a select of a scalar and a tensor.
TEST(OpRules, ConstantLikeOfAnInstructionsOwnType) {
  for (int n = 1; n < 40; ++n) {
    Function f;
    Builder b(f);
    ValueId x = b.input("x", {DType::F64, {Dim(2), Dim(3)}});
    for (int i = 1; i < n; ++i)
      b.constant(i, DType::F64);
    f.insts.shrink_to_fit(); // the next emission reallocates
    ValueId z = b.constantLike(0.5, b.typeOf(x));
    EXPECT_EQ(f.typeOf(z), f.typeOf(x)) << n;
  }
}

// ----- the lecture facts (LANGUAGE.md section 8) ------------------------------------------------

const Derivative kModes[] = {Derivative::Symbolic, Derivative::Forward, Derivative::Reverse};

Module compileText(const std::string &text) {
  auto m = compileSource(SourceFile("test.nabla", text));
  if (!m) {
    ADD_FAILURE() << m.error().render() << text;
    return {};
  }
  return std::move(*m);
}

Module lectures() {
  std::ifstream in(std::filesystem::path(NABLA_SOURCE_DIR) / "examples" / "lectures.nabla");
  std::stringstream text;
  text << in.rdbuf();
  auto m = compileSource(SourceFile("lectures.nabla", text.str()));
  EXPECT_TRUE(m) << (m ? "" : m.error().render());
  return m ? std::move(*m) : Module{};
}

Tensor tensorOf(std::vector<std::int64_t> shape, std::vector<double> values,
                DType dtype = DType::F64) {
  Tensor t(dtype, std::move(shape));
  t.data = std::move(values);
  return t;
}

Tensor randomTensor(Rng &rng, std::vector<std::int64_t> shape) {
  Tensor t(DType::F64, std::move(shape));
  for (double &v : t.data)
    v = uniform(rng, -1, 1);
  return t;
}

/// The gradient of every float argument of `f` in `mode`, by argument name.
std::map<std::string, Tensor> gradientOf(const Function &f, const std::vector<Tensor> &args,
                                         Derivative mode) {
  std::vector<ValueId> wrt = floatArgs(f);
  auto g = gradient(f, wrt, args, {}, mode);
  EXPECT_TRUE(g) << derivativeName(mode) << ": " << (g ? "" : g.error().render());
  std::map<std::string, Tensor> out;
  if (g)
    for (NamedTensor &t : *g)
      out[t.name] = std::move(t.value);
  return out;
}

double valueOf(const Function &f, const std::vector<Tensor> &args) {
  auto r = interpret(f, args);
  EXPECT_TRUE(r) << (r ? "" : r.error().render());
  return r ? r->result.data[0] : std::nan("");
}

TEST(LectureFacts, LayerScoreGradientsAreDeltaAndOuterProduct) {
  // s = u @ sigmoid(W x + b): ds/db = u * f'(z) = delta, ds/dW = delta x^T, ds/du = f(z),
  // ds/dx = W^T delta.
  Module m = lectures();
  const Function &f = *m.find("layer_score");
  Rng rng(7);
  const std::int64_t n = 3, k = 4;
  Tensor W = randomTensor(rng, {n, k}), b = randomTensor(rng, {n}), u = randomTensor(rng, {n}),
         x = randomTensor(rng, {k});
  std::vector<double> h(n), delta(n);
  for (std::int64_t i = 0; i < n; ++i) {
    double z = b.data[i];
    for (std::int64_t j = 0; j < k; ++j)
      z += W.data[i * k + j] * x.data[j];
    h[i] = 1 / (1 + std::exp(-z));
    delta[i] = u.data[i] * h[i] * (1 - h[i]);
  }
  for (Derivative mode : kModes) {
    auto g = gradientOf(f, {W, b, u, x}, mode);
    for (std::int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(g["b"].data[i], delta[i], 1e-15) << derivativeName(mode);
      EXPECT_NEAR(g["u"].data[i], h[i], 1e-15) << derivativeName(mode);
      for (std::int64_t j = 0; j < k; ++j)
        EXPECT_NEAR(g["W"].data[i * k + j], delta[i] * x.data[j], 1e-15) << derivativeName(mode);
    }
    for (std::int64_t j = 0; j < k; ++j) {
      double wtDelta = 0;
      for (std::int64_t i = 0; i < n; ++i)
        wtDelta += W.data[i * k + j] * delta[i];
      EXPECT_NEAR(g["x"].data[j], wtDelta, 1e-15) << derivativeName(mode);
    }
  }
}

TEST(LectureFacts, SkipGramGradientsTouchOnlyTheRowsThatOccur) {
  Module m = lectures();
  const Function &f = *m.find("sgns");
  Rng rng(11);
  const std::int64_t V = 7, d = 3;
  Tensor U = randomTensor(rng, {V, d}), Vc = randomTensor(rng, {V, d});
  const int o = 2, c = 4;
  std::vector<double> neg = {0, 5, 0}; // a repeated negative sample counts twice
  std::vector<Tensor> args{U, Vc, Tensor::scalar(o, DType::I32), Tensor::scalar(c, DType::I32),
                           tensorOf({3}, neg, DType::I32)};
  auto sigmoid = [](double t) { return 1 / (1 + std::exp(-t)); };
  auto dot = [&](const Tensor &a, std::int64_t i, const Tensor &b2, std::int64_t j) {
    double s = 0;
    for (std::int64_t e = 0; e < d; ++e)
      s += a.data[i * d + e] * b2.data[j * d + e];
    return s;
  };
  // dL/du_o = -(1 - s(u_o.v_c)) v_c; dL/du_j += s(u_j.v_c) v_c; dL/dv_c collects both.
  Tensor wantU(DType::F64, {V, d}), wantV(DType::F64, {V, d});
  double po = 1 - sigmoid(dot(U, o, Vc, c));
  for (std::int64_t e = 0; e < d; ++e) {
    wantU.data[o * d + e] -= po * Vc.data[c * d + e];
    wantV.data[c * d + e] -= po * U.data[o * d + e];
  }
  for (double jd : neg) {
    auto j = static_cast<std::int64_t>(jd);
    double pj = sigmoid(dot(U, j, Vc, c));
    for (std::int64_t e = 0; e < d; ++e) {
      wantU.data[j * d + e] += pj * Vc.data[c * d + e];
      wantV.data[c * d + e] += pj * U.data[j * d + e];
    }
  }
  for (Derivative mode : kModes) {
    auto g = gradientOf(f, args, mode);
    for (std::int64_t row = 0; row < V; ++row) {
      bool occursU = row == o || row == 0 || row == 5, occursV = row == c;
      for (std::int64_t e = 0; e < d; ++e) {
        double gu = g["U"].data[row * d + e], gv = g["Vc"].data[row * d + e];
        if (occursU)
          EXPECT_NE(gu, 0) << derivativeName(mode) << " U row " << row;
        else
          EXPECT_EQ(gu, 0) << derivativeName(mode) << " U row " << row;
        if (occursV)
          EXPECT_NE(gv, 0) << derivativeName(mode) << " Vc row " << row;
        else
          EXPECT_EQ(gv, 0) << derivativeName(mode) << " Vc row " << row;
        EXPECT_NEAR(gu, wantU.data[row * d + e], 1e-14) << derivativeName(mode);
        EXPECT_NEAR(gv, wantV.data[row * d + e], 1e-14) << derivativeName(mode);
      }
    }
  }
}

TEST(LectureFacts, WorkedGradientsInEveryMode) {
  Module m = lectures();
  struct Case {
    const char *fn;
    std::vector<double> at;
    double value;
    std::vector<double> grad;
  };
  const Case cases[] = {
      {"f", {1, 2, 0}, 6, {2, 5, 0}},
      {"g", {2, 5}, std::log(2.0) + 10 - std::sin(5.0), {5.5, 2 - std::cos(5.0)}},
      {"h", {5, 4, 3, 2}, 25, {3, 3, 9, -1}},
      {"cube", {4}, 64, {48}},
  };
  for (const Case &c : cases) {
    const Function &f = *m.find(c.fn);
    std::vector<Tensor> args;
    for (double a : c.at)
      args.push_back(Tensor::scalar(a));
    EXPECT_NEAR(valueOf(f, args), c.value, 1e-14) << c.fn;
    for (Derivative mode : kModes) {
      auto g = gradient(f, floatArgs(f), args, {}, mode);
      ASSERT_TRUE(g) << g.error().render();
      for (std::size_t i = 0; i < c.grad.size(); ++i)
        EXPECT_NEAR((*g)[i].value.data[0], c.grad[i], 1e-14)
            << c.fn << " " << derivativeName(mode) << " d/d" << (*g)[i].name;
    }
  }
  EXPECT_NEAR(valueOf(*m.find("g"), {Tensor::scalar(2), Tensor::scalar(5)}), 11.652, 5e-4);
}

TEST(LectureFacts, CubeDerivativePrintsAsThreeXSquared) {
  Module m = lectures();
  const Function &f = *m.find("cube");
  Function d = symbolicDerivative(f, {f.arguments()[0]});
  auto text = printInfix(d);
  ASSERT_TRUE(text) << text.error().render();
  EXPECT_EQ(*text, "3*x^2");
  EXPECT_EQ(valueOf(d, {Tensor::scalar(4)}), 48);
  Module back = compileText("fn d(x) = " + *text + "\n");
  EXPECT_EQ(valueOf(back.functions.at(0), {Tensor::scalar(4)}), 48);
}

// ----- the kink policy (LANGUAGE.md section 3) --------------------------------------------------

/// d f / d(each argument) at scalar `at`, in every mode; fails unless all modes give `want`.
void expectScalarGradient(const std::string &source, std::vector<double> at,
                          std::vector<double> want, const std::string &what) {
  Module m = compileText(source);
  ASSERT_FALSE(m.functions.empty());
  const Function &f = m.functions.back();
  std::vector<Tensor> args;
  for (double a : at)
    args.push_back(Tensor::scalar(a));
  for (Derivative mode : kModes) {
    auto g = gradient(f, floatArgs(f), args, {}, mode);
    ASSERT_TRUE(g) << what << ": " << g.error().render();
    for (std::size_t i = 0; i < want.size(); ++i)
      EXPECT_EQ((*g)[i].value.data[0], want[i])
          << what << " " << derivativeName(mode) << " d/d" << (*g)[i].name;
  }
  // The printed symbolic derivative follows the same convention.
  for (std::size_t i = 0; i < want.size(); ++i) {
    Function d = symbolicDerivative(f, {f.arguments()[i]});
    auto text = printInfix(d);
    ASSERT_TRUE(text) << what << ": " << text.error().render();
    std::vector<std::string> names;
    for (ValueId a : f.arguments())
      names.push_back(f.inst(a).stringAttr("name"));
    std::string params = fmt::format("{}", fmt::join(names, ", "));
    std::string fn = text->front() == '{' ? fmt::format("fn d({}) {}\n", params, *text)
                                          : fmt::format("fn d({}) = {}\n", params, *text);
    Module back = compileText(fn);
    ASSERT_FALSE(back.functions.empty()) << fn;
    EXPECT_EQ(valueOf(back.functions.at(0), args), want[i]) << what << " printed: " << fn;
  }
}

TEST(KinkPolicy, ElementwiseKinks) {
  expectScalarGradient("fn f(x) = relu(x)\n", {0}, {0}, "relu'(0)");
  expectScalarGradient("fn f(x) = relu(x)\n", {-0.0}, {0}, "relu'(-0)");
  expectScalarGradient("fn f(x) = abs(x)\n", {0}, {0}, "abs'(0)");
  expectScalarGradient("fn f(x) = abs(x)\n", {-2}, {-1}, "abs'(-2)");
  expectScalarGradient("fn f(x) = sign(x)\n", {0}, {0}, "sign'(0)");
  expectScalarGradient("fn f(x) = sign(x)\n", {1.5}, {0}, "sign'(1.5)");
  expectScalarGradient("fn f(x) = leaky_relu(x)\n", {0}, {0.01}, "leaky_relu'(0)");
  expectScalarGradient("fn f(x) = leaky_relu(x, 0.2)\n", {0}, {0.2}, "leaky_relu'(0), alpha 0.2");
  expectScalarGradient("fn f(x) = leaky_relu(x, alpha=0.2)\n", {1e-300}, {1}, "leaky_relu'(+)");
  expectScalarGradient("fn f(x) = hardtanh(x)\n", {-1}, {0}, "hardtanh'(lo)");
  expectScalarGradient("fn f(x) = hardtanh(x)\n", {1}, {0}, "hardtanh'(hi)");
  expectScalarGradient("fn f(x) = hardtanh(x)\n", {0.999}, {1}, "hardtanh' inside");
  expectScalarGradient("fn f(x) = hardtanh(x, lo=-0.5, hi=2)\n", {-0.5}, {0}, "hardtanh'(-0.5)");
  expectScalarGradient("fn f(x) = hardtanh(x, -0.5, 2)\n", {2}, {0}, "hardtanh'(2)");
}

TEST(KinkPolicy, MaxAndMinTiesSplitEvenly) {
  expectScalarGradient("fn f(x, y) = max(x, y)\n", {1.5, 1.5}, {0.5, 0.5}, "max tie");
  expectScalarGradient("fn f(x, y) = min(x, y)\n", {-2, -2}, {0.5, 0.5}, "min tie");
  expectScalarGradient("fn f(x, y) = max(x, y)\n", {2, 1}, {1, 0}, "max");
  expectScalarGradient("fn f(x, y) = min(x, y)\n", {2, 1}, {0, 1}, "min");
  expectScalarGradient("fn f(x, y) = max(x, y) * 3\n", {0, 0}, {1.5, 1.5}, "max tie, scaled");
  expectScalarGradient("fn f(x) = max(x, x)\n", {0.3}, {1}, "max(x, x)");
  expectScalarGradient("fn f(x, y) = max(x, y) + min(x, y)\n", {1, 1}, {1, 1}, "max + min");
}

TEST(KinkPolicy, ReductionTiesSplitEvenlyAmongAllTiedEntries) {
  struct Case {
    std::string source;
    Tensor at;
    std::vector<double> want;
  };
  const Case cases[] = {
      {"fn f(v: f64[3]) -> f64 = max(v)\n", tensorOf({3}, {1, 3, 3}), {0, 0.5, 0.5}},
      {"fn f(v: f64[4]) -> f64 = min(v)\n", tensorOf({4}, {2, -1, 4, -1}), {0, 0.5, 0, 0.5}},
      {"fn f(v: f64[3]) -> f64 = max(v)\n", tensorOf({3}, {7, 7, 7}), {1 / 3.0, 1 / 3.0, 1 / 3.0}},
      {"fn f(v: f64[3]) -> f64 = 6 * min(v)\n", tensorOf({3}, {0, 0, 0}), {2, 2, 2}},
      // Per row: [1, 5, 5] ties, [2, 0, -1] does not; column maxima of the same matrix.
      {"fn f(M: f64[2, 3]) -> f64 = sum(max(M, axis=1))\n",
       tensorOf({2, 3}, {1, 5, 5, 2, 0, -1}),
       {0, 0.5, 0.5, 1, 0, 0}},
      {"fn f(M: f64[2, 3]) -> f64 = sum(min(M, axis=0))\n",
       tensorOf({2, 3}, {1, 0, 5, 1, 0, -1}),
       {0.5, 0.5, 0, 0.5, 0.5, 1}},
  };
  for (const Case &c : cases) {
    Module m = compileText(c.source);
    ASSERT_FALSE(m.functions.empty());
    for (Derivative mode : kModes) {
      auto g = gradientOf(m.functions[0], {c.at}, mode);
      ASSERT_EQ(g.size(), 1u);
      const Tensor &t = g.begin()->second;
      for (std::size_t i = 0; i < c.want.size(); ++i)
        EXPECT_DOUBLE_EQ(t.data[i], c.want[i]) << c.source << derivativeName(mode) << " entry " << i;
    }
  }
}

TEST(KinkPolicy, WhereSendsNoNanFromTheBranchNotTaken) {
  struct Case {
    std::string source;
    double at;
    double want;
  };
  const Case cases[] = {
      {"fn f(x) = where(x > 0, log(x), 0)\n", 0, 0},
      {"fn f(x) = where(x > 0, log(x), 0)\n", -1, 0},
      {"fn f(x) = where(x > 0, log(x), 0)\n", 2, 0.5},
      {"fn f(x) = where(x > 0, sqrt(x), 0)\n", 0, 0},
      {"fn f(x) = where(x <= 0, 2 * x, log(x) * x)\n", 0, 2},
      {"fn f(x) = where(x > 0, log(x)^2, x) * 3 + x\n", -1, 4},
      {"fn f(x) = where(x != 1, 1 / (x - 1), x)\n", 1, 1},
      {"fn f(x) {\n  l = log(x)\n  return where(x > 0, l, 0) + where(x > 0, l * l, x)\n}\n", 0, 1},
      {"fn f(x) = where(x > 0, lgamma(x), digamma(-x + 1))\n", 0, -kPi * kPi / 6},
  };
  for (const Case &c : cases) {
    Module m = compileText(c.source);
    ASSERT_FALSE(m.functions.empty());
    for (Derivative mode : kModes) {
      auto g = gradientOf(m.functions[0], {Tensor::scalar(c.at)}, mode);
      ASSERT_EQ(g.size(), 1u);
      double d = g.begin()->second.data[0];
      EXPECT_TRUE(std::isfinite(d)) << c.source << derivativeName(mode) << " at " << c.at;
      EXPECT_NEAR(d, c.want, 1e-12) << c.source << derivativeName(mode) << " at " << c.at;
    }
  }
}

// logsumexp, softmax, log_softmax, cross_entropy, bce_with_logits and softplus at logits of
// +-1e4, in f32 and f64: values and gradients finite and exact (to a few ulps of the type).
//
// softmax, log_softmax and cross_entropy shift by stop_gradient(max(x)), so they are exact. Cases
// marked `roundsLse` subtract a logsumexp(x) ~ 1e4 rounded to the type (to 2^-10 in f32), off by
// about |x| eps; they are checked to that accuracy, and LargeLogitsExactEverywhere demands
// exactness of them too. logsumexp's own f64 gradient, exp(x - logsumexp(x)), rounds the same
// way on purpose (one pass instead of three; see ir/OpsReduce.cpp): `f64GradientRoundsLse`.
void checkLargeLogits(bool demandExactEverywhere) {
  const double log2 = std::log(2.0);
  struct Case {
    std::string source; // DT stands for the float type
    std::vector<std::int64_t> shape;
    std::vector<double> at;
    double value;
    std::vector<double> grad;
    bool roundsLse = false; // the value (and gradient) subtract a rounded logsumexp
    // In f64 the gradient of logsumexp is exp(x - logsumexp(x)), from the rounded result.
    bool f64GradientRoundsLse = false;
  };
  const std::vector<Case> cases = {
      {"fn f(v: DT[3]) -> DT = logsumexp(v)", {3}, {1e4, -1e4, 0}, 1e4, {1, 0, 0}, false, true},
      {"fn f(v: DT[3]) -> DT = logsumexp(v)", {3}, {1e4, 1e4, -1e4}, 1e4 + log2, {0.5, 0.5, 0},
       false, true},
      {"fn f(v: DT[2]) -> DT = logsumexp(v)", {2}, {-1e4, -1e4}, -1e4 + log2, {0.5, 0.5}, false,
       true},
      {"fn f(M: DT[2, 2]) -> DT = logsumexp(M, axis=1) @ [1, 2]",
       {2, 2},
       {1e4, 1e4, -1e4, 1e4},
       3e4 + log2,
       {0.5, 0.5, 0, 2},
       false,
       true},
      {"fn f(v: DT[3]) -> DT = softmax(v) @ [1, 2, 3]",
       {3},
       {1e4, 1e4, -1e4},
       1.5,
       {-0.25, 0.25, 0},
       true},
      {"fn f(v: DT[3]) -> DT = softmax(v) @ [1, 2, 3]", {3}, {-1e4, 1e4, 0}, 2, {0, 0, 0}},
      {"fn f(v: DT[3]) -> DT = log_softmax(v) @ [1, 2, 3]",
       {3},
       {1e4, 1e4, -1e4},
       -6 * log2 - 6e4,
       {-2, -1, 3}},
      {"fn f(v: DT[3]) -> DT = log_softmax(v)[1]", {3}, {-1e4, 1e4, 0}, 0, {0, 0, 0}},
      {"fn f(M: DT[2, 3]) -> DT = sum(cross_entropy(M, [0, 2]))",
       {2, 3},
       {1e4, -1e4, 0, -1e4, 1e4, 1e4},
       log2,
       {0, 0, 0, 0, 0.5, -0.5},
       true},
      {"fn f(v: DT[3]) -> DT = cross_entropy(v, 1)", {3}, {-1e4, 1e4, 0}, 0, {0, 0, 0}},
      {"fn f(s: DT[4]) -> DT = sum(bce_with_logits(s, [1, 1, 0, 0]))",
       {4},
       {1e4, -1e4, 1e4, -1e4},
       2e4,
       {0, -1, 1, 0}},
      {"fn f(s: DT[2]) -> DT = sum(softplus(s))", {2}, {1e4, -1e4}, 1e4, {1, 0}},
  };
  for (DType dtype : {DType::F64, DType::F32}) {
    const double eps = dtype == DType::F32 ? 0x1p-23 : 0x1p-52; // one ulp, relative
    for (const Case &c : cases) {
      std::string source = c.source;
      for (std::size_t at; (at = source.find("DT")) != std::string::npos;)
        source.replace(at, 2, dtypeName(dtype));
      std::string what = source + " in " + dtypeName(dtype);
      // A few ulps, or the rounding of a logsumexp of 1e4 where the lowering subtracts one.
      double slack = c.roundsLse && !demandExactEverywhere ? 4e4 * eps : 4 * eps;
      Module m = compileText(source + "\n");
      ASSERT_FALSE(m.functions.empty()) << what;
      const Function &f = m.functions[0];
      std::vector<Tensor> args{tensorOf(c.shape, c.at, dtype)};
      double value = valueOf(f, args);
      EXPECT_TRUE(std::isfinite(value)) << what;
      EXPECT_NEAR(value, c.value, slack * std::max(1.0, std::fabs(c.value))) << what;
      for (Derivative mode : kModes) {
        auto g = gradientOf(f, args, mode);
        ASSERT_EQ(g.size(), 1u) << what;
        const Tensor &t = g.begin()->second;
        for (std::size_t i = 0; i < c.grad.size(); ++i) {
          EXPECT_TRUE(std::isfinite(t.data[i])) << what << " " << derivativeName(mode);
          double gradSlack = dtype == DType::F64 && c.f64GradientRoundsLse ? 4e4 * eps : slack;
          EXPECT_NEAR(t.data[i], c.grad[i], gradSlack)
              << what << " " << derivativeName(mode) << " entry " << i;
        }
      }
    }
  }
}

TEST(KinkPolicy, StableAtLargeLogitsInF32AndF64) { checkLargeLogits(false); }

TEST(KinkPolicy, LargeLogitsExactEverywhere) { checkLargeLogits(true); }

// Regression: the logsumexp rule's weights were exp(x - logsumexp(x)) in f32 too, whose rounding
// of logsumexp (2^-10 at 1e4 in f32) made d logsumexp = 0.49989 instead of 0.5. f32 now uses the
// max-shifted softmax and is exact. f64 keeps exp(x - logsumexp(x)) for speed: its error, |x| eps
// relative, is what a one-ulp change of x itself does to softmax (backward stable).
TEST(KinkPolicy, LogSumExpGradientIsExactAtLargeArguments) {
  for (DType dtype : {DType::F64, DType::F32}) {
    Function f;
    Builder b(f);
    ValueId x = b.input("x", {dtype, {Dim(3)}});
    f.result = b.emit(Op::LogSumExp, {x}, {std::vector<std::int64_t>{0}});
    for (Derivative mode : kModes) {
      auto g = gradientOf(f, {tensorOf({3}, {1e4, 1e4, -1e4}, dtype)}, mode);
      if (dtype == DType::F32) {
        EXPECT_EQ(g["x"].data, (std::vector<double>{0.5, 0.5, 0})) << derivativeName(mode);
        continue;
      }
      const double backwardStable = 1e4 * 0x1p-52 * 0.5;
      for (std::size_t i = 0; i < 3; ++i)
        EXPECT_NEAR(g["x"].data[i], i < 2 ? 0.5 : 0.0, backwardStable) << derivativeName(mode);
    }
  }
}

} // namespace
} // namespace nabla
