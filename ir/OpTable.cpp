// Gathers the per-op rules defined in the family files into one table indexed by Op.
#include "ir/OpTable.h"

#include <array>

namespace nabla {

const OpInfo &opInfo(Op op) {
  static const std::array<const OpInfo *, kOpCount> table = {
#define NABLA_OP(Name, mnemonic) &op##Name,
#include "ir/Ops.def"
  };
  return *table[static_cast<std::size_t>(op)];
}

} // namespace nabla
