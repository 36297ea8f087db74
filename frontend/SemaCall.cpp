// Semantic analysis of calls (user functions inlined, built-ins expanded through their table rows)
// and of indexing.
#include "frontend/SemaImpl.h"

#include "ir/OpTable.h"
#include "ir/Shapes.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace nabla::sema {

// ----- calls -----------------------------------------------------------------------------------

namespace {

/// The row of `call.name` that takes this call: the first whose form fits (an overloaded name has
/// one row per form), skipping constants.
const Builtin *builtinForCall(const Expr &call) {
  for (const Builtin *b : findBuiltins(call.name)) {
    if (b->group == BuiltinGroup::Constant)
      continue;
    if (b->exactArity && (call.args.size() != b->args.size() || !call.kwargs.empty()))
      continue;
    return b;
  }
  return nullptr;
}

std::size_t requiredSlots(const Builtin &b) {
  std::size_t n = 0;
  while (n < b.args.size() && b.args[n].required)
    ++n;
  return n;
}

} // namespace

SVal Sema::evalCall(const Expr &call) {
  const std::string &name = call.name;
  if (auto fn = fns_.find(name); fn != fns_.end()) {
    if (!call.kwargs.empty())
      fail(call.kwargs[0].range, fmt::format("'{}' takes positional arguments only", name));
    std::vector<SVal> args;
    for (const ast::ExprPtr &a : call.args)
      args.push_back(eval(*a));
    return inlineCall(*fn->second, std::move(args), call);
  }
  if (const Builtin *row = builtinForCall(call)) {
    std::vector<const Expr *> args;
    if (!row->variadic) {
      std::vector<std::string_view> slots;
      for (const ArgSpec &a : row->args)
        slots.push_back(a.name);
      args = bindArgs(call, slots, requiredSlots(*row));
    }
    BuiltinCall c(*this, *row, call, std::move(args));
    return row->expand ? row->expand(*this, c) : expandOp(c);
  }
  if (findLayer(name))
    fail(call.opRange,
         fmt::format("'{}' is a layer: use it in a model as `layer NAME = {}(...)`", name, name));
  if (name == currentFn_)
    fail(call.opRange, fmt::format("'{}' calls itself, but recursion is not supported", name));
  if (declaredFns_.count(name))
    fail(call.opRange,
         fmt::format("'{}' is defined later in the file; a function can only call functions "
                     "defined before it",
                     name));
  std::vector<std::string> candidates;
  if (findBuiltins(name).empty()) { // `pi(2)` is no misspelling
    candidates = builtinFunctionNames();
    for (const auto &[fnName, decl] : fns_)
      candidates.push_back(fnName);
  }
  failSuggesting(call.opRange, fmt::format("unknown function '{}'", name), name, candidates);
}

SVal Sema::expandOp(BuiltinCall &c) {
  const Builtin &row = c.row();
  Op op = *row.op;
  // Constants first, in slot order, then the operands: a bad constant is reported before the
  // tensors it parameterizes are analyzed.
  const OpInfo &info = opInfo(op);
  std::vector<AttrValue> attrs(info.attrs.size());
  std::vector<std::size_t> operands;
  for (std::size_t i = 0; i < row.args.size(); ++i) {
    const ArgSpec &spec = row.args[i];
    if (spec.attr.empty()) {
      operands.push_back(i);
      continue;
    }
    auto at = std::find_if(info.attrs.begin(), info.attrs.end(),
                           [&](const AttrSpec &s) { return s.name == spec.attr; });
    if (at == info.attrs.end())
      throw IrError(fmt::format("built-in '{}': '{}' has no attribute '{}'", row.name, mnemonic(op),
                                spec.attr));
    auto &slot = attrs[static_cast<std::size_t>(at - info.attrs.begin())];
    if (spec.kind == ArgKind::Integer)
      slot = c.integer(i);
    else
      slot = c.number(i);
  }
  if (operands.size() == 1)
    return unaryOp(op, c.value(operands[0]), c.where(), std::move(attrs));
  if (operands.size() == 2 && attrs.empty()) {
    SVal a = c.value(operands[0]);
    SVal b = c.value(operands[1]);
    return binaryOp(op, a, b, c.where(), c.expr(operands[0]), c.expr(operands[1]), row.name);
  }
  throw IrError(fmt::format("built-in '{}' needs an expansion of its own", row.name));
}

