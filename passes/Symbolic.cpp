// Symbolic derivatives (built from the ops' own rules, then simplified) and the infix printer.
#include "passes/Symbolic.h"

#include "ir/Builder.h"
#include "ir/Differentiate.h"
#include "ir/Rewriter.h"
#include "ir/Verifier.h"
#include "passes/DeadCode.h"
#include "passes/Simplify.h"

#include <fmt/format.h>

#include <cmath>
#include <set>

namespace nabla {

namespace {

std::vector<ValueId> identityMap(std::size_t n) {
  std::vector<ValueId> map(n);
  for (std::size_t i = 0; i < n; ++i)
    map[i] = static_cast<ValueId>(i);
  return map;
}

} // namespace

Function symbolicDerivative(const Function &f, const std::vector<ValueId> &variables) {
  std::vector<std::string> names;
  for (ValueId v : variables)
    names.push_back(f.inst(v).stringAttr("name"));
  Function g = simplify(f);
  g.outputs.clear();
  for (const std::string &name : names) {
    ValueId x = *g.argument(name);
    std::size_t end = g.insts.size();
    Builder b(g);
    // The derivative is the tangent of the value for a unit tangent of x (the seed is the
    // constant 1, so that the simplifier folds it away).
    std::map<ValueId, ValueId> seeds{{x, b.constantLike(1, g.typeOf(x))}};
    std::vector<MaybeValue> tangent = pushTangents(b, g, identityMap(end), seeds, end);
    g.result = tangent[g.result] ? *tangent[g.result] : b.constantLike(0, g.typeOf(g.result));
    g = simplify(g);
  }
  g.name = f.name + ".d";
  return g;
}

Function symbolicGradient(const Function &f, std::span<const ValueId> wrt) {
  Rewriter r(f, f.name + ".grad");
  r.copyAll();
  Builder &b = r.builder();
  const std::vector<ValueId> &map = r.valueMap();
  const Type &resultType = f.typeOf(f.result);
  std::map<ValueId, ValueId> grads;
  if (resultType.isScalar()) {
    // A scalar of a scalar: one tangent each, which prints as the familiar derivative. Tensor
    // arguments share one reverse sweep.
    std::vector<ValueId> tensors;
    for (ValueId w : wrt) {
      if (!f.typeOf(w).isScalar()) {
        tensors.push_back(w);
        continue;
      }
      std::map<ValueId, ValueId> seeds{{w, b.constantLike(1, f.typeOf(w))}};
      std::vector<MaybeValue> t = pushTangents(b, f, map, seeds, f.insts.size());
      if (t[f.result])
        grads[w] = *t[f.result];
    }
    if (!tensors.empty()) {
      std::vector<MaybeValue> adj =
          pullCotangents(b, f, map, f.result, b.constant(1, resultType.dtype), tensors);
      for (ValueId w : tensors)
        if (w < adj.size() && adj[w])
          grads[w] = *adj[w];
    }
  } else {
    std::vector<MaybeValue> adj =
        pullCotangents(b, f, map, f.result, b.input("seed.ct", resultType), wrt);
    for (ValueId w : wrt)
      if (w < adj.size() && adj[w])
        grads[w] = *adj[w];
  }
  std::vector<NamedValue> gradients;
  for (ValueId w : wrt) {
    ValueId grad = grads.count(w) ? grads[w] : b.constantLike(0, f.typeOf(w));
    gradients.push_back(NamedValue{f.inst(w).stringAttr("name"), grad, OutputRole::Gradient});
  }
  Function g = r.finish();
  g.outputs.insert(g.outputs.end(), gradients.begin(), gradients.end());
  return simplify(g);
}

// ----- infix printing ------------------------------------------------------------------------

namespace {

/// Binding strength of a printed expression, weakest first.
enum Level : int { kCompare = 0, kSum = 1, kProduct = 2, kUnary = 3, kPower = 4, kAtom = 5 };

struct Printed {
  std::string text;
  int level;
};

class InfixPrinter {
public:
  InfixPrinter(const Function &f, const std::vector<ValueId> &roots) : f_(f), roots_(roots) {
    uses_.assign(f.insts.size(), 0);
    std::vector<bool> seen(f.insts.size(), false);
    std::vector<ValueId> stack(roots.begin(), roots.end());
    for (ValueId r : roots)
      ++uses_[r];
    // Count uses inside the expression trees of the roots (each instruction's operands once).
    while (!stack.empty()) {
      ValueId v = stack.back();
      stack.pop_back();
      if (seen[v])
        continue;
      seen[v] = true;
      for (ValueId o : f.insts[v].operands) {
        ++uses_[o];
        stack.push_back(o);
      }
    }
    for (ValueId a : f.arguments())
      taken_.insert(f.inst(a).stringAttr("name"));
  }

