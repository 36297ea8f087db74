// Lowering of the tensor IR to LLVM IR: one kernel function per IR function.
#pragma once

#include "ir/Function.h"

#include <memory>
#include <string>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace nabla::codegen {

/// The kernel ABI. A kernel named S computes every result of its IR function:
///
///   int32_t S(void *const *args, void *const *results, const int64_t *dims, void *workspace);
///   int64_t S_workspace(const int64_t *dims, void *const *args);
///
/// `args` point to the arguments' data in Function::arguments() order, `results` to buffers for
/// the value and then each named result, `dims` holds the runtime dimensions in dimParams order,
/// and `workspace` at least S_workspace(dims, args) bytes aligned to 64. S_workspace reads `args`
/// only when a differentiated loop's bounds are arguments (its tape grows with the trip count);
/// it returns -1 when the size overflows int64, or when it needs `args` and they are null. Elements are row-major: f64
/// as double, f32 as float, i32 as int32_t. The kernel allocates nothing and returns 0, or
/// kIndexOutOfRange when an index argument is out of range (its results are then unspecified).
inline constexpr int kIndexOutOfRange = 1;

/// Names of the runtime support functions that kernels call (special functions).
const char *runtimeSymbolName(int which);

/// Builds the LLVM module holding kernel `symbol` (and `symbol_workspace`) for `f`. With
/// `avx512VectorMath`, calls to exp, log, sin, ... offer libmvec's 512-bit variants to the
/// vectorizer (only for CPUs with AVX-512; the 128- and 256-bit ones come from LLVM's table).
std::unique_ptr<llvm::Module> lowerToLlvm(const Function &f, llvm::LLVMContext &context,
                                          const std::string &symbol, bool avx512VectorMath = true);

} // namespace nabla::codegen
