// Algebraic simplification of IR: the rewrite table that keeps symbolic derivatives readable.
#pragma once

#include "ir/Function.h"

namespace nabla {

/// An equivalent function with constants folded, identities applied (x*1, x+0, 0*x, x^1),
/// like terms collected (x + x = 2*x, 2*x + 3*x = 5*x), powers merged (x*x = x^2,
/// x^a*x^b = x^(a+b)), signs pulled outward, commutative operands in canonical order, common
/// subexpressions shared and dead code removed.
Function simplify(const Function &f);

} // namespace nabla