  Expected<std::string> run(bool asList) {
    try {
      std::vector<std::string> parts;
      for (ValueId r : roots_)
        parts.push_back(print(r).text);
      std::string body;
      if (asList) {
        body = "[";
        for (std::size_t i = 0; i < parts.size(); ++i)
          body += (i ? ", " : "") + parts[i];
        body += "]";
      } else {
        body = parts.at(0);
      }
      if (definitions_.empty())
        return Expected<std::string>(body);
      std::string block = "{ ";
      for (const std::string &d : definitions_)
        block += d + "; ";
      return Expected<std::string>(block + "return " + body + " }");
    } catch (const std::invalid_argument &e) {
      return makeDiagnostic(e.what());
    }
  }

private:
  bool isLeaf(ValueId v) const {
    const Inst &inst = f_.insts[v];
    return inst.op == Op::Input || inst.op == Op::Param || inst.op == Op::Const;
  }

  std::string freshName() {
    for (;;) {
      std::string name = fmt::format("t{}", ++counter_);
      if (!taken_.count(name))
        return name;
    }
  }

  /// `v` as a subexpression; repeated non-leaf values are named once and referred to by name.
  Printed print(ValueId v) {
    if (auto it = named_.find(v); it != named_.end())
      return {it->second, kAtom};
    Printed p = build(v);
    if (uses_[v] >= 2 && !isLeaf(v) && p.level != kAtom + 1) {
      std::string name = freshName();
      definitions_.push_back(name + " = " + p.text);
      named_[v] = name;
      return {name, kAtom};
    }
    return p;
  }

  /// `p` wrapped in parentheses unless it binds at least as strongly as `need`.
  static std::string at(const Printed &p, int need) {
    return p.level >= need ? p.text : "(" + p.text + ")";
  }

  static std::string number(double c) {
    if (std::isnan(c))
      return "(0/0)";
    if (std::isinf(c))
      return c > 0 ? "(1/0)" : "(-1/0)";
    return fmt::format("{}", c);
  }

  Printed call(std::string_view name, const std::vector<std::string> &args) {
    std::string text = std::string(name) + "(";
    for (std::size_t i = 0; i < args.size(); ++i)
      text += (i ? ", " : "") + args[i];
    return {text + ")", kAtom};
  }

