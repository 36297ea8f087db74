// A seeded generator of random looped programs, built at the IR level (ir/Loop.h) because the
// frontend has no `for` yet: loops carrying 1-3 values (float tensors, an i32 counter, a stack
// written by `update` at the index), captures, nesting, runtime and zero-trip bounds, over ops
// with safe domains. tests/RandomLoopTest.cpp runs the oracles over it.
#pragma once

#include "ir/Builder.h"
#include "ir/Function.h"
#include "ir/Interpreter.h"
#include "ir/Loop.h"
#include "ir/Tensor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace nabla::testing {

struct LoopGenOptions {
  int maxNesting = 2;    // loops inside loops: 1 is flat, 3 is a loop in a loop in a loop
  int maxExprDepth = 3;  // of the expression trees between loops
  int maxTrips = 3;      // the most iterations any one loop runs
  int maxLoops = 4;      // per program, nested ones included; 0 gives a loop-free program
};

/// What a program exercises, summed over many for the test's report.
struct LoopGenStats {
  int loops = 0, nested = 0, zeroTrip = 0, stacks = 0, counters = 0, captures = 0;
  int boundsFromArgs = 0, boundsFromDims = 0, boundsFromIndex = 0, takes = 0, matmuls = 0;
  int deepest = 0; // the deepest nesting seen

  LoopGenStats &operator+=(const LoopGenStats &o) {
    loops += o.loops, nested += o.nested, zeroTrip += o.zeroTrip, stacks += o.stacks;
    counters += o.counters, captures += o.captures, boundsFromArgs += o.boundsFromArgs;
    boundsFromDims += o.boundsFromDims, boundsFromIndex += o.boundsFromIndex, takes += o.takes;
    matmuls += o.matmuls, deepest = std::max(deepest, o.deepest);
    return *this;
  }
};

/// A program and a point to evaluate it at: the i32 arguments and the runtime dimension are part
/// of the program (they decide trip counts and which indices stay in range); the float
/// arguments are drawn from [-1, 1].
struct LoopProgram {
  Function f;
  std::vector<Tensor> args;
  DimBinding dims;
  LoopGenStats stats;

  /// The i32 arguments and the dimensions, for a failure message.
  std::string describePoint() const {
    std::string out;
    std::vector<ValueId> ids = f.arguments();
    for (std::size_t i = 0; i < ids.size(); ++i)
      if (args[i].dtype == DType::I32)
        out += fmt::format("{}={} ", f.inst(ids[i]).stringAttr("name"), args[i].data[0]);
    for (const auto &[name, value] : dims)
      out += fmt::format("{}={} ", name, value);
    return out;
  }
};

class LoopGenerator {
public:
  LoopGenerator(std::uint64_t seed, LoopGenOptions options)
      : rng_(seed), opt_(options), loopsLeft_(options.maxLoops) {}

