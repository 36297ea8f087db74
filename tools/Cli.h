// What every subcommand shares: exit codes, reporting diagnostics, a stack deep enough to parse.
#pragma once

#include "nabla/Diagnostic.h"

#include <functional>

namespace nabla::tools {

/// Exit codes of LANGUAGE.md §6.
enum ExitCode : int { kSuccess = 0, kCheckFailed = 1, kBadInput = 2 };

/// Prints diagnostics to stderr and returns kBadInput.
int report(const Diagnostics &d);
int report(const Diagnostic &d);

/// Runs `body` on a thread with a large stack: the recursive-descent parser and the analyzer
/// recurse over the expression tree, and deep user expressions must not overflow the default one.
int runWithLargeStack(const std::function<int()> &body);

} // namespace nabla::tools
