// Printing each stage: the IR printers, and the JIT's view of the kernels.
#include "driver/Emit.h"

#include "codegen/Jit.h"
#include "codegen/Plan.h"
#include "ir/Differentiate.h"
#include "ir/Printer.h"
#include "passes/DeadCode.h"
#include "passes/ReverseMode.h"

namespace nabla {

namespace {

struct StageName {
  Stage stage;
  const char *name;
};

constexpr StageName kStages[] = {
    {Stage::Ir, "ir"},       {Stage::GradIr, "grad-ir"},     {Stage::Plan, "plan"},
    {Stage::GradPlan, "grad-plan"}, {Stage::Llvm, "llvm"},   {Stage::Asm, "asm"},
    {Stage::GradLlvm, "grad-llvm"}, {Stage::GradAsm, "grad-asm"}, {Stage::Dot, "dot"},
};

bool isGradient(Stage s) {
  return s == Stage::GradIr || s == Stage::GradPlan || s == Stage::GradLlvm ||
         s == Stage::GradAsm;
}

} // namespace

std::optional<Stage> parseStage(const std::string &name) {
  for (const StageName &s : kStages)
    if (name == s.name)
      return s.stage;
  return std::nullopt;
}

std::vector<std::string> stageNames() {
  std::vector<std::string> out;
  for (const StageName &s : kStages)
    out.push_back(s.name);
  return out;
}

Expected<std::string> emitStage(Stage stage, const std::vector<const Function *> &functions) {
  Module live;
  for (const Function *f : functions) {
    Function g = eliminateDeadCode(*f);
    live.functions.push_back(isGradient(stage) ? reverseMode(g, *selectArguments(g, {}))
                                               : std::move(g));
  }
  std::string out;
  switch (stage) {
  case Stage::Ir:
  case Stage::GradIr:
    return print(live);
  case Stage::Dot:
    for (const Function &f : live.functions)
      out += printDot(f);
    return out;
  case Stage::Plan:
  case Stage::GradPlan:
    // The plan the JIT follows for this build (its BLAS and threshold): the same planKernel call.
    for (const Function &f : live.functions)
      out += codegen::printPlan(f, codegen::planKernel(f));
    return out;
  case Stage::Llvm:
  case Stage::Asm:
  case Stage::GradLlvm:
  case Stage::GradAsm: {
    auto jit = codegen::Jit::instance();
    if (!jit)
      return jit.takeError();
    bool assembly = stage == Stage::Asm || stage == Stage::GradAsm;
    for (const Function &f : live.functions) {
      auto text = assembly ? (*jit)->assembly(f) : (*jit)->llvmIr(f, true);
      if (!text)
        return text.takeError();
      out += *text;
    }
    return out;
  }
  }
  return out;
}

} // namespace nabla
