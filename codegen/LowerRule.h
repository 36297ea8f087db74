// How each op is lowered: the facts that the planner (codegen/Plan.h) and the kernel emitter
// (codegen/KernelEmitter.h) need, one LowerRule per op, defined in the codegen/Lower*.cpp file of
// its family and gathered by codegen/LowerTable.cpp through ir/Ops.def, so that an op without a
// lowering fails to link. No LLVM types here: the planner reads these traits too.
#pragma once

#include "ir/Function.h"

#include <cstdint>
#include <vector>

namespace llvm {
class Value;
} // namespace llvm

namespace nabla::codegen {

class KernelEmitter;

/// A multi-index into a value, one i64 per dimension.
using Index = std::vector<llvm::Value *>;

/// Where an op's elements come from.
enum class Lowering : std::uint8_t {
  Argument,    // input, param: the caller's buffer
  Alias,       // reshape: its operand's buffer, read by flat index (so the operand is stored)
  Elementwise, // OpInfo::lowerScalar at each index: fused into the loop of its consumer
  Element,     // LowerRule::element at each index: fused too (select, broadcast, leaves, ...)
  Loops,       // LowerRule::emit fills its buffer: always materialized
};

/// What computing row r (axis 0) of the op's value reads of its operands, for row groups.
enum class RowAccess : std::uint8_t {
  None,      // more than row r of them, or the op is not worth a row loop
  SameRow,   // row r of each (an elementwise op; broadcasts and reshapes say what they move)
  KeptAxis0, // row r of its operand when axis 0 is not reduced (reductions)
  OffAxis0,  // row r of both operands when its axis attribute is not 0 (take_along, ...)
};

struct LowerRule {
  Lowering how = Lowering::Loops;
  RowAccess rows = RowAccess::None;
  /// A scalar of this op is recomputed at every use rather than stored (a constant, a size).
  bool recomputeScalar = false;
  /// Lowering::Element: the element of value `v` at `idx` (emitted at the insertion point).
  llvm::Value *(*element)(KernelEmitter &e, ValueId v, const Index &idx) = nullptr;
  /// Lowering::Loops: the loops that fill value `v`'s buffer.
  void (*emit)(KernelEmitter &e, ValueId v) = nullptr;
  /// Lowering::Loops: the workspace bytes that emit needs after the value's buffer (a loop's
  /// carried values, tape and bodies), emitted in the workspace function and the kernel alike.
  llvm::Value *(*scratchBytes)(KernelEmitter &e, ValueId v) = nullptr;
};

/// Whether values of the op are computed inside their consumers' loops.
inline bool isFused(const LowerRule &r) {
  return r.how == Lowering::Elementwise || r.how == Lowering::Element;
}

const LowerRule &lowerRule(Op op);

// Each family file defines one LowerRule per op, named lower<Name>, e.g. `lowerTanh`.
#define NABLA_OP(Name, mnemonic) extern const LowerRule lower##Name;
#include "ir/Ops.def"

} // namespace nabla::codegen
