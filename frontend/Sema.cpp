// Semantic analysis: AST -> IR. Names, dtypes, numpy broadcasting, dimension arithmetic, layers,
// inlining of calls. Every user error becomes a diagnostic pointing at the expression at fault.
#include "frontend/Sema.h"

#include "frontend/Parser.h"
#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "ir/OpTable.h"
#include "ir/Shapes.h"
#include "ir/Differentiate.h"

#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <memory>
#include <numbers>
#include <set>
#include <unordered_map>

namespace nabla {

namespace {

using ast::Expr;
using ExprKind = ast::Expr::Kind;

// ----- values during analysis ----------------------------------------------------------------

/// An untyped number: a literal, a `let` constant or a constant dimension. It takes the float
/// type of the operand it meets (f64 when nothing decides).
struct Number {
  double value = 0;
  bool isInteger = false;
};

/// An untyped array: an array literal of numbers, or `zeros`/`ones` without a dtype (a splat).
struct NumberArray {
  std::vector<double> values; // one value when splat
  Shape shape;
  bool splat = false;
  bool allIntegers = false;
};

/// A dimension name used as a number whose value is only known at call time (`mean` over B).
struct DimNumber {
  Dim dim;
};

/// A typed IR value.
struct Val {
  ValueId id;
};

using SVal = std::variant<Val, Number, NumberArray, DimNumber>;

/// What the names of one scope mean: a function body, an inlined call, a model.
struct Frame {
  std::map<std::string, SVal> values;
  std::map<std::string, Dim> dims;
  std::string owner; // for messages: "function 'f'"
};

[[noreturn]] void fail(const SourceFile &src, SourceRange range, std::string message) {
  throw DiagnosticException{makeDiagnostic(src, range, std::move(message))};
}

/// `v` as an integer when it is one and small enough for dimension arithmetic; casting a larger or
/// non-finite double to an integer is undefined behaviour.
std::optional<std::int64_t> exactInt(double v) {
  constexpr double kLimit = 9007199254740992.0; // 2^53
  if (!(v >= -kLimit && v <= kLimit) || v != std::floor(v))
    return std::nullopt;
  return static_cast<std::int64_t>(v);
}

/// Expression evaluations allowed per definition: inlining `f(f(x))` chains doubles the work per
/// level, so without a bound a short file can take forever.
constexpr long kMaxEvaluations = 1000000;

double foldWithOp(Op op, std::vector<double> args, std::vector<AttrValue> attrs = {}) {
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

const std::map<std::string, Op> &unaryBuiltins() {
  static const std::map<std::string, Op> table = {
      {"exp", Op::Exp},         {"log", Op::Log},         {"ln", Op::Log},
      {"sqrt", Op::Sqrt},       {"sin", Op::Sin},         {"cos", Op::Cos},
      {"tan", Op::Tan},         {"tanh", Op::Tanh},       {"abs", Op::Abs},
      {"sign", Op::Sign},       {"log1p", Op::Log1p},     {"expm1", Op::Expm1},
      {"erf", Op::Erf},         {"lgamma", Op::Lgamma},   {"digamma", Op::Digamma},
      {"trigamma", Op::Trigamma}, {"sigmoid", Op::Sigmoid}, {"logistic", Op::Sigmoid},
      {"relu", Op::Relu},       {"softplus", Op::Softplus},
  };
  return table;
}

const std::set<std::string> &otherBuiltins() {
  static const std::set<std::string> names = {
      "polygamma", "pow",      "max",          "min",        "where",
      "leaky_relu", "hardtanh", "swish",       "gelu",       "sum",
      "mean",      "logsumexp", "norm",        "dot",        "outer",
      "transpose", "reshape",  "flatten",      "concat",     "stack",
      "zeros",     "ones",     "eye",          "arange",     "diag",
      "lower",     "softmax",  "log_softmax",  "cross_entropy", "binary_cross_entropy",
      "bce_with_logits", "mse", "mae",         "diff",       "f32",
      "f64",       "pi",       "take",         "take_along"};
  return names;
}

// ----- the analyzer ----------------------------------------------------------------------------

class Sema {
public:
  Sema(const SourceFile &src, const SemaOptions &options) : src_(src), options_(options) {}

  Module run(const ast::File &file) {
    Module module;
    for (const ast::Decl &decl : file.decls)
      if (const auto *fn = std::get_if<ast::FnDecl>(&decl))
        declaredFns_.insert(fn->name);
    for (const ast::Decl &decl : file.decls) {
      if (const auto *let = std::get_if<ast::LetDecl>(&decl))
        defineLet(*let);
      else if (const auto *fn = std::get_if<ast::FnDecl>(&decl))
        module.functions.push_back(compileFn(*fn));
      else
        module.functions.push_back(compileModel(std::get<ast::ModelDecl>(decl)));
    }
    return module;
  }

  Function compileLoneExpression(const ast::ExprPtr &expr, const std::vector<std::string> &vars,
                                 const std::string &name) {
    Function f;
    f.name = name;
    begin(f);
    frames_.push_back(Frame{{}, {}, "the expression"});
    loneExpression_ = true;
    for (const std::string &v : vars)
      declareFreeVariable(v);
    SVal result = eval(*expr);
    f.result = finishResult(result, *expr);
    return end();
  }

private:
  // ----- top-level definitions ----------------------------------------------------------------

  void claimGlobalName(const std::string &name, SourceRange range) {
    if (isBuiltinName(name))
      fail(src_, range, fmt::format("'{}' is a built-in and cannot be redefined", name));
    if (!globals_.insert(name).second)
      fail(src_, range, fmt::format("'{}' is already defined", name));
  }

  void defineLet(const ast::LetDecl &let) {
    claimGlobalName(let.name, let.nameRange);
    Function scratch;
    begin(scratch);
    frames_.push_back(Frame{{}, {}, "let"});
    SVal v = eval(*let.value);
    end();
    const auto *n = std::get_if<Number>(&v);
    if (!n)
      fail(src_, let.value->range, fmt::format("a 'let' constant must be a number"));
    lets_[let.name] = *n;
  }

  Function compileFn(const ast::FnDecl &fn) {
    claimGlobalName(fn.name, fn.nameRange);
    currentFn_ = fn.name;
    Function f;
    f.name = fn.name;
    f.kind = Function::Kind::Fn;
    begin(f);
    Frame frame{{}, {}, fmt::format("function '{}'", fn.name)};
    frames_.push_back(std::move(frame));
    for (const ast::Param &p : fn.params) {
      Type t{DType::F64, {}};
      if (p.type)
        t = resolveType(*p.type, /*bindNewDims=*/true);
      bindName(p.name, p.range, Val{builder().input(p.name, t)});
    }
    SVal result = evalBody(fn);
    checkReturnType(fn, result);
    f.result = finishResult(result, *fn.result);
    fns_[fn.name] = &fn;
    currentFn_.clear();
    return end();
  }

  Function compileModel(const ast::ModelDecl &model) {
    claimGlobalName(model.name, model.nameRange);
    Function f;
    f.name = model.name;
    f.kind = Function::Kind::Model;
    begin(f);
    frames_.push_back(Frame{{}, {}, fmt::format("model '{}'", model.name)});
    for (const ast::HeaderDim &d : model.dims) {
      if (isBuiltinName(d.name))
        fail(src_, d.range, fmt::format("'{}' is a built-in and cannot be rebound", d.name));
      if (frame().dims.count(d.name))
        fail(src_, d.range, fmt::format("dimension '{}' is already declared", d.name));
      auto over = options_.dims.find(d.name);
      if (over != options_.dims.end()) {
        frame().dims[d.name] = Dim(over->second);
      } else if (d.defaultValue) {
        Dim value = evalSize(*d.defaultValue);
        if (!value.isConstant())
          fail(src_, d.defaultValue->range, "a dimension default must be a constant");
        frame().dims[d.name] = value;
      } else {
        frame().dims[d.name] = Dim::symbol(d.name);
        addDimParam(d.name);
      }
    }
    const ast::ModelStmt *loss = nullptr;
    for (const ast::ModelStmt &s : model.stmts) {
      switch (s.kind) {
      case ast::ModelStmt::Kind::Input:
        bindName(s.name, s.nameRange, Val{builder().input(s.name, resolveType(*s.type, false))});
        break;
      case ast::ModelStmt::Kind::Param:
        declareParam(s);
        break;
      case ast::ModelStmt::Kind::Layer:
        bindName(s.name, s.nameRange, expandLayer(s));
        break;
      case ast::ModelStmt::Kind::Bind:
        bindName(s.name, s.nameRange, eval(*s.value));
        break;
      case ast::ModelStmt::Kind::Output: {
        SVal v = eval(*s.value);
        ValueId id = materialize(v, DType::F64, s.value->range);
        bindName(s.name, s.nameRange, Val{id});
        f.outputs.push_back(NamedValue{s.name, id});
        break;
      }
      case ast::ModelStmt::Kind::Loss: {
        if (loss)
          fail(src_, s.range, fmt::format("model '{}' has more than one 'loss'", model.name));
        loss = &s;
        SVal v = eval(*s.value);
        ValueId id = materialize(v, DType::F64, s.value->range);
        const Type &t = builder().typeOf(id);
        if (!t.isScalar() || !isFloat(t.dtype))
          fail(src_, s.value->range,
               fmt::format("the loss must be a float scalar, got {}", t.str()));
        f.result = id;
        break;
      }
      }
    }
    if (!loss)
      fail(src_, model.nameRange, fmt::format("model '{}' has no 'loss'", model.name));
    return end();
  }

  void declareParam(const ast::ModelStmt &s) {
    Type t = resolveType(*s.type, false);
    if (!isFloat(t.dtype))
      fail(src_, s.type->range,
           fmt::format("param '{}' is differentiable and must be f32 or f64, got {}", s.name,
                       t.str()));
    ParamInit init{s.name, t.rank() >= 2 ? "glorot" : "zeros", {}};
    if (s.init) {
      static const std::map<std::string, std::size_t> arity = {
          {"zeros", 0}, {"ones", 0}, {"glorot", 0}, {"normal", 2}, {"uniform", 2}};
      auto it = arity.find(s.init->kind);
      if (it == arity.end())
        fail(src_, s.init->range,
             fmt::format("unknown initializer '{}' (expected zeros, ones, glorot, normal(mean, "
                         "std) or uniform(lo, hi))",
                         s.init->kind));
      if (s.init->args.size() != it->second)
        fail(src_, s.init->range,
             it->second == 0
                 ? fmt::format("initializer '{}' takes no arguments, got {}", s.init->kind,
                               s.init->args.size())
                 : fmt::format("initializer '{}' takes {} arguments, got {}", s.init->kind,
                               it->second, s.init->args.size()));
      init.kind = s.init->kind;
      for (const ast::ExprPtr &a : s.init->args)
        init.args.push_back(constantNumber(*a, "an initializer argument"));
      if (init.kind == "glorot" && t.rank() < 2)
        fail(src_, s.init->range,
             fmt::format("'glorot' needs a matrix, but '{}' is {}", s.name, t.str()));
      if (init.kind == "normal" && !(init.args[1] >= 0))
        fail(src_, s.init->args[1]->range,
             fmt::format("the std of 'normal' must not be negative, got {}", init.args[1]));
      if (init.kind == "uniform" && !(init.args[0] <= init.args[1]))
        fail(src_, s.init->range,
             fmt::format("'uniform' needs lo <= hi, got {} > {}", init.args[0], init.args[1]));
    }
    bindName(s.name, s.nameRange, Val{builder().param(s.name, t)});
    function().inits.push_back(std::move(init));
  }

  /// `layer h = dense(x, units [, activation])` or `layer e = embedding(ids, vocab, dim [, f32])`.
  SVal expandLayer(const ast::ModelStmt &s) {
    const Expr &call = *s.value;
    if (call.kind != ExprKind::Call)
      fail(src_, call.range, "expected a layer call, dense(...) or embedding(...)");
    if (call.name == "dense") {
      auto args = bindArgs(call, {"x", "units", "activation"}, 2);
      ValueId x = asTyped(eval(*args[0]), DType::F64, args[0]->range);
      Type xt = builder().typeOf(x);
      if (!isFloat(xt.dtype) || xt.rank() < 1)
        fail(src_, args[0]->range,
             fmt::format("dense needs a float tensor of shape [..., in], got {}", xt.str()));
      Dim units = evalSize(*args[1]);
      ValueId w = builder().param(s.name + ".W", Type{xt.dtype, {units, xt.shape.back()}});
      function().inits.push_back(ParamInit{s.name + ".W", "glorot", {}});
      ValueId bias = builder().param(s.name + ".b", Type{xt.dtype, {units}});
      function().inits.push_back(ParamInit{s.name + ".b", "zeros", {}});
      SVal y = add(matmul(Val{x}, Val{transposeAll(w)}, call), Val{bias}, call);
      if (args[2]) {
        if (args[2]->kind != ExprKind::Name)
          fail(src_, args[2]->range, "expected the name of an elementwise function");
        y = applyActivation(args[2]->name, y, *args[2]);
      }
      return y;
    }
    if (call.name == "embedding") {
      auto args = bindArgs(call, {"ids", "vocab", "dim", "dtype"}, 3);
      ValueId ids = asTyped(eval(*args[0]), DType::I32, args[0]->range);
      if (builder().typeOf(ids).dtype != DType::I32)
        fail(src_, args[0]->range,
             fmt::format("embedding needs i32 ids, got {}", builder().typeOf(ids).str()));
      DType dt = DType::F64;
      if (args[3]) {
        if (args[3]->kind != ExprKind::Name || !parseDType(args[3]->name) ||
            !isFloat(*parseDType(args[3]->name)))
          fail(src_, args[3]->range, "expected f32 or f64");
        dt = *parseDType(args[3]->name);
      }
      ValueId e = builder().param(s.name + ".E", Type{dt, {evalSize(*args[1]), evalSize(*args[2])}});
      function().inits.push_back(ParamInit{s.name + ".E", "normal", {0.0, 1.0}});
      return Val{builder().emit(Op::Take, {e, ids}, {std::int64_t{0}})};
    }
    fail(src_, call.opRange,
         fmt::format("unknown layer '{}' (expected dense or embedding)", call.name));
  }

  SVal applyActivation(const std::string &name, const SVal &x, const Expr &where) {
    auto u = unaryBuiltins().find(name);
    if (u != unaryBuiltins().end())
      return unaryOp(u->second, x, where);
    if (name == "leaky_relu")
      return unaryOp(Op::LeakyRelu, x, where, {0.01});
    if (name == "hardtanh")
      return unaryOp(Op::Hardtanh, x, where, {-1.0, 1.0});
    if (name == "gelu")
      return gelu(x, where);
    if (name == "swish")
      return swish(x, 1.0, where);
    if (name == "identity" || name == "linear")
      return x;
    auto fn = fns_.find(name);
    if (fn != fns_.end())
      return inlineCall(*fn->second, {x}, where);
    fail(src_, where.range, fmt::format("unknown activation '{}'", name));
  }

  // ----- per-function state --------------------------------------------------------------------

  void begin(Function &f) {
    evaluations_ = 0;
    outerCall_ = nullptr;
    function_ = &f;
    builder_ = std::make_unique<Builder>(f);
    frames_.clear();
  }

  Function end() {
    Function f = std::move(*function_);
    builder_.reset();
    function_ = nullptr;
    frames_.clear();
    return f;
  }

  Function &function() { return *function_; }
  Builder &builder() { return *builder_; }
  Frame &frame() { return frames_.back(); }

  void addDimParam(const std::string &name) {
    auto &dp = function().dimParams;
    if (std::find(dp.begin(), dp.end(), name) == dp.end())
      dp.push_back(name);
  }

  void bindName(const std::string &name, SourceRange range, SVal value) {
    if (isBuiltinName(name))
      fail(src_, range, fmt::format("'{}' is a built-in and cannot be rebound", name));
    if (frame().values.count(name))
      fail(src_, range, fmt::format("'{}' is already bound in {}", name, frame().owner));
    frame().values.emplace(name, std::move(value));
  }

  void declareFreeVariable(const std::string &name) {
    if (frame().values.count(name))
      return;
    frame().values.emplace(name, Val{builder().input(name, Type{DType::F64, {}})});
  }

  SVal evalBody(const ast::FnDecl &fn) {
    for (const ast::Binding &b : fn.bindings)
      bindName(b.name, b.nameRange, eval(*b.value));
    return eval(*fn.result);
  }

  void checkReturnType(const ast::FnDecl &fn, const SVal &result) {
    if (!fn.returnType)
      return;
    Type want = resolveType(*fn.returnType, false);
    Type got = typeOf(result, want.dtype);
    if (got != want)
      fail(src_, fn.result->range,
           fmt::format("'{}' returns {}, but its signature says {}", fn.name, got.str(),
                       want.str()));
  }

  ValueId finishResult(const SVal &result, const Expr &where) {
    ValueId id = materialize(result, DType::F64, where.range);
    if (builder().typeOf(id).dtype == DType::Bool)
      id = builder().convert(id, DType::F64);
    return id;
  }

  // ----- types and dimensions ------------------------------------------------------------------

  /// Resolves `f64[n, 5*d]`. With bindNewDims, unknown single names become runtime dimensions of
  /// the function being compiled.
  Type resolveType(const ast::TypeExpr &t, bool bindNewDims) {
    auto dtype = parseDType(t.dtype);
    if (!dtype || *dtype == DType::Bool)
      fail(src_, t.range, fmt::format("unknown type '{}' (expected f32, f64 or i32)", t.dtype));
    Type out{*dtype, {}};
    for (const ast::ExprPtr &d : t.dims) {
      if (bindNewDims && d->kind == ExprKind::Name && !lookupDim(d->name) &&
          !frame().values.count(d->name) && !lets_.count(d->name)) {
        if (isBuiltinName(d->name))
          fail(src_, d->range, fmt::format("'{}' is a built-in and cannot be rebound", d->name));
        frame().dims[d->name] = Dim::symbol(d->name);
        addDimParam(d->name);
      }
      out.shape.push_back(evalSize(*d));
    }
    return out;
  }

  std::optional<Dim> lookupDim(const std::string &name) {
    auto it = frame().dims.find(name);
    if (it != frame().dims.end())
      return it->second;
    return std::nullopt;
  }

  std::string_view textOf(const Expr &e) const {
    return std::string_view(src_.text()).substr(e.range.begin, e.range.end - e.range.begin);
  }

  /// A dimension that becomes the extent of an axis, so must not be a negative constant.
  Dim evalSize(const Expr &e) {
    Dim d = evalDim(e);
    if (d.isConstant() && d.constant() < 0)
      fail(src_, e.range, fmt::format("a dimension must not be negative, got {}", d.str()));
    return d;
  }

  /// Integer arithmetic over dimension names: `5*d`, `D*(D-1)/2`.
  Dim evalDim(const Expr &e) {
    switch (e.kind) {
    case ExprKind::Number: {
      if (e.number != std::floor(e.number))
        fail(src_, e.range, "a dimension must be an integer");
      auto v = exactInt(e.number);
      if (!v)
        fail(src_, e.range, fmt::format("dimension {} is too large", textOf(e)));
      return Dim(*v);
    }
    case ExprKind::Name: {
      if (auto d = lookupDim(e.name))
        return *d;
      auto let = lets_.find(e.name);
      if (let != lets_.end() && let->second.value == std::floor(let->second.value)) {
        auto v = exactInt(let->second.value);
        if (!v)
          fail(src_, e.range,
               fmt::format("dimension '{}' is too large: {}", e.name, let->second.value));
        return Dim(*v);
      }
      fail(src_, e.range, fmt::format("unknown dimension '{}'", e.name));
    }
    case ExprKind::Unary:
      if (e.op == "-")
        return Dim(0) - evalDim(*e.args[0]);
      return evalDim(*e.args[0]);
    case ExprKind::Binary: {
      Dim a = evalDim(*e.args[0]), b = evalDim(*e.args[1]);
      if (e.op == "+")
        return a + b;
      if (e.op == "-")
        return a - b;
      if (e.op == "*")
        return a * b;
      if (e.op == "/") {
        auto q = Dim::divide(a, b);
        if (!q)
          fail(src_, e.range,
               fmt::format("'/' in a dimension must divide exactly: {} / {}", a.str(), b.str()));
        return *q;
      }
      break;
    }
    default:
      break;
    }
    fail(src_, e.range, "expected a dimension: an integer, a dimension name or + - * / of them");
  }

  /// A constant number (an initializer argument, `alpha`).
  double constantNumber(const Expr &e, const char *what) {
    SVal v = eval(e);
    if (const auto *n = std::get_if<Number>(&v))
      return n->value;
    if (const auto *d = std::get_if<DimNumber>(&v); d && d->dim.isConstant())
      return static_cast<double>(d->dim.constant());
    fail(src_, e.range, fmt::format("expected a constant number for {}", what));
  }

  std::int64_t constantInt(const Expr &e, const char *what) {
    double v = constantNumber(e, what);
    if (v != std::floor(v))
      fail(src_, e.range, fmt::format("expected an integer for {}", what));
    auto i = exactInt(v);
    if (!i)
      fail(src_, e.range, fmt::format("{} is too large: {}", what, textOf(e)));
    return *i;
  }

  // ----- typed views of analysis values --------------------------------------------------------

  /// The type a value would have when materialized with `floatType` for untyped numbers.
  Type typeOf(const SVal &v, DType floatType) {
    if (const auto *val = std::get_if<Val>(&v))
      return builder().typeOf(val->id);
    if (!isFloat(floatType))
      floatType = DType::F64;
    if (const auto *arr = std::get_if<NumberArray>(&v))
      return Type{floatType, arr->shape};
    return Type{floatType, {}};
  }

  /// Turns an analysis value into an IR value; untyped numbers take `dtype`.
  ValueId materialize(const SVal &v, DType dtype, SourceRange range) {
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

  /// A typed value; i32 and bool values are converted to `floatType` when `floatType` is a float.
  ValueId asTyped(const SVal &v, DType dtype, SourceRange range) {
    return materialize(v, dtype, range);
  }

  /// A float IR value (i32 and bool converted to f64, or to `preferred`).
  ValueId asFloat(const SVal &v, SourceRange range, DType preferred = DType::F64) {
    ValueId id = materialize(v, preferred, range);
    DType t = builder().typeOf(id).dtype;
    if (!isFloat(t))
      id = builder().convert(id, isFloat(preferred) ? preferred : DType::F64);
    return id;
  }

  static bool isUntyped(const SVal &v) { return !std::holds_alternative<Val>(v); }

  static bool isIntegral(const SVal &v) {
    if (const auto *n = std::get_if<Number>(&v))
      return n->isInteger;
    if (const auto *arr = std::get_if<NumberArray>(&v))
      return arr->allIntegers;
    return std::holds_alternative<DimNumber>(v);
  }

  /// Brings two operands of an elementwise operation to one dtype and one (broadcast) shape.
  /// `intOk`: i32 operands may stay i32 (`+ - *`, max, min, comparisons).
  std::pair<ValueId, ValueId> unify(const SVal &a, const SVal &b, const Expr &where,
                                    std::string_view opName, bool intOk, SourceRange ra,
                                    SourceRange rb) {
    DType target = DType::F64;
    const Val *va = std::get_if<Val>(&a), *vb = std::get_if<Val>(&b);
    if (va && vb) {
      DType ta = builder().typeOf(va->id).dtype, tb = builder().typeOf(vb->id).dtype;
      if (isFloat(ta) && isFloat(tb) && ta != tb)
        fail(src_, where.range,
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
        fail(src_, where.range,
             fmt::format("shape mismatch in '{}': {} vs {}", opName, tx.str(), ty.str()));
      x = builder().broadcast(x, *shape);
      y = builder().broadcast(y, *shape);
    }
    return {x, y};
  }

  // ----- expressions ---------------------------------------------------------------------------

  SVal eval(const Expr &e) {
    // Sema recurses over the tree; the parser bounds nesting, this bounds long operator chains.
    if (++depth_ > 20000)
      fail(src_, e.range, "expression nested too deeply");
    if (++evaluations_ > kMaxEvaluations) {
      if (outerCall_)
        fail(src_, outerCall_->range,
             fmt::format("this call expands to more than {} operations when inlined",
                         kMaxEvaluations));
      fail(src_, e.range, fmt::format("definition too large (more than {} operations)",
                                      kMaxEvaluations));
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
    fail(src_, e.range, "unsupported expression");
  }

  SVal lookupName(const Expr &e) {
    auto it = frame().values.find(e.name);
    if (it != frame().values.end())
      return it->second;
    if (auto d = lookupDim(e.name))
      return d->isConstant() ? SVal{Number{static_cast<double>(d->constant()), true}}
                             : SVal{DimNumber{*d}};
    auto let = lets_.find(e.name);
    if (let != lets_.end())
      return let->second;
    if (e.name == "pi")
      return Number{std::numbers::pi, false};
    if (loneExpression_ && !isBuiltinName(e.name) && !fns_.count(e.name)) {
      declareFreeVariable(e.name);
      return frame().values.at(e.name);
    }
    if (fns_.count(e.name) || isBuiltinName(e.name))
      fail(src_, e.range, fmt::format("'{}' is a function; call it with arguments", e.name));
    fail(src_, e.range, fmt::format("unknown name '{}'", e.name));
  }

  SVal negate(const SVal &x, const Expr &e) {
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

  SVal evalBinary(const Expr &e) {
    const std::string &op = e.op;
    SVal a = eval(*e.args[0]);
    SVal b = eval(*e.args[1]);
    if (op == "@")
      return matmul(a, b, e);
    static const std::map<std::string, Op> ops = {
        {"+", Op::Add}, {"-", Op::Sub}, {"*", Op::Mul}, {"/", Op::Div}, {"^", Op::Pow},
        {"<", Op::Lt},  {"<=", Op::Le}, {">", Op::Gt},  {">=", Op::Ge}, {"==", Op::Eq},
        {"!=", Op::Ne}};
    auto it = ops.find(op);
    if (it == ops.end())
      fail(src_, e.opRange, fmt::format("unknown operator '{}'", op));
    return binaryOp(it->second, a, b, e, *e.args[0], *e.args[1], op);
  }

  SVal add(const SVal &a, const SVal &b, const Expr &where) {
    return binaryOp(Op::Add, a, b, where, where, where, "+");
  }

  /// An elementwise binary op with numpy broadcasting and the language's dtype rules.
  SVal binaryOp(Op op, const SVal &a, const SVal &b, const Expr &where, const Expr &ea,
                const Expr &eb, std::string_view name) {
    const auto *na = std::get_if<Number>(&a), *nb = std::get_if<Number>(&b);
    bool isCompare = op == Op::Lt || op == Op::Le || op == Op::Gt || op == Op::Ge ||
                     op == Op::Eq || op == Op::Ne;
    if (na && nb && !isCompare) {
      double v = foldWithOp(op, {na->value, nb->value});
      bool integral = na->isInteger && nb->isInteger && op != Op::Div && op != Op::Pow &&
                      v == std::floor(v);
      return Number{v, integral};
    }
    bool intOk = op == Op::Add || op == Op::Sub || op == Op::Mul || op == Op::Max ||
                 op == Op::Min || isCompare;
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

  /// numpy matmul: vector@vector is a dot product, matrix@vector, vector@matrix, and batched
  /// matrix@matrix with broadcast leading dimensions.
  SVal matmul(const SVal &a, const SVal &b, const Expr &where) {
    // An untyped operand (an array literal) takes the float type of the other one.
    DType preferred = DType::F64;
    for (const SVal *v : {&a, &b})
      if (const auto *val = std::get_if<Val>(v); val && isFloat(builder().typeOf(val->id).dtype))
        preferred = builder().typeOf(val->id).dtype;
    ValueId x = asFloat(a, where.range, preferred), y = asFloat(b, where.range, preferred);
    Type tx = builder().typeOf(x), ty = builder().typeOf(y);
    auto mismatch = [&] {
      fail(src_, where.range, fmt::format("shape mismatch in '@': {} vs {}", tx.str(), ty.str()));
    };
    if (tx.dtype != ty.dtype)
      fail(src_, where.range,
           fmt::format("cannot mix f32 and f64 in '@': {} vs {} (convert one with f32(...) or "
                       "f64(...))",
                       tx.str(), ty.str()));
    if (tx.isScalar() || ty.isScalar())
      fail(src_, where.range,
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

  ValueId transposeAll(ValueId x) {
    std::size_t r = builder().typeOf(x).rank();
    std::vector<std::int64_t> perm(r);
    for (std::size_t i = 0; i < r; ++i)
      perm[i] = static_cast<std::int64_t>(r - 1 - i);
    return builder().transpose(x, perm);
  }

  SVal unaryOp(Op op, const SVal &x, const Expr &where, std::vector<double> floatAttrs = {}) {
    std::vector<AttrValue> attrs;
    for (double a : floatAttrs)
      attrs.emplace_back(a);
    if (const auto *n = std::get_if<Number>(&x))
      return Number{foldWithOp(op, {n->value}, attrs), false};
    ValueId id = asFloat(x, where.range);
    if (attrs.empty())
      return Val{builder().unary(op, id)};
    return Val{builder().emit(op, {id}, std::move(attrs))};
  }

  // gelu(x) = x * Phi(x) = x/2 * (1 + erf(x / sqrt 2)), the exact form.
  SVal gelu(const SVal &x, const Expr &where) {
    SVal scaled = binaryOp(Op::Mul, x, Number{1 / std::numbers::sqrt2, false}, where, where,
                           where, "*");
    SVal phi = binaryOp(Op::Add, Number{1, true}, unaryOp(Op::Erf, scaled, where), where, where,
                        where, "+");
    SVal half = binaryOp(Op::Mul, x, Number{0.5, false}, where, where, where, "*");
    return binaryOp(Op::Mul, half, phi, where, where, where, "*");
  }

  // swish(x, beta) = x * sigmoid(beta x)
  SVal swish(const SVal &x, double beta, const Expr &where) {
    SVal bx = binaryOp(Op::Mul, Number{beta, false}, x, where, where, where, "*");
    return binaryOp(Op::Mul, x, unaryOp(Op::Sigmoid, bx, where), where, where, where, "*");
  }

  // ----- calls ---------------------------------------------------------------------------------

  /// Matches positional and keyword arguments to the named slots of a built-in; the first
  /// `required` slots must be given.
  std::vector<const Expr *> bindArgs(const Expr &call, std::vector<std::string> slots,
                                     std::size_t required) {
    std::vector<const Expr *> out(slots.size(), nullptr);
    if (call.args.size() > slots.size())
      fail(src_, call.range,
           fmt::format("'{}' takes {} {} argument{}, got {}", call.name,
                       required == slots.size() ? "exactly" : "at most", slots.size(),
                       slots.size() == 1 ? "" : "s", call.args.size()));
    for (std::size_t i = 0; i < call.args.size(); ++i)
      out[i] = call.args[i].get();
    for (const ast::KeywordArg &kw : call.kwargs) {
      auto it = std::find(slots.begin(), slots.end(), kw.name);
      if (it == slots.end())
        fail(src_, kw.range,
             fmt::format("'{}' has no argument named '{}'", call.name, kw.name));
      auto slot = static_cast<std::size_t>(it - slots.begin());
      if (out[slot])
        fail(src_, kw.range, fmt::format("argument '{}' of '{}' is given twice", kw.name,
                                         call.name));
      out[slot] = kw.value.get();
    }
    for (std::size_t i = 0; i < required; ++i)
      if (!out[i])
        fail(src_, call.range,
             fmt::format("'{}' needs {} argument{}, got {}", call.name, required,
                         required == 1 ? "" : "s", call.args.size() + call.kwargs.size()));
    return out;
  }

  /// Rejects keyword arguments for calls whose arguments are all positional (variadic ones).
  std::int64_t axisKeyword(const Expr &call, std::int64_t fallback) {
    std::int64_t axis = fallback;
    bool seen = false;
    for (const ast::KeywordArg &kw : call.kwargs) {
      if (kw.name != "axis")
        fail(src_, kw.range, fmt::format("'{}' has no argument named '{}'", call.name, kw.name));
      if (seen)
        fail(src_, kw.range, fmt::format("argument 'axis' of '{}' is given twice", call.name));
      seen = true;
      axis = constantInt(*kw.value, "'axis'");
    }
    return axis;
  }

  std::int64_t resolveAxis(std::int64_t axis, std::size_t rank, const Expr &where) {
    auto a = normalizeAxis(axis, rank);
    if (!a)
      fail(src_, where.range,
           fmt::format("axis {} is out of range for a tensor of rank {}", axis, rank));
    return *a;
  }

  SVal evalCall(const Expr &call) {
    const std::string &name = call.name;
    if (auto fn = fns_.find(name); fn != fns_.end()) {
      if (!call.kwargs.empty())
        fail(src_, call.kwargs[0].range,
             fmt::format("'{}' takes positional arguments only", name));
      std::vector<SVal> args;
      for (const ast::ExprPtr &a : call.args)
        args.push_back(eval(*a));
      return inlineCall(*fn->second, std::move(args), call);
    }
    if (auto u = unaryBuiltins().find(name); u != unaryBuiltins().end()) {
      auto args = bindArgs(call, {"x"}, 1);
      return unaryOp(u->second, eval(*args[0]), call);
    }
    if (name == "leaky_relu") {
      auto args = bindArgs(call, {"x", "alpha"}, 1);
      double alpha = args[1] ? constantNumber(*args[1], "'alpha'") : 0.01;
      return unaryOp(Op::LeakyRelu, eval(*args[0]), call, {alpha});
    }
    if (name == "hardtanh") {
      auto args = bindArgs(call, {"x", "lo", "hi"}, 1);
      double lo = args[1] ? constantNumber(*args[1], "'lo'") : -1.0;
      double hi = args[2] ? constantNumber(*args[2], "'hi'") : 1.0;
      if (lo > hi)
        fail(src_, call.range, fmt::format("hardtanh needs lo <= hi, got {} > {}", lo, hi));
      return unaryOp(Op::Hardtanh, eval(*args[0]), call, {lo, hi});
    }
    if (name == "polygamma") {
      auto args = bindArgs(call, {"k", "x"}, 2);
      std::int64_t k = constantInt(*args[0], "the order of polygamma");
      if (k < 0)
        fail(src_, args[0]->range, "the order of polygamma must be 0 or more");
      SVal x = eval(*args[1]);
      if (const auto *n = std::get_if<Number>(&x))
        return Number{foldWithOp(Op::Polygamma, {n->value}, {k}), false};
      return Val{builder().emit(Op::Polygamma, {asFloat(x, call.range)}, {k})};
    }
    if (name == "gelu") {
      auto args = bindArgs(call, {"x"}, 1);
      return gelu(eval(*args[0]), call);
    }
    if (name == "swish") {
      auto args = bindArgs(call, {"x", "beta"}, 1);
      double beta = args[1] ? constantNumber(*args[1], "'beta'") : 1.0;
      return swish(eval(*args[0]), beta, call);
    }
    if (name == "pow") {
      auto args = bindArgs(call, {"a", "b"}, 2);
      return binaryOp(Op::Pow, eval(*args[0]), eval(*args[1]), call, *args[0], *args[1], "pow");
    }
    if (name == "max" || name == "min") {
      bool isMax = name == "max";
      if (call.args.size() == 2 && call.kwargs.empty())
        return binaryOp(isMax ? Op::Max : Op::Min, eval(*call.args[0]), eval(*call.args[1]), call,
                        *call.args[0], *call.args[1], name);
      return reduce(isMax ? Op::ReduceMax : Op::ReduceMin, call);
    }
    if (name == "where")
      return where(call);
    if (name == "sum")
      return reduce(Op::ReduceSum, call);
    if (name == "logsumexp")
      return reduce(Op::LogSumExp, call);
    if (name == "mean")
      return mean(call);
    if (name == "norm") {
      auto args = bindArgs(call, {"x", "axis"}, 1);
      SVal x = eval(*args[0]);
      SVal sq = binaryOp(Op::Mul, x, x, call, *args[0], *args[0], "*");
      return unaryOp(Op::Sqrt, reduceValue(Op::ReduceSum, sq, args[1], call), call);
    }
    if (name == "dot") {
      auto args = bindArgs(call, {"a", "b"}, 2);
      return matmul(eval(*args[0]), eval(*args[1]), call);
    }
    if (name == "outer")
      return outer(call);
    if (name == "transpose") {
      auto args = bindArgs(call, {"x", "perm"}, 1);
      ValueId x = materialize(eval(*args[0]), DType::F64, args[0]->range);
      if (!args[1])
        return Val{transposeAll(x)};
      std::vector<std::int64_t> perm;
      for (const ast::ExprPtr &p : arrayElements(*args[1], "a permutation"))
        perm.push_back(constantInt(*p, "a permutation entry"));
      auto r = builder().tryEmit(Op::Transpose, {x}, {perm});
      if (!r)
        fail(src_, args[1]->range, r.error().list.front().message);
      return Val{*r};
    }
    if (name == "reshape") {
      auto args = bindArgs(call, {"x", "shape"}, 2);
      ValueId x = materialize(eval(*args[0]), DType::F64, args[0]->range);
      Shape shape = shapeArgument(*args[1], builder().typeOf(x).shape);
      auto r = builder().tryEmit(Op::Reshape, {x}, {shape});
      if (!r)
        fail(src_, call.range, r.error().list.front().message);
      return Val{*r};
    }
    if (name == "flatten") {
      auto args = bindArgs(call, {"x"}, 1);
      ValueId x = materialize(eval(*args[0]), DType::F64, args[0]->range);
      Dim n(1);
      for (const Dim &d : builder().typeOf(x).shape)
        n = n * d;
      return Val{builder().reshape(x, {n})};
    }
    if (name == "concat" || name == "stack")
      return concatOrStack(call, name == "stack");
    if (name == "zeros" || name == "ones")
      return filled(call, name == "ones" ? 1.0 : 0.0);
    if (name == "eye") {
      auto args = bindArgs(call, {"n"}, 1);
      Dim n = evalSize(*args[0]);
      Shape s{n, n};
      ValueId rows = builder().emit(Op::Iota, {}, {s, std::int64_t{0}});
      ValueId cols = builder().emit(Op::Iota, {}, {s, std::int64_t{1}});
      return Val{builder().binary(Op::Eq, rows, cols)};
    }
    if (name == "arange") {
      auto args = bindArgs(call, {"n"}, 1);
      Dim n = evalSize(*args[0]);
      return Val{builder().emit(Op::Iota, {}, {Shape{n}, std::int64_t{0}})};
    }
    if (name == "diag") {
      auto args = bindArgs(call, {"v"}, 1);
      ValueId v = asFloat(eval(*args[0]), args[0]->range);
      return Val{emitChecked(Op::Diag, {v}, {}, call)};
    }
    if (name == "lower") {
      auto args = bindArgs(call, {"v", "n"}, 2);
      ValueId v = asFloat(eval(*args[0]), args[0]->range);
      return Val{emitChecked(Op::Lower, {v}, {Shape{evalSize(*args[1])}}, call)};
    }
    if (name == "softmax" || name == "log_softmax") {
      auto args = bindArgs(call, {"x", "axis"}, 1);
      ValueId x = asFloat(eval(*args[0]), args[0]->range);
      std::int64_t axis = args[1] ? constantInt(*args[1], "'axis'") : -1;
      return Val{softmax(x, resolveAxis(axis, builder().typeOf(x).rank(), call),
                         name == "log_softmax")};
    }
    if (name == "cross_entropy")
      return crossEntropy(call);
    if (name == "binary_cross_entropy") {
      // -(y log p + (1 - y) log(1 - p)), with logs clamped at -100 as PyTorch's BCELoss.
      auto args = bindArgs(call, {"p", "y"}, 2);
      SVal p = eval(*args[0]), y = eval(*args[1]);
      checkOperands(p, y, call);
      shareFloatType(p, y, *args[0], *args[1]);
      auto clampedLog = [&](SVal v) {
        return binaryOp(Op::Max, unaryOp(Op::Log, v, call), Number{-100, true}, call, call,
                        call, "max");
      };
      SVal oneMinusP = binaryOp(Op::Sub, Number{1, true}, p, call, call, *args[0], "-");
      SVal oneMinusY = binaryOp(Op::Sub, Number{1, true}, y, call, call, *args[1], "-");
      SVal pos = binaryOp(Op::Mul, y, clampedLog(p), call, *args[1], *args[0], "*");
      SVal negTerm = binaryOp(Op::Mul, oneMinusY, clampedLog(oneMinusP), call, call, call, "*");
      return negate(binaryOp(Op::Add, pos, negTerm, call, call, call, "+"), call);
    }
    if (name == "bce_with_logits") {
      // softplus(s) - y s: stable for any logit.
      auto args = bindArgs(call, {"s", "y"}, 2);
      SVal s = eval(*args[0]), y = eval(*args[1]);
      checkOperands(s, y, call);
      shareFloatType(s, y, *args[0], *args[1]);
      SVal ys = binaryOp(Op::Mul, y, s, call, *args[1], *args[0], "*");
      return binaryOp(Op::Sub, unaryOp(Op::Softplus, s, call), ys, call, call, call, "-");
    }
    if (name == "mse" || name == "mae") {
      auto args = bindArgs(call, {"a", "b"}, 2);
      SVal d = binaryOp(Op::Sub, eval(*args[0]), eval(*args[1]), call, *args[0], *args[1], name);
      SVal e = name == "mse" ? binaryOp(Op::Mul, d, d, call, call, call, "*")
                             : unaryOp(Op::Abs, d, call);
      return meanValue(e, nullptr, call);
    }
    if (name == "f32" || name == "f64") {
      auto args = bindArgs(call, {"x"}, 1);
      DType to = name == "f32" ? DType::F32 : DType::F64;
      return Val{builder().convert(materialize(eval(*args[0]), to, args[0]->range), to)};
    }
    if (name == "take" || name == "take_along")
      return take(call, name == "take_along");
    if (name == "diff")
      return derivative(call);
    if (name == "dense" || name == "embedding")
      fail(src_, call.opRange,
           fmt::format("'{}' is a layer: use it in a model as `layer NAME = {}(...)`", name, name));
    if (name == currentFn_)
      fail(src_, call.opRange,
           fmt::format("'{}' calls itself, but recursion is not supported", name));
    if (declaredFns_.count(name))
      fail(src_, call.opRange,
           fmt::format("'{}' is defined later in the file; a function can only call functions "
                       "defined before it",
                       name));
    fail(src_, call.opRange, fmt::format("unknown function '{}'", name));
  }

  /// The dtype and shape rules of an elementwise built-in of two arguments, checked before it is
  /// expanded so that an error names the built-in and its arguments in order, not an inner '*'.
  void checkOperands(const SVal &a, const SVal &b, const Expr &call) {
    DType floatType = DType::F64; // what untyped operands become: the typed operand's float type
    for (const SVal *v : {&b, &a})
      if (const auto *val = std::get_if<Val>(v); val && isFloat(builder().typeOf(val->id).dtype))
        floatType = builder().typeOf(val->id).dtype;
    Type ta = typeOf(a, floatType), tb = typeOf(b, floatType);
    if (isFloat(ta.dtype) && isFloat(tb.dtype) && ta.dtype != tb.dtype)
      fail(src_, call.range,
           fmt::format("cannot mix f32 and f64 in '{}': {} vs {} (convert one with f32(...) or "
                       "f64(...))",
                       call.name, ta.str(), tb.str()));
    if (!broadcastShapes(ta.shape, tb.shape))
      fail(src_, call.range,
           fmt::format("shape mismatch in '{}': {} vs {}", call.name, ta.str(), tb.str()));
  }

  /// Gives an untyped argument (`[1, 0, 1]`) the float type of a typed one, as a single
  /// elementwise op would; the loss built-ins' expansions meet them only after other ops have
  /// made the untyped one f64.
  void shareFloatType(SVal &a, SVal &b, const Expr &ea, const Expr &eb) {
    if (isUntyped(a) == isUntyped(b))
      return;
    DType t = typeOf(isUntyped(a) ? b : a, DType::F64).dtype;
    if (!isFloat(t))
      return;
    if (isUntyped(a))
      a = Val{materialize(a, t, ea.range)};
    else
      b = Val{materialize(b, t, eb.range)};
  }

  /// diff(expr, x) and diff(expr, x, k): the derivative of `expr` with respect to the value `x`
  /// (an argument or any binding: other values are held fixed), built in place from the ops'
  /// own rules. For a tensor x and a scalar expr it is the gradient, shaped like x.
  SVal derivative(const Expr &call) {
    auto args = bindArgs(call, {"expr", "x", "k"}, 2);
    if (args[1]->kind != ExprKind::Name)
      fail(src_, args[1]->range, "diff differentiates with respect to a name, e.g. diff(x^2, x)");
    SVal var = lookupName(*args[1]);
    const Val *xv = std::get_if<Val>(&var);
    if (!xv || !isFloat(builder().typeOf(xv->id).dtype))
      fail(src_, args[1]->range,
           fmt::format("'{}' must be a float value to differentiate with respect to it",
                       args[1]->name));
    std::int64_t order = args[2] ? constantInt(*args[2], "the order of diff") : 1;
    if (order < 1)
      fail(src_, args[2]->range, "the order of diff must be 1 or more");
    ValueId x = xv->id;
    Type xt = builder().typeOf(x);
    SVal e = eval(*args[0]);
    if (!std::holds_alternative<Val>(e)) // a constant: its derivative is zero
      return Val{builder().constantLike(0, xt)};
    ValueId y = asFloat(e, args[0]->range, xt.dtype);
    Type yt = builder().typeOf(y);
    if (yt.dtype != xt.dtype)
      fail(src_, call.range,
           fmt::format("cannot differentiate {} with respect to {}", yt.str(), xt.str()));
    std::vector<ValueId> identity(function().insts.size());
    auto renumber = [&] {
      identity.resize(function().insts.size());
      for (std::size_t i = 0; i < identity.size(); ++i)
        identity[i] = static_cast<ValueId>(i);
    };
    if (!xt.isScalar()) {
      if (!yt.isScalar())
        fail(src_, call.range,
             fmt::format("diff of {} with respect to {}: the expression must be a scalar (the "
                         "gradient is shaped like the variable)",
                         yt.str(), xt.str()));
      if (order != 1)
        fail(src_, args[2]->range, "higher derivatives need a scalar variable");
      renumber();
      std::vector<ValueId> wrt{x};
      auto adjoint = pullCotangents(builder(), function(), identity, y,
                                    builder().constant(1, yt.dtype), wrt);
      return Val{x < adjoint.size() && adjoint[x] ? *adjoint[x] : builder().constantLike(0, xt)};
    }
    for (std::int64_t k = 0; k < order; ++k) {
      std::size_t end = function().insts.size();
      renumber();
      std::map<ValueId, ValueId> seeds{{x, builder().constant(1, xt.dtype)}};
      auto tangent = pushTangents(builder(), function(), identity, seeds, end);
      y = tangent[y] ? *tangent[y] : builder().constantLike(0, builder().typeOf(y));
    }
    return Val{y};
  }

  ValueId emitChecked(Op op, std::vector<ValueId> operands, std::vector<AttrValue> attrs,
                      const Expr &where) {
    auto r = builder().tryEmit(op, std::move(operands), std::move(attrs));
    if (!r)
      fail(src_, where.range, r.error().list.front().message);
    return *r;
  }

  /// Inlines a user function: binds its parameters (and the dimensions their types name) to the
  /// arguments, then evaluates its body in a fresh scope.
  SVal inlineCall(const ast::FnDecl &fn, std::vector<SVal> args, const Expr &call) {
    if (args.size() != fn.params.size())
      fail(src_, call.range,
           fmt::format("'{}' takes {} argument{}, got {}", fn.name, fn.params.size(),
                       fn.params.size() == 1 ? "" : "s", args.size()));
    if (frames_.size() > 200)
      fail(src_, call.range, "calls nested too deeply");
    Frame callee{{}, {}, fmt::format("function '{}'", fn.name)};
    for (std::size_t i = 0; i < args.size(); ++i) {
      const ast::Param &p = fn.params[i];
      SVal arg = args[i];
      if (p.type) {
        auto dtype = parseDType(p.type->dtype);
        if (!dtype)
          fail(src_, p.type->range, fmt::format("unknown type '{}'", p.type->dtype));
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
          fail(src_, call.args[i]->range,
               fmt::format("argument '{}' of '{}' must be {}, got {}", p.name, fn.name,
                           Type{*dtype, want}.str(), got.str()));
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

  /// Reduction with an optional `axis=`; `sum(x)` reduces every axis.
  SVal reduce(Op op, const Expr &call) {
    auto args = bindArgs(call, {"x", "axis"}, 1);
    return reduceValue(op, eval(*args[0]), args[1], call);
  }

  std::vector<std::int64_t> reductionAxes(ValueId x, const Expr *axisArg, const Expr &call) {
    std::size_t rank = builder().typeOf(x).rank();
    std::vector<std::int64_t> axes;
    if (axisArg) {
      axes.push_back(resolveAxis(constantInt(*axisArg, "'axis'"), rank, *axisArg));
    } else {
      for (std::size_t i = 0; i < rank; ++i)
        axes.push_back(static_cast<std::int64_t>(i));
    }
    return axes;
  }

  SVal reduceValue(Op op, const SVal &v, const Expr *axisArg, const Expr &call) {
    if (std::holds_alternative<Number>(v) && !axisArg)
      return v; // a reduction of one number is that number
    ValueId x = asFloat(v, call.range);
    auto axes = reductionAxes(x, axisArg, call);
    if (axes.empty())
      return Val{x};
    return Val{builder().emit(op, {x}, {axes})};
  }

  SVal mean(const Expr &call) {
    auto args = bindArgs(call, {"x", "axis"}, 1);
    return meanValue(eval(*args[0]), args[1], call);
  }

  /// mean = sum / count, the count being a dimension (a runtime one becomes `dim_size`).
  SVal meanValue(const SVal &v, const Expr *axisArg, const Expr &call) {
    if (std::holds_alternative<Number>(v))
      return v;
    ValueId x = asFloat(v, call.range);
    auto axes = reductionAxes(x, axisArg, call);
    Dim count(1);
    for (std::int64_t a : axes)
      count = count * builder().typeOf(x).shape[static_cast<std::size_t>(a)];
    SVal total = Val{axes.empty() ? x : builder().emit(Op::ReduceSum, {x}, {axes})};
    SVal n = count.isConstant() ? SVal{Number{static_cast<double>(count.constant()), true}}
                                : SVal{DimNumber{count}};
    return binaryOp(Op::Div, total, n, call, call, call, "/");
  }

  SVal outer(const Expr &call) {
    auto args = bindArgs(call, {"a", "b"}, 2);
    ValueId a = asFloat(eval(*args[0]), args[0]->range);
    ValueId b = asFloat(eval(*args[1]), args[1]->range);
    // Copies: a reference into the builder's instruction list dangles once `reshape` appends.
    const Type ta = builder().typeOf(a), tb = builder().typeOf(b);
    if (ta.rank() != 1 || tb.rank() != 1)
      fail(src_, call.range,
           fmt::format("outer needs two vectors, got {} and {}", ta.str(), tb.str()));
    ValueId col = builder().reshape(a, {ta.shape[0], Dim(1)});
    ValueId row = builder().reshape(b, {Dim(1), tb.shape[0]});
    return binaryOp(Op::Mul, Val{col}, Val{row}, call, *args[0], *args[1], "outer");
  }

  SVal where(const Expr &call) {
    auto args = bindArgs(call, {"mask", "a", "b"}, 3);
    SVal m = eval(*args[0]);
    ValueId mask = materialize(m, DType::F64, args[0]->range);
    if (builder().typeOf(mask).dtype != DType::Bool) {
      // Like numpy, any nonzero entry selects the first branch.
      ValueId zero = builder().constantLike(0, builder().typeOf(mask));
      mask = builder().binary(Op::Ne, mask, zero);
    }
    auto [a, b] = unify(eval(*args[1]), eval(*args[2]), call, "where", true, args[1]->range,
                        args[2]->range);
    auto shape = broadcastShapes(builder().typeOf(mask).shape, builder().typeOf(a).shape);
    if (!shape)
      fail(src_, call.range,
           fmt::format("shape mismatch in 'where': mask {} vs branches {}",
                       builder().typeOf(mask).str(), builder().typeOf(a).str()));
    mask = builder().broadcast(mask, *shape);
    a = builder().broadcast(a, *shape);
    b = builder().broadcast(b, *shape);
    return Val{builder().emit(Op::Select, {mask, a, b})};
  }

  /// The reduction `op` over `axis` kept as a size-1 axis and broadcast back to x's shape.
  ValueId reduceKeep(Op op, ValueId x, std::int64_t axis) {
    Type t = builder().typeOf(x);
    ValueId r = builder().emit(op, {x}, {std::vector<std::int64_t>{axis}});
    Shape kept = t.shape;
    kept[static_cast<std::size_t>(axis)] = Dim(1);
    return builder().broadcast(builder().reshape(r, kept), t.shape);
  }

  /// x - max(x) along `axis`, the max held constant: every entry is <= 0 and the largest is
  /// exactly 0, so what follows neither overflows nor loses the largest entries to rounding.
  ValueId shiftByMax(ValueId x, std::int64_t axis) {
    return builder().sub(x, builder().unary(Op::StopGradient, reduceKeep(Op::ReduceMax, x, axis)));
  }

  // log_softmax(x) = s - logsumexp(s) and softmax(x) = exp(log_softmax(x)), s = x - max(x):
  // exact at logits of +-1e4 (subtracting a rounded logsumexp of x itself would lose |x| eps).
  ValueId softmax(ValueId x, std::int64_t axis, bool log) {
    ValueId shifted = shiftByMax(x, axis);
    ValueId logp = builder().sub(shifted, reduceKeep(Op::LogSumExp, shifted, axis));
    return log ? logp : builder().unary(Op::Exp, logp);
  }

  // cross_entropy(logits, y) = logsumexp(s) - s[y] with s = logits - max(logits), per example:
  // exact for any logits (the label's shifted logit is 0 when it is the largest).
  SVal crossEntropy(const Expr &call) {
    auto args = bindArgs(call, {"logits", "labels"}, 2);
    ValueId logits = asFloat(eval(*args[0]), args[0]->range);
    ValueId labels = materialize(eval(*args[1]), DType::I32, args[1]->range);
    const Type &tl = builder().typeOf(logits);
    const Type &ty = builder().typeOf(labels);
    if (ty.dtype != DType::I32)
      fail(src_, args[1]->range,
           fmt::format("cross_entropy needs i32 labels, got {}", ty.str()));
    Shape rows(tl.shape.begin(), tl.shape.end() - (tl.rank() ? 1 : 0));
    if (tl.rank() < 1 || ty.shape != rows)
      fail(src_, call.range,
           fmt::format("cross_entropy needs one label per row of logits: logits {} vs labels {}",
                       tl.str(), ty.str()));
    auto last = static_cast<std::int64_t>(tl.rank() - 1);
    ValueId shifted = shiftByMax(logits, last);
    ValueId lse = builder().emit(Op::LogSumExp, {shifted}, {std::vector<std::int64_t>{last}});
    Shape column = rows;
    column.push_back(Dim(1));
    ValueId picked = builder().emit(Op::TakeAlong, {shifted, builder().reshape(labels, column)},
                                    {last});
    return Val{builder().sub(lse, builder().reshape(picked, rows))};
  }

  SVal take(const Expr &call, bool along) {
    auto args = bindArgs(call, {"x", "ids", "axis"}, 2);
    ValueId x = materialize(eval(*args[0]), DType::F64, args[0]->range);
    ValueId ids = materialize(eval(*args[1]), DType::I32, args[1]->range);
    if (builder().typeOf(ids).dtype != DType::I32)
      fail(src_, args[1]->range,
           fmt::format("indices must be i32, got {}", builder().typeOf(ids).str()));
    std::int64_t axis = args[2] ? constantInt(*args[2], "'axis'") : 0;
    axis = resolveAxis(axis, builder().typeOf(x).rank(), call);
    return Val{emitChecked(along ? Op::TakeAlong : Op::Take, {x, ids}, {axis}, call)};
  }

  SVal concatOrStack(const Expr &call, bool stack) {
    if (call.args.empty())
      fail(src_, call.range, fmt::format("'{}' needs at least one tensor", call.name));
    std::vector<SVal> parts;
    for (const ast::ExprPtr &a : call.args)
      parts.push_back(eval(*a));
    // The first typed part decides the float type of untyped ones.
    DType dtype = DType::F64;
    for (const SVal &p : parts)
      if (const auto *v = std::get_if<Val>(&p); v && isFloat(builder().typeOf(v->id).dtype)) {
        dtype = builder().typeOf(v->id).dtype;
        break;
      }
    std::vector<ValueId> ids;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      ValueId id = materialize(parts[i], dtype, call.args[i]->range);
      if (builder().typeOf(id).dtype == DType::Bool)
        id = builder().convert(id, dtype);
      ids.push_back(id);
    }
    std::size_t rank = builder().typeOf(ids[0]).rank() + (stack ? 1 : 0);
    std::int64_t axis = resolveAxis(axisKeyword(call, 0), rank, call);
    if (stack) {
      const Type first = builder().typeOf(ids[0]);
      for (std::size_t i = 0; i < ids.size(); ++i) {
        Shape s = builder().typeOf(ids[i]).shape;
        if (s != first.shape)
          fail(src_, call.args[i]->range,
               fmt::format("stack needs tensors of one shape, got {} and {}", first.str(),
                           builder().typeOf(ids[i]).str()));
        s.insert(s.begin() + axis, Dim(1));
        ids[i] = builder().reshape(ids[i], s);
      }
    }
    if (ids.size() == 1)
      return Val{ids[0]};
    return Val{emitChecked(Op::Concat, ids, {axis}, call)};
  }

  SVal filled(const Expr &call, double value) {
    auto args = bindArgs(call, {"shape", "dtype"}, 1);
    Shape shape = shapeArgument(*args[0], {});
    NumberArray arr{{value}, shape, true, true};
    if (!args[1])
      return arr;
    if (args[1]->kind != ExprKind::Name || !parseDType(args[1]->name) ||
        *parseDType(args[1]->name) == DType::Bool)
      fail(src_, args[1]->range, "expected a dtype: f32, f64 or i32");
    return Val{materialize(arr, *parseDType(args[1]->name), call.range)};
  }

  const std::vector<ast::ExprPtr> &arrayElements(const Expr &e, const char *what) {
    if (e.kind != ExprKind::Array)
      fail(src_, e.range, fmt::format("expected {} as a list in brackets, e.g. [2, 3]", what));
    return e.args;
  }

  /// `[d1, d2]` in reshape/zeros/ones; in reshape, one entry may be -1 (inferred from `from`).
  Shape shapeArgument(const Expr &e, const Shape &from) {
    Shape shape;
    std::optional<std::size_t> inferred;
    for (const ast::ExprPtr &d : arrayElements(e, "a shape")) {
      Dim dim = evalDim(*d);
      if (dim.isConstant() && dim.constant() == -1 && !from.empty() && !inferred) {
        inferred = shape.size();
        shape.push_back(Dim(1));
        continue;
      }
      if (dim.isConstant() && dim.constant() < 0)
        fail(src_, d->range, fmt::format("a dimension must not be negative, got {}", dim.str()));
      shape.push_back(dim);
    }
    if (inferred) {
      Dim total(1), known(1);
      for (const Dim &d : from)
        total = total * d;
      for (const Dim &d : shape)
        known = known * d;
      if (!known.isConstant())
        fail(src_, e.range, "cannot infer the -1 in this shape: its other dimensions must be "
                            "constants");
      auto q = Dim::divide(total, known);
      if (!q)
        fail(src_, e.range,
             fmt::format("cannot infer the -1 in this shape: {} elements are not a multiple of {}",
                         total.str(), known.str()));
      shape[*inferred] = *q;
    }
    return shape;
  }

  /// `[1, 2]`, `[[1, 0], [0, 1]]`: untyped when every entry is a number, else a stack of values.
  SVal evalArray(const Expr &e) {
    if (e.args.empty())
      return NumberArray{{}, {Dim(0)}, false, true};
    std::vector<SVal> items;
    for (const ast::ExprPtr &a : e.args)
      items.push_back(eval(*a));
    bool allNumbers = true;
    for (const SVal &v : items)
      allNumbers = allNumbers && (std::holds_alternative<Number>(v) ||
                                  (std::holds_alternative<NumberArray>(v) &&
                                   !std::get<NumberArray>(v).splat));
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
          fail(src_, e.args[i]->range,
               fmt::format("array entries must have one shape: {} vs {}", shapeStr(inner),
                           shapeStr(s)));
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
        fail(src_, e.args[i]->range,
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
        fail(src_, e.args[i]->range,
             fmt::format("array entries must have one type: {} vs {}",
                         builder().typeOf(ids[0]).str(), builder().typeOf(id).str()));
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

  // ----- indexing --------------------------------------------------------------------------------

  /// x[i], x[i, j], x[a:b], x[:, j], E[ids]: static indices and slices become one `slice` and a
  /// `reshape`; one i32 tensor or scalar index becomes a `take` along its axis.
  SVal evalIndex(const Expr &e) {
    ValueId x = materialize(eval(*e.args[0]), DType::F64, e.args[0]->range);
    Type t = builder().typeOf(x);
    if (e.indices.size() > t.rank())
      fail(src_, e.range,
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
          fail(src_, item.range,
               fmt::format("an index must be an integer or an i32 tensor, got {}",
                           builder().typeOf(v->id).str()));
        if (gatherIds)
          fail(src_, item.range, "only one tensor index per indexing expression is supported");
        gatherAxis = axis;
        gatherIds = v->id;
        continue;
      }
      if (const auto *arr = std::get_if<NumberArray>(&idx)) {
        if (!arr->allIntegers)
          fail(src_, item.range, "an index must be an integer");
        if (gatherIds)
          fail(src_, item.range, "only one tensor index per indexing expression is supported");
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
      y = builder().emit(Op::Take, {y, *gatherIds},
                         {static_cast<std::int64_t>(gatherAfterDrop)});
    return Val{y};
  }

  /// A static index or slice bound; negative constants count from the end, as in numpy. An index
  /// must be below the axis's extent, a slice bound at most equal to it.
  Dim indexDim(const Expr &e, const Dim &extent, bool sliceBound, std::size_t axis,
               const Type &t) {
    SVal v = eval(e);
    auto outOfRange = [&] {
      fail(src_, e.range,
           fmt::format("{} {} is out of range for axis {} of {}",
                       sliceBound ? "slice bound" : "index", textOf(e), axis, t.str()));
    };
    Dim d;
    if (const auto *n = std::get_if<Number>(&v)) {
      if (n->value != std::floor(n->value))
        fail(src_, e.range, "an index must be an integer");
      auto i = exactInt(n->value);
      if (!i)
        outOfRange();
      d = Dim(*i);
      if (*i < 0)
        d = extent + d;
    } else if (const auto *dn = std::get_if<DimNumber>(&v)) {
      d = dn->dim;
    } else {
      fail(src_, e.range,
           "a slice bound must be an integer or a dimension name (use take(...) for i32 tensors)");
    }
    if (d.isConstant() && extent.isConstant() &&
        (d.constant() < 0 || d.constant() > extent.constant() ||
         (!sliceBound && d.constant() == extent.constant())))
      outOfRange();
    return d;
  }

  const SourceFile &src_;
  const SemaOptions &options_;
  std::map<std::string, Number> lets_;
  std::map<std::string, const ast::FnDecl *> fns_;
  std::set<std::string> globals_;
  Function *function_ = nullptr;
  std::unique_ptr<Builder> builder_;
  std::vector<Frame> frames_;
  bool loneExpression_ = false;
  int depth_ = 0;
  long evaluations_ = 0;
  const Expr *outerCall_ = nullptr; // the call of the definition's own body being inlined
  std::set<std::string> declaredFns_;
  std::string currentFn_;
};

} // namespace

bool isBuiltinName(const std::string &name) {
  return unaryBuiltins().count(name) || otherBuiltins().count(name);
}

Expected<Module> analyze(const ast::File &file, const SourceFile &source,
                         const SemaOptions &options) {
  try {
    return Sema(source, options).run(file);
  } catch (const DiagnosticException &e) {
    return e.diagnostic;
  } catch (const IrError &e) {
    return makeDiagnostic(std::string("internal error: ") + e.what());
  }
}

Expected<Module> compileSource(const SourceFile &source, const SemaOptions &options) {
  auto file = parseFile(source);
  if (!file)
    return file.takeError();
  return analyze(*file, source, options);
}

Expected<Function> analyzeExpression(const ast::ExprPtr &expr, const SourceFile &source,
                                     const std::vector<std::string> &variables,
                                     const std::string &name) {
  try {
    SemaOptions options;
    return Sema(source, options).compileLoneExpression(expr, variables, name);
  } catch (const DiagnosticException &e) {
    return e.diagnostic;
  } catch (const IrError &e) {
    return makeDiagnostic(std::string("internal error: ") + e.what());
  }
}

} // namespace nabla
