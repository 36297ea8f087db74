// Prints scalar IR back as nabla source: infix math that the parser reads back, as `nabla diff`
// and the REPL show derivatives (LANGUAGE.md §6, §7).
#pragma once

#include "ir/Function.h"
#include "nabla/Diagnostic.h"

#include <string>

namespace nabla {

/// The value of a scalar function as infix math: one expression (`3*x^2`), or a block
/// `{ t1 = ...; return ... }` when subexpressions repeat. Fails (with the reason) for functions
/// that use tensor operations with no infix form.
Expected<std::string> printInfix(const Function &f);

/// Like printInfix, for the named results of `f` with a given role, sharing one block of names:
/// `[2*x*y, x^2]`.
Expected<std::string> printInfixList(const Function &f, OutputRole role);

} // namespace nabla
