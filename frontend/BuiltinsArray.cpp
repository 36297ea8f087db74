// The standard library, part two: reductions, linear algebra, shape, constructors, indexing,
// conversions, diff() and the constants. Each row stands below the expansion it needs.
#include "frontend/SemaImpl.h"

#include "ir/Differentiate.h"

#include <fmt/format.h>

#include <numbers>

namespace nabla::sema {

// ----- reductions ------------------------------------------------------------------------------

namespace {

using G = BuiltinGroup;

std::vector<std::int64_t> reductionAxes(Sema &s, ValueId x, const Expr *axisArg) {
  std::size_t rank = s.builder().typeOf(x).rank();
  std::vector<std::int64_t> axes;
  if (axisArg) {
    axes.push_back(s.resolveAxis(s.constantInt(*axisArg, "'axis'"), rank, *axisArg));
  } else {
    for (std::size_t i = 0; i < rank; ++i)
      axes.push_back(static_cast<std::int64_t>(i));
  }
  return axes;
}

/// `op` over `axis`, or over every axis when it is omitted.
SVal reduceOf(Sema &s, Op op, const SVal &v, const Expr *axisArg, const Expr &call) {
  if (std::holds_alternative<Number>(v) && !axisArg)
    return v; // a reduction of one number is that number
  ValueId x = s.asFloat(v, call.range);
  auto axes = reductionAxes(s, x, axisArg);
  if (axes.empty())
    return Val{x};
  return Val{s.builder().emit(op, {x}, {axes})};
}

// sum, max, min, logsumexp: the row's op over the axes.
SVal expandReduce(Sema &s, BuiltinCall &c) {
  return reduceOf(s, *c.row().op, c.value(0), c.arg(1), c.where());
}

SVal expandMean(Sema &s, BuiltinCall &c) { return meanOf(s, c.value(0), c.arg(1), c.where()); }

// norm(x) = sqrt(sum(x * x)), over axis or all of x.
SVal expandNorm(Sema &s, BuiltinCall &c) {
  const Expr &call = c.where();
  SVal x = c.value(0);
  SVal sq = s.binaryOp(Op::Mul, x, x, call, c.expr(0), c.expr(0), "*");
  return s.unaryOp(Op::Sqrt, reduceOf(s, Op::ReduceSum, sq, c.arg(1), call), call);
}

// ----- linear algebra --------------------------------------------------------------------------

SVal expandDot(Sema &s, BuiltinCall &c) {
  SVal a = c.value(0);
  SVal b = c.value(1);
  return s.matmul(a, b, c.where());
}

SVal expandOuter(Sema &s, BuiltinCall &c) {
  Builder &bld = s.builder();
  ValueId a = s.asFloat(c.value(0), c.expr(0).range);
  ValueId b = s.asFloat(c.value(1), c.expr(1).range);
  // Copies: a reference into the builder's instruction list dangles once `reshape` appends.
  const Type ta = bld.typeOf(a), tb = bld.typeOf(b);
  if (ta.rank() != 1 || tb.rank() != 1)
    s.fail(c.where().range,
           fmt::format("outer needs two vectors, got {} and {}", ta.str(), tb.str()));
  ValueId col = bld.reshape(a, {ta.shape[0], Dim(1)});
  ValueId row = bld.reshape(b, {Dim(1), tb.shape[0]});
  return s.binaryOp(Op::Mul, Val{col}, Val{row}, c.where(), c.expr(0), c.expr(1), "outer");
}

SVal expandDiag(Sema &s, BuiltinCall &c) {
  ValueId v = s.asFloat(c.value(0), c.expr(0).range);
  return Val{s.emitChecked(Op::Diag, {v}, {}, c.where())};
}

SVal expandLower(Sema &s, BuiltinCall &c) {
  ValueId v = s.asFloat(c.value(0), c.expr(0).range);
  return Val{s.emitChecked(Op::Lower, {v}, {Shape{s.evalSize(c.expr(1))}}, c.where())};
}

// ----- shape -----------------------------------------------------------------------------------

const std::vector<ast::ExprPtr> &arrayElements(Sema &s, const Expr &e, const char *what) {
  if (e.kind != ExprKind::Array)
    s.fail(e.range, fmt::format("expected {} as a list in brackets, e.g. [2, 3]", what));
  return e.args;
}

/// `[d1, d2]` in reshape/zeros/ones; in reshape, one entry may be -1 (inferred from `from`).
Shape shapeArgument(Sema &s, const Expr &e, const Shape &from) {
  Shape shape;
  std::optional<std::size_t> inferred;
  for (const ast::ExprPtr &d : arrayElements(s, e, "a shape")) {
    Dim dim = s.evalDim(*d);
    if (dim.isConstant() && dim.constant() == -1 && !from.empty() && !inferred) {
      inferred = shape.size();
      shape.push_back(Dim(1));
      continue;
    }
    if (dim.isConstant() && dim.constant() < 0)
      s.fail(d->range, fmt::format("a dimension must not be negative, got {}", dim.str()));
    shape.push_back(dim);
  }
  if (inferred) {
    Dim total(1), known(1);
    for (const Dim &d : from)
      total = total * d;
    for (const Dim &d : shape)
      known = known * d;
    if (!known.isConstant())
      s.fail(e.range, "cannot infer the -1 in this shape: its other dimensions must be "
                      "constants");
    auto q = Dim::divide(total, known);
    if (!q)
      s.fail(e.range,
             fmt::format("cannot infer the -1 in this shape: {} elements are not a multiple of {}",
                         total.str(), known.str()));
    shape[*inferred] = *q;
  }
  return shape;
}

SVal expandTranspose(Sema &s, BuiltinCall &c) {
  ValueId x = s.materialize(c.value(0), DType::F64, c.expr(0).range);
  if (!c.arg(1))
    return Val{s.transposeAll(x)};
  std::vector<std::int64_t> perm;
  for (const ast::ExprPtr &p : arrayElements(s, c.expr(1), "a permutation"))
    perm.push_back(s.constantInt(*p, "a permutation entry"));
  auto r = s.builder().tryEmit(Op::Transpose, {x}, {perm});
  if (!r)
    s.fail(c.expr(1).range, r.error().list.front().message);
  return Val{*r};
}

SVal expandReshape(Sema &s, BuiltinCall &c) {
  ValueId x = s.materialize(c.value(0), DType::F64, c.expr(0).range);
  Shape shape = shapeArgument(s, c.expr(1), s.builder().typeOf(x).shape);
  auto r = s.builder().tryEmit(Op::Reshape, {x}, {shape});
  if (!r)
    s.fail(c.where().range, r.error().list.front().message);
  return Val{*r};
}

SVal expandFlatten(Sema &s, BuiltinCall &c) {
  ValueId x = s.materialize(c.value(0), DType::F64, c.expr(0).range);
  Dim n(1);
  for (const Dim &d : s.builder().typeOf(x).shape)
    n = n * d;
  return Val{s.builder().reshape(x, {n})};
}

// concat(a, b, ..., axis=k) and stack(a, b, ..., axis=k): stack is concat of a new axis.
SVal expandConcat(Sema &s, BuiltinCall &c) {
  Builder &b = s.builder();
  const Expr &call = c.where();
  bool stack = c.row().name == "stack";
  if (call.args.empty())
    s.fail(call.range, fmt::format("'{}' needs at least one tensor", call.name));
  std::vector<SVal> parts;
  for (const ast::ExprPtr &a : call.args)
    parts.push_back(s.eval(*a));
  // The first typed part decides the float type of untyped ones.
  DType dtype = DType::F64;
  for (const SVal &p : parts)
    if (const auto *v = std::get_if<Val>(&p); v && isFloat(b.typeOf(v->id).dtype)) {
      dtype = b.typeOf(v->id).dtype;
      break;
    }
  std::vector<ValueId> ids;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    ValueId id = s.materialize(parts[i], dtype, call.args[i]->range);
    if (b.typeOf(id).dtype == DType::Bool)
      id = b.convert(id, dtype);
    ids.push_back(id);
  }
  std::size_t rank = b.typeOf(ids[0]).rank() + (stack ? 1 : 0);
  std::int64_t axis = s.resolveAxis(s.axisKeyword(call, 0), rank, call);
  if (stack) {
    const Type first = b.typeOf(ids[0]);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      Shape shape = b.typeOf(ids[i]).shape;
      if (shape != first.shape)
        s.fail(call.args[i]->range, fmt::format("stack needs tensors of one shape, got {} and {}",
                                                first.str(), b.typeOf(ids[i]).str()));
      shape.insert(shape.begin() + axis, Dim(1));
      ids[i] = b.reshape(ids[i], shape);
    }
  }
  if (ids.size() == 1)
    return Val{ids[0]};
  return Val{s.emitChecked(Op::Concat, ids, {axis}, call)};
}

