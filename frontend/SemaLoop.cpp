// Semantic analysis of block statements and `for` loops (LANGUAGE.md §3b): a loop becomes one
// `loop` instruction (ir/Loop.h) whose body is built as the body's statements are analyzed.
// Names bound before the loop and bound again in it are carried; outer values the body reads
// become captures as they are found.
#include "frontend/SemaImpl.h"

#include "ir/Loop.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace nabla::sema {

namespace {

/// The names a loop body binds or updates, nested loops included, in order of first appearance.
void collectAssigned(const std::vector<ast::Binding> &body, std::vector<std::string> &out) {
  for (const ast::Binding &s : body) {
    if (s.kind == ast::Binding::Kind::For) {
      collectAssigned(s.body, out);
      continue;
    }
    if (std::find(out.begin(), out.end(), s.name) == out.end())
      out.push_back(s.name);
  }
}

ValueId appendInput(Builder &b, const std::string &name, const Type &type) {
  return b.appendAsIs(Inst{Op::Input, type, {}, {name}});
}

/// Makes `scope` the function being built while it lives; restores the enclosing one after
/// (during an error too, though the analysis is abandoned then).
class EnterBody {
public:
  EnterBody(std::vector<LoopScope *> &loops, std::vector<Frame> &frames, LoopScope &scope,
            Frame frame)
      : loops_(loops), frames_(frames) {
    loops_.push_back(&scope);
    frames_.push_back(std::move(frame));
  }
  ~EnterBody() {
    frames_.pop_back();
    loops_.pop_back();
  }
  EnterBody(const EnterBody &) = delete;
  EnterBody &operator=(const EnterBody &) = delete;

private:
  std::vector<LoopScope *> &loops_;
  std::vector<Frame> &frames_;
};

} // namespace

// ----- statements ------------------------------------------------------------------------------

void Sema::runStatement(const ast::Binding &s) {
  switch (s.kind) {
  case ast::Binding::Kind::Bind:
    bindStatement(s);
    return;
  case ast::Binding::Kind::Update:
    updateStatement(s);
    return;
  case ast::Binding::Kind::For:
    runLoop(s);
    return;
  }
}

void Sema::bindStatement(const ast::Binding &s) {
  SVal value = eval(*s.value);
  LoopScope *scope = frame().loop;
  bool carried = scope && std::find(scope->carried.begin(), scope->carried.end(), s.name) !=
                              scope->carried.end();
  if (!carried) {
    bindName(s.name, s.nameRange, std::move(value));
    return;
  }
  auto type = scope->carriedType.find(s.name);
  if (type != scope->carriedType.end()) {
    // A carried value keeps its type: the next iteration's body was built for it.
    Type want = type->second;
    Type got = typeOf(value, want.dtype);
    if (got != want)
      fail(s.value->range,
           fmt::format("'{}' is {} before the loop but {} here; a loop must keep the type and "
                       "shape of the names it updates",
                       s.name, want.str(), got.str()));
    value = Val{materialize(value, want.dtype, s.value->range)};
  }
  frame().values[s.name] = std::move(value);
}

void Sema::updateStatement(const ast::Binding &s) {
  LoopScope *scope = frame().loop;
  if (!scope)
    fail(s.range, fmt::format("'{}[...] = ...' updates a name bound before a loop; it is "
                              "allowed only in a loop body",
                              s.name));
  if (std::find(scope->carried.begin(), scope->carried.end(), s.name) == scope->carried.end()) {
    if (frame().values.count(s.name))
      fail(s.nameRange, fmt::format("'{}' is first bound in this loop body; '{}[...] = ...' "
                                    "updates a name bound before the loop",
                                    s.name, s.name));
    fail(s.nameRange, fmt::format("'{}' is not bound before the loop, so '{}[...] = ...' has "
                                  "nothing to update",
                                  s.name, s.name));
  }
  if (s.indices.size() != 1 || s.indices[0].isSlice)
    fail(s.indexRange, "an update takes one index along the first axis: 'NAME[i] = value'");
  SVal value = eval(*s.value);
  const SVal &current = frame().values.at(s.name);
  DType dtype = isUntyped(current) ? typeOf(value, DType::F64).dtype : typeOf(current, DType::F64).dtype;
  ValueId target = materialize(current, dtype, s.nameRange);
  Type targetType = builder().typeOf(target);
  if (targetType.isScalar())
    fail(s.indexRange,
         fmt::format("'{}' is a scalar ({}); only a tensor has entries to update", s.name,
                     targetType.str()));

  const ast::IndexItem &item = s.indices[0];
  SVal indexValue = eval(*item.index);
  if (const auto *n = std::get_if<Number>(&indexValue); n && !exactInt(n->value))
    fail(item.range, fmt::format("an index must be an integer, got {}", n->value));
  if (std::holds_alternative<NumberArray>(indexValue))
    fail(item.range, "an update index must be one integer, not an array");
  ValueId index = materialize(indexValue, DType::I32, item.range);
  Type indexType = builder().typeOf(index);
  if (indexType != Type{DType::I32, {}})
    fail(item.range, fmt::format("an update index must be an i32 scalar, got {}", indexType.str()));

  Type slice{targetType.dtype, Shape(targetType.shape.begin() + 1, targetType.shape.end())};
  ValueId written;
  if (const auto *n = std::get_if<Number>(&value))
    written = builder().constantLike(n->value, slice); // `hs[t] = 0` fills the row, as numpy
  else
    written = materialize(value, slice.dtype, s.value->range);
  Type got = builder().typeOf(written);
  if (got != slice)
    fail(s.value->range, fmt::format("'{}[i] = ...' writes one entry of {}, which is {}, but "
                                     "the value is {}",
                                     s.name, targetType.str(), slice.str(), got.str()));
  frame().values[s.name] = Val{builder().emit(Op::Update, {target, index, written}, {std::int64_t{0}})};
}