  Printed build(ValueId v) {
    const Inst &inst = f_.insts[v];
    if (!inst.type.isScalar() && inst.op != Op::Input && inst.op != Op::Param)
      throw std::invalid_argument(fmt::format(
          "'{}' of type {} has no infix form (only scalar expressions print as infix)",
          mnemonic(inst.op), inst.type.str()));
    auto operand = [&](std::size_t i) { return print(inst.operands[i]); };
    switch (inst.op) {
    case Op::Input:
    case Op::Param:
      return {inst.stringAttr("name"), kAtom};
    case Op::Const: {
      double c = inst.floatsAttr("value")[0];
      return {number(c), c < 0 || std::signbit(c) ? kUnary : kAtom};
    }
    case Op::Add:
      return {operand(0).text + " + " + at(operand(1), kProduct), kSum};
    case Op::Sub:
      return {operand(0).text + " - " + at(operand(1), kProduct), kSum};
    case Op::Mul: {
      Printed rhs = operand(1);
      // Products associate: x*(y*z) prints as x*y*z.
      bool flat = f_.insts[inst.operands[1]].op == Op::Mul && !named_.count(inst.operands[1]);
      return {at(operand(0), kProduct) + "*" + (flat ? rhs.text : at(rhs, kUnary)), kProduct};
    }
    case Op::Div:
      return {at(operand(0), kProduct) + "/" + at(operand(1), kUnary), kProduct};
    case Op::Neg: {
      Printed x = operand(0);
      // -x*y parses as (-x)*y, which is the same number: no parentheses needed for products.
      if (x.level >= kProduct)
        return {"-" + x.text, std::min(x.level, (int)kUnary)};
      return {"-(" + x.text + ")", kUnary};
    }
    case Op::Pow:
      return {at(operand(0), kAtom) + "^" + at(operand(1), kUnary), kPower};
    case Op::Lt:
    case Op::Le:
    case Op::Gt:
    case Op::Ge:
    case Op::Eq:
    case Op::Ne: {
      static const std::map<Op, const char *> symbols = {{Op::Lt, "<"}, {Op::Le, "<="},
                                                         {Op::Gt, ">"}, {Op::Ge, ">="},
                                                         {Op::Eq, "=="}, {Op::Ne, "!="}};
      return {at(operand(0), kSum) + " " + symbols.at(inst.op) + " " + at(operand(1), kSum),
              kCompare};
    }
    case Op::Convert: {
      DType from = f_.typeOf(inst.operands[0]).dtype, to = inst.dtypeAttr("dtype");
      if (from == DType::Bool && isFloat(to)) // a mask in arithmetic converts by itself
        return {"(" + operand(0).text + ")", kAtom};
      return call(dtypeName(to), {operand(0).text});
    }
    case Op::Select:
      return call("where", {operand(0).text, operand(1).text, operand(2).text});
    case Op::Max:
    case Op::Min:
      return call(mnemonic(inst.op), {operand(0).text, operand(1).text});
    case Op::Polygamma:
      return call("polygamma", {std::to_string(inst.intAttr("k")), operand(0).text});
    case Op::LeakyRelu:
      return call("leaky_relu", {operand(0).text, number(inst.floatAttr("alpha"))});
    case Op::Hardtanh:
      return call("hardtanh", {operand(0).text, number(inst.floatAttr("lo")),
                               number(inst.floatAttr("hi"))});
    case Op::Exp:
    case Op::Log:
    case Op::Sqrt:
    case Op::Sin:
    case Op::Cos:
    case Op::Tan:
    case Op::Tanh:
    case Op::Abs:
    case Op::Sign:
    case Op::Log1p:
    case Op::Expm1:
    case Op::Erf:
    case Op::Lgamma:
    case Op::Digamma:
    case Op::Trigamma:
    case Op::Sigmoid:
    case Op::Relu:
    case Op::Softplus:
      // These mnemonics are the language's own function names.
      return call(mnemonic(inst.op), {operand(0).text});
    default:
      throw std::invalid_argument(
          fmt::format("'{}' has no infix form", mnemonic(inst.op)));
    }
  }

  const Function &f_;
  std::vector<ValueId> roots_;
  std::vector<int> uses_;
  std::map<ValueId, std::string> named_;
  std::vector<std::string> definitions_;
  std::set<std::string> taken_;
  int counter_ = 0;
};

} // namespace

Expected<std::string> printInfix(const Function &f) {
  return InfixPrinter(f, {f.result}).run(false);
}

Expected<std::string> printInfixList(const Function &f, OutputRole role) {
  std::vector<ValueId> roots;
  for (const NamedValue &o : f.outputs)
    if (o.role == role)
      roots.push_back(o.value);
  return InfixPrinter(f, roots).run(true);
}

} // namespace nabla