// ----- constructors ----------------------------------------------------------------------------

// zeros([..]) and ones([..]) are untyped (a splat) unless a dtype is given.
SVal expandFilled(Sema &s, BuiltinCall &c) {
  double value = c.row().name == "ones" ? 1.0 : 0.0;
  Shape shape = shapeArgument(s, c.expr(0), {});
  NumberArray arr{{value}, shape, true, true};
  const Expr *dtype = c.arg(1);
  if (!dtype)
    return arr;
  if (dtype->kind != ExprKind::Name || !parseDType(dtype->name) ||
      *parseDType(dtype->name) == DType::Bool)
    s.fail(dtype->range, "expected a dtype: f32, f64 or i32");
  return Val{s.materialize(arr, *parseDType(dtype->name), c.where().range)};
}

SVal expandEye(Sema &s, BuiltinCall &c) {
  Builder &b = s.builder();
  Dim n = s.evalSize(c.expr(0));
  Shape shape{n, n};
  ValueId rows = b.emit(Op::Iota, {}, {shape, std::int64_t{0}});
  ValueId cols = b.emit(Op::Iota, {}, {shape, std::int64_t{1}});
  return Val{b.binary(Op::Eq, rows, cols)};
}

SVal expandArange(Sema &s, BuiltinCall &c) {
  Dim n = s.evalSize(c.expr(0));
  return Val{s.builder().emit(Op::Iota, {}, {Shape{n}, std::int64_t{0}})};
}

