// kernelFunction: the derivative passes as the JIT API and the ahead-of-time compiler call them.
#include "runtime/KernelFunction.h"

#include "ir/Builder.h"
#include "passes/Autodiff.h"
#include "passes/DeadCode.h"

#include <fmt/format.h>

namespace nabla {

Expected<Function> kernelFunction(const Function &f, Derivative derivative,
                                  const std::vector<std::string> &wrtNames) {
  auto wrt = selectArguments(f, wrtNames);
  if (auto *err = std::get_if<std::string>(&wrt))
    return makeDiagnostic(*err);
  const auto &wrtIds = std::get<std::vector<ValueId>>(wrt);
  try {
    switch (derivative) {
    case Derivative::None:
      return eliminateDeadCode(f);
    case Derivative::Reverse:
      return reverseMode(f, wrtIds); // dead code already removed
    case Derivative::Forward:
      return forwardMode(f, wrtIds, 1);
    }
  } catch (const IrError &e) {
    return makeDiagnostic(fmt::format("internal error: cannot differentiate '{}': {}", f.name,
                                      e.what()));
  }
  return makeDiagnostic("unknown derivative");
}

} // namespace nabla
