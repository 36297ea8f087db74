// Derivatives against central finite differences: `nabla check` over a module, and the REPL's
// `check f at x=1` at one point. Both use the same differences and the same tolerance.
#pragma once

#include "ir/Function.h"
#include "ir/Interpreter.h"
#include "ir/Tensor.h"
#include "nabla/Check.h"
#include "nabla/Nabla.h"

#include <string>
#include <vector>

namespace nabla {

/// `nabla check`: every fn and model of `module` (or the one `options` names), see nabla/Check.h.
Expected<CheckReport> checkModule(const Module &module, const CheckOptions &options);

/// One entry of one argument at a given point: what each mode says, and the central difference.
struct PointCheckRow {
  std::string entry; // "x", or "w[3]" for an entry of a tensor
  double symbolic = 0, forward = 0, reverse = 0, central = 0;
  bool passed = false;
};

/// The gradient of a scalar-valued `f` w.r.t. each of `wrt` at `args`, by every mode on the
/// interpreter, entry by entry against central differences.
Expected<std::vector<PointCheckRow>> checkAtPoint(const Function &f,
                                                  const std::vector<ValueId> &wrt,
                                                  const std::vector<Tensor> &args);

} // namespace nabla
