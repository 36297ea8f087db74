// `nabla compile`: a file's fns and models as one object file plus a C header (LANGUAGE.md §6,
// docs/aot.md).
#pragma once

#include <string>
#include <vector>

namespace nabla::tools {

struct CompileOptions {
  std::string file;
  std::string output;            // OUT.o
  std::string header;            // OUT.h; empty: OUT with the extension .h
  std::string fn;                // empty: every fn and model
  std::string dtype;             // "f32", "f64" or empty (as declared)
  std::vector<std::string> dims; // --dim N=64
  std::string cpu = "native";    // --cpu: the CPU the object is for (an LLVM CPU name)
  std::string prefix = "nabla_"; // --prefix: kernel symbols are PREFIX<name>[_grad|_jvp]
};

/// Compiles, writes OUT.o and OUT.h (both or neither) and prints what it wrote and the link
/// line; returns an exit code.
int runCompile(const CompileOptions &options);

} // namespace nabla::tools