// ----- indexing --------------------------------------------------------------------------------

// take(x, ids, axis=k) gathers along an axis; take_along(x, ids, axis=k) is take_along_axis.
SVal expandTake(Sema &s, BuiltinCall &c) {
  Builder &b = s.builder();
  ValueId x = s.materialize(c.value(0), DType::F64, c.expr(0).range);
  ValueId ids = s.materialize(c.value(1), DType::I32, c.expr(1).range);
  if (b.typeOf(ids).dtype != DType::I32)
    s.fail(c.expr(1).range, fmt::format("indices must be i32, got {}", b.typeOf(ids).str()));
  std::int64_t axis = s.resolveAxis(c.integer(2), b.typeOf(x).rank(), c.where());
  Op op = c.row().name == "take_along" ? Op::TakeAlong : Op::Take;
  return Val{s.emitChecked(op, {x, ids}, {axis}, c.where())};
}

// ----- conversions -----------------------------------------------------------------------------

SVal expandConvert(Sema &s, BuiltinCall &c) {
  DType to = *parseDType(std::string(c.row().name));
  return Val{s.builder().convert(s.materialize(c.value(0), to, c.expr(0).range), to)};
}

// ----- derivatives -----------------------------------------------------------------------------

/// diff(expr, x) and diff(expr, x, k): the derivative of `expr` with respect to the value `x`
/// (an argument or any binding: other values are held fixed), built in place from the ops'
/// own rules. For a tensor x and a scalar expr it is the gradient, shaped like x.
SVal expandDiff(Sema &s, BuiltinCall &c) {
  Builder &b = s.builder();
  const Expr &call = c.where(), &var = c.expr(1);
  if (var.kind != ExprKind::Name)
    s.fail(var.range, "diff differentiates with respect to a name, e.g. diff(x^2, x)");
  SVal value = s.lookupName(var);
  const Val *xv = std::get_if<Val>(&value);
  if (!xv || !isFloat(b.typeOf(xv->id).dtype))
    s.fail(var.range,
           fmt::format("'{}' must be a float value to differentiate with respect to it", var.name));
  std::int64_t order = c.integer(2);
  ValueId x = xv->id;
  Type xt = b.typeOf(x);
  SVal e = c.value(0);
  if (!std::holds_alternative<Val>(e)) // a constant: its derivative is zero
    return Val{b.constantLike(0, xt)};
  ValueId y = s.asFloat(e, c.expr(0).range, xt.dtype);
  Type yt = b.typeOf(y);
  if (yt.dtype != xt.dtype)
    s.fail(call.range,
           fmt::format("cannot differentiate {} with respect to {}", yt.str(), xt.str()));
  Function &f = s.function();
  if (!xt.isScalar()) {
    if (!yt.isScalar())
      s.fail(call.range,
             fmt::format("diff of {} with respect to {}: the expression must be a scalar (the "
                         "gradient is shaped like the variable)",
                         yt.str(), xt.str()));
    if (order != 1)
      s.fail(c.expr(2).range, "higher derivatives need a scalar variable");
    std::vector<ValueId> wrt{x};
    std::vector<ValueId> identity = identityMap(f.insts.size());
    auto adjoint = pullCotangents(b, f, identity, y, b.constant(1, yt.dtype), wrt);
    return Val{x < adjoint.size() && adjoint[x] ? *adjoint[x] : b.constantLike(0, xt)};
  }
  for (std::int64_t k = 0; k < order; ++k) {
    std::size_t end = f.insts.size();
    std::map<ValueId, ValueId> seeds{{x, b.constant(1, xt.dtype)}};
    auto tangent = pushTangents(b, f, identityMap(end), seeds, end);
    y = tangent[y] ? *tangent[y] : b.constantLike(0, b.typeOf(y));
  }
  return Val{y};
}

} // namespace

