// The in-process JIT (LLVM ORC LLJIT): compiles IR functions to native kernels for the host CPU,
// optimized (O3, host features, vector math through glibc's libmvec), cached by content.
#pragma once

#include "ir/Function.h"
#include "nabla/Diagnostic.h"

#include <cstdint>
#include <memory>
#include <string>

namespace nabla::codegen {

/// A compiled kernel (see codegen/Lowering.h for the ABI).
struct Kernel {
  using Run = std::int32_t (*)(void *const *args, void *const *results, const std::int64_t *dims,
                               void *workspace);
  using WorkspaceSize = std::int64_t (*)(const std::int64_t *dims, void *const *args);
  Run run = nullptr;
  WorkspaceSize workspaceSize = nullptr;
};

class Jit {
public:
  /// The process-wide JIT, created on first use.
  static Expected<Jit *> instance();

  /// The kernel of `f`; compiled once per distinct function (keyed by its printed IR).
  Expected<Kernel> compile(const Function &f);

  /// The LLVM IR of `f`'s kernel, after optimization when `optimized`.
  Expected<std::string> llvmIr(const Function &f, bool optimized);
  /// The host assembly of `f`'s kernel.
  Expected<std::string> assembly(const Function &f);

  ~Jit();

private:
  Jit();
  struct State;
  std::unique_ptr<State> state_;
};

} // namespace nabla::codegen
