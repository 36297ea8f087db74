// Ahead-of-time compilation (`nabla compile`, docs/aot.md): which kernels each fn and model gets
// (value, gradient, JVP), their symbols and descriptions, one object file and its C header.
#pragma once

#include "nabla/Diagnostic.h"

#include <string>
#include <vector>

namespace nabla {

struct AotOptions {
  std::string file;              // the .nabla source
  std::string output;            // OUT.o
  std::string header;            // OUT.h; empty: OUT with the extension .h
  std::string fn;                // empty: every fn and model
  std::string dtype;             // "f32", "f64" or empty (as declared)
  std::vector<std::string> dims; // --dim N=64
  std::string cpu = "native";    // the CPU the object is for (an LLVM CPU name)
  std::string prefix = "nabla_"; // kernel symbols are PREFIX<name>[_grad|_jvp]
};

/// What compiling a source ahead of time produced, not yet written anywhere.
struct AotArtifacts {
  std::string objectPath, object; // the ELF object file: where it goes and its bytes
  std::string headerPath, header; // the C header: where it goes and its text
  std::vector<std::string> symbols; // the kernels, in the object's order
  std::vector<std::string> notes;   // derivative kernels left out, and why
  std::string link;                 // how to link a program with the object
};

/// Compiles `options.file` into an object and a header (both in memory).
Expected<AotArtifacts> compileAheadOfTime(const AotOptions &options);

} // namespace nabla
