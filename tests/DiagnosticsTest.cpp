// Tests of the frontend's diagnostics on whole .nabla files: the exact position and text of the
// first error for each kind of mistake, a seeded mutation fuzzer that must never crash, throw or
// hang, and inputs nested far deeper than the parser's limit.
#include "frontend/Parser.h"
#include "frontend/Sema.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace nabla {
namespace {

// ---- helpers ---------------------------------------------------------------------------------

/// Compiles `source` as t.nabla and checks that it fails with `message` at `line`:`col` as the
/// first diagnostic.
void expectError(const std::string &source, int line, int col, const std::string &message) {
  SourceFile file("t.nabla", source);
  Expected<Module> module = compileSource(file);
  ASSERT_FALSE(bool(module)) << "expected an error, but it compiled:\n" << source;
  ASSERT_FALSE(module.error().list.empty());
  const Diagnostic &d = module.error().list.front();
  EXPECT_EQ(d.message, message) << d.render();
  EXPECT_EQ(d.line, line) << d.render();
  EXPECT_EQ(d.col, col) << d.render();
  EXPECT_EQ(d.file, "t.nabla");
  EXPECT_EQ(d.severity, Severity::Error);
}

/// Compiles `source` and checks that it succeeds.
void expectOk(const std::string &source) {
  SourceFile file("t.nabla", source);
  Expected<Module> module = compileSource(file);
  EXPECT_TRUE(bool(module)) << (module ? "" : module.error().render());
}

// ---- names and calls ---------------------------------------------------------------------------

TEST(DiagnosticsTest, UnknownName) { expectError("fn f(x) = x + y\n", 1, 15, "unknown name 'y'"); }

TEST(DiagnosticsTest, UnknownNameInModel) {
  expectError("model m() {\n"
              "  param w: f64\n"
              "  loss w * scale\n"
              "}\n",
              3, 12, "unknown name 'scale'");
}

TEST(DiagnosticsTest, UnknownFunction) {
  expectError("fn f(x) = sine(x)\n", 1, 11, "unknown function 'sine'");
}

TEST(DiagnosticsTest, FunctionDefinedLater) {
  expectError(
      "fn f(x) = g(x) + 1\n"
      "fn g(x) = 2 * x\n",
      1, 11,
      "'g' is defined later in the file; a function can only call functions defined before it");
}

TEST(DiagnosticsTest, Recursion) {
  expectError("fn fact(n) = n * fact(n - 1)\n", 1, 18,
              "'fact' calls itself, but recursion is not supported");
}

TEST(DiagnosticsTest, UserFunctionArity) {
  expectError("fn g(a, b) = a * b\n"
              "fn f(x) = g(x)\n",
              2, 11, "'g' takes 2 arguments, got 1");
}

TEST(DiagnosticsTest, BuiltinTooManyArguments) {
  expectError("fn f(x) = exp(x, x)\n", 1, 11, "'exp' takes exactly 1 argument, got 2");
}

TEST(DiagnosticsTest, BuiltinTooFewArguments) {
  expectError("fn f(x) = pow(x)\n", 1, 11, "'pow' needs 2 arguments, got 1");
}

TEST(DiagnosticsTest, UnknownKeywordArgument) {
  expectError("fn f(x: f64[2, 3]) = sum(x, axes=1)\n", 1, 29, "'sum' has no argument named 'axes'");
}

TEST(DiagnosticsTest, KeywordGivenTwice) {
  expectError("fn f(x: f64[3]) = sum(x, axis=0, axis=0)\n", 1, 34,
              "argument 'axis' of 'sum' is given twice");
}

TEST(DiagnosticsTest, ConcatAxisGivenTwice) {
  expectError("fn f(a: f64[3], b: f64[3]) = sum(concat(a, b, axis=0, axis=0))\n", 1, 55,
              "argument 'axis' of 'concat' is given twice");
}

TEST(DiagnosticsTest, ArgumentTypeOfUserFunction) {
  expectError("fn g(x: f64[3]) = sum(x)\n"
              "fn f(y: f64[4]) = g(y)\n",
              2, 21, "argument 'x' of 'g' must be f64[3], got f64[4]");
}

TEST(DiagnosticsTest, FunctionUsedAsValue) {
  expectError("fn f(x) = x * relu\n", 1, 15, "'relu' is a function; call it with arguments");
}

TEST(DiagnosticsTest, LayerOutsideModel) {
  expectError("fn f(x: f64[2, 3]) = sum(dense(x, 3))\n", 1, 26,
              "'dense' is a layer: use it in a model as `layer NAME = dense(...)`");
}
// ---- shapes and dtypes -------------------------------------------------------------------------

TEST(DiagnosticsTest, ShapeMismatchInAdd) {
  expectError("fn f(a: f64[3], b: f64[4]) = sum(a + b)\n", 1, 34,
              "shape mismatch in '+': f64[3] vs f64[4]");
}

TEST(DiagnosticsTest, ShapeMismatchInAddOnLaterLine) {
  expectError("fn f(W: f64[n, m], b: f64[m], x: f64[m]) -> f64 {\n"
              "  z = W @ x + b\n"
              "  return sum(z)\n"
              "}\n",
              2, 7, "shape mismatch in '+': f64[n] vs f64[m]");
}

TEST(DiagnosticsTest, ShapeMismatchInMatmul) {
  expectError("fn f(A: f64[3, 2], v: f64[4]) = sum(A @ v)\n", 1, 37,
              "shape mismatch in '@': f64[3,2] vs f64[4]");
}

TEST(DiagnosticsTest, MatmulOfScalar) {
  expectError("fn f(v: f64[3], s) = sum(v @ s)\n", 1, 26,
              "'@' needs tensors of rank 1 or more, got f64[3] and f64; use '*' for scalars");
}

TEST(DiagnosticsTest, WhereShapeMismatch) {
  expectError("fn f(x: f64[3]) = sum(where(x > 0, x, [1, 2]))\n", 1, 23,
              "shape mismatch in 'where': f64[3] vs f64[2]");
}

TEST(DiagnosticsTest, MixF32F64) {
  expectError(
      "fn f(a: f32[3], b: f64[3]) = sum(a * b)\n", 1, 34,
      "cannot mix f32 and f64 in '*': f32[3] vs f64[3] (convert one with f32(...) or f64(...))");
}

TEST(DiagnosticsTest, MixF32F64InArrayLiteral) {
  expectError("fn f(a: f64[2], b: f32[2]) = sum([a, b])\n", 1, 38,
              "cannot mix f32 and f64 in an array literal: f64[2] vs f32[2] (convert one with "
              "f32(...) or f64(...))");
}

TEST(DiagnosticsTest, ReshapeElementCount) {
  expectError("fn f(x: f64[6]) = sum(reshape(x, [4, 2]))\n", 1, 23,
              "cannot reshape f64[6] (6 elements) to [4,2] (8 elements)");
}

TEST(DiagnosticsTest, ReshapeCannotInfer) {
  expectError("fn f(x: f64[2, 3]) = sum(reshape(x, [4, -1]))\n", 1, 37,
              "cannot infer the -1 in this shape: 6 elements are not a multiple of 4");
}

// The loss built-ins expand to several ops; an error names the built-in, arguments in order.
TEST(DiagnosticsTest, ShapeMismatchInLoss) {
  expectError("fn f(p: f64[3], y: f64[4]) = sum(binary_cross_entropy(p, y))\n", 1, 34,
              "shape mismatch in 'binary_cross_entropy': f64[3] vs f64[4]");
  expectError("fn f(s: f64[3], y: f64[4]) = sum(bce_with_logits(s, y))\n", 1, 34,
              "shape mismatch in 'bce_with_logits': f64[3] vs f64[4]");
  expectError("fn f(a: f64[3], b: f64[4]) = mse(a, b)\n", 1, 30,
              "shape mismatch in 'mse': f64[3] vs f64[4]");
}

TEST(DiagnosticsTest, MixF32F64InLoss) {
  expectError("fn f(a: f32[3], b: f64[3]) = mae(a, b)\n", 1, 30,
              "cannot mix f32 and f64 in 'mae': f32[3] vs f64[3] (convert one with f32(...) or "
              "f64(...))");
  expectError("fn f(p: f32[3], y: f64[3]) = sum(binary_cross_entropy(p, y))\n", 1, 34,
              "cannot mix f32 and f64 in 'binary_cross_entropy': f32[3] vs f64[3] (convert one "
              "with f32(...) or f64(...))");
}

TEST(DiagnosticsTest, ConcatShapeMismatch) {
  expectError("fn f(a: f64[2, 3], b: f64[2, 4]) = sum(concat(a, b))\n", 1, 40,
              "cannot concatenate f64[2,3] and f64[2,4] along axis 0");
}

TEST(DiagnosticsTest, StackShapeMismatch) {
  expectError("fn f(a: f64[3], b: f64[2]) = sum(stack(a, b))\n", 1, 43,
              "stack needs tensors of one shape, got f64[3] and f64[2]");
}

TEST(DiagnosticsTest, AxisOutOfRange) {
  expectError("fn f(x: f64[2, 3]) = sum(softmax(x, axis=2))\n", 1, 26,
              "axis 2 is out of range for a tensor of rank 2");
}

TEST(DiagnosticsTest, HugeAxis) {
  expectError("fn f(x: f64[3]) = sum(x, axis=1e300)\n", 1, 31, "'axis' is too large: 1e300");
}

TEST(DiagnosticsTest, CrossEntropyFloatLabels) {
  expectError("fn f(logits: f64[4, 3], y: f64[4]) = sum(cross_entropy(logits, y))\n", 1, 64,
              "cross_entropy needs i32 labels, got f64[4]");
}

TEST(DiagnosticsTest, CrossEntropyLabelCount) {
  expectError("fn f(logits: f64[4, 3], y: i32[5]) = sum(cross_entropy(logits, y))\n", 1, 42,
              "cross_entropy needs one label per row of logits: logits f64[4,3] vs labels i32[5]");
}

TEST(DiagnosticsTest, WrongReturnType) {
  expectError("fn f(x: f64[3]) -> f64 = x * 2\n", 1, 26,
              "'f' returns f64[3], but its signature says f64");
}

TEST(DiagnosticsTest, WrongReturnTypeOfBlock) {
  expectError("fn f(x: f64[3]) -> f64 {\n"
              "  y = 2 * x\n"
              "  return y\n"
              "}\n",
              3, 10, "'f' returns f64[3], but its signature says f64");
}
// ---- bindings and definitions ------------------------------------------------------------------

TEST(DiagnosticsTest, DuplicateBindingInBlock) {
  expectError("fn f(x) {\n"
              "  y = x\n"
              "  y = 2 * x\n"
              "  return y\n"
              "}\n",
              3, 3, "'y' is already bound in function 'f'");
}

TEST(DiagnosticsTest, DuplicateParameter) {
  expectError("fn f(x, x) = x\n", 1, 9, "'x' is already bound in function 'f'");
}

TEST(DiagnosticsTest, DuplicateBindingInModel) {
  expectError("model m() {\n"
              "  param w: f64\n"
              "  w = 2\n"
              "  loss w\n"
              "}\n",
              3, 3, "'w' is already bound in model 'm'");
}

TEST(DiagnosticsTest, DuplicateLayerName) {
  expectError("model m() {\n"
              "  input x: f64[3]\n"
              "  layer h = dense(x, 4, relu)\n"
              "  layer h = dense(h, 2)\n"
              "  loss sum(h)\n"
              "}\n",
              4, 9, "'h' is already bound in model 'm'");
}

TEST(DiagnosticsTest, RebindBuiltinInBlock) {
  expectError("fn f(x) {\n"
              "  exp = x + 1\n"
              "  return exp\n"
              "}\n",
              2, 3, "'exp' is a built-in and cannot be rebound");
}

TEST(DiagnosticsTest, RebindBuiltinAsParameter) {
  expectError("fn f(sin) = sin\n", 1, 6, "'sin' is a built-in and cannot be rebound");
}

TEST(DiagnosticsTest, RebindBuiltinWithLet) {
  expectError("let exp = 1\n", 1, 5, "'exp' is a built-in and cannot be redefined");
}

TEST(DiagnosticsTest, RebindPi) {
  expectError("model m() {\n"
              "  param pi: f64\n"
              "  loss pi\n"
              "}\n",
              2, 9, "'pi' is a built-in and cannot be rebound");
}

// A dimension named `pi` made `pi` in the body the dimension's size instead of the constant.
TEST(DiagnosticsTest, RebindBuiltinAsDimension) {
  expectError("fn f(x: f64[pi]) = sum(x) * pi\n", 1, 13,
              "'pi' is a built-in and cannot be rebound");
  expectError("model m(exp = 3) {\n"
              "  param w: f64[exp]\n"
              "  loss sum(w)\n"
              "}\n",
              1, 9, "'exp' is a built-in and cannot be rebound");
}

TEST(DiagnosticsTest, DuplicateFunction) {
  expectError("fn f(x) = x\n"
              "fn f(y) = y\n",
              2, 4, "'f' is already defined");
}

TEST(DiagnosticsTest, LetAndFunctionWithOneName) {
  expectError("let a = 1\n"
              "fn a(x) = x\n",
              2, 4, "'a' is already defined");
}

TEST(DiagnosticsTest, LetNotANumber) {
  expectError("let a = [1, 2]\n", 1, 9, "a 'let' constant must be a number");
}
// ---- models: losses, params, initializers, layers ----------------------------------------------

TEST(DiagnosticsTest, MissingLoss) {
  expectError("model m() {\n"
              "  param w: f64\n"
              "  output p = w\n"
              "}\n",
              1, 7, "model 'm' has no 'loss'");
}

TEST(DiagnosticsTest, TwoLosses) {
  expectError("model m() {\n"
              "  param w: f64\n"
              "  loss w\n"
              "  loss w * 2\n"
              "}\n",
              4, 3, "model 'm' has more than one 'loss'");
}

TEST(DiagnosticsTest, NonScalarLoss) {
  expectError("model m() {\n"
              "  param w: f64[3]\n"
              "  loss w * w\n"
              "}\n",
              3, 8, "the loss must be a float scalar, got f64[3]");
}

TEST(DiagnosticsTest, IntegerParam) {
  expectError("model m() {\n"
              "  param k: i32[3]\n"
              "  loss sum(k)\n"
              "}\n",
              2, 12, "param 'k' is differentiable and must be f32 or f64, got i32[3]");
}

TEST(DiagnosticsTest, UnknownInitializer) {
  expectError("model m() {\n"
              "  param w: f64[3] ~ gaussian(0, 1)\n"
              "  loss sum(w)\n"
              "}\n",
              2, 21,
              "unknown initializer 'gaussian' (expected zeros, ones, glorot, normal(mean, std) or "
              "uniform(lo, hi))");
}

TEST(DiagnosticsTest, InitializerArity) {
  expectError("model m() {\n"
              "  param w: f64[3] ~ normal(0)\n"
              "  loss sum(w)\n"
              "}\n",
              2, 21, "initializer 'normal' takes 2 arguments, got 1");
}

TEST(DiagnosticsTest, InitializerWithoutArguments) {
  expectError("model m() {\n"
              "  param w: f64[3] ~ zeros(1)\n"
              "  loss sum(w)\n"
              "}\n",
              2, 21, "initializer 'zeros' takes no arguments, got 1");
}

TEST(DiagnosticsTest, NegativeStd) {
  expectError("model m() {\n"
              "  param w: f64[3] ~ normal(0, -1)\n"
              "  loss sum(w)\n"
              "}\n",
              2, 31, "the std of 'normal' must not be negative, got -1");
}

TEST(DiagnosticsTest, UniformBoundsReversed) {
  expectError("model m() {\n"
              "  param w: f64[3] ~ uniform(1, 0)\n"
              "  loss sum(w)\n"
              "}\n",
              2, 21, "'uniform' needs lo <= hi, got 1 > 0");
}

TEST(DiagnosticsTest, GlorotOnVector) {
  expectError("model m() {\n"
              "  param w: f64[3] ~ glorot\n"
              "  loss sum(w)\n"
              "}\n",
              2, 21, "'glorot' needs a matrix, but 'w' is f64[3]");
}

TEST(DiagnosticsTest, UnknownLayer) {
  expectError("model m() {\n"
              "  input x: f64[3]\n"
              "  layer h = conv(x, 4)\n"
              "  loss sum(h)\n"
              "}\n",
              3, 13, "unknown layer 'conv' (expected dense or embedding)");
}

TEST(DiagnosticsTest, UnknownActivation) {
  expectError("model m() {\n"
              "  input x: f64[3]\n"
              "  layer h = dense(x, 4, nonsense)\n"
              "  loss sum(h)\n"
              "}\n",
              3, 25, "unknown activation 'nonsense'");
}
// ---- dimensions --------------------------------------------------------------------------------

TEST(DiagnosticsTest, NonIntegerDimension) {
  expectError("fn f(x: f64[2.5]) = sum(x)\n", 1, 13, "dimension must be an integer");
}

TEST(DiagnosticsTest, InexactDimensionDivision) {
  expectError("fn f(x: f64[7/2]) = sum(x)\n", 1, 13,
              "'/' in a dimension must divide exactly: 7 / 2");
}

TEST(DiagnosticsTest, InexactDimensionDivisionOfHeaderDim) {
  expectError("model m(d = 7) {\n"
              "  param w: f64[d/2]\n"
              "  loss sum(w)\n"
              "}\n",
              2, 16, "'/' in a dimension must divide exactly: 7 / 2");
}

TEST(DiagnosticsTest, UnknownDimension) {
  expectError("model m() {\n"
              "  input x: f64[n]\n"
              "  loss sum(x)\n"
              "}\n",
              2, 16, "unknown dimension 'n'");
}

TEST(DiagnosticsTest, NegativeDimension) {
  expectError("fn f(x: f64[2-5]) = sum(x)\n", 1, 13, "a dimension must not be negative, got -3");
}

TEST(DiagnosticsTest, NegativeDimensionInArange) {
  expectError("fn f(x) = x + sum(arange(-5))\n", 1, 26, "a dimension must not be negative, got -5");
}

TEST(DiagnosticsTest, HugeDimension) {
  expectError("fn f(x: f64[99999999999999999999]) = sum(x)\n", 1, 13,
              "dimension 99999999999999999999 is too large");
}
// ---- indexing ----------------------------------------------------------------------------------

TEST(DiagnosticsTest, IndexOutOfRange) {
  expectError("fn f(x: f64[3]) = x[3]\n", 1, 21, "index 3 is out of range for axis 0 of f64[3]");
}

TEST(DiagnosticsTest, NegativeIndexOutOfRange) {
  expectError("fn f(x: f64[3]) = x[-4]\n", 1, 21, "index -4 is out of range for axis 0 of f64[3]");
}

TEST(DiagnosticsTest, IndexOfSecondAxisOutOfRange) {
  expectError("fn f(x: f64[3, 2]) = x[0, 2]\n", 1, 27,
              "index 2 is out of range for axis 1 of f64[3,2]");
}

TEST(DiagnosticsTest, SliceOutOfRange) {
  expectError("fn f(x: f64[3]) = sum(x[1:4])\n", 1, 27,
              "slice bound 4 is out of range for axis 0 of f64[3]");
}

TEST(DiagnosticsTest, InfiniteIndex) {
  expectError("fn f(x: f64[3]) = x[1/0]\n", 1, 21,
              "index 1/0 is out of range for axis 0 of f64[3]");
}

TEST(DiagnosticsTest, FloatIndex) {
  expectError("fn f(x: f64[3]) = x[1.5]\n", 1, 21, "an index must be an integer");
}

TEST(DiagnosticsTest, FloatTensorIndex) {
  expectError("fn f(x: f64[3], i) = x[i]\n", 1, 24,
              "an index must be an integer or an i32 tensor, got f64");
}

TEST(DiagnosticsTest, TooManyIndices) {
  expectError("fn f(x: f64[3]) = x[0, 1]\n", 1, 19,
              "too many indices: 2 for a tensor of type f64[3]");
}
// ---- syntax errors, as the grammar reports them ------------------------------------------------

TEST(DiagnosticsTest, MissingCloseParen) {
  expectError("fn f(x) = (x + 1\n", 1, 17, "expected ')'");
}

TEST(DiagnosticsTest, MissingCloseBracket) {
  expectError("fn f(x: f64[3]) = x[1\n", 1, 22, "expected ']'");
}

TEST(DiagnosticsTest, UnterminatedBlock) {
  expectError("fn f(x) {\n"
              "  y = x\n"
              "  return y\n",
              1, 9, "unterminated block: expected '}'");
}

TEST(DiagnosticsTest, UnterminatedModel) {
  expectError("model m() {\n"
              "  param w: f64\n"
              "  loss w\n",
              1, 11, "unterminated block: expected '}'");
}

TEST(DiagnosticsTest, MissingReturn) {
  expectError("fn f(x) {\n"
              "  y = x\n"
              "}\n",
              3, 1, "expected 'return' at the end of block");
}

TEST(DiagnosticsTest, DanglingOperator) {
  expectError("fn f(x) = x +\n", 1, 14, "expected expression");
}

TEST(DiagnosticsTest, MissingFunctionName) { expectError("fn (x) = x\n", 1, 4, "expected name"); }
TEST(DiagnosticsTest, TopLevelBinding) {
  expectError("exp = 1\n", 1, 1, "expected 'fn', 'let' or 'model'");
}

TEST(DiagnosticsTest, MissingCloseParenNotesTheOpening) {
  SourceFile file("t.nabla", "fn f(x) = (x + 1\n");
  Expected<Module> module = compileSource(file);
  ASSERT_FALSE(bool(module));
  ASSERT_EQ(module.error().list.size(), 2u);
  const Diagnostic &note = module.error().list[1];
  EXPECT_EQ(note.severity, Severity::Note);
  EXPECT_EQ(note.line, 1);
  EXPECT_EQ(note.col, 11);
  EXPECT_EQ(note.message, "to match this '('");
}

// The grammar points at the stray '$' but says "expected newline after declaration"; what it
// should say ("unexpected character '$'") is the grammar's to decide, so only the place is checked.
TEST(DiagnosticsTest, StrayCharacterIsPointedAt) {
  SourceFile file("t.nabla", "fn f(x) = x $ 2\n");
  Expected<Module> module = compileSource(file);
  ASSERT_FALSE(bool(module));
  EXPECT_EQ(module.error().list[0].line, 1);
  EXPECT_EQ(module.error().list[0].col, 13);
}

// ---- the rendered form ------------------------------------------------------------------------

TEST(DiagnosticsTest, RendersInLlvmForm) {
  SourceFile file("mlp.nabla", "fn f(a: f64[3], b: f64[4]) -> f64 {\n"
                               "  return sum(a + b)\n"
                               "}\n");
  Expected<Module> module = compileSource(file);
  ASSERT_FALSE(bool(module));
  EXPECT_EQ(module.error().list[0].render(),
            "mlp.nabla:2:14: error: shape mismatch in '+': f64[3] vs f64[4]\n"
            "  return sum(a + b)\n"
            "             ^~~~~\n");
}

// ---- regressions: inputs that crashed or misbehaved -------------------------------------------

// outer() held references to its operands' types across the reshape that grew the instruction
// list, and read the second shape from freed memory (a segfault on this very input).
TEST(DiagnosticsTest, OuterOfVectorsOfDifferentLengths) {
  SourceFile file("t.nabla", "fn f(p: f64[3], y: f64[4]) = outer(p, y)\n");
  Expected<Module> module = compileSource(file);
  ASSERT_TRUE(bool(module)) << module.error().render();
  const Function &f = module->functions.at(0);
  EXPECT_EQ(f.typeOf(f.result).str(), "f64[3,4]");
}

// binary_cross_entropy(p, [1, 0, 1]) with f32 p made the literal f64 in `1 - y` and then refused
// to mix it with f32; an untyped argument takes the other argument's float type, as in `p * y`.
TEST(DiagnosticsTest, LossOfF32AndLiteralLabels) {
  expectOk("fn f(p: f32[3]) = sum(binary_cross_entropy(p, [1, 0, 1]))\n");
  expectOk("fn f(y: f32[3]) = sum(binary_cross_entropy([0.5, 0.2, 0.1], y))\n");
  expectOk("fn f(s: f32[3]) = sum(bce_with_logits(s, [1, 0, 1]))\n");
  expectOk("fn f(y: f32[3]) = sum(bce_with_logits([1, 0, 1], y))\n");
}

// Negative constant dimensions reached the IR (`i32[-5]`) and failed later without a position.
TEST(DiagnosticsTest, NegativeDimensionsOfBuiltins) {
  expectError("fn f(x) = x + sum(eye(2 - 5))\n", 1, 23, "a dimension must not be negative, got -3");
  expectError("model m() {\n"
              "  input x: f64[3]\n"
              "  layer h = dense(x, 0 - 4)\n"
              "  loss sum(h)\n"
              "}\n",
              3, 22, "a dimension must not be negative, got -4");
}

// ---- inputs built to exhaust the compiler ----------------------------------------------------

// `f_k(x) = f_{k-1}(f_{k-1}(x))` doubles the work of inlining at each level; 40 levels used to run
// for hours. Now the call that crosses the budget is reported, in well under a second.
TEST(DiagnosticsTest, ExponentialInliningIsAnError) {
  std::string text = "fn f0(x) = x + 1\n";
  for (int i = 1; i < 40; ++i)
    text += "fn f" + std::to_string(i) + "(x) = f" + std::to_string(i - 1) + "(f" +
            std::to_string(i - 1) + "(x))\n";
  auto start = std::chrono::steady_clock::now();
  expectError(text, 19, 13, "this call expands to more than 1000000 operations when inlined");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

/// Compiles `source` on this thread's ordinary stack and returns its first diagnostic.
Diagnostic firstError(const std::string &source) {
  SourceFile file("t.nabla", source);
  Expected<Module> module = compileSource(file);
  EXPECT_FALSE(bool(module));
  if (module || module.error().list.empty())
    return {};
  return module.error().list.front();
}

std::string repeat(const std::string &s, int n) {
  std::string out;
  out.reserve(s.size() * static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    out += s;
  return out;
}

TEST(DiagnosticsTest, TenThousandNestedParenthesesAreAnError) {
  const int n = 10000;
  std::string text = "fn f(x) = " + repeat("(", n) + "x" + repeat(")", n) + "\n";
  Diagnostic d = firstError(text);
  EXPECT_EQ(d.message, "expression nested too deeply (more than " +
                           std::to_string(kMaxNestingDepth) + " levels)");
  EXPECT_EQ(d.line, 1);
  EXPECT_EQ(d.col, 11 + kMaxNestingDepth); // the first '(' beyond the limit
}

TEST(DiagnosticsTest, OtherDeepNestingIsAnError) {
  const int n = 10000;
  const std::string deep[] = {
      "fn f(x) = " + repeat("-", n) + "x\n",
      "fn f(x) = " + repeat("[", n) + "x" + repeat("]", n) + "\n",
      "fn f(x) = " + repeat("sin(", n) + "x" + repeat(")", n) + "\n",
      "fn f(x) = x" + repeat("^x", n) + "\n",
      "fn f(x) = x" + repeat(".T", n) + "\n",
      "fn f(x) = x" + repeat("[0]", n) + "\n",
      "fn f(x) = x" + repeat(" + x", n) + "\n",
      "fn f(x) = x" + repeat(" * x", 3 * n) + "\n",
      "fn f(x) {\n  y = " + repeat("(", n) + "x" + repeat(")", n) + "\n  return y\n}\n",
      "model m() {\n  param w: f64\n  loss " + repeat("(", n) + "w" + repeat(")", n) + "\n}\n",
      "let a = " + repeat("(", n) + "1" + repeat(")", n) + "\n",
      "fn f(x: f64[" + repeat("(", n) + "3" + repeat(")", n) + "]) = sum(x)\n",
      "fn f(x) = " + repeat("(", n) + "x" + "\n", // and never closed
  };
  for (const std::string &text : deep) {
    Diagnostic d = firstError(text);
    EXPECT_GE(d.line, 1) << text.substr(0, 40);
    EXPECT_GE(d.col, 1) << text.substr(0, 40);
    EXPECT_NE(d.message.find("nested too deeply"), std::string::npos)
        << d.message << " for " << text.substr(0, 40);
  }
}

// A long file of flat bindings is not deep: it must compile.
TEST(DiagnosticsTest, TenThousandBindingsCompile) {
  std::string text = "fn f(x) {\n  y0 = x\n";
  for (int i = 1; i < 10000; ++i)
    text += "  y" + std::to_string(i) + " = y" + std::to_string(i - 1) + " + 1\n";
  text += "  return y9999\n}\n";
  expectOk(text);
}

// ---- the mutation fuzzer ---------------------------------------------------------------------

/// Valid programs that the fuzzer mutates: the bundled examples plus programs that use every
/// built-in, so that mutations reach every corner of Sema.
const char *const kExtraCorpus[] = {
    R"(let eps = 1e-8
let half = 0.5
fn f(x, y, z) = (x + y) * max(y, z)
fn g(x1, x2) = ln(x1) + x1*x2 - sin(x2)
fn cube(x) = x^3 + x^-2 - -x^2 + pow(x, half) + polygamma(1, x) + trigamma(x) + digamma(x)
fn safe_log(x) = log(x + eps) + log1p(x) + expm1(x) + erf(x) + lgamma(x) + sqrt(abs(x))
fn act(x: f64[n]) -> f64 {
  a = leaky_relu(x, alpha=0.2) + hardtanh(x, lo=-2, hi=2) + swish(x, beta=2) + gelu(x)
  b = relu(x) * sigmoid(x) - logistic(x) + softplus(x) + tanh(x) * sign(x) + cos(x) / tan(x)
  c = where(x > 0, a, b) + (x <= 1) * x + (x != 2) - (x == 3) + (x >= 0) + (x < 1)
  return sum(c) + mean(a) + min(b) + max(x)
}
)",
    R"(fn red(X: f64[B, D]) -> f64 {
  s = sum(X, axis=1) + mean(X, axis=-1) + logsumexp(X, axis=1)
  m = max(X, axis=0)
  p = softmax(X) * log_softmax(X, axis=0)
  return norm(s) + sum(m) + sum(p) + norm(X) + logsumexp(m) + min(X, axis=1)[0]
}
fn shapes(a: f64[4], b: f64[4], M: f64[4, 4]) -> f64 {
  o = outer(a, b)
  c = concat(a, b, axis=0)
  s = stack(a, b, axis=1)
  r = reshape(M, [2, 8])
  t = transpose(reshape(M, [2, 2, 4]), [0, 2, 1])
  e = eye(4) * M + diag(a) + zeros([4, 4]) + ones([4, 4], f64) + M.T @ M
  return sum(o) + sum(c) + sum(s) + sum(r) + sum(t) + sum(e) + dot(a, b) + sum(flatten(M.T))
}
)",
    R"(fn idx(E: f64[V, d], ids: i32[k], i: i32, x: f64[5, 6]) -> f64 {
  rows = E[ids]
  return sum(rows) + sum(E[i]) + sum(x[1:3, :]) + x[0, 2] + sum(x[:, -1]) +
         sum(take(x, ids, axis=1))
}
fn tri(v: f64[6], q: f64[4]) = sum(diag(exp(q)) + lower(v, 4)) + sum(arange(4) / 2 - q)
fn losses(logits: f64[B, C], y: i32[B], p: f64[B], t: f64[B]) -> f64 {
  l = mean(cross_entropy(logits, y))
  b = sum(binary_cross_entropy(p, t)) + sum(bce_with_logits(p, t))
  picked = take_along(log_softmax(logits), reshape(y, [B, 1]), axis=1)
  return l + b + mse(p, t) + mae(p, t) - sum(picked)
}
fn mixed(a: f32[3], b: f64[3]) = (sum(f64(a) * b) + f64(sum(f32(b) * a))
                                  + sum([[1, 0], [0, 1]] @ [1, 2]))
)",
    R"(model tiny(B, D = 8, H = 4, C = 3) {
  input  x: f32[B, D]
  input  y: i32[B]
  input  ids: i32[2]
  param  w: f32[H] ~ normal(0, 0.1)
  param  v: f32[H] ~ uniform(-1, 1)
  param  U: f32[H, D] ~ glorot
  param  c: f32 ~ ones
  layer  h = dense(x, H, tanh)
  layer  e = embedding(ids, 10, D, f32)
  layer  logits = dense(h, C)
  z = h @ w + c + sum(e @ U.T @ v)
  output pred = softmax(logits)
  loss   mean(cross_entropy(logits, y)) + mean(z * z)
}
)",
};