std::vector<const Expr *>
Sema::bindArgs(const Expr &call, const std::vector<std::string_view> &slots, std::size_t required) {
  std::vector<const Expr *> out(slots.size(), nullptr);
  if (call.args.size() > slots.size())
    fail(call.range, fmt::format("'{}' takes {} {} argument{}, got {}", call.name,
                                 required == slots.size() ? "exactly" : "at most", slots.size(),
                                 slots.size() == 1 ? "" : "s", call.args.size()));
  for (std::size_t i = 0; i < call.args.size(); ++i)
    out[i] = call.args[i].get();
  for (const ast::KeywordArg &kw : call.kwargs) {
    auto it = std::find(slots.begin(), slots.end(), kw.name);
    if (it == slots.end())
      fail(kw.range, fmt::format("'{}' has no argument named '{}'", call.name, kw.name));
    auto slot = static_cast<std::size_t>(it - slots.begin());
    if (out[slot])
      fail(kw.range, fmt::format("argument '{}' of '{}' is given twice", kw.name, call.name));
    out[slot] = kw.value.get();
  }
  for (std::size_t i = 0; i < required; ++i)
    if (!out[i])
      fail(call.range,
           fmt::format("'{}' needs {} argument{}, got {}", call.name, required,
                       required == 1 ? "" : "s", call.args.size() + call.kwargs.size()));
  return out;
}

std::int64_t Sema::axisKeyword(const Expr &call, std::int64_t fallback) {
  std::int64_t axis = fallback;
  bool seen = false;
  for (const ast::KeywordArg &kw : call.kwargs) {
    if (kw.name != "axis")
      fail(kw.range, fmt::format("'{}' has no argument named '{}'", call.name, kw.name));
    if (seen)
      fail(kw.range, fmt::format("argument 'axis' of '{}' is given twice", call.name));
    seen = true;
    axis = constantInt(*kw.value, "'axis'");
  }
  return axis;
}

std::int64_t Sema::resolveAxis(std::int64_t axis, std::size_t rank, const Expr &where) {
  auto a = normalizeAxis(axis, rank);
  if (!a)
    fail(where.range, fmt::format("axis {} is out of range for a tensor of rank {}", axis, rank));
  return *a;
}

ValueId Sema::emitChecked(Op op, std::vector<ValueId> operands, std::vector<AttrValue> attrs,
                          const Expr &where) {
  auto r = builder().tryEmit(op, std::move(operands), std::move(attrs));
  if (!r)
    fail(where.range, r.error().list.front().message);
  return *r;
}

SVal Sema::inlineCall(const ast::FnDecl &fn, std::vector<SVal> args, const Expr &call) {
  if (args.size() != fn.params.size())
    fail(call.range, fmt::format("'{}' takes {} argument{}, got {}", fn.name, fn.params.size(),
                                 fn.params.size() == 1 ? "" : "s", args.size()));
  if (frames_.size() > 200)
    fail(call.range, "calls nested too deeply");
  Frame callee{{}, {}, fmt::format("function '{}'", fn.name)};
  for (std::size_t i = 0; i < args.size(); ++i) {
    const ast::Param &p = fn.params[i];
    SVal arg = args[i];
    if (p.type) {
      auto dtype = parseDType(p.type->dtype);
      if (!dtype)
        fail(p.type->range, fmt::format("unknown type '{}'", p.type->dtype));
      ValueId id = materialize(arg, *dtype, call.args[i]->range);
      Type got = builder().typeOf(id);
      if (got.dtype == DType::Bool && isFloat(*dtype))
        got = builder().typeOf(id = builder().convert(id, *dtype));
      if (got.dtype == DType::I32 && isFloat(*dtype))
        got = builder().typeOf(id = builder().convert(id, *dtype));
      // Bind the callee's dimension names from the argument's shape, then compare.
      Shape want;
      bool rankOk = p.type->dims.size() == got.rank();
      for (std::size_t d = 0; d < p.type->dims.size(); ++d) {
        const Expr &de = *p.type->dims[d];
        if (rankOk && de.kind == ExprKind::Name && !callee.dims.count(de.name) &&
            !lets_.count(de.name))
          callee.dims[de.name] = got.shape[d];
        frames_.push_back(callee);
        Dim dim = evalDim(de);
        frames_.pop_back();
        want.push_back(dim);
      }
      if (got.dtype != *dtype || got.shape != want)
        fail(call.args[i]->range, fmt::format("argument '{}' of '{}' must be {}, got {}", p.name,
                                              fn.name, Type{*dtype, want}.str(), got.str()));
      arg = Val{id};
    }
    callee.values.emplace(p.name, std::move(arg));
  }
  frames_.push_back(std::move(callee));
  bool outermost = !outerCall_;
  if (outermost)
    outerCall_ = &call;
  SVal result = evalBody(fn);
  checkReturnType(fn, result);
  if (outermost)
    outerCall_ = nullptr;
  frames_.pop_back();
  return result;
}

// ----- the arguments of a built-in -------------------------------------------------------------

const Expr &BuiltinCall::expr(std::size_t i) const {
  if (!arg(i))
    throw IrError(
        fmt::format("built-in '{}' reads the expression of slot {}, which has none", row_.name, i));
  return *arg(i);
}

