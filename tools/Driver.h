// What every subcommand shares: reading sources, compiling them, reporting diagnostics, exit codes.
#pragma once

#include "frontend/Sema.h"
#include "ir/Function.h"
#include "nabla/Diagnostic.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nabla::tools {

/// Exit codes of LANGUAGE.md §6.
enum ExitCode : int { kSuccess = 0, kCheckFailed = 1, kBadInput = 2 };

/// Prints diagnostics to stderr and returns kBadInput.
int report(const Diagnostics &d);
int report(const Diagnostic &d);

/// Reads a whole file; nullopt (after reporting) when it cannot be read.
std::optional<SourceFile> readSource(const std::string &path);

/// Parses `--dim N=64` values.
Expected<std::map<std::string, std::int64_t>> parseDims(const std::vector<std::string> &specs);

/// Reads and compiles a .nabla file.
Expected<Module> loadModule(const std::string &path, const SemaOptions &options);

/// A compiled file and the dimensions its `--dim` options bound.
struct LoadedFile {
  Module module;
  std::map<std::string, std::int64_t> dims;
};

/// Parses `--dim` specs, then reads and compiles a .nabla file with them.
Expected<LoadedFile> loadWithDims(const std::string &path, const std::vector<std::string> &dimSpecs);

/// The function or model named `name`; with an empty name, the only one in the module.
Expected<const Function *> selectFunction(const Module &m, const std::string &name,
                                          const std::string &path);

/// Writes `text` to `path` atomically (a temporary file renamed over it), so that a failure
/// never leaves a half-written output or destroys the previous one.
std::optional<std::string> writeFileAtomically(const std::string &path, const std::string &text);

/// Writes several files so that a failure replaces none of them: each goes to a temporary file
/// beside it, and the renames start only when every one is written (a rename within one
/// directory, checked not to be over a directory, does not fail in practice).
std::optional<std::string>
writeFilesAtomically(const std::vector<std::pair<std::string, std::string>> &files);

/// Runs `body` on a thread with a large stack: the recursive-descent parser and the analyzer
/// recurse over the expression tree, and deep user expressions must not overflow the default one.
int runWithLargeStack(const std::function<int()> &body);

} // namespace nabla::tools