// ----- names through loop bodies ---------------------------------------------------------------

const Frame *Sema::findBinder(const std::string &name) const {
  for (std::size_t i = frames_.size(); i-- > 0;) {
    if (frames_[i].values.count(name))
      return &frames_[i];
    if (!frames_[i].loop)
      return nullptr;
  }
  return nullptr;
}

std::optional<SVal> Sema::lookupValue(const std::string &name) {
  for (std::size_t i = frames_.size(); i-- > 0;) {
    auto it = frames_[i].values.find(name);
    if (it != frames_[i].values.end()) {
      SVal v = it->second;
      if (auto *val = std::get_if<Val>(&v))
        for (std::size_t k = i + 1; k < frames_.size(); ++k)
          val->id = captureInto(*frames_[k].loop, val->id, name);
      return v;
    }
    if (!frames_[i].loop)
      return std::nullopt;
  }
  return std::nullopt;
}

ValueId Sema::captureInto(LoopScope &scope, ValueId outer, const std::string &name) {
  auto [it, fresh] = scope.captureOf.try_emplace(outer, 0);
  if (fresh) {
    it->second = appendInput(*scope.builder, name, scope.enclosing->insts[outer].type);
    scope.captureSources.push_back(outer);
  }
  return it->second;
}

// ----- bounds ----------------------------------------------------------------------------------

ValueId Sema::loopBound(const Expr &e) {
  SVal v = eval(e);
  if (const auto *n = std::get_if<Number>(&v)) {
    auto i = exactInt(n->value);
    if (!i || std::abs(*i) > std::numeric_limits<std::int32_t>::max())
      fail(e.range, fmt::format("a loop bound must be an integer, got {}", textOf(e)));
    return builder().constant(n->value, DType::I32);
  }
  if (std::holds_alternative<NumberArray>(v))
    fail(e.range, "a loop bound must be one integer, not an array");
  ValueId id = materialize(v, DType::I32, e.range);
  Type t = builder().typeOf(id);
  if (t != Type{DType::I32, {}})
    fail(e.range, fmt::format("a loop bound must be an integer (an i32 scalar), got {}", t.str()));
  if (computedInLoop(id, loops_.size()))
    fail(e.range, "a loop bound must not depend on a value computed in a loop (bounds are "
                  "integers of literals, dimensions, i32 arguments and enclosing loop indices)");
  return id;
}

/// `level` is the number of loop bodies around the value: 0 is the definition itself.
bool Sema::computedInLoop(ValueId v, std::size_t level) {
  const Function &f = level == 0 ? *function_ : loops_[level - 1]->body;
  const Inst &inst = f.insts[v];
  if (inst.op == Op::LoopResult)
    return true;
  if (inst.op == Op::Input) {
    if (level == 0)
      return false; // an argument of the definition
    const LoopScope &scope = *loops_[level - 1];
    if (v == scope.index)
      return false;
    for (auto [outer, inner] : scope.captureOf)
      if (inner == v)
        return computedInLoop(outer, level - 1);
    return true; // a carried value
  }
  return std::any_of(inst.operands.begin(), inst.operands.end(),
                     [&](ValueId o) { return computedInLoop(o, level); });
}

// ----- loops -----------------------------------------------------------------------------------

