// IR construction with type inference, constant folding and hash-consing.
#include "ir/Builder.h"

#include "ir/OpTable.h"
#include "ir/Printer.h"
#include "ir/Shapes.h"

#include <fmt/format.h>

namespace nabla {

namespace {


bool isLeaf(Op op) {
  return op == Op::Input || op == Op::Param || op == Op::Const || op == Op::Iota ||
         op == Op::DimSize;
}

} // namespace

std::string structuralKey(const Inst &inst) {
  std::string key = fmt::format("{}:{}(", static_cast<int>(inst.op), inst.type.str());
  for (ValueId v : inst.operands)
    key += fmt::format("{},", v);
  key += ")";
  for (const AttrValue &a : inst.attrs) {
    key += "|";
    std::visit(
        [&](const auto &x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::int64_t>)
            key += std::to_string(x);
          else if constexpr (std::is_same_v<T, double>)
            key += fmt::format("{:a}", x); // exact: 0.1 and 0.1000000001 differ
          else if constexpr (std::is_same_v<T, std::vector<std::int64_t>>)
            key += fmt::format("[{}]", fmt::join(x, ","));
          else if constexpr (std::is_same_v<T, std::vector<double>>) {
            for (double d : x)
              key += fmt::format("{:a},", d);
          } else if constexpr (std::is_same_v<T, Shape>)
            key += shapeStr(x);
          else if constexpr (std::is_same_v<T, DType>)
            key += dtypeName(x);
          else
            key += "\"" + x + "\"";
        },
        a);
  }
  // Bodies compare by their text: two loops over equal bodies are one loop.
  for (const auto &region : inst.regions)
    key += "|" + (region ? printRegion(*region) : std::string("?"));
  return key;
}

Builder::Builder(Function &fn) : fn_(fn) {
  for (ValueId v = 0; v < fn_.insts.size(); ++v)
    cse_.emplace(structuralKey(fn_.insts[v]), v);
}

ValueId Builder::append(Inst inst) {
  std::string key = structuralKey(inst);
  auto it = cse_.find(key);
  if (it != cse_.end())
    return it->second;
  auto id = static_cast<ValueId>(fn_.insts.size());
  fn_.insts.push_back(std::move(inst));
  cse_.emplace(std::move(key), id);
  return id;
}

ValueId Builder::appendAsIs(Inst inst) {
  std::string key = structuralKey(inst);
  auto id = static_cast<ValueId>(fn_.insts.size());
  fn_.insts.push_back(std::move(inst));
  cse_.emplace(std::move(key), id); // keeps an earlier equal instruction as the shared one
  return id;
}

Expected<ValueId> Builder::tryEmit(Op op, std::vector<ValueId> operands,
                                   std::vector<AttrValue> attrs, std::optional<Type> declared,
                                   Regions regions) {
  const OpInfo &info = opInfo(op);
  if (info.arity >= 0 && operands.size() != static_cast<std::size_t>(info.arity))
    return makeDiagnostic(fmt::format("'{}' takes {} operand(s), got {}", mnemonic(op), info.arity,
                       operands.size()));
  if (info.arity < 0 && operands.empty())
    return makeDiagnostic(fmt::format("'{}' needs at least one operand", mnemonic(op)));
  if (attrs.size() != info.attrs.size())
    return makeDiagnostic(fmt::format("'{}' takes {} attribute(s), got {}", mnemonic(op), info.attrs.size(),
                       attrs.size()));
  for (std::size_t i = 0; i < attrs.size(); ++i)
    if (!attrFits(attrs[i], info.attrs[i].kind))
      return makeDiagnostic(fmt::format("attribute '{}' of '{}' has the wrong kind", info.attrs[i].name,
                         mnemonic(op)));
  std::vector<Type> types;
  types.reserve(operands.size());
  for (ValueId v : operands) {
    if (v >= fn_.insts.size())
      return makeDiagnostic(fmt::format("operand %{} is not defined", v));
    types.push_back(fn_.insts[v].type);
  }
  Inst inst{op, Type{}, std::move(operands), std::move(attrs), std::move(regions)};
  TypeOrError type = info.inferType(types, inst, declared);
  if (auto *err = std::get_if<std::string>(&type))
    return makeDiagnostic(*err);
  inst.type = std::get<Type>(std::move(type));

  // Fold scalar results of constant operands: this is what keeps derivative expressions small.
  if (!isLeaf(op) && info.eval && inst.type.isScalar() && !inst.operands.empty()) {
    std::vector<Tensor> values;
    bool allConst = true;
    for (ValueId v : inst.operands) {
      auto c = constantValue(v);
      if (!c || !fn_.insts[v].type.isScalar()) {
        allConst = false;
        break;
      }
      values.push_back(Tensor::scalar(*c, fn_.insts[v].type.dtype));
    }
    if (allConst) {
      std::vector<const Tensor *> ptrs;
      for (const Tensor &t : values)
        ptrs.push_back(&t);
      Tensor out(inst.type.dtype, {});
      info.eval(inst, ptrs, out);
      return constant(out.data[0], inst.type.dtype);
    }
  }
  return append(std::move(inst));
}

ValueId Builder::emit(Op op, std::vector<ValueId> operands, std::vector<AttrValue> attrs,
                      std::optional<Type> declared, Regions regions) {
  auto r = tryEmit(op, std::move(operands), std::move(attrs), std::move(declared),
                   std::move(regions));
  if (!r)
    throw IrError(r.error().list.front().message);
  return *r;
}

ValueId Builder::input(const std::string &name, const Type &type) {
  return emit(Op::Input, {}, {name}, type);
}

ValueId Builder::param(const std::string &name, const Type &type) {
  return emit(Op::Param, {}, {name}, type);
}

