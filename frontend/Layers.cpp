// The model vocabulary: param initializers (`~ glorot`), the built-in layers (`layer h =
// dense(x, H)`) and the activations a layer names; initializers and layers are small tables.
#include "frontend/SemaImpl.h"

#include <fmt/format.h>

namespace nabla::sema {

namespace {

/// `a, b or c`, each name written by `show`.
template <class Rows, class Show> std::string listOf(const Rows &rows, Show show) {
  std::string out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i)
      out += i + 1 == rows.size() ? " or " : ", ";
    out += show(rows[i]);
  }
  return out;
}

// ----- initializers ----------------------------------------------------------------------------

/// A param initializer: its name, its arguments, and what it needs of them and of the param.
struct InitializerSpec {
  std::string_view name;
  std::vector<std::string_view> args;
  void (*check)(const Sema &, const ast::ModelStmt &, const Type &, const ParamInit &) = nullptr;
};

const std::vector<InitializerSpec> &initializers() {
  static const std::vector<InitializerSpec> table = {
      {"zeros", {}},
      {"ones", {}},
      {"glorot",
       {},
       [](const Sema &s, const ast::ModelStmt &stmt, const Type &t, const ParamInit &) {
         if (t.rank() < 2)
           s.fail(stmt.init->range,
                  fmt::format("'glorot' needs a matrix, but '{}' is {}", stmt.name, t.str()));
       }},
      {"normal",
       {"mean", "std"},
       [](const Sema &s, const ast::ModelStmt &stmt, const Type &, const ParamInit &init) {
         if (!(init.args[1] >= 0))
           s.fail(stmt.init->args[1]->range,
                  fmt::format("the std of 'normal' must not be negative, got {}", init.args[1]));
       }},
      {"uniform",
       {"lo", "hi"},
       [](const Sema &s, const ast::ModelStmt &stmt, const Type &, const ParamInit &init) {
         if (!(init.args[0] <= init.args[1]))
           s.fail(stmt.init->range,
                  fmt::format("'uniform' needs lo <= hi, got {} > {}", init.args[0], init.args[1]));
       }},
  };
  return table;
}

// ----- layers ----------------------------------------------------------------------------------

/// dense(x, units [, activation]): params W: [units, in] and b: [units] of x's float type,
/// computing x @ W.T + b, then the activation.
SVal expandDense(Sema &s, const ast::ModelStmt &stmt, const std::vector<const Expr *> &args) {
  const Expr &call = *stmt.value;
  Builder &b = s.builder();
  ValueId x = s.asTyped(s.eval(*args[0]), DType::F64, args[0]->range);
  Type xt = b.typeOf(x);
  if (!isFloat(xt.dtype) || xt.rank() < 1)
    s.fail(args[0]->range,
           fmt::format("dense needs a float tensor of shape [..., in], got {}", xt.str()));
  Dim units = s.evalSize(*args[1]);
  ValueId w = b.param(stmt.name + ".W", Type{xt.dtype, {units, xt.shape.back()}});
  s.function().inits.push_back(ParamInit{stmt.name + ".W", "glorot", {}});
  ValueId bias = b.param(stmt.name + ".b", Type{xt.dtype, {units}});
  s.function().inits.push_back(ParamInit{stmt.name + ".b", "zeros", {}});
  SVal y = s.add(s.matmul(Val{x}, Val{s.transposeAll(w)}, call), Val{bias}, call);
  if (args[2]) {
    if (args[2]->kind != ExprKind::Name)
      s.fail(args[2]->range, "expected the name of an elementwise function");
    y = s.applyActivation(args[2]->name, y, *args[2]);
  }
  return y;
}

/// embedding(ids, vocab, dim [, f32|f64]): param E: [vocab, dim], computing E[ids].
SVal expandEmbedding(Sema &s, const ast::ModelStmt &stmt, const std::vector<const Expr *> &args) {
  Builder &b = s.builder();
  ValueId ids = s.asTyped(s.eval(*args[0]), DType::I32, args[0]->range);
  if (b.typeOf(ids).dtype != DType::I32)
    s.fail(args[0]->range, fmt::format("embedding needs i32 ids, got {}", b.typeOf(ids).str()));
  DType dt = DType::F64;
  if (args[3]) {
    if (args[3]->kind != ExprKind::Name || !parseDType(args[3]->name) ||
        !isFloat(*parseDType(args[3]->name)))
      s.fail(args[3]->range, "expected f32 or f64");
    dt = *parseDType(args[3]->name);
  }
  ValueId e = b.param(stmt.name + ".E", Type{dt, {s.evalSize(*args[1]), s.evalSize(*args[2])}});
  s.function().inits.push_back(ParamInit{stmt.name + ".E", "normal", {0.0, 1.0}});
  return Val{b.emit(Op::Take, {e, ids}, {std::int64_t{0}})};
}

