// `nabla compile`: a file's fns and models as one object file plus a C header (LANGUAGE.md §6,
// docs/aot.md).
#pragma once

#include "driver/Aot.h"

namespace nabla::tools {

/// Compiles, writes OUT.o and OUT.h (both or neither) and prints what it wrote and the link
/// line; returns an exit code.
int runCompile(const AotOptions &options);

} // namespace nabla::tools
