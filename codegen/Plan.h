// The plan of a kernel: which values get a buffer, which loops compute them (fused, and grouped
// into row loops), and how each matrix product runs. A pure function of the IR, printable, so
// that fusion decisions are tested as text (tests/PlanTest.cpp) and the kernel emitter only
// follows them.
#pragma once

#include "ir/Function.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace nabla::codegen {

/// What planning needs of the target.
struct PlanTarget {
  bool blas = false;            // cblas_[sd]gemm can be called
  std::int64_t blasMinWork = 0; // products of at least this many multiply-adds call it
  /// This build: a BLAS when nabla is built with one; NABLA_BLAS_MIN_WORK, else 16^3.
  static PlanTarget host();
};

/// A matmul operand: a buffer read as is or transposed (over its last two axes).
struct MatrixOperand {
  ValueId base;
  bool transposed;
};

/// How a matrix product runs. "Work" is its multiply-adds per GEMM call; where it depends on a
/// runtime dimension the kernel tests it and keeps the loops as the fallback.
enum class ProductPath : std::uint8_t {
  Loops,             // loop nests only
  Blas,              // one GEMM per batch entry, whatever the runtime sizes
  BlasIfLarge,       // GEMMs when m n k >= blasMinWork at run time, else the loops
  FoldedGemmIfLarge, // one GEMM per trailing batch entry with the leading `foldedAxes` batch
                     // axes folded into its rows (or contraction), when rows m (k or n) >=
                     // blasMinWork at run time, else the loops
};

/// The loop nest of a product that runs loops.
enum class ProductLoops : std::uint8_t {
  TransposedMatVec, // Aᵀ x with A stored by rows: out += A[p, :] x[p], rows read contiguously
  MatVec,           // dot products accumulated in registers
  Rows,             // C = 0, then C[i, :] += A[i, p] B[p, :], the output column innermost
};

struct ProductPlan {
  ValueId out;     // the value written: the matmul, or the reduce_sum over its batch axes
  ValueId product; // the matmul
  MatrixOperand a, b;
  ProductPath path = ProductPath::Loops;
  ProductLoops loops = ProductLoops::Rows;
  std::size_t foldedAxes = 0; // FoldedGemmIfLarge
};

/// Loops that run together: one loop (its members' values computed at each index) or, with
/// `rows`, several inside one loop over their shared axis 0. Each group is a function of its
/// own, except scalar arithmetic (`inKernel`), which goes straight into the kernel.
struct LoopGroup {
  std::vector<std::vector<ValueId>> loops; // the materialized values each loop computes
  std::optional<Dim> rows;
  bool inKernel = false;
};

/// A result slot of the kernel ABI: the value it returns, computed into the caller's buffer or
/// copied there at the end (an argument returned, a value named twice, a reshape).
struct ResultSlot {
  ValueId value;
  bool copied;
  /// A loop body's carried yield that is an `update` of its own carried argument, that
  /// argument's only use: the update writes its slice into the argument's buffer, which the
  /// loop passes as this result's buffer too (no copy of the whole carried tensor per step).
  bool inPlace = false;
};

struct LoopPlan {
  PlanTarget target;
  std::vector<bool> materialized; // per value: has a buffer that a loop writes
  std::vector<bool> productOfSum; // per matmul: computed by the reduce_sum that reads it
  std::vector<bool> inWorkspace;  // per value: its buffer is workspace (not a result's)
  std::vector<std::optional<ProductPlan>> products; // per value: set on each product's `out`
  std::vector<LoopGroup> groups;                    // in the order the kernel runs them
  std::vector<ResultSlot> results;                  // the value, then each named result
};

/// Plans the kernel of `f` for `target`. For a loop body, `carriedArguments` gives for each of
/// its first yields the argument (position in Function::arguments()) that the yield replaces at
/// the next step: such a yield may update that argument's buffer in place (ResultSlot::inPlace).
LoopPlan planKernel(const Function &f, const PlanTarget &target = PlanTarget::host(),
                    std::span<const std::size_t> carriedArguments = {});

/// The plan as text, one line per loop, e.g. `group 0: loop [n] { %3 tanh, %4 mul } -> %4`.
std::string printPlan(const Function &f, const LoopPlan &plan);

/// A matmul operand read through a transpose of the last two axes that has no buffer of its
/// own (transposed in place).
MatrixOperand matrixOperand(const Function &f, const LoopPlan &plan, ValueId v);

/// A broadcast that only adds or stretches batch axes (not the last two): a matmul reads its
/// operand's matrices in place, at a batch offset, instead of a copy per batch entry.
bool isBatchBroadcast(const Function &f, ValueId v);

} // namespace nabla::codegen