  LoopProgram program() {
    LoopProgram p;
    p.f.name = "looped";
    if (chance(0.4)) {
      hasN_ = true;
      dimN_ = uniform(0, opt_.maxTrips);
      p.f.dimParams = {"n"};
      p.dims["n"] = dimN_;
    }
    Builder b(p.f);
    Scope top{b, {}, {}, 0};
    // Arguments: float tensors of the small shapes, a stack-like [T, 2] or [n, 2], i32 bounds.
    int floats = uniform(1, 3);
    for (int i = 0; i < floats; ++i)
      addArgument(p, top, fmt::format("x{}", i), randomType(top, true));
    if (chance(0.5))
      addArgument(p, top, "xs",
                  Type{DType::F64, {hasN_ ? Dim::symbol("n") : Dim(opt_.maxTrips + 1), Dim(2)}});
    int ints = uniform(0, 2);
    for (int i = 0; i < ints; ++i) {
      int value = uniform(0, opt_.maxTrips);
      ValueId a = b.input(fmt::format("k{}", i), Type{DType::I32, {}});
      p.args.push_back(Tensor::scalar(value, DType::I32));
      top.ints.push_back({a, value, value, false});
    }
    // The body of the function: loops whose results join the pool, then everything reduced.
    int loops = opt_.maxLoops == 0 ? 0 : uniform(1, std::min(2, loopsLeft_));
    std::size_t arguments = top.floats.size();
    for (int i = 0; i < loops; ++i)
      top.floats.push_back(loopValue(top, randomType(top, false), 0));
    // Every loop result reaches the value (a stack that nothing reads tests nothing).
    std::vector<ValueId> terms(top.floats.begin() + static_cast<std::ptrdiff_t>(arguments),
                               top.floats.end());
    if (loops == 0 || chance(0.5))
      terms.push_back(expr(top, randomType(top, false), opt_.maxExprDepth));
    ValueId total = toScalar(b, terms[0]);
    for (std::size_t i = 1; i < terms.size(); ++i)
      total = b.add(total, toScalar(b, terms[i]));
    p.f.result = total;
    p.stats = stats_;
    return p;
  }

private:
  /// An i32 scalar of a scope with the range [min, max] of the values it takes: an argument, an
  /// index, a bound. An empty range (min > max): the index of a loop that never runs.
  struct IntValue {
    ValueId id;
    std::int64_t min, max;
    bool isIndex;
  };

  /// The function or body being built: its builder, its float values, its i32 scalars.
  struct Scope {
    Builder &b;
    std::vector<ValueId> floats;
    std::vector<IntValue> ints;
    int nesting; // 0 in the function, 1 in a loop body, ...
  };

