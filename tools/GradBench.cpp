// `nabla gradbench`: GradBench's tool protocol (start, define, evaluate, analysis) over the
// eval programs of examples/gradbench/, each function JIT-compiled once at `define`.
#include "tools/GradBench.h"

#include "driver/DerivedFunction.h"
#include "driver/Execute.h"
#include "driver/Json.h"
#include "driver/Source.h"
#include "tools/GradBenchPrograms.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

namespace nabla::tools {
namespace {

using Clock = std::chrono::steady_clock;

/// How an eval function's output is read off its kernel's results.
enum class Answer {
  Value,           // the function's value
  Gradient,        // the gradient w.r.t. the one argument in `wrt`
  GradientsByName, // an object: each argument in `wrt` -> its gradient
};

/// One function of an eval, as the protocol names it, and the kernel that computes it.
struct EvalFunction {
  std::string name; // the protocol's name, e.g. "gradient"
  std::string fn;   // the fn in the eval's program
  Derivative derivative;
  std::vector<std::string> wrt; // what the derivative is taken with respect to
  Answer answer;
};

/// An eval nabla implements: its program (examples/gradbench/MODULE.nabla) and its functions.
struct EvalModule {
  std::string name;
  std::vector<EvalFunction> functions;
};

const std::vector<EvalModule> &evalModules() {
  static const std::vector<EvalModule> modules = {
      {"hello",
       {{"square", "square", Derivative::None, {}, Answer::Value},
        {"double", "square", Derivative::Reverse, {"x"}, Answer::Gradient}}},
      {"lse",
       {{"primal", "lse", Derivative::None, {}, Answer::Value},
        {"gradient", "lse", Derivative::Reverse, {"x"}, Answer::Gradient}}},
      {"llsq",
       {{"primal", "llsq", Derivative::None, {}, Answer::Value},
        {"gradient", "llsq", Derivative::Reverse, {"x"}, Answer::Gradient}}},
      {"gmm",
       {{"objective", "gmm", Derivative::None, {}, Answer::Value},
        {"jacobian",
         "gmm",
         Derivative::Reverse,
         {"alpha", "mu", "q", "l"},
         Answer::GradientsByName}}},
      {"kmeans",
       {{"cost", "cost", Derivative::None, {}, Answer::Value},
        {"dir", "dir", Derivative::None, {}, Answer::Value}}},
  };
  return modules;
}

const EvalModule *findModule(const std::string &name) {
  for (const EvalModule &m : evalModules())
    if (m.name == name)
      return &m;
  return nullptr;
}

/// A failed message: its text becomes the answer's `error`.
struct Failure {
  std::string message;
};

std::string describe(const Diagnostics &d) {
  std::string text;
  for (const Diagnostic &one : d.list) {
    if (!text.empty())
      text += "; ";
    text += one.message;
  }
  return text;
}

template <class T> T orFail(Expected<T> value) {
  if (!value)
    throw Failure{describe(value.error())};
  return std::move(*value);
}

/// A compiled eval function: the IR function its kernel runs (for the layout of its arguments
/// and results) and the kernel.
struct CompiledFunction {
  const EvalFunction *spec = nullptr;
  Function ir;
  codegen::Kernel kernel;
  std::size_t firstGradient = 0; // index among the kernel's results of the first gradient
};

struct DefinedModule {
  std::vector<CompiledFunction> functions;
};

DefinedModule defineModule(const EvalModule &module) {
  const char *source = gradbenchProgram(module.name);
  if (!source)
    throw Failure{fmt::format("no program for module '{}' was built in", module.name)};
  auto checked = orFail(compileSource(
      SourceFile(fmt::format("examples/gradbench/{}.nabla", module.name), source), {}));
  DefinedModule defined;
  for (const EvalFunction &spec : module.functions) {
    const Function *f = checked.find(spec.fn);
    if (!f)
      throw Failure{fmt::format("the {} program has no fn '{}'", module.name, spec.fn)};
    CompiledFunction c;
    c.spec = &spec;
    c.ir = orFail(derivedFunction(*f, spec.derivative, spec.wrt));
    for (ValueId a : c.ir.arguments())
      if (c.ir.typeOf(a).dtype != DType::F64)
        throw Failure{fmt::format("'{}' of '{}' is not f64: the tool passes f64 buffers only",
                                  c.ir.inst(a).stringAttr("name"), spec.fn)};
    c.kernel = orFail(jitKernel(c.ir));
    c.firstGradient = 1 + f->outputs.size();
    defined.functions.push_back(std::move(c));
  }
  return defined;
}

const Json &field(const Json &object, const char *key) {
  if (!object.is_object())
    throw Failure{fmt::format("expected a JSON object with '{}', got {}", key, object.type_name())};
  auto it = object.find(key);
  if (it == object.end())
    throw Failure{fmt::format("missing field '{}'", key)};
  return *it;
}

const std::string &stringField(const Json &object, const char *key) {
  const Json &value = field(object, key);
  if (!value.is_string())
    throw Failure{fmt::format("field '{}' must be a string, got {}", key, value.type_name())};
  return value.get_ref<const std::string &>();
}

/// A positive integer from JSON (a size or a count), or nullopt when `value` is not one.
std::optional<std::int64_t> positiveInteger(const Json &value, std::int64_t largest) {
  if (!value.is_number())
    return std::nullopt;
  double v = value.get<double>();
  if (!(v >= 1) || v != std::floor(v) || v > static_cast<double>(largest))
    return std::nullopt;
  return static_cast<std::int64_t>(v);
}

/// How many times to run and for how long: the input's `min_runs` and `min_seconds`, with at
/// least one run so that there is an output (`hello` gives neither).
struct RunRule {
  std::int64_t minRuns = 1;
  double minSeconds = 0;
};

RunRule runRule(const Json &input) {
  RunRule rule;
  if (!input.is_object())
    return rule;
  if (auto it = input.find("min_runs"); it != input.end()) {
    if (!it->is_number() || !(it->get<double>() >= 0) || it->get<double>() > 1e9)
      throw Failure{fmt::format("'min_runs' must be a count, got {}", it->dump())};
    rule.minRuns = std::max<std::int64_t>(1, static_cast<std::int64_t>(it->get<double>()));
  }
  if (auto it = input.find("min_seconds"); it != input.end()) {
    if (!it->is_number() || !(it->get<double>() >= 0) || it->get<double>() > 1e6)
      throw Failure{fmt::format("'min_seconds' must be a duration, got {}", it->dump())};
    rule.minSeconds = it->get<double>();
  }
  return rule;
}

/// The kernel's arguments from the input: each argument is the input's entry of the same name
/// (the input itself when the function takes one argument and the input is not an object, as in
/// `hello`); an integer entry named like a dimension binds it (llsq's `n`, gmm's `d`, `k`, `n`).
struct Call {
  std::vector<Tensor> args;
  DimBinding dims;
};

constexpr std::int64_t kLargestDimension = std::int64_t{1} << 31;

Call callFromInput(const Function &f, const Json &input) {
  Call call;
  std::vector<ValueId> argIds = f.arguments();
  for (ValueId a : argIds) {
    const std::string &name = f.inst(a).stringAttr("name");
    const Json &value =
        argIds.size() == 1 && !input.is_object() ? input : field(input, name.c_str());
    auto t = tensorFromJson(value, DType::F64);
    if (!t)
      throw Failure{fmt::format("input '{}': {}", name, describe(t.error()))};
    call.args.push_back(std::move(*t));
  }
  if (input.is_object())
    for (const std::string &d : f.dimParams)
      if (auto it = input.find(d); it != input.end()) {
        auto size = positiveInteger(*it, kLargestDimension);
        if (!size)
          throw Failure{
              fmt::format("input '{}' must be a positive integer, got {}", d, it->dump())};
        call.dims[d] = *size;
      }
  call.dims = orFail(bindDimensions(f, call.args, call.dims));
  for (const auto &[name, size] : call.dims)
    if (size < 1 || size > kLargestDimension)
      throw Failure{fmt::format("dimension '{}' is {}: inputs must not be empty", name, size)};
  return call;
}

/// A kernel's result buffers and scratch memory for one call's dimensions.
struct Buffers {
  std::vector<Tensor> results;
  std::vector<void *> resultPtrs;
  std::vector<void *> argPtrs;
  std::vector<std::int64_t> dimValues;
  std::unique_ptr<void, decltype(&std::free)> workspace{nullptr, &std::free};
};

Buffers buffersFor(const CompiledFunction &c, Call &call) {
  Buffers b;
  std::vector<ValueId> resultIds{c.ir.result};
  for (const NamedValue &o : c.ir.outputs)
    resultIds.push_back(o.value);
  for (ValueId v : resultIds) {
    auto shape = concreteShape(c.ir.typeOf(v).shape, call.dims);
    if (!shape)
      throw Failure{"a result's shape is not bound by the input"};
    b.results.emplace_back(DType::F64, *shape);
  }
  for (Tensor &t : b.results)
    b.resultPtrs.push_back(t.data.data());
  for (Tensor &t : call.args)
    b.argPtrs.push_back(t.data.data());
  for (const std::string &d : c.ir.dimParams)
    b.dimValues.push_back(call.dims.at(d));
  b.dimValues.push_back(0); // never empty, so data() is a valid pointer
  std::int64_t bytes = c.kernel.workspaceSize(b.dimValues.data(), b.argPtrs.data());
  // More than the machine has would be overcommitted, then killed while the kernel runs.
  auto physical = static_cast<std::int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  if (bytes < 0 || bytes > physical)
    throw Failure{fmt::format("the input needs {} bytes of scratch memory", bytes)};
  b.workspace.reset(std::aligned_alloc(64, static_cast<std::size_t>((bytes + 63) / 64 * 64 + 64)));
  if (!b.workspace)
    throw Failure{fmt::format("out of memory: the input needs {} bytes of scratch memory", bytes)};
  return b;
}

Json outputOf(const CompiledFunction &c, const Buffers &b) {
  switch (c.spec->answer) {
  case Answer::Value:
    return tensorToJson(b.results[0]);
  case Answer::Gradient:
    return tensorToJson(b.results[c.firstGradient]);
  case Answer::GradientsByName: {
    Json out = Json::object();
    for (std::size_t i = 0; i < c.spec->wrt.size(); ++i)
      out[c.spec->wrt[i]] = tensorToJson(b.results[c.firstGradient + i]);
    return out;
  }
  }
  return nullptr;
}

Json timing(const char *name, Clock::duration elapsed) {
  return {{"name", name},
          {"nanoseconds", std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()}};
}

/// One tool session: the modules defined so far.
class Session {
public:
  /// The answer to one message (without its `id`).
  Json answer(const Json &message) {
    const std::string &kind = stringField(message, "kind");
    if (kind == "start")
      return {{"tool", "nabla"}};
    if (kind == "define")
      return define(stringField(message, "module"));
    if (kind == "evaluate")
      return evaluate(message);
    if (kind == "analysis")
      return Json::object();
    throw Failure{fmt::format("unknown message kind '{}'", kind)};
  }

private:
  Json define(const std::string &name) {
    const EvalModule *module = findModule(name);
    if (!module)
      return {{"success", false}, {"error", fmt::format("nabla does not implement '{}'", name)}};
    auto start = Clock::now();
    DefinedModule compiled = defineModule(*module);
    auto elapsed = Clock::now() - start;
    defined_.insert_or_assign(name, std::move(compiled));
    return {{"success", true}, {"timings", Json::array({timing("compile", elapsed)})}};
  }

