// The interactive shell of `nabla repl` and the Graphviz form of the IR.
#pragma once

#include "ir/Function.h"

#include <string>

namespace nabla::tools {

/// Reads definitions and questions from stdin (with line editing on a terminal) until :quit or
/// end of input; `file`, when given, is loaded first.
int runRepl(const std::string &file);

/// The IR as a Graphviz digraph, operands pointing at their users.
std::string printDot(const Function &f);

} // namespace nabla::tools