  using Rng = std::mt19937_64;

  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  double real(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng_); }
  bool chance(double p) { return real(0, 1) < p; }
  template <class T> const T &pick(const std::vector<T> &v) {
    return v[static_cast<std::size_t>(uniform(0, static_cast<int>(v.size()) - 1))];
  }

  /// Mostly one or more iterations; zero-trip loops are a sample, not the common case.
  int tripCount() { return chance(0.1) ? 0 : uniform(1, opt_.maxTrips); }

  static Type f64(Shape shape) { return Type{DType::F64, std::move(shape)}; }

  /// One of the small shapes; with `allowSymbolic`, sometimes [n].
  Type randomType(const Scope &, bool allowSymbolic) {
    std::vector<Shape> shapes{{}, {Dim(2)}, {Dim(3)}, {Dim(2), Dim(3)}, {Dim(2)}};
    if (hasN_ && allowSymbolic)
      shapes.push_back({Dim::symbol("n")});
    return f64(pick(shapes));
  }

  std::int64_t concrete(const Dim &d) const { return *d.evaluate({{"n", dimN_}}); }

  void addArgument(LoopProgram &p, Scope &s, const std::string &name, const Type &type) {
    ValueId a = s.b.input(name, type);
    std::vector<std::int64_t> shape;
    for (const Dim &d : type.shape)
      shape.push_back(concrete(d));
    Tensor t(DType::F64, shape);
    for (double &v : t.data)
      v = real(-1, 1);
    p.args.push_back(std::move(t));
    s.floats.push_back(a);
  }

  static ValueId toScalar(Builder &b, ValueId v) {
    std::vector<std::int64_t> axes;
    for (std::size_t i = 0; i < b.typeOf(v).rank(); ++i)
      axes.push_back(static_cast<std::int64_t>(i));
    return b.reduceSum(v, axes);
  }

  std::vector<ValueId> ofType(const Scope &s, const Type &t) const {
    std::vector<ValueId> out;
    for (ValueId v : s.floats)
      if (s.b.typeOf(v) == t)
        out.push_back(v);
    return out;
  }

  /// An index of `s` that stays within [0, size) whenever it has a value, or a constant one.
  ValueId indexInto(Scope &s, std::int64_t size) {
    std::vector<ValueId> fits;
    for (const IntValue &i : s.ints)
      if (i.min >= 0 && i.max < size)
        fits.push_back(i.id);
    if (!fits.empty() && chance(0.85))
      return pick(fits);
    return s.b.constant(uniform(0, static_cast<int>(size) - 1), DType::I32);
  }

  ValueId leaf(Scope &s, const Type &t) {
    std::vector<ValueId> same = ofType(s, t);
    if (!same.empty() && chance(0.8))
      return pick(same);
    std::vector<ValueId> scalars = ofType(s, f64({}));
    if (!scalars.empty() && chance(0.5))
      return s.b.broadcast(pick(scalars), t.shape);
    if (!s.ints.empty() && chance(0.3)) // an index or bound as a float: no derivative
      return s.b.broadcast(s.b.mul(s.b.convert(pick(s.ints).id, DType::F64),
                                   s.b.constant(0.25, DType::F64)),
                           t.shape);
    return s.b.constantLike(std::round(real(-1, 1) * 8) / 8, t);
  }

  ValueId bounded(Scope &s, ValueId x) {
    switch (uniform(0, 3)) {
    case 0:
      return s.b.unary(Op::Tanh, x);
    case 1:
      return s.b.unary(Op::Sin, x);
    case 2:
      return s.b.unary(Op::Sigmoid, x);
    default:
      return s.b.unary(Op::Exp, s.b.unary(Op::Tanh, x)); // exp of small values only
    }
  }

  /// A random expression of type `t` over the scope's values.
  ValueId expr(Scope &s, const Type &t, int depth) {
    if (depth <= 0)
      return leaf(s, t);
    Builder &b = s.b;
    int choice = uniform(0, 11);
    switch (choice) {
    case 0:
    case 1:
      return bounded(s, expr(s, t, depth - 1));
    case 2:
      return b.add(expr(s, t, depth - 1), expr(s, t, depth - 1));
    case 3:
      return b.mul(expr(s, t, depth - 1), expr(s, t, depth - 1));
    case 4:
      return b.sub(expr(s, t, depth - 1), b.mul(b.constantLike(0.5, t), expr(s, t, depth - 1)));
    case 5:
      if (t.rank() < 2)
        return reduction(s, t, depth);
      break;
    case 6:
      if (t.rank() >= 1 && t.shape.back().isConstant())
        return matmul(s, t, depth);
      break;
    case 7:
      if (t.rank() < 2)
        return take(s, t, depth);
      break;
    case 8:
    case 9:
      if (s.nesting < opt_.maxNesting && loopsLeft_ > 0)
        return loopValue(s, t, depth - 1);
      break;
    default:
      break;
    }
    return leaf(s, t);
  }

  ValueId reduction(Scope &s, const Type &t, int depth) {
    auto axis = static_cast<std::int64_t>(uniform(0, static_cast<int>(t.rank())));
    Shape wide = t.shape;
    wide.insert(wide.begin() + axis, Dim(uniform(2, 3)));
    ValueId x = expr(s, f64(wide), depth - 1);
    if (chance(0.3))
      return s.b.emit(Op::LogSumExp, {x}, {std::vector<std::int64_t>{axis}});
    return s.b.reduceSum(x, {axis});
  }

  /// [m, k] @ [k, n], or a matrix times a vector through reshapes.
  ValueId matmul(Scope &s, const Type &t, int depth) {
    ++stats_.matmuls;
    Builder &b = s.b;
    Dim k(uniform(2, 3));
    if (t.rank() == 2)
      return b.emit(Op::MatMul, {expr(s, f64({t.shape[0], k}), depth - 1),
                                 expr(s, f64({k, t.shape[1]}), depth - 1)});
    ValueId m = expr(s, f64({t.shape[0], k}), depth - 1);
    ValueId v = b.reshape(expr(s, f64({k}), depth - 1), {k, Dim(1)});
    return b.reshape(b.emit(Op::MatMul, {m, v}), t.shape);
  }

  /// Row `i` of a [size, ...t] value, `i` an index that stays in range.
  ValueId take(Scope &s, const Type &t, int depth) {
    ++stats_.takes;
    std::vector<ValueId> sources;
    for (ValueId v : s.floats) {
      const Type &vt = s.b.typeOf(v);
      if (vt.rank() == t.rank() + 1 && Shape(vt.shape.begin() + 1, vt.shape.end()) == t.shape &&
          concrete(vt.shape[0]) > 0)
        sources.push_back(v);
    }
    ValueId x = !sources.empty() && chance(0.8)
                    ? pick(sources)
                    : [&] {
                        Shape wide = t.shape;
                        wide.insert(wide.begin(), Dim(uniform(2, opt_.maxTrips + 1)));
                        return expr(s, f64(wide), depth - 1);
                      }();
    std::int64_t size = concrete(s.b.typeOf(x).shape[0]);
    return s.b.emit(Op::Take, {x, indexInto(s, size)}, {std::int64_t{0}});
  }

  /// A loop bound in scope `s`: its value and the range it takes.
  IntValue bound(Scope &s, bool upper) {
    Builder &b = s.b;
    int choice = uniform(0, 5);
    std::vector<IntValue> args, indices;
    for (const IntValue &i : s.ints)
      (i.isIndex ? indices : args).push_back(i);
    if (choice == 1 && !args.empty()) {
      ++stats_.boundsFromArgs;
      return pick(args);
    }
    if (choice == 2 && hasN_ && upper) {
      ++stats_.boundsFromDims;
      return {b.emit(Op::DimSize, {}, {Shape{Dim::symbol("n")}, DType::I32}), dimN_, dimN_,
              false};
    }
    if (choice >= 3 && !indices.empty() && s.nesting > 0) {
      ++stats_.boundsFromIndex;
      IntValue i = pick(indices);
      if (upper && chance(0.5))
        return {b.add(i.id, b.constant(1, DType::I32)), i.min + 1, i.max + 1, false};
      return {i.id, i.min, i.max, false};
    }
    int value = upper ? tripCount() : (chance(0.8) ? 0 : 1);
    return {b.constant(value, DType::I32), value, value, false};
  }

  /// A loop in scope `s` carrying a value of type `t` (and 0-2 more), which it returns; its
  /// other float results join the scope's pool.
  ValueId loopValue(Scope &s, const Type &t, int depth) {
    --loopsLeft_;
    ++stats_.loops;
    if (s.nesting > 0)
      ++stats_.nested;
    stats_.deepest = std::max(stats_.deepest, s.nesting + 1);
    Builder &b = s.b;
    IntValue lo = bound(s, false), hi = bound(s, true);
    // Keep the trip count small: hi - lo <= maxTrips whatever values they take.
    if (hi.max - lo.min > opt_.maxTrips || hi.max < 0 || lo.min < 0) {
      int value = tripCount();
      hi = {b.constant(value, DType::I32), value, value, false};
      lo = {b.constant(0, DType::I32), 0, 0, false};
    }
    if (hi.max <= lo.min)
      ++stats_.zeroTrip; // at least at some point
    IntValue index{0, lo.min, hi.max - 1, true};

    // What it carries: the value asked for, then maybe a float, a counter, a stack.
    enum class Kind { Float, Counter, Stack };
    struct Carry {
      Kind kind;
      Type type;
    };
    std::vector<Carry> carries{{Kind::Float, t}};
    int extra = uniform(0, 2);
    for (int i = 0; i < extra; ++i) {
      int kind = uniform(0, 2);
      if (kind == 1) {
        carries.push_back({Kind::Counter, Type{DType::I32, {}}});
        ++stats_.counters;
      } else if (kind == 2 && index.min >= 0) {
        Shape rows{Dim(std::max<std::int64_t>(index.max + 1, 1))};
        if (hasN_ && index.max < dimN_ && chance(0.3))
          rows = {Dim::symbol("n")};
        Type row = randomType(s, false);
        if (row.rank() < 2)
          rows.insert(rows.end(), row.shape.begin(), row.shape.end());
        carries.push_back({Kind::Stack, f64(rows)});
        ++stats_.stacks;
      } else {
        carries.push_back({Kind::Float, randomType(s, true)});
      }
    }
    std::vector<ValueId> inits;
    for (const Carry &c : carries)
      inits.push_back(c.kind == Kind::Counter ? b.constant(uniform(0, 2), DType::I32)
                      // A stack that starts from a differentiable value: the slices the
                      // loop overwrites must then get no cotangent (update's VJP).
                      : c.kind == Kind::Stack && chance(0.5) ? b.constantLike(0, c.type)
                                              : expr(s, c.type, std::min(depth, 1)));
    // What it captures: some float values, and the i32 scalars (bounds and indices inside).
    std::vector<ValueId> captures;
    std::vector<std::size_t> capturedInts;
    for (ValueId v : s.floats)
      if (chance(0.6) && captures.size() < 4)
        captures.push_back(v);
    std::size_t floatCaptures = captures.size();
    for (std::size_t i = 0; i < s.ints.size(); ++i)
      if (chance(0.7)) {
        captures.push_back(s.ints[i].id);
        capturedInts.push_back(i);
      }
    stats_.captures += static_cast<int>(captures.size());
    std::vector<IntValue> outerInts = s.ints;

    auto fill = [&](Builder &bb, ValueId t, std::span<const ValueId> carried,
                    std::span<const ValueId> captured) {
      Scope in{bb, {}, {}, s.nesting + 1};
      in.ints.push_back({t, index.min, index.max, true});
      for (std::size_t j = 0; j < floatCaptures; ++j)
        in.floats.push_back(captured[j]);
      for (std::size_t j = 0; j < capturedInts.size(); ++j) {
        IntValue outer = outerInts[capturedInts[j]];
        in.ints.push_back({captured[floatCaptures + j], outer.min, outer.max, outer.isIndex});
      }
      for (std::size_t i = 0; i < carries.size(); ++i)
        if (carries[i].kind != Kind::Counter)
          in.floats.push_back(carried[i]);
      std::vector<ValueId> next;
      for (std::size_t i = 0; i < carries.size(); ++i)
        next.push_back(step(in, carries[i].kind == Kind::Counter, carries[i].kind == Kind::Stack,
                            carried[i], t, depth));
      return next;
    };
    ValueId loop = loops::buildLoop(b, lo.id, hi.id, inits, captures, fill);
    ValueId out = loops::result(b, loop, 0);
    for (std::size_t i = 1; i < carries.size(); ++i) {
      ValueId r = loops::result(b, loop, i);
      if (carries[i].kind == Kind::Counter)
        r = b.mul(b.convert(r, DType::F64), b.constant(0.125, DType::F64));
      s.floats.push_back(r);
    }
    return out;
  }

  /// The next value of one carried value: bounded functions of the state, so that values stay
  /// O(1) whatever the trip count.
  ValueId step(Scope &in, bool counter, bool stack, ValueId c, ValueId t, int depth) {
    Builder &b = in.b;
    if (counter)
      return b.add(c, chance(0.5) ? b.constant(1, DType::I32) : t);
    Type type = b.typeOf(c);
    if (stack) {
      Type row{DType::F64, Shape(type.shape.begin() + 1, type.shape.end())};
      return b.emit(Op::Update, {c, t, bounded(in, expr(in, row, depth))}, {std::int64_t{0}});
    }
    ValueId e = expr(in, type, std::max(depth, 1));
    switch (uniform(0, 3)) {
    case 0:
      return bounded(in, e);
    case 1:
      return b.add(c, b.mul(b.constantLike(0.5, type), b.unary(Op::Tanh, e)));
    case 2:
      return b.mul(c, b.unary(Op::Sigmoid, e));
    default:
      return b.unary(Op::Tanh, b.add(b.mul(b.constantLike(0.75, type), c), e));
    }
  }

  Rng rng_;
  LoopGenOptions opt_;
  LoopGenStats stats_;
  bool hasN_ = false;     // whether the program has the runtime dimension n
  std::int64_t dimN_ = 0; // its value at the program's point
  int loopsLeft_;         // loops still to place, nested ones included
};

} // namespace nabla::testing
