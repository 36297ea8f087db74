// kernelFunction: the derivative passes as the JIT API and the ahead-of-time compiler call them.
#include "runtime/KernelFunction.h"

#include "ir/Builder.h"
#include "ir/Differentiate.h"
#include "passes/ForwardMode.h"
#include "passes/ReverseMode.h"
#include "passes/DeadCode.h"

#include <fmt/format.h>

namespace nabla {

Expected<Function> kernelFunction(const Function &f, Derivative derivative,
                                  const std::vector<std::string> &wrtNames) {
  auto wrt = selectArguments(f, wrtNames);
  if (!wrt)
    return wrt.error();
  const std::vector<ValueId> &wrtIds = *wrt;
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