ValueId Builder::constant(double value, DType dtype) {
  return append(Inst{Op::Const, Type{dtype, {}}, {}, {std::vector<double>{roundTo(dtype, value)}}, {}});
}

ValueId Builder::constantLike(double value, Type type) {
  return broadcast(constant(value, type.dtype), std::move(type.shape));
}

ValueId Builder::literal(std::vector<double> values, const Type &type) {
  return emit(Op::Const, {}, {std::move(values)}, type);
}

std::optional<double> Builder::constantValue(ValueId v) const {
  const Inst *inst = &fn_.insts[v];
  while (inst->op == Op::Broadcast || inst->op == Op::Reshape)
    inst = &fn_.insts[inst->operands[0]];
  if (inst->op != Op::Const)
    return std::nullopt;
  const auto &values = inst->floatsAttr("value");
  if (values.size() != 1)
    return std::nullopt;
  return values[0];
}

ValueId Builder::unary(Op op, ValueId x) {
  if (op == Op::Neg && fn_.insts[x].op == Op::Neg) // -(-x) = x
    return fn_.insts[x].operands[0];
  return emit(op, {x});
}

ValueId Builder::binary(Op op, ValueId a, ValueId b) {
  // numpy broadcasting, made explicit so that elementwise ops see operands of one shape.
  if (typeOf(a).shape != typeOf(b).shape) {
    auto shape = broadcastShapes(typeOf(a).shape, typeOf(b).shape);
    if (!shape)
      throw IrError(fmt::format("cannot broadcast {} and {}", typeOf(a).str(), typeOf(b).str()));
    a = broadcast(a, *shape);
    b = broadcast(b, *shape);
  }
  // Identities with a constant operand; any other binary op is emitted as it is.
  auto ca = constantValue(a), cb = constantValue(b);
  if (op == Op::Add) {
    if (ca == 0.0)
      return b;
    if (cb == 0.0)
      return a;
  } else if (op == Op::Sub) {
    if (cb == 0.0)
      return a;
    if (ca == 0.0)
      return neg(b);
    if (a == b)
      return constantLike(0, typeOf(a));
  } else if (op == Op::Mul) {
    if (ca == 1.0)
      return b;
    if (cb == 1.0)
      return a;
    if (ca == 0.0)
      return a;
    if (cb == 0.0)
      return b;
    if (ca == -1.0)
      return neg(b);
    if (cb == -1.0)
      return neg(a);
  } else if (op == Op::Div) {
    if (cb == 1.0)
      return a;
    if (ca == 0.0)
      return a;
  } else if (op == Op::Pow) {
    if (cb == 1.0)
      return a;
    if (cb == 0.0)
      return constantLike(1, typeOf(a));
  }
  return emit(op, {a, b});
}

ValueId Builder::convert(ValueId x, DType to) {
  if (typeOf(x).dtype == to)
    return x;
  return emit(Op::Convert, {x}, {to});
}

ValueId Builder::broadcast(ValueId x, Shape shape) {
  if (typeOf(x).shape == shape)
    return x;
  // Broadcasting a broadcast goes straight from the original operand, and a reshaped scalar
  // broadcasts from the scalar.
  if (fn_.insts[x].op == Op::Broadcast)
    x = fn_.insts[x].operands[0];
  if (fn_.insts[x].op == Op::Reshape && fn_.insts[fn_.insts[x].operands[0]].type.isScalar())
    x = fn_.insts[x].operands[0];
  if (typeOf(x).shape == shape)
    return x;
  return emit(Op::Broadcast, {x}, {shape});
}

ValueId Builder::reshape(ValueId x, Shape shape) {
  if (typeOf(x).shape == shape)
    return x;
  if (fn_.insts[x].op == Op::Reshape)
    x = fn_.insts[x].operands[0];
  if (typeOf(x).shape == shape)
    return x;
  return emit(Op::Reshape, {x}, {shape});
}

ValueId Builder::transpose(ValueId x, std::vector<std::int64_t> perm) {
  auto isIdentity = [](const std::vector<std::int64_t> &p) {
    for (std::size_t i = 0; i < p.size(); ++i)
      if (p[i] != static_cast<std::int64_t>(i))
        return false;
    return true;
  };
  if (isIdentity(perm))
    return x;
  const Inst &def = fn_.insts[x];
  // transpose(transpose(x, p), q) = transpose(x, p o q)
  if (def.op == Op::Transpose) {
    const auto &inner = def.intsAttr("perm");
    std::vector<std::int64_t> composed(perm.size());
    for (std::size_t i = 0; i < perm.size(); ++i)
      composed[i] = inner[static_cast<std::size_t>(perm[i])];
    return transpose(def.operands[0], std::move(composed));
  }
  // (A B)^T = B^T A^T over the last two axes: a reverse-mode dW = (x^T delta)^T becomes
  // delta^T x, and no transposed copy of a product is ever made.
  std::size_t r = perm.size();
  bool swapsLastTwo = r >= 2 && perm[r - 2] == static_cast<std::int64_t>(r - 1) &&
                      perm[r - 1] == static_cast<std::int64_t>(r - 2);
  for (std::size_t i = 0; swapsLastTwo && i + 2 < r; ++i)
    swapsLastTwo = perm[i] == static_cast<std::int64_t>(i);
  if (def.op == Op::MatMul && swapsLastTwo) {
    ValueId a = def.operands[0], c = def.operands[1];
    return emit(Op::MatMul, {transpose(c, perm), transpose(a, perm)});
  }
  return emit(Op::Transpose, {x}, {std::move(perm)});
}

ValueId Builder::reduceSum(ValueId x, std::vector<std::int64_t> axes) {
  if (axes.empty())
    return x;
  return emit(Op::ReduceSum, {x}, {std::move(axes)});
}

} // namespace nabla
