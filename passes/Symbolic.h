// Symbolic differentiation: derivative expressions built from each op's partial derivatives and
// simplified (frontend/InfixPrinter.h prints them as source, LANGUAGE.md §6 `nabla diff`).
#pragma once

#include "ir/Function.h"

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

} // namespace nabla
