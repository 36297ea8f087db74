// The reference interpreter.
#include "ir/Interpreter.h"

#include "ir/OpTable.h"

#include <fmt/format.h>

namespace nabla {

namespace {

std::string concreteTypeStr(DType t, const std::vector<std::int64_t> &shape) {
  Tensor probe;
  probe.dtype = t;
  probe.shape = shape;
  return probe.typeStr();
}

/// The instruction with every dimension name in its Dims attributes replaced by its value.
Inst bindAttrs(const Inst &inst, const DimBinding &dims) {
  Inst bound = inst;
  for (AttrValue &a : bound.attrs)
    if (auto *shape = std::get_if<Shape>(&a))
      for (Dim &d : *shape)
        d = d.substitute(dims);
  return bound;
}

} // namespace

Expected<DimBinding> bindDimensions(const Function &f, const std::vector<Tensor> &args,
                                    DimBinding dims) {
  std::vector<ValueId> argIds = f.arguments();
  if (args.size() != argIds.size())
    return makeDiagnostic(fmt::format("'{}' takes {} arguments, got {}", f.name, argIds.size(),
                                      args.size()));
  // A dimension written as a bare name is bound by the first argument that has it; every
  // dimension is then checked against every argument.
  for (std::size_t i = 0; i < args.size(); ++i) {
    const Type &declared = f.typeOf(argIds[i]);
    if (declared.rank() != args[i].rank())
      continue; // reported below
    for (std::size_t d = 0; d < declared.rank(); ++d) {
      auto syms = declared.shape[d].symbols();
      if (syms.size() == 1 && declared.shape[d] == Dim::symbol(syms[0]) && !dims.count(syms[0]))
        dims[syms[0]] = args[i].shape[d];
    }
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const Inst &arg = f.inst(argIds[i]);
    auto shape = concreteShape(arg.type.shape, dims);
    bool dtypeOk = arg.type.dtype == args[i].dtype ||
                   (isFloat(arg.type.dtype) && args[i].dtype == DType::F64); // JSON numbers
    if (!shape || *shape != args[i].shape || !dtypeOk) {
      std::string expected = arg.type.str();
      if (shape)
        expected = concreteTypeStr(arg.type.dtype, *shape);
      return makeDiagnostic(fmt::format("'{}' expects {} for '{}', got {}", f.name, expected,
                                        arg.stringAttr("name"),
                                        concreteTypeStr(arg.type.dtype, args[i].shape)));
    }
  }
  for (const std::string &d : f.dimParams)
    if (!dims.count(d))
      return makeDiagnostic(fmt::format("dimension '{}' of '{}' is not bound (use --dim {}=N)", d,
                                        f.name, d));
  return dims;
}

Expected<std::vector<Tensor>> interpretAll(const Function &f, const std::vector<Tensor> &args,
                                           const DimBinding &given) {
  auto dims = bindDimensions(f, args, given);
  if (!dims)
    return dims.takeError();
  std::vector<Tensor> values(f.insts.size());
  std::size_t nextArg = 0;
  std::vector<const Tensor *> operands;
  for (ValueId v = 0; v < f.insts.size(); ++v) {
    const Inst &inst = f.insts[v];
    if (inst.op == Op::Input || inst.op == Op::Param) {
      values[v] = args[nextArg++];
      values[v].dtype = inst.type.dtype;
      values[v].roundToDType();
      continue;
    }
    auto shape = concreteShape(inst.type.shape, *dims);
    if (!shape)
      return makeDiagnostic(fmt::format("%{} has an unbound dimension in {}", v, inst.type.str()));
    for (std::int64_t d : *shape)
      if (d < 0)
        return makeDiagnostic(fmt::format("%{} has a negative dimension in {}", v,
                                          inst.type.str()));
    Tensor out(inst.type.dtype, *shape);
    operands.clear();
    for (ValueId o : inst.operands)
      operands.push_back(&values[o]);
    try {
      opInfo(inst.op).eval(bindAttrs(inst, *dims), operands, out);
    } catch (const EvalError &e) {
      return makeDiagnostic(fmt::format("in '{}' at %{} ({}): {}", f.name, v, mnemonic(inst.op),
                                        e.what()));
    }
    values[v] = std::move(out);
  }
  return values;
}

Expected<Evaluation> interpret(const Function &f, const std::vector<Tensor> &args,
                               const DimBinding &dims) {
  auto values = interpretAll(f, args, dims);
  if (!values)
    return values.takeError();
  Evaluation e;
  e.result = (*values)[f.result];
  for (const NamedValue &o : f.outputs)
    e.outputs.push_back((*values)[o.value]);
  return e;
}

} // namespace nabla