std::string readFile(const std::filesystem::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> fuzzCorpus() {
  std::vector<std::string> corpus;
  std::vector<std::filesystem::path> paths;
  for (const auto &entry :
       std::filesystem::directory_iterator(std::filesystem::path(NABLA_SOURCE_DIR) / "examples"))
    if (entry.path().extension() == ".nabla")
      paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end()); // directory order is not deterministic
  for (const auto &p : paths)
    corpus.push_back(readFile(p));
  for (const char *text : kExtraCorpus)
    corpus.push_back(text);
  return corpus;
}

TEST(DiagnosticsTest, FuzzCorpusCompiles) {
  for (const std::string &text : fuzzCorpus())
    expectOk(text);
}

bool isWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.';
}

/// Byte ranges of the tokens of `text`: words and numbers whole, any other non-blank byte alone.
std::vector<std::pair<std::size_t, std::size_t>> tokenize(const std::string &text) {
  std::vector<std::pair<std::size_t, std::size_t>> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ' || text[i] == '\t') {
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    if (isWordChar(text[i]))
      while (j < text.size() && isWordChar(text[j]))
        ++j;
    tokens.emplace_back(i, j);
    i = j;
  }
  return tokens;
}

/// Edge-case tokens that no valid program holds, for the mutator to insert.
const char *const kExtraTokens[] = {
    "-1",
    "1e400",
    "1e300",
    "99999999999999999999",
    "9223372036854775807",
    "1/0",
    "0/0",
    "axis=",
    "axis=-1",
    "fn",
    "let",
    "model",
    "input",
    "param",
    "layer",
    "output",
    "loss",
    "return",
    "~",
    "glorot",
    "normal(",
    "->",
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    ",",
    ";",
    "\n",
    ":",
    "=",
    ".T",
    "sum(",
    "reshape(",
    "concat(",
    "zeros([",
    "dense(",
    "embedding(",
    "take(",
    "diag(",
    "lower(",
    "[1, 2]",
    "[[1, 0], [0, 1]]",
    "[-1]",
    "[]",
    "x[0]",
    "x[:, 1]",
    "\xff",
    "\t",
    "#",
    "'",
    "\"",
    "$",
    "\0",
};

