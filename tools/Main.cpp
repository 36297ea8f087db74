// The `nabla` command line: the subcommands of LANGUAGE.md §6, parsed with CLI11.
#include "driver/Check.h"
#include "driver/Derivatives.h"
#include "driver/DerivedFunction.h"
#include "driver/Emit.h"
#include "driver/Json.h"
#include "driver/Source.h"
#include "tools/Cli.h"
#include "tools/Compile.h"
#include "tools/GradBench.h"
#include "tools/Repl.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>

namespace nabla::tools {
namespace {

struct EvalOptions {
  std::string file;
  std::string fn;
  std::string at;
  std::string inputs;
  std::vector<std::string> dims;
  std::string engine = "jit";
  std::string mode = "reverse";
  std::string wrt;
  bool grad = false;
  bool jacobian = false;
  bool hessian = false;
  bool json = false;
};

Derivative parseMode(const std::string &m) {
  if (m == "symbolic")
    return Derivative::Symbolic;
  if (m == "forward")
    return Derivative::Forward;
  return Derivative::Reverse;
}

/// `--wrt a,b` or `--wrt all` as names (empty: the default set).
std::vector<std::string> splitNames(const std::string &list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size() && !list.empty()) {
    std::size_t comma = list.find(',', start);
    std::string name = list.substr(start, comma == std::string::npos ? std::string::npos
                                                                     : comma - start);
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    if (!name.empty())
      out.push_back(name);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return out;
}

/// The named values for a call: from `--at` or from the `--inputs` JSON file.
Expected<std::map<std::string, Json>> readValues(const EvalOptions &o) {
  if (!o.at.empty())
    return parseAssignments(o.at);
  auto source = readSource(o.inputs);
  if (!source)
    return source.takeError();
  auto doc = parseJson(source->text(), o.inputs);
  if (!doc)
    return doc.takeError();
  if (!doc->is_object())
    return makeDiagnostic(fmt::format("{}: expected a JSON object with one entry per input and "
                                      "param",
                                      o.inputs));
  std::map<std::string, Json> values;
  for (auto it = doc->begin(); it != doc->end(); ++it)
    values[it.key()] = it.value();
  return values;
}

int runEval(const EvalOptions &o) {
  auto loaded = loadWithDims(o.file, o.dims);
  if (!loaded)
    return report(loaded.error());
  const Module *module = &loaded->module;
  const auto *dims = &loaded->dims;
  auto fn = selectFunction(*module, o.fn, o.file);
  if (!fn)
    return report(fn.error());
  const Function &f = **fn;
  auto values = readValues(o);
  if (!values)
    return report(values.error());
  auto args = collectArguments(f, *values, o.at.empty() ? o.inputs : "--at", *dims);
  if (!args)
    return report(args.error());
  Engine engine = o.engine == "interp" ? Engine::Interp : Engine::Jit;
  auto computed = execute(engine, f, *args, *dims);
  if (!computed)
    return report(computed.error());
  Evaluation evaluation{(*computed)[0],
                        std::vector<Tensor>(computed->begin() + 1, computed->end())};
  const Evaluation *result = &evaluation;
  auto bound = bindDimensions(f, *args, *dims);
  if (!bound)
    return report(bound.error());

  std::vector<std::string> wrtNames = splitNames(o.wrt);
  bool all = wrtNames.size() == 1 && wrtNames[0] == "all";
  if (all)
    wrtNames.clear();
  auto wrt = selectArguments(f, wrtNames, all);
  if (!wrt)
    return report(wrt.error());
  const std::vector<ValueId> &wrtIds = *wrt;
  Derivative mode = parseMode(o.mode);

  Derivatives grads, jac;
  std::vector<HessianBlock> hess;
  if (o.grad) {
    auto g = gradient(f, wrtIds, *args, *bound, mode, engine);
    if (!g)
      return report(g.error());
    grads = std::move(*g);
  }
  if (o.jacobian) {
    auto j = jacobian(f, wrtIds, *args, *bound, mode, engine);
    if (!j)
      return report(j.error());
    jac = std::move(*j);
  }
  if (o.hessian) {
    auto h = hessian(f, wrtIds, *args, *bound, mode, engine);
    if (!h)
      return report(h.error());
    hess = std::move(*h);
  }

  if (o.json) {
    Json out;
    out["value"] = tensorToJson(result->result);
    if (!f.outputs.empty()) {
      Json outputs = Json::object();
      for (std::size_t i = 0; i < f.outputs.size(); ++i)
        outputs[f.outputs[i].name] = tensorToJson(result->outputs[i]);
      out["outputs"] = outputs;
    }
    auto section = [&](const char *key, const Derivatives &d) {
      Json j = Json::object();
      for (const NamedTensor &t : d)
        j[t.name] = tensorToJson(t.value);
      out[key] = j;
    };
    if (o.grad)
      section("grad", grads);
    if (o.jacobian)
      section("jacobian", jac);
    if (o.hessian) {
      Json h = Json::object();
      for (const HessianBlock &block : hess)
        h[block.a][block.b] = tensorToJson(block.value);
      out["hessian"] = h;
    }
    std::cout << dumpJson(out) << "\n";
    return kSuccess;
  }
  std::cout << (f.kind == Function::Kind::Model ? "loss" : "value") << " = "
            << formatTensor(result->result) << "\n";
  for (std::size_t i = 0; i < f.outputs.size(); ++i)
    std::cout << f.outputs[i].name << " = " << formatTensor(result->outputs[i]) << "\n";
  for (const NamedTensor &t : grads)
    std::cout << "grad " << t.name << " = " << formatTensor(t.value) << "\n";
  for (const NamedTensor &t : jac)
    std::cout << "jacobian " << t.name << " = " << formatTensor(t.value) << "\n";
  for (const HessianBlock &block : hess)
    std::cout << "hessian " << block.a << " " << block.b << " = " << formatTensor(block.value)
              << "\n";
  return kSuccess;
}

struct CheckCommandOptions {
  std::string file;
  std::string fn;
  std::string engine = "jit";
  std::uint64_t seed = 1;
  std::vector<std::string> dims;
};

int runCheck(const CheckCommandOptions &o) {
  auto loaded = loadWithDims(o.file, o.dims);
  if (!loaded)
    return report(loaded.error());
  const Module *module = &loaded->module;
  const auto *dims = &loaded->dims;
  if (!o.fn.empty())
    if (auto fn = selectFunction(*module, o.fn, o.file); !fn)
      return report(fn.error());
  CheckOptions options;
  options.seed = o.seed;
  options.function = o.fn;
  options.dims = *dims;
  options.engine = o.engine == "jit" ? Engine::Jit : Engine::Interp;
  auto result = checkModule(*module, options);
  if (!result)
    return report(result.error());
  std::cout << result->table();
  return result->passed() ? kSuccess : kCheckFailed;
}

struct DiffOptions {
  std::string expression;
  std::vector<std::string> variables;
  int order = 1;
};

int runDiff(const DiffOptions &o) {
  if (o.order < 1)
    return report(makeDiagnostic("--order must be 1 or more"));
  if (o.order > 1 && o.variables.size() != 1)
    return report(makeDiagnostic("--order takes a single VAR; give several VARs for a mixed "
                                 "partial instead"));
  auto f = expressionFunction(o.expression, "EXPR", o.variables);
  if (!f)
    return report(f.error());
  const Type &t = f->typeOf(f->result);
  if (!t.isScalar() || !isFloat(t.dtype))
    return report(makeDiagnostic(fmt::format("'nabla diff' needs a scalar expression, got {}",
                                             t.str())));
  std::vector<ValueId> vars;
  for (int k = 0; k < o.order; ++k)
    for (const std::string &v : o.variables)
      vars.push_back(*f->argument(v));
  auto text = derivativeText(*f, vars);
  if (!text)
    return report(text.error());
  std::cout << *text << "\n";
  return kSuccess;
}

struct EmitOptions {
  std::string stage;
  std::string file;
  std::string fn;
  std::vector<std::string> dims;
};

int runEmit(const EmitOptions &o) {
  auto loaded = loadWithDims(o.file, o.dims);
  if (!loaded)
    return report(loaded.error());
  const Module *module = &loaded->module;
  std::vector<const Function *> chosen;
  if (o.fn.empty()) {
    for (const Function &f : module->functions)
      chosen.push_back(&f);
  } else {
    auto fn = selectFunction(*module, o.fn, o.file);
    if (!fn)
      return report(fn.error());
    chosen.push_back(*fn);
  }
  auto text = emitStage(*parseStage(o.stage), chosen);
  if (!text)
    return report(text.error());
  std::cout << *text;
  return kSuccess;
}

int run(int argc, char **argv) {
  CLI::App app{"nabla: a differentiation compiler for math expressions and neural-network models",
               "nabla"};
  app.set_version_flag("--version", std::string("nabla ") + NABLA_VERSION);
  app.require_subcommand(1);

  EvalOptions eval;
  CLI::App *evalCmd = app.add_subcommand("eval", "Evaluate a fn or model at given inputs");
  evalCmd->add_option("FILE", eval.file, "A .nabla file")->required();
  evalCmd->add_option("--fn", eval.fn, "The fn or model to evaluate (optional if there is one)");
  auto *at = evalCmd->add_option("--at", eval.at, "Argument values, e.g. 'x=1,y=2,w=[1,2]'");
  auto *inputs = evalCmd->add_option("--inputs", eval.inputs,
                                     "A JSON file with one entry per input and param");
  at->excludes(inputs);
  evalCmd->add_option("--dim", eval.dims, "Bind a dimension, e.g. --dim B=64 (repeatable)");
  evalCmd->add_option("--engine", eval.engine,
                      "jit: native code compiled in process (default); interp: the reference "
                      "interpreter")
      ->check(CLI::IsMember({"jit", "interp"}));
  evalCmd->add_flag("--grad", eval.grad, "Also print the gradient (the value must be a scalar)");
  evalCmd->add_flag("--jacobian", eval.jacobian, "Also print the Jacobian");
  evalCmd->add_flag("--hessian", eval.hessian, "Also print the Hessian (forward over the gradient)");
  evalCmd->add_option("--wrt", eval.wrt,
                      "Differentiate w.r.t. these arguments (comma-separated), or 'all' to add a "
                      "model's float inputs to its params");
  evalCmd->add_option("--mode", eval.mode, "How derivatives are computed")
      ->check(CLI::IsMember({"symbolic", "forward", "reverse"}));
  evalCmd->add_flag("--json", eval.json, "Print the result as JSON");

  CheckCommandOptions check;
  CLI::App *checkCmd = app.add_subcommand(
      "check", "Check every derivative mode against finite differences (exit 1 on a failure)");
  checkCmd->add_option("FILE", check.file, "A .nabla file")->required();
  checkCmd->add_option("--fn", check.fn, "Only this fn or model");
  checkCmd->add_option("--seed", check.seed, "Seed of the random inputs");
  checkCmd->add_option("--dim", check.dims, "Bind a dimension, e.g. --dim B=4 (repeatable)");
  checkCmd->add_option("--engine", check.engine, "jit (default) or interp")
      ->check(CLI::IsMember({"jit", "interp"}));

  std::string replFile;
  CLI::App *replCmd = app.add_subcommand("repl", "An interactive shell (:help inside lists what "
                                                 "it understands)");
  replCmd->add_option("FILE", replFile, "A .nabla file to load first");

  DiffOptions diff;
  CLI::App *diffCmd =
      app.add_subcommand("diff", "Print the simplified symbolic derivative of an expression");
  diffCmd->add_option("EXPR", diff.expression, "An expression, e.g. 'x^2*y'")->required();
  diffCmd->add_option("VAR", diff.variables,
                      "Differentiate w.r.t. these, one after the other (a mixed partial)")
      ->required();
  diffCmd->add_option("--order", diff.order, "The K-th derivative w.r.t. a single VAR");

  EmitOptions emit;
  CLI::App *emitCmd = app.add_subcommand("emit", "Print a stage of the compilation pipeline");
  emitCmd
      ->add_option("STAGE", emit.stage,
                   "ir: the typed tensor IR; grad-ir: its reverse-mode gradient IR; plan: each "
                   "kernel's buffers, fused loops and matrix products; llvm: the optimized LLVM "
                   "IR of the kernels; asm: their host assembly; grad-plan, grad-llvm, grad-asm: "
                   "the same for the gradient kernels; dot: the IR as a Graphviz graph")
      ->required()
      ->check(CLI::IsMember(stageNames()));
  emitCmd->add_option("FILE", emit.file, "A .nabla file")->required();
  emitCmd->add_option("--fn", emit.fn, "Only this fn or model");
  emitCmd->add_option("--dim", emit.dims, "Bind a dimension, e.g. --dim d=16 (repeatable)");

  AotOptions compile;
  CLI::App *compileCmd = app.add_subcommand(
      "compile", "Compile fns and models ahead of time: one object file and a C header "
                 "(docs/aot.md)");
  compileCmd->add_option("FILE", compile.file, "A .nabla file")->required();
  compileCmd->add_option("-o,--output", compile.output, "The object file to write (OUT.o)")
      ->required();
  compileCmd->add_option("--header", compile.header,
                         "The C header to write (default: OUT with the extension .h)");
  compileCmd->add_option("--fn", compile.fn, "Only this fn or model (default: all of them)");
  compileCmd->add_option("--dtype", compile.dtype,
                         "Convert every float type to this one (default: as declared)")
      ->check(CLI::IsMember({"f32", "f64"}));
  compileCmd->add_option("--dim", compile.dims,
                         "Fix a dimension, e.g. --dim D=784 (repeatable); the others are given "
                         "at call time");
  compileCmd->add_option("--prefix", compile.prefix,
                         "The kernels' symbol prefix (default nabla_): PREFIX<name>, "
                         "PREFIX<name>_grad, ...; a C identifier");
  compileCmd->add_option("--cpu", compile.cpu,
                         "The CPU the object is for: native (this machine, the default) or an "
                         "LLVM CPU name such as x86-64-v3 (AVX2), x86-64-v4 (AVX-512), x86-64");

  CLI::App *gradbenchCmd = app.add_subcommand(
      "gradbench", "Serve GradBench's tool protocol: one JSON message per line on stdin, one "
                   "answer per line on stdout (docs/gradbench.md)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    app.exit(e);
    return kBadInput;
  }
  if (evalCmd->parsed()) {
    if (eval.at.empty() && eval.inputs.empty()) {
      std::cerr << "nabla eval: error: give the arguments with --at 'x=1,y=2' or --inputs "
                   "IN.json\n";
      return kBadInput;
    }
    return runWithLargeStack([&] { return runEval(eval); });
  }
  if (compileCmd->parsed())
    return runWithLargeStack([&] { return runCompile(compile); });
  if (emitCmd->parsed())
    return runWithLargeStack([&] { return runEmit(emit); });
  if (replCmd->parsed())
    return runWithLargeStack([&] { return runRepl(replFile); });
  if (checkCmd->parsed())
    return runWithLargeStack([&] { return runCheck(check); });
  if (gradbenchCmd->parsed())
    return runWithLargeStack([] { return runGradBench(std::cin, std::cout); });
  if (diffCmd->parsed())
    return runWithLargeStack([&] { return runDiff(diff); });
  return kBadInput;
}

} // namespace
} // namespace nabla::tools

int main(int argc, char **argv) {
  try {
    return nabla::tools::run(argc, argv);
  } catch (const std::exception &e) {
    std::cerr << "nabla: internal error: " << e.what() << "\n";
    return nabla::tools::kBadInput;
  }
}