const std::vector<LayerSpec> &layers() {
  static const std::vector<LayerSpec> table = {
      {"dense", {"x", "units", "activation"}, 2, expandDense},
      {"embedding", {"ids", "vocab", "dim", "dtype"}, 3, expandEmbedding},
  };
  return table;
}

} // namespace

const LayerSpec *findLayer(std::string_view name) {
  for (const LayerSpec &l : layers())
    if (l.name == name)
      return &l;
  return nullptr;
}

void Sema::declareParam(const ast::ModelStmt &s) {
  Type t = resolveType(*s.type, false);
  if (!isFloat(t.dtype))
    fail(s.type->range, fmt::format("param '{}' is differentiable and must be f32 or f64, got {}",
                                    s.name, t.str()));
  ParamInit init{s.name, t.rank() >= 2 ? "glorot" : "zeros", {}};
  if (s.init) {
    const InitializerSpec *spec = nullptr;
    for (const InitializerSpec &i : initializers())
      if (i.name == s.init->kind)
        spec = &i;
    if (!spec)
      fail(s.init->range, fmt::format("unknown initializer '{}' (expected {})", s.init->kind,
                                      listOf(initializers(), [](const InitializerSpec &i) {
                                        if (i.args.empty())
                                          return std::string(i.name);
                                        return fmt::format("{}({})", i.name,
                                                           fmt::join(i.args, ", "));
                                      })));
    std::size_t arity = spec->args.size();
    if (s.init->args.size() != arity)
      fail(s.init->range, arity == 0 ? fmt::format("initializer '{}' takes no arguments, got {}",
                                                   s.init->kind, s.init->args.size())
                                     : fmt::format("initializer '{}' takes {} arguments, got {}",
                                                   s.init->kind, arity, s.init->args.size()));
    init.kind = s.init->kind;
    for (const ast::ExprPtr &a : s.init->args)
      init.args.push_back(constantNumber(*a, "an initializer argument"));
    if (spec->check)
      spec->check(*this, s, t, init);
  }
  bindName(s.name, s.nameRange, Val{builder().param(s.name, t)});
  function().inits.push_back(std::move(init));
}

SVal Sema::expandLayer(const ast::ModelStmt &s) {
  const Expr &call = *s.value;
  auto names = [](const LayerSpec &l) { return std::string(l.name); };
  if (call.kind != ExprKind::Call)
    fail(call.range,
         fmt::format("expected a layer call, {}", listOf(layers(), [](const LayerSpec &l) {
                       return fmt::format("{}(...)", l.name);
                     })));
  const LayerSpec *layer = findLayer(call.name);
  if (!layer)
    fail(call.opRange,
         fmt::format("unknown layer '{}' (expected {})", call.name, listOf(layers(), names)));
  return layer->expand(*this, s, bindArgs(call, layer->slots, layer->required));
}

SVal Sema::applyActivation(const std::string &name, const SVal &x, const Expr &where) {
  for (const Builtin *row : findBuiltins(name))
    if (usableAsActivation(*row)) {
      BuiltinCall c(*this, *row, where, x);
      return row->expand ? row->expand(*this, c) : expandOp(c);
    }
  if (name == "identity" || name == "linear")
    return x;
  auto fn = fns_.find(name);
  if (fn != fns_.end())
    return inlineCall(*fn->second, {x}, where);
  std::vector<std::string> candidates{"identity", "linear"};
  for (const Builtin &row : builtinTable())
    if (usableAsActivation(row))
      candidates.emplace_back(row.name);
  for (const auto &[fnName, decl] : fns_)
    candidates.push_back(fnName);
  failSuggesting(where.range, fmt::format("unknown activation '{}'", name), name, candidates);
}

} // namespace nabla::sema
