// Which pass builds which derivative: the one place that maps a Derivative to IR.
#include "driver/DerivedFunction.h"

#include "ir/Builder.h"
#include "passes/DeadCode.h"
#include "passes/ForwardMode.h"
#include "passes/ReverseMode.h"
#include "frontend/InfixPrinter.h"
#include "passes/Symbolic.h"

#include <fmt/format.h>

namespace nabla {

const char *derivativeName(Derivative d) {
  switch (d) {
  case Derivative::None:
    return "none";
  case Derivative::Reverse:
    return "reverse";
  case Derivative::Forward:
    return "forward";
  case Derivative::Symbolic:
    return "symbolic";
  }
  return "?";
}

Function gradientFunction(const Function &f, std::span<const ValueId> wrt, Derivative how) {
  return how == Derivative::Symbolic ? symbolicGradient(f, wrt) : reverseMode(f, wrt);
}

Expected<Function> derivedFunction(const Function &f, Derivative derivative,
                                   const std::vector<std::string> &wrtNames) {
  auto wrt = selectArguments(f, wrtNames);
  if (!wrt)
    return wrt.error();
  try {
    switch (derivative) {
    case Derivative::None:
      return eliminateDeadCode(f);
    case Derivative::Reverse:
    case Derivative::Symbolic:
      return gradientFunction(f, *wrt, derivative); // dead code already removed
    case Derivative::Forward:
      return forwardMode(f, *wrt, 1);
    }
  } catch (const IrError &e) {
    return makeDiagnostic(fmt::format("internal error: cannot differentiate '{}': {}", f.name,
                                      e.what()));
  }
  return makeDiagnostic("unknown derivative");
}

Expected<std::string> derivativeText(const Function &f, const std::vector<ValueId> &vars) {
  return printInfix(symbolicDerivative(f, vars));
}

} // namespace nabla
