// The IR function behind every derivative the driver computes or compiles: a fn's or model's
// value, its gradient (reverse mode or simplified symbolic expressions) or its forward-mode JVP.
// One definition for the JIT API (Program::compile), `nabla compile`, `nabla eval` and the REPL.
#pragma once

#include "ir/Differentiate.h"
#include "ir/Function.h"
#include "nabla/Diagnostic.h"
#include "nabla/Nabla.h"

#include <span>
#include <string>
#include <vector>

namespace nabla {

/// The gradient of `f` w.r.t. `wrt` as a function (`@f.grad`): reverse mode, or with
/// Derivative::Symbolic the symbolic gradient, simplified. A non-scalar result gets a
/// vector-Jacobian product with a cotangent argument `seed.ct`.
Function gradientFunction(const Function &f, std::span<const ValueId> wrt, Derivative how);

/// The function a kernel for `derivative` of `f` runs: `f` without dead code, its gradient
/// (gradientFunction), or forward mode with one tangent direction, w.r.t. the arguments named in
/// `wrt` (empty: the default set of selectArguments, every float argument of a fn and every param
/// of a model). An unknown name is an error; so is a derivative that cannot be built.
Expected<Function> derivedFunction(const Function &f, Derivative derivative,
                                   const std::vector<std::string> &wrt = {});

/// The simplified symbolic derivative of a scalar-valued `f` w.r.t. `vars` in turn (a mixed
/// partial; a variable repeated k times gives the k-th derivative), as infix math that nabla
/// parses back (`nabla diff`, the REPL's `d/dx`, `grad f`, `hessian f`).
Expected<std::string> derivativeText(const Function &f, const std::vector<ValueId> &vars);

} // namespace nabla
