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
/// present), or a named CPU of the same architecture for objects that run elsewhere
/// (`nabla compile --cpu x86-64-v3`); code generation at -O3.
struct CpuTarget {
  std::unique_ptr<llvm::TargetMachine> machine;
  std::string cpu;      ///< e.g. "sapphirerapids", "x86-64-v3"
  std::string features; ///< LLVM feature string, "+avx512f,+fma,..." (empty: the CPU's own)
  bool avx512 = false;  ///< whether 512-bit vectors (and libmvec's AVX-512 variants) are there
};

/// The process-wide host target, created on first use (initializes LLVM's native target).
Expected<const CpuTarget *> hostTarget();

/// A target machine of its own, configured like `target.machine`: code generation
/// on several threads needs one each (a TargetMachine caches its subtargets unguarded).
std::unique_ptr<llvm::TargetMachine> newMachine(const CpuTarget &target);

/// Targets `m` at the host and optimizes it at O3, with glibc's libmvec as the vector math
/// library so that loops over exp, log, sin, ... vectorize. `machine` defaults to the target's
/// own (one thread at a time).
void optimizeFor(llvm::Module &m, const CpuTarget &target,
                     llvm::TargetMachine *machine = nullptr);

/// Machine code for `m` from `machine`: an ELF object, or assembly text when `assembly`.
Expected<std::string> emitMachineCode(llvm::Module &m, llvm::TargetMachine &machine,
                                      bool assembly = false);

/// A target for the named CPU of the host's architecture ("native": the host itself), or a
/// diagnostic naming the CPU when LLVM does not know it.
Expected<std::unique_ptr<CpuTarget>> cpuTarget(const std::string &cpu);

/// Lowers `f` into a fresh verified module holding kernel `symbol` (codegen/Lowering.h) for
/// `target` (the host when null), optimized when `optimized`.
Expected<std::unique_ptr<llvm::Module>> buildKernelModule(const Function &f,
                                                          llvm::LLVMContext &context,
                                                          const std::string &symbol,
                                                          bool optimized,
                                                          const CpuTarget *target = nullptr);

} // namespace nabla::codegen
