// Gathers the per-op lowering rules of the codegen/Lower*.cpp family files into one table indexed
// by Op, as ir/OpTable.cpp gathers the ops' other rules.
#include "codegen/LowerRule.h"

#include <array>

namespace nabla::codegen {

const LowerRule &lowerRule(Op op) {
  static const std::array<const LowerRule *, kOpCount> table = {
#define NABLA_OP(Name, mnemonic) &lower##Name,
#include "ir/Ops.def"
  };
  return *table[static_cast<std::size_t>(op)];
}

} // namespace nabla::codegen
