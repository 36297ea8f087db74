// The IR's invariants, checked after parsing and (in debug builds) after every pass.
#pragma once

#include "ir/Function.h"

#include <cstddef>
#include <optional>
#include <string>

namespace nabla {

/// What a verifier failure points at, so that the IR parser can put its caret on the right line.
struct VerifierFailure {
  enum class Site : std::uint8_t { Function, Inst, Output, Result };
  Site site = Site::Function;
  std::size_t index = 0; // the instruction or the `outputs` entry
  std::string message;   // names the instruction as `%k (op)` where there is one
};

/// Why `f` breaks an invariant, or nullopt: operands defined before use, arity, attribute kinds,
/// types equal to what the op's type rule gives, result and outputs in range, and every
/// dimension name in a type declared in `dimParams`.
std::optional<VerifierFailure> verifyDetailed(const Function &f);

/// verifyDetailed's message alone; nullopt when `f` is well formed.
std::optional<std::string> verify(const Function &f);
/// Every function, prefixed `@name: `, and that function names are unique.
std::optional<std::string> verify(const Module &m);

/// Whether passes verify their output: always in debug builds; in release builds when the
/// environment sets NABLA_VERIFY_PASSES=1 (the test suite does).
bool verifyingPasses();

/// The output of `pass`, verified when verifyingPasses(): a broken invariant is a compiler bug,
/// thrown as an IrError naming the pass (the driver reports it as an internal error).
Function verified(Function f, const char *pass);

} // namespace nabla
