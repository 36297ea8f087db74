// Driven by the op table: every op has a lowering rule, and a small function around each op,
// compiled by the JIT, agrees with the interpreter (materialized and fused into a consumer, each
// reduction and product path). A new op fails EveryOpLowers until it has a case here.
#include "codegen/LowerRule.h"
#include "ir/Builder.h"
#include "ir/Loop.h"
#include "ir/OpTable.h"
#include "ir/Printer.h"
#include "driver/Execute.h"
#include "tests/Random.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <optional>
#include <random>
#include <set>

namespace nabla {
namespace {

Type f64(Shape shape = {}) { return Type{DType::F64, std::move(shape)}; }
Type i32(Shape shape = {}) { return Type{DType::I32, std::move(shape)}; }

const Dim d = Dim::symbol("d");

/// Builds `@case.<op>[d]`: `body` emits the op and returns the values to compare (the first is
/// the function's value, the others named results).
Function build(Op op, const std::function<std::vector<ValueId>(Builder &)> &body) {
  Function f;
  f.name = "case." + std::string(mnemonic(op));
  f.dimParams = {"d"};
  Builder b(f);
  std::vector<ValueId> results = body(b);
  f.result = results.front();
  for (std::size_t i = 1; i < results.size(); ++i)
    f.outputs.push_back({"r" + std::to_string(i), results[i]});
  return f;
}

/// The op's value and that value fused into a consumer (a sum over all its entries).
std::vector<ValueId> storedAndFused(Builder &b, ValueId v) {
  ValueId x = b.typeOf(v).dtype == DType::F64 ? v : b.convert(v, DType::F64);
  std::vector<std::int64_t> all;
  for (std::size_t k = 0; k < b.typeOf(x).rank(); ++k)
    all.push_back(static_cast<std::int64_t>(k));
  return {v, b.reduceSum(b.unary(Op::Sin, x), all)};
}

/// A function exercising `op`, or nothing when the op has no case (which fails the test).
std::optional<Function> caseFor(Op op) {
  auto a = [](Builder &b) { return b.input("a", f64({d, 3})); };
  auto a2 = [](Builder &b) { return b.input("a2", f64({d, 3})); };
  auto unary = [&](bool positive, std::vector<AttrValue> attrs = {}) {
    return build(op, [&](Builder &b) {
      ValueId x = a(b);
      if (!positive) // both signs: arguments are in [0.5, 1.5]
        x = b.sub(x, b.constant(1.0, DType::F64));
      return storedAndFused(b, b.emit(op, {x}, attrs));
    });
  };
  auto binary = [&] {
    return build(op, [&](Builder &b) { return storedAndFused(b, b.emit(op, {a(b), a2(b)})); });
  };
  auto reduction = [&] {
    return build(op, [&](Builder &b) {
      ValueId x = b.sub(a(b), b.constant(1.0, DType::F64));
      std::vector<ValueId> out;
      // The last axis reduced (in a register), kept (walking memory order), and every axis.
      for (std::vector<std::int64_t> axes : {std::vector<std::int64_t>{1}, {0}, {0, 1}})
        out.push_back(b.emit(op, {x}, {axes}));
      return out;
    });
  };
  switch (op) {
  case Op::Input:
    return build(op, [&](Builder &b) { return std::vector<ValueId>{a(b)}; });
  case Op::Param:
    return build(op, [&](Builder &b) { return storedAndFused(b, b.param("p", f64({d, 3}))); });
  case Op::Const:
    return build(op, [&](Builder &b) {
      ValueId lit = b.literal({1.0, 2.5, -0.0, 1e-300, 0.1, -7.0}, f64({2, 3}));
      return std::vector<ValueId>{b.mul(lit, b.input("x", f64({2, 3}))), lit};
    });
  case Op::Iota:
    return build(op, [&](Builder &b) {
      return storedAndFused(b, b.emit(Op::Iota, {}, {Shape{d, 3}, std::int64_t{1}}));
    });
  case Op::DimSize:
    return build(op, [&](Builder &b) {
      ValueId n = b.emit(Op::DimSize, {}, {Shape{2 * d}, DType::F64});
      return std::vector<ValueId>{n, b.mul(a(b), b.broadcast(n, {d, 3}))};
    });
  case Op::Neg:
  case Op::Exp:
  case Op::Sin:
  case Op::Cos:
  case Op::Tan:
  case Op::Tanh:
  case Op::Abs:
  case Op::Sign:
  case Op::Expm1:
  case Op::Erf:
  case Op::Sigmoid:
  case Op::Relu:
  case Op::Softplus:
  case Op::StopGradient:
    return unary(false);
  case Op::Log:
  case Op::Sqrt:
  case Op::Log1p:
  case Op::Lgamma:
  case Op::Digamma:
  case Op::Trigamma:
    return unary(true);
  case Op::Polygamma:
    return unary(true, {std::int64_t{2}});
  case Op::LeakyRelu:
    return unary(false, {0.01});
  case Op::Hardtanh:
    return unary(false, {-0.25, 0.25});
  case Op::Add:
  case Op::Sub:
  case Op::Mul:
  case Op::Div:
  case Op::Pow:
  case Op::Max:
  case Op::Min:
  case Op::Lt:
  case Op::Le:
  case Op::Gt:
  case Op::Ge:
  case Op::Eq:
  case Op::Ne:
    return binary();
  case Op::Select:
    return build(op, [&](Builder &b) {
      ValueId x = a(b), y = a2(b);
      return storedAndFused(b, b.emit(Op::Select, {b.emit(Op::Lt, {x, y}), x, y}));
    });
  case Op::Convert:
    return build(op, [&](Builder &b) {
      ValueId ids = b.input("ids", i32({d, 3}));
      return std::vector<ValueId>{b.convert(a(b), DType::F32), b.convert(ids, DType::F64),
                                  b.convert(b.emit(Op::Lt, {a(b), a2(b)}), DType::F64)};
    });
  case Op::ReduceSum:
  case Op::ReduceMax:
  case Op::ReduceMin:
  case Op::LogSumExp:
    return reduction();
  case Op::Broadcast:
    return build(op, [&](Builder &b) {
      ValueId v = b.input("v", f64({d}));
      return std::vector<ValueId>{b.broadcast(v, {2, d}), b.broadcast(b.input("s", f64()), {d, 3}),
                                  b.mul(a(b), b.broadcast(b.input("c", f64({3})), {d, 3}))};
    });
  case Op::Reshape:
    return build(op, [&](Builder &b) {
      ValueId e = b.unary(Op::Exp, a(b));
      return std::vector<ValueId>{b.reshape(e, {3 * d}), b.reshape(a(b), {3, d})};
    });
  case Op::Transpose:
    return build(op, [&](Builder &b) { return storedAndFused(b, b.transpose(a(b), {1, 0})); });
  case Op::Slice:
    return build(op, [&](Builder &b) {
      return storedAndFused(b, b.emit(Op::Slice, {a(b)}, {Shape{0, 1}, Shape{d, 3}}));
    });
  case Op::Pad:
    return build(op, [&](Builder &b) {
      return storedAndFused(b, b.emit(Op::Pad, {a(b)}, {Shape{1, 0}, Shape{d, 2}}));
    });
  case Op::Concat:
    return build(op, [&](Builder &b) {
      ValueId x = a(b), y = a2(b);
      return std::vector<ValueId>{b.emit(Op::Concat, {x, y, x}, {std::int64_t{0}}),
                                  b.emit(Op::Concat, {x, y}, {std::int64_t{1}})};
    });
  case Op::Take:
    return build(op, [&](Builder &b) {
      ValueId ids = b.input("ids", i32({2}));
      return storedAndFused(b, b.emit(Op::Take, {a(b), ids}, {std::int64_t{0}}));
    });
  case Op::Update:
    return build(op, [&](Builder &b) {
      ValueId id = b.input("id", i32());
      ValueId row = b.input("row", f64({3}));
      return storedAndFused(b, b.emit(Op::Update, {a(b), id, row}, {std::int64_t{0}}));
    });
  case Op::Loop:
  case Op::LoopResult:
  case Op::LoopGrad:
    // h = tanh(h * w + a[t]) over the rows of a, and (loop_grad) its reverse sweep.
    return build(op, [&](Builder &b) {
      ValueId x = a(b), w = b.input("w", f64({3})), h0 = b.input("h0", f64({3}));
      ValueId rows = b.emit(Op::DimSize, {}, {Shape{d}, DType::I32});
      std::vector<ValueId> inits{h0}, captures{x, w};
      ValueId loop = loops::buildLoop(
          b, b.constant(0, DType::I32), rows, inits, captures,
          [](Builder &bb, ValueId t, std::span<const ValueId> c, std::span<const ValueId> y) {
            ValueId row = bb.emit(Op::Take, {y[0], t}, {std::int64_t{0}});
            return std::vector<ValueId>{bb.unary(Op::Tanh, bb.add(bb.mul(c[0], y[1]), row))};
          });
      std::vector<ValueId> out = storedAndFused(b, loops::result(b, loop, 0));
      if (op == Op::LoopGrad) {
        Inst inst = b.function().inst(loop);
        std::vector<MaybeValue> cts{b.input("ct", f64({3}))};
        for (const MaybeValue &g : loops::loopVjp(b, inst, cts))
          if (g)
            out.push_back(*g);
      }
      return out;
    });
  case Op::TakeAlong:
    return build(op, [&](Builder &b) {
      ValueId ids = b.input("ids", i32({d, 1}));
      return storedAndFused(b, b.emit(Op::TakeAlong, {a(b), ids}, {std::int64_t{1}}));
    });
  case Op::ScatterAdd:
    return build(op, [&](Builder &b) {
      ValueId updates = b.input("u", f64({2, 3})), ids = b.input("ids", i32({2}));
      return storedAndFused(b,
                            b.emit(Op::ScatterAdd, {updates, ids}, {std::int64_t{0}, Shape{d, 3}}));
    });
  case Op::ScatterAddAlong:
    return build(op, [&](Builder &b) {
      ValueId updates = b.input("u", f64({d, 1})), ids = b.input("ids", i32({d, 1}));
      return storedAndFused(
          b, b.emit(Op::ScatterAddAlong, {updates, ids}, {std::int64_t{1}, Shape{d, 3}}));
    });
  case Op::Diag:
    return build(op, [&](Builder &b) {
      return storedAndFused(b, b.emit(Op::Diag, {b.input("v", f64({d}))}));
    });
  case Op::DiagPart:
    return build(op, [&](Builder &b) {
      return storedAndFused(b, b.emit(Op::DiagPart, {b.input("m", f64({d, d}))}));
    });
  case Op::LowerPart:
  case Op::Lower:
    return build(op, [&](Builder &b) {
      ValueId packed = b.emit(Op::LowerPart, {b.input("m", f64({d, d}))});
      return std::vector<ValueId>{b.emit(Op::Lower, {packed}, {Shape{d}}), packed};
    });
  case Op::MatMul:
    return build(op, [&](Builder &b) {
      ValueId m = b.input("m", f64({d, d})), x = a(b), col = b.input("col", f64({3, 1}));
      ValueId big = b.input("big", f64({40, 40})), batch = b.input("batch", f64({2, d, 3}));
      return std::vector<ValueId>{
          b.emit(Op::MatMul, {m, x}),                      // loops, output column inner
          b.emit(Op::MatMul, {x, col}),                    // dot products
          b.emit(Op::MatMul, {b.transpose(m, {1, 0}), x}), // a transposed operand
          b.emit(Op::MatMul, {b.transpose(x, {1, 0}), b.reshape(b.input("w", f64({d})), {d, 1})}),
          b.emit(Op::MatMul, {big, big}),                         // the BLAS, where there is one
          b.emit(Op::MatMul, {b.broadcast(m, {2, d, d}), batch}), // a batch broadcast in place
          b.reduceSum(b.emit(Op::MatMul, {batch, b.transpose(batch, {0, 2, 1})}), {0}),
      };
    });
  }
  return std::nullopt;
}

void expectClose(const Tensor &jit, const Tensor &ref, double tol, const std::string &what) {
  ASSERT_EQ(jit.shape, ref.shape) << what;
  for (std::size_t i = 0; i < ref.data.size(); ++i) {
    double x = jit.data[i], y = ref.data[i];
    if (std::isnan(y)) {
      EXPECT_TRUE(std::isnan(x)) << what << " entry " << i;
      continue;
    }
    if (std::isinf(y)) {
      EXPECT_EQ(x, y) << what << " entry " << i;
      continue;
    }
    EXPECT_NEAR(x, y, tol * std::max(1.0, std::fabs(y))) << what << " entry " << i;
  }
}

TEST(Lowering, EveryOpLowers) {
  std::mt19937_64 rng(20261207);
  std::set<Op> covered;
  for (std::size_t i = 0; i < kOpCount; ++i) {
    Op op = static_cast<Op>(i);
    SCOPED_TRACE(std::string(mnemonic(op)));
    std::optional<Function> f = caseFor(op);
    if (!f) {
      ADD_FAILURE() << "no lowering case for '" << mnemonic(op) << "' in tests/LoweringTest.cpp";
      continue;
    }
    bool uses = false;
    for (const Inst &inst : f->insts)
      uses = uses || inst.op == op;
    EXPECT_TRUE(uses) << "the case of '" << mnemonic(op) << "' does not use it:\n" << print(*f);
    covered.insert(op);
    // At d = 1 an index (0 or 1) may be out of range: then both engines say so.
    for (std::int64_t size : {1, 2, 5}) {
      DimBinding dims{{"d", size}};
      std::vector<Tensor> args = testing::randomArgs(*f, dims, rng);
      auto ref = execute(Engine::Interp, *f, args, dims);
      auto jit = execute(Engine::Jit, *f, args, dims);
      if (!ref) {
        EXPECT_NE(ref.error().render().find("out of range"), std::string::npos)
            << ref.error().render();
        EXPECT_FALSE(jit) << "the interpreter says " << ref.error().render();
        continue;
      }
      ASSERT_TRUE(jit) << jit.error().render();
      ASSERT_EQ(jit->size(), ref->size());
      for (std::size_t r = 0; r < ref->size(); ++r) {
        double tol = (*ref)[r].dtype == DType::F32 ? 1e-6 : 1e-12;
        expectClose((*jit)[r], (*ref)[r], tol,
                    print(*f) + " at d = " + std::to_string(size) + ", result " +
                        std::to_string(r));
      }
    }
  }
  EXPECT_EQ(covered.size(), kOpCount);
}

// Each op's LowerRule says how it lowers and carries what that needs; elementwise rules are
// exactly the ops with scalar math of their own.
TEST(Lowering, EveryOpHasACompleteRule) {
  for (std::size_t i = 0; i < kOpCount; ++i) {
    Op op = static_cast<Op>(i);
    const codegen::LowerRule &rule = codegen::lowerRule(op);
    EXPECT_EQ(rule.how == codegen::Lowering::Elementwise, opInfo(op).lowerScalar != nullptr)
        << mnemonic(op);
    if (rule.how == codegen::Lowering::Element)
      EXPECT_NE(rule.element, nullptr) << mnemonic(op);
    if (rule.how == codegen::Lowering::Loops)
      EXPECT_NE(rule.emit, nullptr) << mnemonic(op);
    if (codegen::isFused(rule))
      EXPECT_EQ(rule.rows, codegen::RowAccess::SameRow) << mnemonic(op);
  }
}

} // namespace
} // namespace nabla