/// mean = sum / count, the count being a dimension (a runtime one becomes `dim_size`).
SVal meanOf(Sema &s, const SVal &v, const Expr *axisArg, const Expr &call) {
  if (std::holds_alternative<Number>(v))
    return v;
  Builder &b = s.builder();
  ValueId x = s.asFloat(v, call.range);
  auto axes = reductionAxes(s, x, axisArg);
  Dim count(1);
  for (std::int64_t a : axes)
    count = count * b.typeOf(x).shape[static_cast<std::size_t>(a)];
  SVal total = Val{axes.empty() ? x : b.emit(Op::ReduceSum, {x}, {axes})};
  SVal n = count.isConstant() ? SVal{Number{static_cast<double>(count.constant()), true}}
                              : SVal{DimNumber{count}};
  return s.binaryOp(Op::Div, total, n, call, call, call, "/");
}

std::vector<Builtin> arrayBuiltins() {
  const ArgSpec x = slot("x");
  const ArgSpec axis = optionalSlot("axis", ArgKind::Integer); // omitted: every axis
  auto reduction = [&](std::string_view name, Op op, std::string_view summary,
                       std::string example) {
    return Builtin{.name = name,
                   .group = G::Reduction,
                   .args = {x, axis},
                   .op = op,
                   .expand = expandReduce,
                   .summary = summary,
                   .example = std::move(example)};
  };
  return {
      // ----- reductions
      reduction("sum", Op::ReduceSum, "the sum over axis, or over everything", "sum(m, axis=1)"),
      {.name = "mean",
       .group = G::Reduction,
       .args = {x, axis},
       .expand = expandMean,
       .summary = "the mean over axis, or over everything",
       .example = "mean(m, axis=-1)"},
      reduction("max", Op::ReduceMax, "the largest entry; ties split the gradient", "max(v)"),
      reduction("min", Op::ReduceMin, "the smallest entry; ties split the gradient",
                "min(m, axis=0)"),
      reduction("logsumexp", Op::LogSumExp, "log(sum(exp(x))), stable", "logsumexp(v)"),
      {.name = "norm",
       .group = G::Reduction,
       .args = {x, axis},
       .expand = expandNorm,
       .summary = "the 2-norm (Frobenius for matrices)",
       .example = "norm(m)"},

      // ----- linear algebra
      {.name = "dot",
       .group = G::LinearAlgebra,
       .args = {slot("a"), slot("b")},
       .expand = expandDot,
       .summary = "= a @ b",
       .example = "dot(v, v)"},
      {.name = "outer",
       .group = G::LinearAlgebra,
       .args = {slot("a"), slot("b")},
       .expand = expandOuter,
       .summary = "the outer product of two vectors",
       .example = "outer(v, [1, 2])"},
      {.name = "diag",
       .group = G::LinearAlgebra,
       .args = {slot("v")},
       .op = Op::Diag,
       .expand = expandDiag,
       .summary = "a vector to a diagonal matrix, batched over leading axes",
       .example = "diag(v)"},
      {.name = "lower",
       .group = G::LinearAlgebra,
       .args = {slot("v"), slot("n", ArgKind::Size)},
       .op = Op::Lower,
       .expand = expandLower,
       .summary = "the strictly lower triangle of an n x n matrix, filled column by column",
       .example = "lower(v, 3)"},

      // ----- shape
      {.name = "transpose",
       .group = G::Shape,
       .args = {x, optionalSlot("perm", ArgKind::IntList)},
       .op = Op::Transpose,
       .expand = expandTranspose,
       .summary = "reverses the axes (= x.T), or permutes them",
       .example = "transpose(m, [1, 0])"},
      {.name = "reshape",
       .group = G::Shape,
       .args = {x, slot("shape", ArgKind::ShapeList)},
       .op = Op::Reshape,
       .expand = expandReshape,
       .summary = "the same entries in a new shape; one dimension may be -1",
       .example = "reshape(m, [3, -1])"},
      {.name = "flatten",
       .group = G::Shape,
       .args = {x},
       .expand = expandFlatten,
       .summary = "the entries as a vector, in row-major order",
       .example = "flatten(m)"},
      {.name = "concat",
       .group = G::Shape,
       .args = {optionalSlot("axis", ArgKind::Integer, 0)},
       .op = Op::Concat,
       .expand = expandConcat,
       .variadic = true,
       .summary = "joins tensors along an existing axis",
       .example = "concat(v, [1, 2], axis=0)"},
      {.name = "stack",
       .group = G::Shape,
       .args = {optionalSlot("axis", ArgKind::Integer, 0)},
       .expand = expandConcat,
       .variadic = true,
       .summary = "joins tensors of one shape along a new axis",
       .example = "stack(v, v, axis=1)"},

      // ----- constructors
      {.name = "zeros",
       .group = G::Constructor,
       .args = {slot("shape", ArgKind::ShapeList), optionalSlot("dtype", ArgKind::DType)},
       .expand = expandFilled,
       .summary = "a tensor of zeros; its float type is what its use decides unless given",
       .example = "zeros([2, 3], f64)"},
      {.name = "ones",
       .group = G::Constructor,
       .args = {slot("shape", ArgKind::ShapeList), optionalSlot("dtype", ArgKind::DType)},
       .expand = expandFilled,
       .summary = "a tensor of ones; its float type is what its use decides unless given",
       .example = "ones([3])"},
      {.name = "eye",
       .group = G::Constructor,
       .args = {slot("n", ArgKind::Size)},
       .expand = expandEye,
       .summary = "the n x n identity matrix (a mask)",
       .example = "eye(3)"},
      {.name = "arange",
       .group = G::Constructor,
       .args = {slot("n", ArgKind::Size)},
       .op = Op::Iota,
       .expand = expandArange,
       .summary = "0, 1, ..., n-1 as i32",
       .example = "arange(3)"},

      // ----- indexing
      {.name = "take",
       .group = G::Indexing,
       .args = {x, slot("ids"), optionalSlot("axis", ArgKind::Integer, 0)},
       .op = Op::Take,
       .expand = expandTake,
       .summary = "gathers the slices at i32 ids along axis",
       .example = "take(m, labels, axis=1)"},
      {.name = "take_along",
       .group = G::Indexing,
       .args = {x, slot("ids"), optionalSlot("axis", ArgKind::Integer, 0)},
       .op = Op::TakeAlong,
       .expand = expandTake,
       .summary = "numpy's take_along_axis",
       .example = "take_along(m, reshape(labels, [2, 1]), axis=1)"},

      // ----- conversions
      {.name = "f32",
       .group = G::Conversion,
       .args = {x},
       .expand = expandConvert,
       .summary = "converts to f32",
       .example = "f32(v)"},
      {.name = "f64",
       .group = G::Conversion,
       .args = {x},
       .expand = expandConvert,
       .summary = "converts to f64",
       .example = "f64(labels)"},

      // ----- derivatives
      {.name = "diff",
       .group = G::Derivative,
       .args = {slot("expr"), slot("x", ArgKind::Variable),
                optionalSlot("k", ArgKind::Integer, 1).atLeast(1).describedAs("the order of diff")},
       .expand = expandDiff,
       .summary = "the symbolic derivative of expr with respect to x (k-th for scalar x)",
       .example = "diff(x^3, x, 2)"},

      // ----- constants
      {.name = "pi",
       .group = G::Constant,
       .args = {},
       .constant = std::numbers::pi,
       .summary = "3.14159...",
       .example = "2 * pi"},
  };
}

} // namespace nabla::sema
