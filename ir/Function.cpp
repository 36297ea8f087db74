// Op names, attribute access and function lookups.
#include "ir/Function.h"

#include "ir/OpTable.h"

#include <array>

namespace nabla {

namespace {
constexpr std::array<std::string_view, kOpCount> kMnemonics = {
#define NABLA_OP(Name, mnemonic) mnemonic,
#include "ir/Ops.def"
};
} // namespace

std::string_view mnemonic(Op op) { return kMnemonics[static_cast<std::size_t>(op)]; }

std::optional<Op> opFromMnemonic(std::string_view name) {
  for (std::size_t i = 0; i < kOpCount; ++i)
    if (kMnemonics[i] == name)
      return static_cast<Op>(i);
  return std::nullopt;
}

const char *outputRoleKeyword(OutputRole role) {
  switch (role) {
  case OutputRole::Output:
    return "output";
  case OutputRole::Gradient:
    return "grad";
  case OutputRole::Tangent:
    return "tangent";
  }
  return "output";
}

const AttrValue &Inst::attr(std::string_view name) const {
  const auto &specs = opInfo(op).attrs;
  for (std::size_t i = 0; i < specs.size() && i < attrs.size(); ++i)
    if (name == specs[i].name)
      return attrs[i];
  throw std::logic_error("op '" + std::string(mnemonic(op)) + "' has no attribute '" +
                         std::string(name) + "'");
}

std::int64_t Inst::intAttr(std::string_view name) const {
  return std::get<std::int64_t>(attr(name));
}
double Inst::floatAttr(std::string_view name) const { return std::get<double>(attr(name)); }
const std::vector<std::int64_t> &Inst::intsAttr(std::string_view name) const {
  return std::get<std::vector<std::int64_t>>(attr(name));
}
const std::vector<double> &Inst::floatsAttr(std::string_view name) const {
  return std::get<std::vector<double>>(attr(name));
}
const Shape &Inst::dimsAttr(std::string_view name) const { return std::get<Shape>(attr(name)); }
DType Inst::dtypeAttr(std::string_view name) const { return std::get<DType>(attr(name)); }
const std::string &Inst::stringAttr(std::string_view name) const {
  return std::get<std::string>(attr(name));
}

bool attrFits(const AttrValue &v, AttrKind kind) {
  switch (kind) {
  case AttrKind::Int:
    return std::holds_alternative<std::int64_t>(v);
  case AttrKind::Float:
    return std::holds_alternative<double>(v);
  case AttrKind::Ints:
    return std::holds_alternative<std::vector<std::int64_t>>(v);
  case AttrKind::Floats:
    return std::holds_alternative<std::vector<double>>(v);
  case AttrKind::Dims:
    return std::holds_alternative<Shape>(v);
  case AttrKind::DTypeAttr:
    return std::holds_alternative<DType>(v);
  case AttrKind::String:
    return std::holds_alternative<std::string>(v);
  }
  return false;
}

Function Function::emptyLike(std::string newName) const {
  Function g;
  g.name = std::move(newName);
  g.kind = kind;
  g.dimParams = dimParams;
  g.inits = inits;
  return g;
}

std::vector<ValueId> Function::arguments() const {
  std::vector<ValueId> out;
  for (ValueId v = 0; v < insts.size(); ++v)
    if (insts[v].op == Op::Input || insts[v].op == Op::Param)
      out.push_back(v);
  return out;
}

std::optional<ValueId> Function::argument(std::string_view name) const {
  for (ValueId v : arguments())
    if (insts[v].stringAttr("name") == name)
      return v;
  return std::nullopt;
}

const Function *Module::find(std::string_view name) const {
  for (const Function &f : functions)
    if (f.name == name)
      return &f;
  return nullptr;
}

} // namespace nabla
