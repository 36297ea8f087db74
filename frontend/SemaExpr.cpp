// Semantic analysis of expressions: names, numbers and arrays, operators with numpy broadcasting
// and the language's dtype rules, matmul, and the typed views of analysis values.
#include "frontend/SemaImpl.h"

#include "ir/OpTable.h"
#include "ir/Shapes.h"

#include <fmt/format.h>

#include <cmath>

namespace nabla::sema {

double foldWithOp(Op op, std::vector<double> args, std::vector<AttrValue> attrs) {
  std::vector<Tensor> tensors;
  for (double a : args)
    tensors.push_back(Tensor::scalar(a));
  std::vector<const Tensor *> ptrs;
  for (const Tensor &t : tensors)
    ptrs.push_back(&t);
  Inst inst{op, Type{DType::F64, {}}, {}, std::move(attrs)};
  Tensor out(DType::F64, {});
  opInfo(op).eval(inst, ptrs, out);
  return out.data[0];
}

// ----- typed views of analysis values ----------------------------------------------------------

Type Sema::typeOf(const SVal &v, DType floatType) {
  if (const auto *val = std::get_if<Val>(&v))
    return builder().typeOf(val->id);
  if (!isFloat(floatType))
    floatType = DType::F64;
  if (const auto *arr = std::get_if<NumberArray>(&v))
    return Type{floatType, arr->shape};
  return Type{floatType, {}};
}

ValueId Sema::materialize(const SVal &v, DType dtype, SourceRange range) {
  if (const auto *val = std::get_if<Val>(&v))
    return val->id;
  if (dtype == DType::Bool)
    dtype = DType::F64;
  if (const auto *n = std::get_if<Number>(&v))
    return builder().constant(n->value, dtype);
  if (const auto *arr = std::get_if<NumberArray>(&v)) {
    if (arr->splat)
      return builder().constantLike(arr->values[0], Type{dtype, arr->shape});
    std::vector<double> values = arr->values;
    for (double &x : values)
      x = roundTo(dtype, x);
    return builder().literal(std::move(values), Type{dtype, arr->shape});
  }
  const Dim &d = std::get<DimNumber>(v).dim;
  if (d.isConstant())
    return builder().constant(static_cast<double>(d.constant()), dtype);
  return builder().emit(Op::DimSize, {}, {Shape{d}, dtype});
}

ValueId Sema::asTyped(const SVal &v, DType dtype, SourceRange range) {
  return materialize(v, dtype, range);
}

ValueId Sema::asFloat(const SVal &v, SourceRange range, DType preferred) {
  ValueId id = materialize(v, preferred, range);
  DType t = builder().typeOf(id).dtype;
  if (!isFloat(t))
    id = builder().convert(id, isFloat(preferred) ? preferred : DType::F64);
  return id;
}

bool Sema::isIntegral(const SVal &v) {
  if (const auto *n = std::get_if<Number>(&v))
    return n->isInteger;
  if (const auto *arr = std::get_if<NumberArray>(&v))
    return arr->allIntegers;
  return std::holds_alternative<DimNumber>(v);
}

std::pair<ValueId, ValueId> Sema::unify(const SVal &a, const SVal &b, const Expr &where,
                                        std::string_view opName, bool intOk, SourceRange ra,
                                        SourceRange rb) {
  DType target = DType::F64;
  const Val *va = std::get_if<Val>(&a), *vb = std::get_if<Val>(&b);
  if (va && vb) {
    DType ta = builder().typeOf(va->id).dtype, tb = builder().typeOf(vb->id).dtype;
    if (isFloat(ta) && isFloat(tb) && ta != tb)
      fail(where.range,
           fmt::format("cannot mix f32 and f64 in '{}': {} vs {} (convert one with f32(...) "
                       "or f64(...))",
                       opName, builder().typeOf(va->id).str(), builder().typeOf(vb->id).str()));
    if (isFloat(ta))
      target = ta;
    else if (isFloat(tb))
      target = tb;
    else if (intOk && ta == DType::I32 && tb == DType::I32)
      target = DType::I32;
  } else if (va || vb) {
    const SVal &other = va ? b : a;
    DType t = builder().typeOf((va ? va : vb)->id).dtype;
    if (isFloat(t))
      target = t;
    else if (intOk && t == DType::I32 && isIntegral(other))
      target = DType::I32;
  }
  ValueId x = materialize(a, target, ra), y = materialize(b, target, rb);
  x = builder().convert(x, target);
  y = builder().convert(y, target);
  const Type &tx = builder().typeOf(x), &ty = builder().typeOf(y);
  if (tx.shape != ty.shape) {
    auto shape = broadcastShapes(tx.shape, ty.shape);
    if (!shape)
      fail(where.range,
           fmt::format("shape mismatch in '{}': {} vs {}", opName, tx.str(), ty.str()));
    x = builder().broadcast(x, *shape);
    y = builder().broadcast(y, *shape);
  }
  return {x, y};
}

// ----- expressions -----------------------------------------------------------------------------

SVal Sema::eval(const Expr &e) {
  // Sema recurses over the tree; the parser bounds nesting, this bounds long operator chains.
  if (++depth_ > 20000)
    fail(e.range, "expression nested too deeply");
  if (++evaluations_ > kMaxEvaluations) {
    if (outerCall_)
      fail(outerCall_->range,
           fmt::format("this call expands to more than {} operations when inlined",
                       kMaxEvaluations));
    fail(e.range, fmt::format("definition too large (more than {} operations)", kMaxEvaluations));
  }
  struct Leave {
    int &d;
    ~Leave() { --d; }
  } leave{depth_};
  switch (e.kind) {
  case ExprKind::Number:
    return Number{e.number, e.isInteger};
  case ExprKind::Name:
    return lookupName(e);
  case ExprKind::Unary: {
    SVal x = eval(*e.args[0]);
    if (e.op == "+")
      return x;
    return negate(x, e);
  }
  case ExprKind::Binary:
    return evalBinary(e);
  case ExprKind::Call:
    return evalCall(e);
  case ExprKind::Index:
    return evalIndex(e);
  case ExprKind::Transpose: {
    ValueId x = materialize(eval(*e.args[0]), DType::F64, e.args[0]->range);
    return Val{transposeAll(x)};
  }
  case ExprKind::Array:
    return evalArray(e);
  }
  fail(e.range, "unsupported expression");
}

SVal Sema::lookupName(const Expr &e) {
  if (auto v = lookupValue(e.name))
    return *v;
  if (auto d = lookupDim(e.name))
    return d->isConstant() ? SVal{Number{static_cast<double>(d->constant()), true}}
                           : SVal{DimNumber{*d}};
  auto let = lets_.find(e.name);
  if (let != lets_.end())
    return let->second;
  for (const Builtin *b : findBuiltins(e.name))
    if (b->group == BuiltinGroup::Constant)
      return Number{b->constant, false};
  if (loneExpression_ && !isBuiltinName(e.name) && !fns_.count(e.name)) {
    declareFreeVariable(e.name);
    return frame().values.at(e.name);
  }
  if (fns_.count(e.name) || isBuiltinName(e.name))
    fail(e.range, fmt::format("'{}' is a function; call it with arguments", e.name));
  fail(e.range, fmt::format("unknown name '{}'", e.name));
}

SVal Sema::negate(const SVal &x, const Expr &e) {
  if (const auto *n = std::get_if<Number>(&x))
    return Number{-n->value, n->isInteger};
  if (const auto *arr = std::get_if<NumberArray>(&x)) {
    NumberArray out = *arr;
    for (double &v : out.values)
      v = -v;
    return out;
  }
  ValueId id = asFloat(x, e.range);
  return Val{builder().neg(id)};
}

SVal Sema::evalBinary(const Expr &e) {
  const std::string &op = e.op;
  SVal a = eval(*e.args[0]);
  SVal b = eval(*e.args[1]);
  if (op == "@")
    return matmul(a, b, e);
  static const std::map<std::string, Op> ops = {
      {"+", Op::Add}, {"-", Op::Sub}, {"*", Op::Mul}, {"/", Op::Div}, {"^", Op::Pow}, {"<", Op::Lt},
      {"<=", Op::Le}, {">", Op::Gt},  {">=", Op::Ge}, {"==", Op::Eq}, {"!=", Op::Ne}};
  auto it = ops.find(op);
  if (it == ops.end())
    fail(e.opRange, fmt::format("unknown operator '{}'", op));
  return binaryOp(it->second, a, b, e, *e.args[0], *e.args[1], op);
}

SVal Sema::add(const SVal &a, const SVal &b, const Expr &where) {
  return binaryOp(Op::Add, a, b, where, where, where, "+");
}

SVal Sema::binaryOp(Op op, const SVal &a, const SVal &b, const Expr &where, const Expr &ea,
                    const Expr &eb, std::string_view name) {
  const auto *na = std::get_if<Number>(&a), *nb = std::get_if<Number>(&b);
  bool isCompare =
      op == Op::Lt || op == Op::Le || op == Op::Gt || op == Op::Ge || op == Op::Eq || op == Op::Ne;
  if (na && nb && !isCompare) {
    double v = foldWithOp(op, {na->value, nb->value});
    bool integral =
        na->isInteger && nb->isInteger && op != Op::Div && op != Op::Pow && v == std::floor(v);
    return Number{v, integral};
  }
  bool intOk = op == Op::Add || op == Op::Sub || op == Op::Mul || op == Op::Max || op == Op::Min ||
               isCompare;
  auto [x, y] = unify(a, b, where, name, intOk, ea.range, eb.range);
  if (!isCompare && builder().typeOf(x).dtype == DType::Bool) {
    x = builder().convert(x, DType::F64);
    y = builder().convert(y, DType::F64);
  }
  if ((op == Op::Div || op == Op::Pow) && !isFloat(builder().typeOf(x).dtype)) {
    x = builder().convert(x, DType::F64);
    y = builder().convert(y, DType::F64);
  }
  return Val{builder().binary(op, x, y)};
}

SVal Sema::matmul(const SVal &a, const SVal &b, const Expr &where) {
  // An untyped operand (an array literal) takes the float type of the other one.
  DType preferred = DType::F64;
  for (const SVal *v : {&a, &b})
    if (const auto *val = std::get_if<Val>(v); val && isFloat(builder().typeOf(val->id).dtype))
      preferred = builder().typeOf(val->id).dtype;
  ValueId x = asFloat(a, where.range, preferred), y = asFloat(b, where.range, preferred);
  Type tx = builder().typeOf(x), ty = builder().typeOf(y);
  auto mismatch = [&] {
    fail(where.range, fmt::format("shape mismatch in '@': {} vs {}", tx.str(), ty.str()));
  };
  if (tx.dtype != ty.dtype)
    fail(where.range,
         fmt::format("cannot mix f32 and f64 in '@': {} vs {} (convert one with f32(...) or "
                     "f64(...))",
                     tx.str(), ty.str()));
  if (tx.isScalar() || ty.isScalar())
    fail(where.range,
         fmt::format("'@' needs tensors of rank 1 or more, got {} and {}; use '*' for scalars",
                     tx.str(), ty.str()));
  bool vecA = tx.rank() == 1, vecB = ty.rank() == 1;
  Shape sa = tx.shape, sb = ty.shape;
  if (vecA)
    sa.insert(sa.begin(), Dim(1));
  if (vecB)
    sb.push_back(Dim(1));
  if (sa.back() != sb[sb.size() - 2])
    mismatch();
  Shape batchA(sa.begin(), sa.end() - 2), batchB(sb.begin(), sb.end() - 2);
  auto batch = broadcastShapes(batchA, batchB);
  if (!batch)
    mismatch();
  Shape fullA = *batch, fullB = *batch;
  fullA.insert(fullA.end(), sa.end() - 2, sa.end());
  fullB.insert(fullB.end(), sb.end() - 2, sb.end());
  x = builder().broadcast(builder().reshape(x, sa), fullA);
  y = builder().broadcast(builder().reshape(y, sb), fullB);
  ValueId z = builder().emit(Op::MatMul, {x, y});
  Shape out = *batch;
  if (!vecA)
    out.push_back(sa[sa.size() - 2]);
  if (!vecB)
    out.push_back(sb.back());
  return Val{builder().reshape(z, out)};
}

ValueId Sema::transposeAll(ValueId x) {
  std::size_t r = builder().typeOf(x).rank();
  std::vector<std::int64_t> perm(r);
  for (std::size_t i = 0; i < r; ++i)
    perm[i] = static_cast<std::int64_t>(r - 1 - i);
  return builder().transpose(x, perm);
}

SVal Sema::unaryOp(Op op, const SVal &x, const Expr &where, std::vector<AttrValue> attrs) {
  if (const auto *n = std::get_if<Number>(&x))
    return Number{foldWithOp(op, {n->value}, attrs), false};
  ValueId id = asFloat(x, where.range);
  if (attrs.empty())
    return Val{builder().unary(op, id)};
  return Val{builder().emit(op, {id}, std::move(attrs))};
}

SVal Sema::evalArray(const Expr &e) {
  if (e.args.empty())
    return NumberArray{{}, {Dim(0)}, false, true};
  std::vector<SVal> items;
  for (const ast::ExprPtr &a : e.args)
    items.push_back(eval(*a));
  bool allNumbers = true;
  for (const SVal &v : items)
    allNumbers =
        allNumbers && (std::holds_alternative<Number>(v) ||
                       (std::holds_alternative<NumberArray>(v) && !std::get<NumberArray>(v).splat));
  if (allNumbers) {
    NumberArray out;
    out.allIntegers = true;
    Shape inner;
    for (std::size_t i = 0; i < items.size(); ++i) {
      Shape s;
      if (const auto *n = std::get_if<Number>(&items[i])) {
        out.values.push_back(n->value);
        out.allIntegers = out.allIntegers && n->isInteger;
      } else {
        const auto &arr = std::get<NumberArray>(items[i]);
        s = arr.shape;
        out.values.insert(out.values.end(), arr.values.begin(), arr.values.end());
        out.allIntegers = out.allIntegers && arr.allIntegers;
      }
      if (i == 0)
        inner = s;
      else if (s != inner)
        fail(e.args[i]->range, fmt::format("array entries must have one shape: {} vs {}",
                                           shapeStr(inner), shapeStr(s)));
    }
    out.shape.push_back(Dim(static_cast<std::int64_t>(items.size())));
    out.shape.insert(out.shape.end(), inner.begin(), inner.end());
    return out;
  }
  // Entries with values: stack them (numbers take the float type of the typed entries).
  DType dtype = DType::F64;
  const Val *firstFloat = nullptr;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto *val = std::get_if<Val>(&items[i]);
    if (!val || !isFloat(builder().typeOf(val->id).dtype))
      continue;
    if (firstFloat && builder().typeOf(val->id).dtype != dtype)
      fail(e.args[i]->range,
           fmt::format("cannot mix f32 and f64 in an array literal: {} vs {} (convert one with "
                       "f32(...) or f64(...))",
                       builder().typeOf(firstFloat->id).str(), builder().typeOf(val->id).str()));
    firstFloat = val;
    dtype = builder().typeOf(val->id).dtype;
  }
  std::vector<ValueId> ids;
  for (std::size_t i = 0; i < items.size(); ++i) {
    ValueId id = materialize(items[i], dtype, e.args[i]->range);
    if (builder().typeOf(id).dtype != dtype)
      id = builder().convert(id, dtype);
    if (!ids.empty() && builder().typeOf(id) != builder().typeOf(ids[0]))
      fail(e.args[i]->range,
           fmt::format("array entries must have one type: {} vs {}", builder().typeOf(ids[0]).str(),
                       builder().typeOf(id).str()));
    Shape s = builder().typeOf(id).shape;
    s.insert(s.begin(), Dim(1));
    ids.push_back(id);
  }
  std::vector<ValueId> rows;
  for (ValueId id : ids) {
    Shape s = builder().typeOf(id).shape;
    s.insert(s.begin(), Dim(1));
    rows.push_back(builder().reshape(id, s));
  }
  if (rows.size() == 1)
    return Val{rows[0]};
  return Val{builder().emit(Op::Concat, rows, {std::int64_t{0}})};
}

} // namespace nabla::sema
