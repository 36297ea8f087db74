// The IR verifier: structural checks first, then each op's own type rule as the judge of types.
#include "ir/Verifier.h"

#include "ir/Builder.h"
#include "ir/Loop.h"
#include "ir/OpTable.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <set>

namespace nabla {

namespace {

const char *kindName(AttrKind kind) {
  switch (kind) {
  case AttrKind::Int:
    return "an integer";
  case AttrKind::Float:
    return "a float";
  case AttrKind::Ints:
    return "a list of integers";
  case AttrKind::Floats:
    return "a list of floats";
  case AttrKind::Dims:
    return "a list of dimensions";
  case AttrKind::DTypeAttr:
    return "an element type";
  case AttrKind::String:
    return "a string";
  }
  return "?";
}


std::string instName(const Inst &inst, ValueId v) {
  return "%" + std::to_string(v) + " (" + std::string(mnemonic(inst.op)) + ")";
}

/// A dimension name in `shape` that `f` does not declare.
std::optional<std::string> undeclaredDim(const Function &f, const Shape &shape) {
  for (const Dim &d : shape)
    for (const std::string &name : d.symbols())
      if (std::find(f.dimParams.begin(), f.dimParams.end(), name) == f.dimParams.end())
        return name;
  return std::nullopt;
}

/// The first failure of instruction `v`, checking only what earlier instructions guarantee.
std::optional<std::string> verifyInst(const Function &f, ValueId v) {
  const Inst &inst = f.insts[v];
  const OpInfo &info = opInfo(inst.op);
  std::string where = instName(inst, v) + ": ";
  for (ValueId operand : inst.operands)
    if (operand >= v)
      return where + "operand %" + std::to_string(operand) + " is not defined before it";
  if (info.arity >= 0 && inst.operands.size() != static_cast<std::size_t>(info.arity))
    return where + "expected " + std::to_string(info.arity) + " operand(s), got " +
           std::to_string(inst.operands.size());
  if (info.arity < 0 && inst.operands.empty())
    return where + "expected at least one operand";
  if (inst.attrs.size() != info.attrs.size())
    return where + "expected " + std::to_string(info.attrs.size()) + " attribute(s), got " +
           std::to_string(inst.attrs.size());
  for (std::size_t i = 0; i < inst.attrs.size(); ++i)
    if (!attrFits(inst.attrs[i], info.attrs[i].kind))
      return where + "attribute '" + info.attrs[i].name + "' must be " +
             kindName(info.attrs[i].kind);
  if (auto name = undeclaredDim(f, inst.type.shape))
    return where + "dimension '" + *name + "' is not a parameter of @" + f.name;
  // Attribute dimensions too: the interpreter binds exactly the parameters before evaluating.
  for (std::size_t i = 0; i < inst.attrs.size(); ++i)
    if (const auto *dims = std::get_if<Shape>(&inst.attrs[i]))
      if (auto name = undeclaredDim(f, *dims))
        return where + "dimension '" + *name + "' in attribute '" + info.attrs[i].name +
               "' is not a parameter of @" + f.name;
  for (const Dim &d : inst.type.shape)
    if (d.isConstant() && d.constant() < 0)
      return where + "negative dimension in " + inst.type.str();
  if (!info.inferType)
    return where + "op has no type rule";
  std::vector<Type> operandTypes;
  operandTypes.reserve(inst.operands.size());
  for (ValueId operand : inst.operands)
    operandTypes.push_back(f.insts[operand].type);
  TypeOrError inferred;
  // A type rule is not supposed to throw, but the verifier is what runs on untrusted input.
  try {
    inferred = info.inferType(operandTypes, inst, inst.type);
  } catch (const std::exception &e) {
    return where + "type rule failed: " + e.what();
  }
  if (const auto *err = std::get_if<std::string>(&inferred))
    return where + *err;
  const Type &expected = std::get<Type>(inferred);
  if (expected != inst.type)
    return where + "declared type " + inst.type.str() + " but the type rule gives " +
           expected.str();
  if (inst.op == Op::LoopResult)
    if (auto err = loops::checkLoopResult(f, v))
      return where + *err;
  // A body is a function of its own: the same invariants inside (the type rule has checked how
  // it meets the loop's operands).
  for (std::size_t r = 0; r < inst.regions.size(); ++r)
    if (auto err = verify(*inst.regions[r]))
      return where + "in body " + std::to_string(r) + ": " + *err;
  return std::nullopt;
}

} // namespace

std::optional<VerifierFailure> verifyDetailed(const Function &f) {
  using Site = VerifierFailure::Site;
  std::set<std::string> seen;
  for (const std::string &name : f.dimParams)
    if (!seen.insert(name).second)
      return VerifierFailure{Site::Function, 0, "dimension parameter '" + name + "' repeated"};
  for (ValueId v = 0; v < f.insts.size(); ++v)
    if (auto err = verifyInst(f, v))
      return VerifierFailure{Site::Inst, v, std::move(*err)};
  for (std::size_t i = 0; i < f.outputs.size(); ++i)
    if (f.outputs[i].value >= f.insts.size())
      return VerifierFailure{Site::Output, i,
                             "output '" + f.outputs[i].name + "' refers to undefined value %" +
                                 std::to_string(f.outputs[i].value)};
  if (f.result >= f.insts.size())
    return VerifierFailure{Site::Result, 0,
                           "result refers to undefined value %" + std::to_string(f.result)};
  for (ValueId y : f.yields)
    if (y >= f.insts.size())
      return VerifierFailure{Site::Result, 0,
                             "yield refers to undefined value %" + std::to_string(y)};
  return std::nullopt;
}

std::optional<std::string> verify(const Function &f) {
  auto failure = verifyDetailed(f);
  if (!failure)
    return std::nullopt;
  return std::move(failure->message);
}

std::optional<std::string> verify(const Module &m) {
  std::set<std::string> names;
  for (const Function &f : m.functions) {
    if (!names.insert(f.name).second)
      return "@" + f.name + ": function defined twice";
    if (auto err = verify(f))
      return "@" + f.name + ": " + *err;
  }
  return std::nullopt;
}

bool verifyingPasses() {
#ifndef NDEBUG
  return true;
#else
  static const bool fromEnvironment = [] {
    const char *flag = std::getenv("NABLA_VERIFY_PASSES");
    return flag && std::strcmp(flag, "0") != 0 && *flag;
  }();
  return fromEnvironment;
#endif
}

Function verified(Function f, const char *pass) {
  if (!verifyingPasses())
    return f;
  if (auto problem = verify(f))
    throw IrError(std::string(pass) + " made invalid IR in @" + f.name + ": " + *problem);
  return f;
}

} // namespace nabla
