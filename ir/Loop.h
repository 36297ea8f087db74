// Loops in the IR (LANGUAGE.md §3b). A loop is one instruction with a body region, so that no
// pass ever unrolls it:
//
//   %9: i32 = loop %lo, %hi, %init0, %init1, %capture0 {carried=2} {
//     %0: i32 = input {name="t"}
//     %1: f64[H] = input {name="h"}          the carried values, then the captured ones
//     ...
//     yield %7, %8                          the carried values for the next iteration
//   }
//   %10: f64[H] = loop_result %9 {index=0}  the carried values after the last iteration
//
// The body runs for t = lo, lo+1, ..., hi-1 (not at all when hi <= lo); its value is the trip
// count. `loop_result` projects one of the loop's results (an instruction has one value).
//
// `loop_grad` is a loop's reverse sweep, which reverse mode emits (OpsLoop.cpp):
//
//   %20: i32 = loop_grad %lo, %hi, inits..., captures..., cotangents... {carried=k}
//              { forward body } { backward body }
//
// It runs the forward body as `loop` does, keeping the carried values of every step (the tape:
// O(trip count x carried state)), then the backward body for t = hi-1, ..., lo:
// (t, carried values of step t, captures, backward carries) -> (backward carries for step t-1,
// per-step terms). The backward carries start as the `cotangents` operands; the terms are
// summed over the steps. Its results: the final backward carries, then the sums. Reverse mode
// carries the cotangents of the float carried values and sums the captures' cotangents; the
// JVP of a loop_grad (forward over reverse, for Hessians) is a loop_grad again.
#pragma once

#include "ir/Builder.h"
#include "ir/Function.h"
#include "ir/OpTable.h"

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace nabla::loops {

/// The operands of a `loop` or `loop_grad`, by role.
struct LoopOperands {
  ValueId lo, hi;
  std::span<const ValueId> inits;      // one per carried value
  std::span<const ValueId> captures;   // values from outside the loop that the body reads
  std::span<const ValueId> cotangents; // loop_grad: the backward carries' initial values
};
LoopOperands operandsOf(const Inst &loop);

/// The body of a loop (a `loop_grad`'s forward body).
const Function &body(const Inst &loop);
/// A `loop_grad`'s backward body.
const Function &backwardBody(const Inst &loopGrad);

/// The positions of the float values among `types`: the carried values and captures that have
/// derivatives.
std::vector<std::size_t> floatPositions(std::span<const Type> types);

/// The types of a loop's results, in `loop_result` index order.
std::vector<Type> resultTypes(const Inst &loop);

/// Why `loop_result` `v` of `f` does not fit its loop, or nullopt. Its type comes from the
/// loop's body, which a type rule (it sees operand types only) cannot reach: the verifier asks.
std::optional<std::string> checkLoopResult(const Function &f, ValueId v);

/// Emits `loop_result` `index` of `loop` (a `loop` or `loop_grad` in the function `b` builds).
ValueId result(Builder &b, ValueId loop, std::size_t index);

/// A body under construction: a function with the enclosing function's dimensions whose
/// `input`s are the body's parameters, in order.
Function emptyBody(const Function &enclosing, std::string name);

/// What fills a body: given its builder, the index and the carried and captured parameters,
/// the carried values for the next iteration.
using BodyFiller = std::function<std::vector<ValueId>(
    Builder &body, ValueId index, std::span<const ValueId> carried,
    std::span<const ValueId> captured)>;

/// Emits `loop` for t in lo..hi over `inits`, its body reading `captures` (values of the
/// function `b` builds) and built by `fill`. Returns the loop; its results come from `result`.
ValueId buildLoop(Builder &b, ValueId lo, ValueId hi, std::span<const ValueId> inits,
                  std::span<const ValueId> captures, const BodyFiller &fill,
                  const std::string &index = "t");

/// The reverse rule of a loop: the cotangents of its operands (one per operand; nullopt: zero)
/// from those of its results (one per result). Emits a `loop_grad`.
std::vector<MaybeValue> loopVjp(Builder &b, const Inst &loop,
                                std::span<const MaybeValue> resultCotangents);

} // namespace nabla::loops