/// Words (names, keywords, built-ins) and numbers that a token of the same class may become.
const char *const kExtraWords[] = {
    "x",
    "y",
    "B",
    "n",
    "pi",
    "exp",
    "sum",
    "mean",
    "max",
    "f32",
    "f64",
    "i32",
    "T",
    "axis",
    "relu",
    "dense",
    "embedding",
    "zeros",
    "ones",
    "glorot",
    "normal",
    "uniform",
    "where",
    "stack",
    "concat",
    "reshape",
    "take",
    "take_along",
    "transpose",
    "lower",
    "diag",
    "eye",
    "arange",
    "diff",
    "cross_entropy",
    "0",
    "1",
    "2",
    "3",
    "-1",
    "2.5",
    ".5",
    "1e-4",
    "1e400",
    "1e300",
    "99999999999999999999",
    "9223372036854775807",
    "0.0",
};
const char *const kOperators[] = {
    "+", "-", "*", "/", "@", "^", "<", ">", "<=", ">=", "==", "!=", ",", ":", "=", "~", ";", "."};

/// A mutant of one corpus program, a pure function of (seed, index) so that a failure can be
/// reproduced from the two numbers alone. Most edits keep the token structure (a name becomes
/// another name, an operator another operator) so that mutants get past the parser into Sema;
/// the rest break the syntax.
std::string mutant(const std::vector<std::string> &corpus, std::uint64_t seed, int index) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(index));
  auto pick = [&](std::size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  std::string text = corpus[pick(corpus.size())];
  static const std::string kChars = "()[]{}=,:;~+-*/@^<>.!#\n\t 0123456789_abxyzTBDf";
  int edits = 1 + static_cast<int>(pick(3));
  for (int e = 0; e < edits; ++e) {
    auto tokens = tokenize(text);
    if (tokens.empty())
      tokens.emplace_back(0, 0);
    auto [tb, te] = tokens[pick(tokens.size())];
    std::string token = text.substr(tb, te - tb);
    bool isWord = !token.empty() && isWordChar(token[0]);
    std::size_t at = pick(text.size() + 1);
    switch (pick(12)) {
    case 0: // delete a few bytes
      text.erase(std::min(at, text.size()), 1 + pick(3));
      break;
    case 1: // insert a byte
      text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), kChars[pick(kChars.size())]);
      break;
    case 2: // replace a byte
      if (!text.empty())
        text[std::min(at, text.size() - 1)] = kChars[pick(kChars.size())];
      break;
    case 3: // delete a token
      text.erase(tb, te - tb);
      break;
    case 4: // insert an edge-case token
      text.insert(at, kExtraTokens[pick(std::size(kExtraTokens))]);
      break;
    case 5: { // replace a token with another token of the file
      auto [ob, oe] = tokens[pick(tokens.size())];
      text.replace(tb, te - tb, text.substr(ob, oe - ob));
      break;
    }
    case 6: { // duplicate a line or delete one
      std::size_t lineBegin = text.rfind('\n', at == 0 ? 0 : at - 1);
      lineBegin = lineBegin == std::string::npos ? 0 : lineBegin + 1;
      std::size_t lineEnd = text.find('\n', lineBegin);
      lineEnd = lineEnd == std::string::npos ? text.size() : lineEnd + 1;
      std::string line = text.substr(lineBegin, lineEnd - lineBegin);
      if (pick(2) == 0)
        text.insert(lineBegin, line);
      else
        text.erase(lineBegin, lineEnd - lineBegin);
      break;
    }
    default: { // replace a token with one of its class: a word or number, or an operator
      std::vector<std::string> same;
      for (auto [ob, oe] : tokens)
        if (oe > ob && isWordChar(text[ob]) == isWord)
          same.push_back(text.substr(ob, oe - ob));
      if (isWord)
        same.insert(same.end(), std::begin(kExtraWords), std::end(kExtraWords));
      else
        same.insert(same.end(), std::begin(kOperators), std::end(kOperators));
      text.replace(tb, te - tb, same[pick(same.size())]);
      break;
    }
    }
  }
  return text;
}

