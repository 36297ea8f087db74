// The infix printer: scalar IR printed back as nabla source, one expression or a block that
// names repeated subexpressions, with built-in names read from the table (frontend/Builtins.h).
#include "frontend/InfixPrinter.h"

#include "frontend/Builtins.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

namespace nabla {

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
      throw std::invalid_argument(
          fmt::format("'{}' of type {} has no infix form (only scalar expressions print as infix)",
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
      static const std::map<Op, const char *> symbols = {{Op::Lt, "<"},  {Op::Le, "<="},
                                                         {Op::Gt, ">"},  {Op::Ge, ">="},
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
    case Op::Iota:
    case Op::DimSize:
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
    case Op::Polygamma:
    case Op::Sigmoid:
    case Op::Relu:
    case Op::LeakyRelu:
    case Op::Hardtanh:
    case Op::Softplus:
    case Op::Max:
    case Op::Min:
    case Op::Select:
    case Op::StopGradient:
    case Op::ReduceSum:
    case Op::ReduceMax:
    case Op::ReduceMin:
    case Op::LogSumExp:
    case Op::Broadcast:
    case Op::Reshape:
    case Op::Transpose:
    case Op::Slice:
    case Op::Pad:
    case Op::Concat:
    case Op::Take:
    case Op::TakeAlong:
    case Op::ScatterAdd:
    case Op::ScatterAddAlong:
    case Op::Diag:
    case Op::DiagPart:
    case Op::Lower:
    case Op::LowerPart:
    case Op::MatMul:
    case Op::Update:
      break; // a call of the built-in that names the op, if there is one
    case Op::Loop:
    case Op::LoopGrad:
    case Op::LoopResult:
      throw std::invalid_argument(fmt::format(
          "'{}' has no infix form: a derivative through a loop is a function with loops (see "
          "`nabla emit grad-ir`)",
          mnemonic(inst.op)));
    }
    const Builtin *b = builtinForOp(inst.op);
    if (!b)
      throw std::invalid_argument(fmt::format("'{}' has no infix form", mnemonic(inst.op)));
    return callOf(*b, inst);
  }

  /// `name(...)` with the row's slots in order: operands, and attributes where a slot is one.
  Printed callOf(const Builtin &b, const Inst &inst) {
    std::vector<std::string> args;
    std::size_t next = 0;
    for (const ArgSpec &a : b.args) {
      if (!a.attr.empty())
        args.push_back(a.kind == ArgKind::Integer ? std::to_string(inst.intAttr(a.attr))
                                                  : number(inst.floatAttr(a.attr)));
      else if (next < inst.operands.size())
        args.push_back(print(inst.operands[next++]).text);
    }
    return call(b.name, args);
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