std::unique_ptr<LoopScope> Sema::buildBody(const ast::Binding &loop,
                                           const std::vector<std::string> &carried,
                                           const std::vector<std::optional<Type>> &types,
                                           const std::vector<SVal> &inits, bool probe,
                                           std::vector<Type> &finalTypes) {
  auto scope = std::make_unique<LoopScope>();
  scope->enclosing = &function();
  scope->body = loops::emptyBody(function(), function().name + ".body");
  scope->builder = std::make_unique<Builder>(scope->body);
  scope->carried = carried;
  Frame frame{{}, this->frame().dims, fmt::format("the body of the loop over '{}'", loop.name)};
  frame.loop = scope.get();
  scope->index = appendInput(*scope->builder, loop.name, Type{DType::I32, {}});
  frame.values.emplace(loop.name, Val{scope->index});
  for (std::size_t i = 0; i < carried.size(); ++i) {
    if (!types[i]) {
      frame.values.emplace(carried[i], inits[i]); // a probe: the number stays untyped
      continue;
    }
    ValueId p = appendInput(*scope->builder, carried[i], *types[i]);
    scope->carriedType.emplace(carried[i], *types[i]);
    scope->carriedParam.emplace(carried[i], p);
    frame.values.emplace(carried[i], Val{p});
  }
  {
    EnterBody enter(loops_, frames_, *scope, std::move(frame));
    for (const ast::Binding &s : loop.body)
      runStatement(s);
    finalTypes.clear();
    for (std::size_t i = 0; i < carried.size(); ++i) {
      const SVal &final = this->frame().values.at(carried[i]);
      finalTypes.push_back(typeOf(final, DType::F64));
      if (!probe)
        scope->body.yields.push_back(materialize(final, types[i]->dtype, loop.range));
    }
  }
  scope->body.result = scope->body.yields.empty() ? 0 : scope->body.yields.front();
  return scope;
}

void Sema::runLoop(const ast::Binding &loop) {
  if (findBinder(loop.name) || lookupDim(loop.name) || lets_.count(loop.name))
    fail(loop.nameRange,
         fmt::format("loop index '{}' is already bound in {}", loop.name, frame().owner));
  if (isBuiltinName(loop.name))
    fail(loop.nameRange, fmt::format("'{}' is a built-in and cannot be rebound", loop.name));
  ValueId lo = loopBound(*loop.lo);
  ValueId hi = loopBound(*loop.hi);

  std::vector<std::string> assigned, carried;
  collectAssigned(loop.body, assigned);
  std::vector<SVal> inits;
  std::vector<std::optional<Type>> types;
  for (const std::string &name : assigned) {
    if (!findBinder(name))
      continue;
    carried.push_back(name);
    inits.push_back(*lookupValue(name));
    if (isUntyped(inits.back()))
      types.emplace_back();
    else
      types.push_back(typeOf(inits.back(), DType::F64));
  }

  // A number bound before the loop (`loss = 0`) takes the type its update gives it: a first
  // analysis of the body, with the number left untyped, says which.
  std::vector<Type> finals;
  if (std::any_of(types.begin(), types.end(), [](const auto &t) { return !t; })) {
    buildBody(loop, carried, types, inits, /*probe=*/true, finals);
    for (std::size_t i = 0; i < carried.size(); ++i)
      if (!types[i])
        types[i] = finals[i];
  }
  std::vector<ValueId> initIds;
  for (std::size_t i = 0; i < carried.size(); ++i) {
    const SVal &init = inits[i];
    ValueId id;
    if (const auto *n = std::get_if<Number>(&init))
      id = builder().constantLike(n->value, *types[i]);
    else
      id = materialize(init, types[i]->dtype, loop.nameRange);
    if (builder().typeOf(id) != *types[i])
      fail(loop.nameRange,
           fmt::format("'{}' is {} before the loop but the loop makes it {}; a loop must keep the "
                       "type and shape of the names it updates",
                       carried[i], builder().typeOf(id).str(), types[i]->str()));
    initIds.push_back(id);
  }

  std::unique_ptr<LoopScope> scope =
      buildBody(loop, carried, types, inits, /*probe=*/false, finals);
  if (carried.empty())
    return; // the body binds only its own names: nothing leaves it
  std::vector<ValueId> operands{lo, hi};
  operands.insert(operands.end(), initIds.begin(), initIds.end());
  operands.insert(operands.end(), scope->captureSources.begin(), scope->captureSources.end());
  ValueId l = builder().emit(Op::Loop, std::move(operands),
                             {static_cast<std::int64_t>(carried.size())}, std::nullopt,
                             {std::make_shared<const Function>(std::move(scope->body))});
  for (std::size_t i = 0; i < carried.size(); ++i)
    frame().values[carried[i]] = Val{loops::result(builder(), l, i)};
}

} // namespace nabla::sema