// What the crash handler prints: which seed and program was running when the process died.
char gFuzzContext[256];
std::atomic<std::uint64_t> gFuzzProgress{0};

extern "C" void fuzzCrashHandler(int sig) {
  ssize_t ignored = write(2, gFuzzContext, std::strlen(gFuzzContext));
  (void)ignored;
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

/// For the duration of the fuzz loop: a crash prints the seed and program first, and a program
/// that takes more than 10 seconds aborts the run the same way instead of hanging it.
class FuzzGuard {
public:
  FuzzGuard() {
    stack_.resize(1 << 16);
    stack_t ss{};
    ss.ss_sp = stack_.data();
    ss.ss_size = stack_.size();
    sigaltstack(&ss, &oldStack_);
    struct sigaction sa {};
    sa.sa_handler = fuzzCrashHandler;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < kSignals; ++i)
      sigaction(kSignalList[i], &sa, &old_[i]);
    watchdog_ = std::thread([this] {
      std::uint64_t last = gFuzzProgress.load();
      auto since = std::chrono::steady_clock::now();
      while (!stop_.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::uint64_t now = gFuzzProgress.load();
        if (now != last) {
          last = now;
          since = std::chrono::steady_clock::now();
        } else if (std::chrono::steady_clock::now() - since > std::chrono::seconds(10)) {
          const char hang[] = "hang (more than 10 s): ";
          ssize_t ignored = write(2, hang, sizeof hang - 1);
          ignored = write(2, gFuzzContext, std::strlen(gFuzzContext));
          (void)ignored;
          std::abort();
        }
      }
    });
  }
  ~FuzzGuard() {
    stop_.store(true);
    watchdog_.join();
    for (int i = 0; i < kSignals; ++i)
      sigaction(kSignalList[i], &old_[i], nullptr);
    sigaltstack(&oldStack_, nullptr);
  }

private:
  static constexpr int kSignals = 5;
  static constexpr int kSignalList[kSignals] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
  std::vector<char> stack_;
  stack_t oldStack_{};
  struct sigaction old_[kSignals] {};
  std::atomic<bool> stop_{false};
  std::thread watchdog_;
};

