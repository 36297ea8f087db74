// The reference interpreter.
#include "ir/Interpreter.h"

#include "ir/Loop.h"
#include "ir/OpTable.h"

#include <algorithm>
#include <cstdlib>
#include <optional>

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

namespace {

/// What one interpretation shares across the functions it runs (loop bodies included): the
/// dimensions, and the bytes its live tensors hold against a budget, so that a program whose
/// values would not fit in memory is an error rather than an attempt.
struct Context {
  const DimBinding &dims;
  std::int64_t budget;
  std::int64_t liveBytes = 0;

  /// Charges `elements` elements (held as doubles); an error when they overflow or exceed the
  /// budget. `what` names the value.
  std::optional<Diagnostic> charge(std::int64_t elements, const std::string &what) {
    std::int64_t bytes = 0;
    if (elements < 0 || __builtin_mul_overflow(elements, std::int64_t{8}, &bytes) ||
        bytes > budget - liveBytes)
      return makeDiagnostic(fmt::format(
          "{} needs {} elements: beyond the interpreter's memory budget of {} MiB (set "
          "NABLA_MAX_MEMORY_MB to change it)",
          what, elements, budget >> 20));
    liveBytes += bytes;
    return std::nullopt;
  }
  void release(std::int64_t elements) { liveBytes -= elements * 8; }
};

/// The budget: NABLA_MAX_MEMORY_MB, else 8 GiB (a third of this project's CI machines).
std::int64_t memoryBudget() {
  if (const char *mb = std::getenv("NABLA_MAX_MEMORY_MB")) {
    char *end = nullptr;
    long long v = std::strtoll(mb, &end, 10);
    if (end != mb && *end == '\0' && v > 0 && v < (1LL << 40))
      return static_cast<std::int64_t>(v) << 20;
  }
  return std::int64_t{8} << 30;
}

std::int64_t elementsOf(const std::vector<Tensor> &tensors) {
  std::int64_t n = 0;
  for (const Tensor &t : tensors)
    n += static_cast<std::int64_t>(t.data.size());
  return n;
}

/// One call's values: one per instruction, and the results of each loop.
struct Frame {
  std::vector<Tensor> values;
  std::map<ValueId, std::vector<Tensor>> loopResults;
};

Expected<Frame> run(const Function &f, const std::vector<Tensor> &args, Context &cx);

/// A body called on `args`: the values it yields.
Expected<std::vector<Tensor>> callBody(const Function &body, const std::vector<Tensor> &args,
                                       Context &cx) {
  auto frame = run(body, args, cx);
  if (!frame)
    return frame.takeError();
  std::vector<Tensor> out;
  for (ValueId y : body.yields)
    out.push_back(frame->values[y]);
  // The frame goes; what it yields lives on, charged to the caller's values.
  cx.release(elementsOf(frame->values) - elementsOf(out));
  return out;
}

std::vector<Tensor> gather(const Frame &frame, std::span<const ValueId> values) {
  std::vector<Tensor> out;
  for (ValueId v : values)
    out.push_back(frame.values[v]);
  return out;
}

/// `loop` and `loop_grad` (ir/Loop.h): the trip count; the results go to frame.loopResults.
Expected<Tensor> runLoop(const Inst &inst, ValueId v, Frame &frame, Context &cx) {
  loops::LoopOperands o = loops::operandsOf(inst);
  auto lo = static_cast<std::int64_t>(frame.values[o.lo].data[0]);
  auto hi = static_cast<std::int64_t>(frame.values[o.hi].data[0]);
  std::vector<Tensor> carried = gather(frame, o.inits);
  std::vector<Tensor> captures = gather(frame, o.captures);
  auto stepArgs = [&](std::int64_t t, const std::vector<Tensor> &state) {
    std::vector<Tensor> args{Tensor::scalar(static_cast<double>(t), DType::I32)};
    args.insert(args.end(), state.begin(), state.end());
    args.insert(args.end(), captures.begin(), captures.end());
    return args;
  };
  std::vector<std::vector<Tensor>> tape; // loop_grad: the carried values of each step
  for (std::int64_t t = lo; t < hi; ++t) {
    if (inst.op == Op::LoopGrad) {
      if (auto full = cx.charge(elementsOf(carried), fmt::format("the tape of %{}", v)))
        return *full;
      tape.push_back(carried);
    }
    auto next = callBody(loops::body(inst), stepArgs(t, carried), cx);
    if (!next)
      return next.takeError();
    carried = std::move(*next);
  }
  if (inst.op == Op::Loop) {
    frame.loopResults[v] = std::move(carried);
  } else {
    // Backward: the cotangents of each step's carried inputs from those of its results, the
    // captures' contributions summed over the steps.
    std::vector<Tensor> cotangents = gather(frame, o.cotangents);
    std::size_t kf = cotangents.size();
    std::vector<Tensor> captureSums;
    for (std::int64_t t = hi; t-- > lo;) {
      std::vector<Tensor> args = stepArgs(t, tape[static_cast<std::size_t>(t - lo)]);
      args.insert(args.end(), cotangents.begin(), cotangents.end());
      auto out = callBody(loops::backwardBody(inst), args, cx);
      if (!out)
        return out.takeError();
      std::copy_n(out->begin(), kf, cotangents.begin());
      if (captureSums.empty()) {
        captureSums.assign(out->begin() + static_cast<std::ptrdiff_t>(kf), out->end());
      } else {
        for (std::size_t q = 0; q < captureSums.size(); ++q)
          for (std::size_t e = 0; e < captureSums[q].data.size(); ++e)
            captureSums[q].data[e] += (*out)[kf + q].data[e];
      }
    }
    std::vector<Tensor> results = std::move(cotangents);
    if (captureSums.empty()) { // no iteration: the captures get zero
      std::vector<Type> types = loops::resultTypes(inst);
      for (std::size_t q = kf; q < types.size(); ++q) {
        auto shape = concreteShape(types[q].shape, cx.dims);
        captureSums.emplace_back(types[q].dtype, shape ? *shape : std::vector<std::int64_t>{});
      }
    }
    for (Tensor &sum : captureSums) {
      sum.roundToDType();
      results.push_back(std::move(sum));
    }
    frame.loopResults[v] = std::move(results);
  }
  for (const std::vector<Tensor> &step : tape)
    cx.release(elementsOf(step));
  return Tensor::scalar(static_cast<double>(std::max<std::int64_t>(hi - lo, 0)), DType::I32);
}

Expected<Frame> run(const Function &f, const std::vector<Tensor> &args, Context &cx) {
  Frame frame;
  std::vector<Tensor> &values = frame.values;
  values.resize(f.insts.size());
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
    if (inst.op == Op::Loop || inst.op == Op::LoopGrad) {
      auto trips = runLoop(inst, v, frame, cx);
      if (!trips)
        return trips.takeError();
      values[v] = std::move(*trips);
      continue;
    }
    if (inst.op == Op::LoopResult) {
      values[v] = frame.loopResults.at(inst.operands[0])
                      .at(static_cast<std::size_t>(inst.intAttr("index")));
      continue;
    }
    auto shape = concreteShape(inst.type.shape, cx.dims);
    if (!shape)
      return makeDiagnostic(fmt::format("%{} has an unbound dimension in {}", v, inst.type.str()));
    for (std::int64_t d : *shape)
      if (d < 0)
        return makeDiagnostic(fmt::format("%{} has a negative dimension in {}", v,
                                          inst.type.str()));
    auto count = checkedElementCount(*shape);
    if (auto full = cx.charge(count ? *count : -1,
                              fmt::format("%{} ({}, {})", v, mnemonic(inst.op), inst.type.str())))
      return *full;
    Tensor out(inst.type.dtype, *shape);
    operands.clear();
    for (ValueId o : inst.operands)
      operands.push_back(&values[o]);
    try {
      opInfo(inst.op).eval(bindAttrs(inst, cx.dims), operands, out);
    } catch (const EvalError &e) {
      return makeDiagnostic(fmt::format("in '{}' at %{} ({}): {}", f.name, v, mnemonic(inst.op),
                                        e.what()));
    }
    values[v] = std::move(out);
  }
  return frame;
}

} // namespace

Expected<std::vector<Tensor>> interpretAll(const Function &f, const std::vector<Tensor> &args,
                                           const DimBinding &given) {
  auto dims = bindDimensions(f, args, given);
  if (!dims)
    return dims.takeError();
  Context cx{*dims, memoryBudget()};
  auto frame = run(f, args, cx);
  if (!frame)
    return frame.takeError();
  return std::move(frame->values);
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
