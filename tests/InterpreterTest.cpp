// The reference interpreter on IR built by hand: each op family against values worked out by hand.
#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "ir/SpecialFunctions.h"

#include <gtest/gtest.h>

#include <cmath>

namespace nabla {
namespace {

Tensor vec(std::vector<double> v) {
  Tensor t(DType::F64, {static_cast<std::int64_t>(v.size())});
  t.data = std::move(v);
  return t;
}

Tensor mat(std::int64_t r, std::int64_t c, std::vector<double> v) {
  Tensor t(DType::F64, {r, c});
  t.data = std::move(v);
  return t;
}

TEST(Interpreter, LectureExpression) {
  // (x + y) * max(y, z) at (1, 2, 0) = 6
  Function f;
  f.name = "f";
  Builder b(f);
  Type s{DType::F64, {}};
  ValueId x = b.input("x", s), y = b.input("y", s), z = b.input("z", s);
  f.result = b.mul(b.add(x, y), b.binary(Op::Max, y, z));
  auto r = interpret(f, {Tensor::scalar(1), Tensor::scalar(2), Tensor::scalar(0)});
  ASSERT_TRUE(r) << r.error().render();
  EXPECT_EQ(r->result.data[0], 6.0);
}

TEST(Interpreter, MatMulWithRuntimeDims) {
  Function f;
  f.name = "mv";
  f.dimParams = {"n", "m"};
  Builder b(f);
  Dim n = Dim::symbol("n"), m = Dim::symbol("m");
  ValueId w = b.input("W", {DType::F64, {n, m}});
  ValueId x = b.input("x", {DType::F64, {m}});
  ValueId col = b.reshape(x, {m, Dim(1)});
  f.result = b.reshape(b.emit(Op::MatMul, {w, col}), {n});
  auto r = interpret(f, {mat(2, 3, {1, 2, 3, 4, 5, 6}), vec({1, 0, -1})});
  ASSERT_TRUE(r) << r.error().render();
  EXPECT_EQ(r->result.shape, (std::vector<std::int64_t>{2}));
  EXPECT_EQ(r->result.data, (std::vector<double>{-2, -2}));
}

TEST(Interpreter, ShapeMismatchNamesArgumentAndBothTypes) {
  Function f;
  f.name = "g";
  f.dimParams = {"n"};
  Builder b(f);
  Dim n = Dim::symbol("n");
  ValueId a = b.input("a", {DType::F64, {n}});
  ValueId c = b.input("c", {DType::F64, {n}});
  f.result = b.add(a, c);
  auto r = interpret(f, {vec({1, 2}), vec({1, 2, 3})});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().list[0].message, "'g' expects f64[2] for 'c', got f64[3]");
}

TEST(Interpreter, LogSumExpIsStableAtLargeArguments) {
  Function f;
  f.name = "lse";
  Builder b(f);
  ValueId x = b.input("x", {DType::F64, {3}});
  f.result = b.emit(Op::LogSumExp, {x}, {std::vector<std::int64_t>{0}});
  auto r = interpret(f, {vec({1e4, 1e4, -1e4})});
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(r->result.data[0], 1e4 + std::log(2.0));
}

TEST(Interpreter, TakeAndScatterAddAreAdjoint) {
  // <take(E, ids), u> == <E, scatter_add(u, ids)> for any E and u.
  Function f;
  f.name = "t";
  Builder b(f);
  ValueId e = b.input("E", {DType::F64, {4, 2}});
  ValueId ids = b.input("ids", {DType::I32, {3}});
  ValueId u = b.input("u", {DType::F64, {3, 2}});
  ValueId taken = b.emit(Op::Take, {e, ids}, {std::int64_t{0}});
  ValueId lhs = b.reduceSum(b.mul(taken, u), {0, 1});
  ValueId scattered = b.emit(Op::ScatterAdd, {u, ids}, {std::int64_t{0}, Shape{4, 2}});
  ValueId rhs = b.reduceSum(b.mul(e, scattered), {0, 1});
  f.result = b.sub(lhs, rhs);
  Tensor idsT(DType::I32, {3});
  idsT.data = {3, 0, 3};
  auto r = interpret(f, {mat(4, 2, {1, 2, 3, 4, 5, 6, 7, 8}), idsT,
                         mat(3, 2, {0.5, -1, 2, 3, -4, 0.25})});
  ASSERT_TRUE(r) << r.error().render();
  EXPECT_NEAR(r->result.data[0], 0.0, 1e-12);
}

TEST(Interpreter, IndexOutOfRangeIsAnError) {
  Function f;
  f.name = "t";
  Builder b(f);
  ValueId e = b.input("E", {DType::F64, {2}});
  ValueId ids = b.input("ids", {DType::I32, {}});
  f.result = b.emit(Op::Take, {e, ids}, {std::int64_t{0}});
  auto r = interpret(f, {vec({1, 2}), Tensor::scalar(5, DType::I32)});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().list[0].message.find("index 5 is out of range for axis 0 of size 2"),
            std::string::npos);
}

TEST(Interpreter, LowerFillsColumnByColumn) {
  Function f;
  f.name = "l";
  Builder b(f);
  ValueId v = b.input("v", {DType::F64, {3}});
  f.result = b.emit(Op::Lower, {v}, {Shape{3}});
  auto r = interpret(f, {vec({1, 2, 3})});
  ASSERT_TRUE(r) << r.error().render();
  EXPECT_EQ(r->result.data, (std::vector<double>{0, 0, 0, 1, 0, 0, 2, 3, 0}));
}

TEST(Interpreter, CseAndFoldingAtConstruction) {
  Function f;
  Builder b(f);
  ValueId x = b.input("x", {DType::F64, {}});
  ValueId one = b.constant(1, DType::F64);
  EXPECT_EQ(b.mul(x, one), x);
  EXPECT_EQ(b.add(b.unary(Op::Sin, x), b.unary(Op::Sin, x)), b.add(b.unary(Op::Sin, x), b.unary(Op::Sin, x)));
  EXPECT_EQ(b.constantValue(b.add(one, b.constant(2, DType::F64))), 3.0);
}

TEST(SpecialFunctions, PolygammaMatchesKnownValues) {
  EXPECT_NEAR(digammaF64(1), -0.5772156649015329, 1e-14);
  EXPECT_NEAR(trigammaF64(1), 1.6449340668482264, 1e-14);
  EXPECT_NEAR(polygammaF64(2, 1), -2.4041138063191885, 1e-13);
  EXPECT_NEAR(polygammaF64(3, 1), 6.493939402266829, 1e-12);
  EXPECT_NEAR(digammaF64(-0.5), 0.03648997397857652, 1e-13);
}

} // namespace
} // namespace nabla
