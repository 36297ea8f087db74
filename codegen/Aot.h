// Ahead-of-time compilation: IR functions -> one relocatable object file for the host, with every
// kernel in it (`nabla compile`, LANGUAGE.md §6; docs/aot.md).
#pragma once

#include "ir/Function.h"
#include "nabla/Diagnostic.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nabla::codegen {

/// One kernel of an object file: `symbol` and `symbol_workspace`, with the ABI of
/// codegen/Lowering.h, computing `function`.
struct AotKernel {
  std::string symbol;
  Function function;
};

/// A compiled object file, in memory.
struct AotObject {
  std::string bytes;               ///< a relocatable ELF object for the host
  std::vector<std::string> needs;  ///< the symbols it leaves to other libraries, sorted
  /// Per kernel: its workspace size in bytes when no runtime dimension changes it.
  std::vector<std::optional<std::int64_t>> workspaceBytes;
  std::string cpu;                 ///< the CPU it is compiled for, e.g. "sapphirerapids", "x86-64-v3"
};

/// Compiles `kernels` into one object for `cpu` ("native": the host, with the JIT's CPU and
/// features; or an LLVM CPU name such as x86-64-v3 for objects that run on other machines), O3,
/// position-independent code. The kernel symbols are the only global definitions; each kernel's
/// helper functions (`symbol.op.N`) stay internal. A function that cannot be lowered, two kernels
/// with one symbol, or an unknown CPU give a diagnostic.
Expected<AotObject> compileObject(const std::vector<AotKernel> &kernels,
                                  const std::string &cpu = "native");

/// The libraries an object that needs `symbols` links against, in link order, as linker
/// flags: `-lnabla_rt` (special functions), `-lopenblas` (cblas_*), `-lmvec` (libmvec's
/// _ZGV*), then always `-lm`.
std::vector<std::string> linkLibraries(const std::vector<std::string> &symbols);

} // namespace nabla::codegen
