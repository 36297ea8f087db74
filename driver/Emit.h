// The printable stages of the pipeline (`nabla emit STAGE`, the REPL's :ir, :llvm, ...): the IR,
// its gradient, the Graphviz graph, the kernel plans (buffers, fused loops, matrix products), and
// the LLVM IR and assembly of the kernels.
#pragma once

#include "ir/Function.h"
#include "nabla/Diagnostic.h"

#include <optional>
#include <string>
#include <vector>

namespace nabla {

enum class Stage { Ir, GradIr, Dot, Plan, GradPlan, Llvm, Asm, GradLlvm, GradAsm };

/// The stage a CLI name means ("ir", "grad-ir", "plan", "grad-plan", "llvm", "asm", "grad-llvm",
/// "grad-asm", "dot").
std::optional<Stage> parseStage(const std::string &name);

/// The names parseStage accepts, in the order `nabla emit --help` lists them.
std::vector<std::string> stageNames();

/// `stage` of the functions, live instructions only, one after the other. The gradient stages
/// differentiate w.r.t. the default arguments (a non-scalar value gets a vector-Jacobian
/// product with a cotangent argument `seed.ct`).
Expected<std::string> emitStage(Stage stage, const std::vector<const Function *> &functions);

} // namespace nabla
