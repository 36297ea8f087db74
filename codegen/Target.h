// The host target shared by the JIT and ahead-of-time compilation: the CPU and its features, the
// optimization pipeline, and IR function -> optimized LLVM module.
#pragma once

#include "ir/Function.h"
#include "nabla/Diagnostic.h"

#include <memory>
#include <string>

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
} // namespace llvm

namespace nabla::codegen {

/// The machine nabla compiles for: this host's CPU with all of its features (AVX-512 where
/// present), code generation at -O3.
struct HostTarget {
  std::unique_ptr<llvm::TargetMachine> machine;
  std::string cpu;      ///< e.g. "sapphirerapids"
  std::string features; ///< LLVM feature string, "+avx512f,+fma,..."
};

/// The process-wide host target, created on first use (initializes LLVM's native target).
Expected<const HostTarget *> hostTarget();

/// A target machine of its own for the host, configured like `target.machine`: code generation
/// on several threads needs one each (a TargetMachine caches its subtargets unguarded).
std::unique_ptr<llvm::TargetMachine> newHostMachine(const HostTarget &target);

/// Targets `m` at the host and optimizes it at O3, with glibc's libmvec as the vector math
/// library so that loops over exp, log, sin, ... vectorize. `machine` defaults to the target's
/// own (one thread at a time).
void optimizeForHost(llvm::Module &m, const HostTarget &target,
                     llvm::TargetMachine *machine = nullptr);

/// Lowers `f` into a fresh verified module holding kernel `symbol` (codegen/Lowering.h), optimized
/// for the host when `optimized`.
Expected<std::unique_ptr<llvm::Module>> buildKernelModule(const Function &f,
                                                          llvm::LLVMContext &context,
                                                          const std::string &symbol,
                                                          bool optimized);

} // namespace nabla::codegen