SVal BuiltinCall::value(std::size_t i) {
  if (i == 0 && first_)
    return *first_;
  return sema_.eval(expr(i));
}

double BuiltinCall::number(std::size_t i) {
  const ArgSpec &spec = row_.args.at(i);
  if (!arg(i))
    return spec.defaultValue.value();
  return sema_.constantNumber(*arg(i), describeArg(spec));
}

std::int64_t BuiltinCall::integer(std::size_t i) {
  const ArgSpec &spec = row_.args.at(i);
  if (!arg(i))
    return static_cast<std::int64_t>(spec.defaultValue.value());
  std::int64_t v = sema_.constantInt(*arg(i), describeArg(spec));
  if (spec.min && v < *spec.min)
    sema_.fail(arg(i)->range, fmt::format("{} must be {} or more", describeArg(spec), *spec.min));
  return v;
}

// ----- indexing --------------------------------------------------------------------------------

SVal Sema::evalIndex(const Expr &e) {
  ValueId x = materialize(eval(*e.args[0]), DType::F64, e.args[0]->range);
  Type t = builder().typeOf(x);
  if (e.indices.size() > t.rank())
    fail(e.range,
         fmt::format("too many indices: {} for a tensor of type {}", e.indices.size(), t.str()));
  Shape start(t.rank(), Dim(0)), limit = t.shape;
  std::vector<bool> dropped(t.rank(), false);
  std::optional<std::size_t> gatherAxis;
  std::optional<ValueId> gatherIds;
  for (std::size_t axis = 0; axis < e.indices.size(); ++axis) {
    const ast::IndexItem &item = e.indices[axis];
    const Dim &extent = t.shape[axis];
    if (item.isSlice) {
      if (item.lo)
        start[axis] = indexDim(*item.lo, extent, true, axis, t);
      if (item.hi)
        limit[axis] = indexDim(*item.hi, extent, true, axis, t);
      continue;
    }
    SVal idx = eval(*item.index);
    if (const auto *v = std::get_if<Val>(&idx)) {
      if (builder().typeOf(v->id).dtype != DType::I32)
        fail(item.range, fmt::format("an index must be an integer or an i32 tensor, got {}",
                                     builder().typeOf(v->id).str()));
      if (gatherIds)
        fail(item.range, "only one tensor index per indexing expression is supported");
      gatherAxis = axis;
      gatherIds = v->id;
      continue;
    }
    if (const auto *arr = std::get_if<NumberArray>(&idx)) {
      if (!arr->allIntegers)
        fail(item.range, "an index must be an integer");
      if (gatherIds)
        fail(item.range, "only one tensor index per indexing expression is supported");
      gatherAxis = axis;
      gatherIds = materialize(idx, DType::I32, item.range);
      continue;
    }
    Dim i = indexDim(*item.index, extent, false, axis, t);
    start[axis] = i;
    limit[axis] = i + Dim(1);
    dropped[axis] = true;
  }
  ValueId y = x;
  if (start != Shape(t.rank(), Dim(0)) || limit != t.shape)
    y = emitChecked(Op::Slice, {x}, {start, limit}, e);
  Shape kept;
  std::size_t gatherAfterDrop = 0;
  for (std::size_t axis = 0; axis < t.rank(); ++axis) {
    if (gatherAxis && axis == *gatherAxis)
      gatherAfterDrop = kept.size();
    if (!dropped[axis])
      kept.push_back(builder().typeOf(y).shape[axis]);
  }
  y = builder().reshape(y, kept);
  if (gatherIds)
    y = builder().emit(Op::Take, {y, *gatherIds}, {static_cast<std::int64_t>(gatherAfterDrop)});
  return Val{y};
}

Dim Sema::indexDim(const Expr &e, const Dim &extent, bool sliceBound, std::size_t axis,
                   const Type &t) {
  SVal v = eval(e);
  auto outOfRange = [&] {
    fail(e.range, fmt::format("{} {} is out of range for axis {} of {}",
                              sliceBound ? "slice bound" : "index", textOf(e), axis, t.str()));
  };
  Dim d;
  if (const auto *n = std::get_if<Number>(&v)) {
    if (n->value != std::floor(n->value))
      fail(e.range, "an index must be an integer");
    auto i = exactInt(n->value);
    if (!i)
      outOfRange();
    d = Dim(*i);
    if (*i < 0)
      d = extent + d;
  } else if (const auto *dn = std::get_if<DimNumber>(&v)) {
    d = dn->dim;
  } else {
    fail(e.range,
         "a slice bound must be an integer or a dimension name (use take(...) for i32 tensors)");
  }
  if (d.isConstant() && extent.isConstant() &&
      (d.constant() < 0 || d.constant() > extent.constant() ||
       (!sliceBound && d.constant() == extent.constant())))
    outOfRange();
  return d;
}

} // namespace nabla::sema
