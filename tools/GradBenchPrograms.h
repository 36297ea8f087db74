// The eval programs of examples/gradbench/, built into the binary (CMake generates the table from
// the .nabla files), so that `nabla gradbench` runs from any directory, as GradBench starts it.
#pragma once

#include <string>

namespace nabla::tools {

/// The source of examples/gradbench/NAME.nabla, or nullptr when there is none.
const char *gradbenchProgram(const std::string &name);

} // namespace nabla::tools
