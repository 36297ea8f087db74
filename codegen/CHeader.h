// The C header of an ahead-of-time object: the raw kernel ABI and a typed inline wrapper per
// kernel, documented argument by argument (`nabla compile --header`, docs/aot.md).
#pragma once

#include "ir/Function.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nabla::codegen {

/// One kernel as the header presents it.
struct HeaderKernel {
  std::string symbol;     ///< nabla_mlp_grad
  const Function *function = nullptr;
  std::string summary;    ///< what it computes, one sentence
  std::optional<std::int64_t> workspaceBytes; ///< when no runtime dimension changes it
};

struct HeaderOptions {
  std::string guard;                  ///< the include guard macro
  std::vector<std::string> preamble;  ///< lines of the opening comment (source, object, link line)
  std::vector<std::string> notes;     ///< lines after the kernels' list (e.g. kernels left out)
};

/// A C99 and C++ header declaring `kernels`: for each, a comment listing its arguments and
/// results in order with dtype and symbolic shape, the runtime dimensions of `dims` and the
/// workspace size; the raw ABI (`S`, `S_workspace`); and the typed wrappers `S_call` (one pointer
/// per argument and result, the dimensions as values) and `S_workspace_bytes` (the dimensions as
/// values).
std::string emitCHeader(const std::vector<HeaderKernel> &kernels, const HeaderOptions &options);

/// The C element type of a dtype in kernel buffers: double, float, int32_t, uint8_t (masks).
const char *cType(DType t);

/// `text` as a C identifier: characters other than letters, digits and '_' become '_', and a
/// leading digit or a C/C++ keyword gets a trailing or leading '_'.
std::string cIdentifier(const std::string &text);

} // namespace nabla::codegen