  Json evaluate(const Json &message) {
    const std::string &moduleName = stringField(message, "module");
    const std::string &functionName = stringField(message, "function");
    const Json &input = field(message, "input");
    auto module = defined_.find(moduleName);
    if (module == defined_.end())
      throw Failure{fmt::format("module '{}' is not defined", moduleName)};
    const CompiledFunction *c = nullptr;
    for (const CompiledFunction &candidate : module->second.functions)
      if (candidate.spec->name == functionName)
        c = &candidate;
    if (!c)
      throw Failure{fmt::format("module '{}' has no function '{}'", moduleName, functionName)};

    RunRule rule = runRule(input);
    Call call = callFromInput(c->ir, input);
    Buffers buffers = buffersFor(*c, call);
    Json timings = Json::array();
    Clock::duration total{};
    auto minDuration = std::chrono::duration<double>(rule.minSeconds);
    for (std::int64_t run = 0; run < rule.minRuns || total < minDuration; ++run) {
      auto start = Clock::now();
      std::int32_t status = c->kernel.run(buffers.argPtrs.data(), buffers.resultPtrs.data(),
                                          buffers.dimValues.data(), buffers.workspace.get());
      auto elapsed = Clock::now() - start;
      if (status != 0) // the kernel ABI's one failure: an index out of range
        throw Failure{fmt::format("in '{}': an index is out of range", c->ir.name)};
      total += elapsed;
      timings.push_back(timing("evaluate", elapsed));
    }
    return {{"success", true}, {"output", outputOf(*c, buffers)}, {"timings", timings}};
  }

  std::map<std::string, DefinedModule> defined_;
};

/// The answer line to one message line: `id` first, then the answer or an error.
Json answerLine(Session &session, const std::string &line) {
  Json answer = {{"id", nullptr}};
  auto message = parseJson(line, "message");
  if (!message) {
    answer["success"] = false;
    answer["error"] = fmt::format("malformed JSON: {}", describe(message.error()));
    return answer;
  }
  if (message->is_object() && message->contains("id"))
    answer["id"] = (*message)["id"];
  try {
    answer.update(session.answer(*message));
  } catch (const Failure &f) {
    answer["success"] = false;
    answer["error"] = f.message;
  } catch (const std::exception &e) {
    answer["success"] = false;
    answer["error"] = fmt::format("internal error: {}", e.what());
  }
  return answer;
}

} // namespace

int runGradBench(std::istream &in, std::ostream &out) {
  Session session;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue; // a blank line is no message: answering it would shift every later answer
    out << dumpJson(answerLine(session, line)) << std::endl; // the eval waits for each line
  }
  return 0;
}

} // namespace nabla::tools