std::uint64_t envNumber(const char *name, std::uint64_t fallback) {
  const char *v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : fallback;
}

// Every mutant either compiles or gets diagnostics that point into the file. The seed is fixed
// so the suite is deterministic; NABLA_FUZZ_SEED and NABLA_FUZZ_COUNT explore further.
TEST(DiagnosticsTest, MutatedProgramsNeverCrash) {
  const std::uint64_t seed = envNumber("NABLA_FUZZ_SEED", 20240611);
  const int count = static_cast<int>(envNumber("NABLA_FUZZ_COUNT", 3000));
  const std::vector<std::string> corpus = fuzzCorpus();
  ASSERT_GE(corpus.size(), 5u);
  FuzzGuard guard;
  int compiled = 0, failures = 0;
  for (int i = 0; i < count && failures < 10; ++i) {
    std::string text = mutant(corpus, seed, i);
    std::snprintf(gFuzzContext, sizeof gFuzzContext,
                  "fuzz crash: NABLA_FUZZ_SEED=%llu, program %d\n",
                  static_cast<unsigned long long>(seed), i);
    gFuzzProgress.fetch_add(1);
    std::string where =
        "NABLA_FUZZ_SEED=" + std::to_string(seed) + ", program " + std::to_string(i) + ":\n" + text;
    try {
      SourceFile file("m.nabla", text);
      Expected<Module> module = compileSource(file);
      if (module) {
        ++compiled;
        continue;
      }
      const Diagnostics &diags = module.error();
      if (diags.list.empty()) {
        ++failures;
        ADD_FAILURE() << "no diagnostic for " << where;
        continue;
      }
      for (const Diagnostic &d : diags.list) {
        if (d.line < 1 || d.col < 1 || d.file != "m.nabla" || d.message.empty()) {
          ++failures;
          ADD_FAILURE() << "diagnostic without a position: '" << d.render() << "' for " << where;
          break;
        }
        (void)d.render();
      }
    } catch (const std::exception &e) {
      ++failures;
      ADD_FAILURE() << "exception '" << e.what() << "' for " << where;
    } catch (...) {
      ++failures;
      ADD_FAILURE() << "unknown exception for " << where;
    }
  }
  // A fuzzer whose mutants never compile only tests the parser's first error.
  EXPECT_GT(compiled, count / 50) << "seed " << seed;
}

} // namespace
} // namespace nabla
