// The interactive shell of `nabla repl`.
#pragma once

#include <string>

namespace nabla::tools {

/// Reads definitions and questions from stdin (with line editing on a terminal) until :quit or
/// end of input; `file`, when given, is loaded first.
int runRepl(const std::string &file);

} // namespace nabla::tools
