// Symbolic differentiation: derivative expressions built from each op's partial derivatives,
// simplified, and printed as infix math that nabla parses back (LANGUAGE.md §6 `nabla diff`).
#pragma once

#include "ir/Function.h"
#include "nabla/Diagnostic.h"

#include <span>
#include <string>
#include <variant>
#include <vector>

namespace nabla {

/// d/dv1 d/dv2 ... of a scalar function's value, one variable after the other (repeat a variable
/// for higher orders), simplified after each step. The result has `f`'s arguments.
Function symbolicDerivative(const Function &f, const std::vector<ValueId> &variables);

/// `@f.grad` built symbolically: each scalar argument's partial derivative is its own expression
/// (the textbook way: differentiate with respect to one variable at a time); tensor arguments get
/// their gradient expression by reverse accumulation. All of it is simplified. The layout matches
/// reverseMode's: f's value and outputs, then `grad NAME` per argument of `wrt` (and a `seed.ct`
/// argument when the value is not a scalar).
Function symbolicGradient(const Function &f, std::span<const ValueId> wrt);

/// The value of a scalar function as infix math: one expression (`3*x^2`), or a block
/// `{ t1 = ...; return ... }` when subexpressions repeat. Fails (with the reason) for functions that
/// use tensor operations with no infix form.
Expected<std::string> printInfix(const Function &f);

/// Like printInfix, for the named results of `f` with a given role, sharing one block of names:
/// `[2*x*y, x^2]`.
Expected<std::string> printInfixList(const Function &f, OutputRole role);

} // namespace nabla
