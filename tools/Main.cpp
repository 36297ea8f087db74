// The `nabla` command line: subcommands eval and emit (LANGUAGE.md §6), parsed with CLI11.
#include "ir/Interpreter.h"
#include "ir/Printer.h"
#include "passes/DeadCode.h"
#include "runtime/Json.h"
#include "tools/Driver.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <sstream>

namespace nabla::tools {
namespace {

struct EvalOptions {
  std::string file;
  std::string fn;
  std::string at;
  std::string inputs;
  std::vector<std::string> dims;
  std::string engine = "interp";
  bool json = false;
};

/// The named values for a call: from `--at` or from the `--inputs` JSON file.
Expected<std::map<std::string, Json>> readValues(const EvalOptions &o) {
  if (!o.at.empty())
    return parseAssignments(o.at);
  std::ifstream in(o.inputs, std::ios::binary);
  if (!in)
    return makeDiagnostic(fmt::format("cannot read '{}': {}", o.inputs, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  auto doc = parseJson(text.str(), o.inputs);
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
  auto dims = parseDims(o.dims);
  if (!dims)
    return report(dims.error());
  SemaOptions sema;
  sema.dims = *dims;
  auto module = loadModule(o.file, sema);
  if (!module)
    return report(module.error());
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
  auto result = interpret(f, *args, *dims);
  if (!result)
    return report(result.error());
  if (o.json) {
    Json out;
    out["value"] = tensorToJson(result->result);
    if (!f.outputs.empty()) {
      Json outputs = Json::object();
      for (std::size_t i = 0; i < f.outputs.size(); ++i)
        outputs[f.outputs[i].name] = tensorToJson(result->outputs[i]);
      out["outputs"] = outputs;
    }
    std::cout << dumpJson(out) << "\n";
    return kSuccess;
  }
  std::cout << (f.kind == Function::Kind::Model ? "loss" : "value") << " = "
            << formatTensor(result->result) << "\n";
  for (std::size_t i = 0; i < f.outputs.size(); ++i)
    std::cout << f.outputs[i].name << " = " << formatTensor(result->outputs[i]) << "\n";
  return kSuccess;
}

struct EmitOptions {
  std::string stage;
  std::string file;
  std::string fn;
  std::vector<std::string> dims;
};

int runEmit(const EmitOptions &o) {
  auto dims = parseDims(o.dims);
  if (!dims)
    return report(dims.error());
  SemaOptions sema;
  sema.dims = *dims;
  auto module = loadModule(o.file, sema);
  if (!module)
    return report(module.error());
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
  Module out;
  for (const Function *f : chosen)
    out.functions.push_back(eliminateDeadCode(*f));
  std::cout << print(out);
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
  evalCmd->add_option("--engine", eval.engine, "Execution engine")
      ->check(CLI::IsMember({"interp"}));
  evalCmd->add_flag("--json", eval.json, "Print the result as JSON");

  EmitOptions emit;
  CLI::App *emitCmd = app.add_subcommand("emit", "Print a stage of the compilation pipeline");
  emitCmd->add_option("STAGE", emit.stage, "ir: the typed tensor IR")
      ->required()
      ->check(CLI::IsMember({"ir"}));
  emitCmd->add_option("FILE", emit.file, "A .nabla file")->required();
  emitCmd->add_option("--fn", emit.fn, "Only this fn or model");
  emitCmd->add_option("--dim", emit.dims, "Bind a dimension, e.g. --dim d=16 (repeatable)");

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
  if (emitCmd->parsed())
    return runWithLargeStack([&] { return runEmit(emit); });
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
