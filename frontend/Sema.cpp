// Semantic analysis: AST -> IR. This file holds the entry points, the top-level definitions, the
// per-function state, and types and dimensions; expressions, calls, layers and the built-ins are
// in the other files that share frontend/SemaImpl.h.
#include "frontend/Sema.h"

#include "frontend/Parser.h"
#include "frontend/SemaImpl.h"
#include "ir/Shapes.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace nabla {

namespace sema {

std::optional<std::int64_t> exactInt(double v) {
  constexpr double kLimit = 9007199254740992.0; // 2^53
  if (!(v >= -kLimit && v <= kLimit) || v != std::floor(v))
    return std::nullopt;
  return static_cast<std::int64_t>(v);
}

// ----- diagnostics -----------------------------------------------------------------------------

void Sema::fail(SourceRange range, std::string message) const {
  throw DiagnosticException{makeDiagnostic(src_, range, std::move(message))};
}

void Sema::failWithNote(SourceRange range, std::string message, SourceRange noteRange,
                        std::string note) const {
  Diagnostics d;
  d.list.push_back(makeDiagnostic(src_, range, std::move(message)));
  d.list.push_back(makeDiagnostic(src_, noteRange, std::move(note), Severity::Note));
  throw DiagnosticsException{std::move(d)};
}

void Sema::failSuggesting(SourceRange range, std::string message, const std::string &name,
                          const std::vector<std::string> &candidates) const {
  if (auto near = nearestName(name, candidates))
    failWithNote(range, std::move(message), range, fmt::format("did you mean '{}'?", *near));
  fail(range, std::move(message));
}

std::string_view Sema::textOf(const Expr &e) const {
  return std::string_view(src_.text()).substr(e.range.begin, e.range.end - e.range.begin);
}

// ----- top-level definitions -------------------------------------------------------------------

Module Sema::run(const ast::File &file) {
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

Function Sema::compileLoneExpression(const ast::ExprPtr &expr, const std::vector<std::string> &vars,
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

void Sema::claimGlobalName(const std::string &name, SourceRange range) {
  if (isBuiltinName(name))
    fail(range, fmt::format("'{}' is a built-in and cannot be redefined", name));
  if (!globals_.insert(name).second)
    fail(range, fmt::format("'{}' is already defined", name));
}

void Sema::defineLet(const ast::LetDecl &let) {
  claimGlobalName(let.name, let.nameRange);
  Function scratch;
  begin(scratch);
  frames_.push_back(Frame{{}, {}, "let"});
  SVal v = eval(*let.value);
  end();
  const auto *n = std::get_if<Number>(&v);
  if (!n)
    fail(let.value->range, fmt::format("a 'let' constant must be a number"));
  lets_[let.name] = *n;
}

Function Sema::compileFn(const ast::FnDecl &fn) {
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

Function Sema::compileModel(const ast::ModelDecl &model) {
  claimGlobalName(model.name, model.nameRange);
  Function f;
  f.name = model.name;
  f.kind = Function::Kind::Model;
  begin(f);
  frames_.push_back(Frame{{}, {}, fmt::format("model '{}'", model.name)});
  for (const ast::HeaderDim &d : model.dims) {
    if (isBuiltinName(d.name))
      fail(d.range, fmt::format("'{}' is a built-in and cannot be rebound", d.name));
    if (frame().dims.count(d.name))
      fail(d.range, fmt::format("dimension '{}' is already declared", d.name));
    auto over = options_.dims.find(d.name);
    if (over != options_.dims.end()) {
      frame().dims[d.name] = Dim(over->second);
    } else if (d.defaultValue) {
      Dim value = evalSize(*d.defaultValue);
      if (!value.isConstant())
        fail(d.defaultValue->range, "a dimension default must be a constant");
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
    case ast::ModelStmt::Kind::For:
      runStatement(*s.loop);
      break;
    case ast::ModelStmt::Kind::Loss: {
      if (loss)
        fail(s.range, fmt::format("model '{}' has more than one 'loss'", model.name));
      loss = &s;
      SVal v = eval(*s.value);
      ValueId id = materialize(v, DType::F64, s.value->range);
      const Type &t = builder().typeOf(id);
      if (!t.isScalar() || !isFloat(t.dtype))
        fail(s.value->range, fmt::format("the loss must be a float scalar, got {}", t.str()));
      f.result = id;
      break;
    }
    }
  }
  if (!loss)
    fail(model.nameRange, fmt::format("model '{}' has no 'loss'", model.name));
  return end();
}

// ----- per-function state ----------------------------------------------------------------------

void Sema::begin(Function &f) {
  evaluations_ = 0;
  outerCall_ = nullptr;
  function_ = &f;
  builder_ = std::make_unique<Builder>(f);
  frames_.clear();
  loops_.clear();
}

Function Sema::end() {
  Function f = std::move(*function_);
  builder_.reset();
  function_ = nullptr;
  frames_.clear();
  return f;
}

void Sema::addDimParam(const std::string &name) {
  auto &dp = function().dimParams;
  if (std::find(dp.begin(), dp.end(), name) == dp.end())
    dp.push_back(name);
}

void Sema::bindName(const std::string &name, SourceRange range, SVal value) {
  if (isBuiltinName(name))
    fail(range, fmt::format("'{}' is a built-in and cannot be rebound", name));
  if (frame().values.count(name))
    fail(range, fmt::format("'{}' is already bound in {}", name, frame().owner));
  frame().values.emplace(name, std::move(value));
}

void Sema::declareFreeVariable(const std::string &name) {
  if (frame().values.count(name))
    return;
  frame().values.emplace(name, Val{builder().input(name, Type{DType::F64, {}})});
}

SVal Sema::evalBody(const ast::FnDecl &fn) {
  for (const ast::Binding &b : fn.bindings)
    runStatement(b);
  return eval(*fn.result);
}

void Sema::checkReturnType(const ast::FnDecl &fn, const SVal &result) {
  if (!fn.returnType)
    return;
  Type want = resolveType(*fn.returnType, false);
  Type got = typeOf(result, want.dtype);
  if (got != want)
    fail(fn.result->range,
         fmt::format("'{}' returns {}, but its signature says {}", fn.name, got.str(), want.str()));
}

ValueId Sema::finishResult(const SVal &result, const Expr &where) {
  ValueId id = materialize(result, DType::F64, where.range);
  if (builder().typeOf(id).dtype == DType::Bool)
    id = builder().convert(id, DType::F64);
  return id;
}

// ----- types, dimensions and constants ---------------------------------------------------------

Type Sema::resolveType(const ast::TypeExpr &t, bool bindNewDims) {
  auto dtype = parseDType(t.dtype);
  if (!dtype || *dtype == DType::Bool)
    fail(t.range, fmt::format("unknown type '{}' (expected f32, f64 or i32)", t.dtype));
  Type out{*dtype, {}};
  for (const ast::ExprPtr &d : t.dims) {
    if (bindNewDims && d->kind == ExprKind::Name && !lookupDim(d->name) &&
        !frame().values.count(d->name) && !lets_.count(d->name)) {
      if (isBuiltinName(d->name))
        fail(d->range, fmt::format("'{}' is a built-in and cannot be rebound", d->name));
      frame().dims[d->name] = Dim::symbol(d->name);
      addDimParam(d->name);
    }
    out.shape.push_back(evalSize(*d));
  }
  return out;
}

std::optional<Dim> Sema::lookupDim(const std::string &name) {
  auto it = frame().dims.find(name);
  if (it != frame().dims.end())
    return it->second;
  return std::nullopt;
}

Dim Sema::evalSize(const Expr &e) {
  Dim d = evalDim(e);
  if (d.isConstant() && d.constant() < 0)
    fail(e.range, fmt::format("a dimension must not be negative, got {}", d.str()));
  return d;
}

Dim Sema::evalDim(const Expr &e) {
  switch (e.kind) {
  case ExprKind::Number: {
    if (e.number != std::floor(e.number))
      fail(e.range, "a dimension must be an integer");
    auto v = exactInt(e.number);
    if (!v)
      fail(e.range, fmt::format("dimension {} is too large", textOf(e)));
    return Dim(*v);
  }
  case ExprKind::Name: {
    if (auto d = lookupDim(e.name))
      return *d;
    auto let = lets_.find(e.name);
    if (let != lets_.end() && let->second.value == std::floor(let->second.value)) {
      auto v = exactInt(let->second.value);
      if (!v)
        fail(e.range, fmt::format("dimension '{}' is too large: {}", e.name, let->second.value));
      return Dim(*v);
    }
    fail(e.range, fmt::format("unknown dimension '{}'", e.name));
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
        fail(e.range,
             fmt::format("'/' in a dimension must divide exactly: {} / {}", a.str(), b.str()));
      return *q;
    }
    break;
  }
  case ExprKind::Call:
  case ExprKind::Index:
  case ExprKind::Transpose:
  case ExprKind::Array:
    break;
  }
  fail(e.range, "expected a dimension: an integer, a dimension name or + - * / of them");
}

double Sema::constantNumber(const Expr &e, std::string_view what) {
  SVal v = eval(e);
  if (const auto *n = std::get_if<Number>(&v))
    return n->value;
  if (const auto *d = std::get_if<DimNumber>(&v); d && d->dim.isConstant())
    return static_cast<double>(d->dim.constant());
  fail(e.range, fmt::format("expected a constant number for {}", what));
}

std::int64_t Sema::constantInt(const Expr &e, std::string_view what) {
  double v = constantNumber(e, what);
  if (v != std::floor(v))
    fail(e.range, fmt::format("expected an integer for {}", what));
  auto i = exactInt(v);
  if (!i)
    fail(e.range, fmt::format("{} is too large: {}", what, textOf(e)));
  return *i;
}

} // namespace sema

// ----- the library boundary --------------------------------------------------------------------

Expected<Module> analyze(const ast::File &file, const SourceFile &source,
                         const SemaOptions &options) {
  try {
    return sema::Sema(source, options).run(file);
  } catch (const DiagnosticException &e) {
    return e.diagnostic;
  } catch (const sema::DiagnosticsException &e) {
    return e.diagnostics;
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
    return sema::Sema(source, options).compileLoneExpression(expr, variables, name);
  } catch (const DiagnosticException &e) {
    return e.diagnostic;
  } catch (const sema::DiagnosticsException &e) {
    return e.diagnostics;
  } catch (const IrError &e) {
    return makeDiagnostic(std::string("internal error: ") + e.what());
  }
}

} // namespace nabla
