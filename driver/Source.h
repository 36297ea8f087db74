// The front of the pipeline: reading sources, checking them into modules, choosing a function,
// and writing outputs safely. Every way in (the CLI, the REPL, both APIs) reads files here.
#pragma once

#include "frontend/Sema.h"
#include "ir/Function.h"
#include "nabla/Diagnostic.h"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace nabla {

/// A whole file, named by its path in diagnostics.
Expected<SourceFile> readSource(const std::string &path);

/// Parses `--dim N=64` values.
Expected<std::map<std::string, std::int64_t>> parseDims(const std::vector<std::string> &specs);

/// Reads and checks a .nabla file.
Expected<Module> loadModule(const std::string &path, const SemaOptions &options = {});

/// A checked file and the dimensions its `--dim` options bound.
struct LoadedFile {
  Module module;
  std::map<std::string, std::int64_t> dims;
};

/// Parses `--dim` specs, then reads and checks a .nabla file with them.
Expected<LoadedFile> loadWithDims(const std::string &path, const std::vector<std::string> &dimSpecs);

/// The function or model named `name`; with an empty name, the only one in the module.
/// `path` names the module in the message.
Expected<const Function *> selectFunction(const Module &m, const std::string &name,
                                          const std::string &path);

/// A lone scalar expression over the f64 variables `variables` as a function (`nabla diff
/// 'x^2*y' x y`, the REPL's `d/dx ...`). A variable must be a name and not a built-in's.
Expected<Function> expressionFunction(const std::string &expression,
                                      const std::string &sourceName,
                                      const std::vector<std::string> &variables);

/// Writes `text` to `path` atomically (a temporary file renamed over it), so that a failure
/// never leaves a half-written output or destroys the previous one.
Expected<void> writeFileAtomically(const std::string &path, const std::string &text);

/// Writes several files so that a failure replaces none of them: each goes to a temporary file
/// beside it, and the renames start only when every one is written (a rename within one
/// directory, checked not to be over a directory, does not fail in practice).
Expected<void> writeFilesAtomically(const std::vector<std::pair<std::string, std::string>> &files);

} // namespace nabla
