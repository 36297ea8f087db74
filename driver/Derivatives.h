// Numeric derivatives of a function at a point, by any of the three modes, on either engine:
// gradients, Jacobians and Hessians (LANGUAGE.md §5, §6).
#pragma once

#include "ir/Function.h"
#include "ir/Interpreter.h"
#include "ir/Tensor.h"
#include "driver/Execute.h"
#include "nabla/Diagnostic.h"

#include <optional>
#include <string>
#include <vector>

namespace nabla {

struct NamedTensor {
  std::string name;
  Tensor value;
};

/// d(value)/d(arg) for each differentiated argument: the gradient (shaped like the argument) when
/// the value is a scalar, else the Jacobian shaped value.shape + arg.shape.
using Derivatives = std::vector<NamedTensor>;

/// A Hessian block: H[a][b] shaped a.shape + b.shape.
struct HessianBlock {
  std::string a, b;
  Tensor value;
};

/// The gradient of a scalar-valued `f` w.r.t. `wrt` (argument values of `f`).
Expected<Derivatives> gradient(const Function &f, const std::vector<ValueId> &wrt,
                               const std::vector<Tensor> &args, const DimBinding &dims,
                               Derivative mode, Engine engine = Engine::Interp);

/// The Jacobian of `f`'s value w.r.t. each of `wrt`: forward mode sweeps input directions,
/// reverse mode sweeps output cotangents.
Expected<Derivatives> jacobian(const Function &f, const std::vector<ValueId> &wrt,
                               const std::vector<Tensor> &args, const DimBinding &dims,
                               Derivative mode, Engine engine = Engine::Interp);

/// The Hessian of a scalar-valued `f`, every block H[a][b] for a, b in `wrt`, by forward mode over
/// the gradient that `mode` computes.
Expected<std::vector<HessianBlock>> hessian(const Function &f, const std::vector<ValueId> &wrt,
                                            const std::vector<Tensor> &args,
                                            const DimBinding &dims, Derivative mode,
                                            Engine engine = Engine::Interp);

/// The Hessian-vector product H v of a scalar-valued `f`, for a direction `v` (one tensor per
/// argument of `wrt`): forward mode over the gradient that `mode` builds, one evaluation.
Expected<Derivatives> hessianVectorProduct(const Function &f, const std::vector<ValueId> &wrt,
                                           const std::vector<Tensor> &args,
                                           const std::vector<Tensor> &direction,
                                           const DimBinding &dims, Derivative mode,
                                           Engine engine = Engine::Interp);

/// One instruction of a function at a point: its value and the adjoint reverse mode gives it.
struct TracedNode {
  std::string op;                 // "mul %1 %2", "input x"
  Tensor value;
  std::optional<Tensor> adjoint;  // nullopt: zero (the node does not reach the value)
};

/// Every live instruction of a scalar-valued `f` at `args`, in order, with the adjoints of one
/// reverse sweep from the value (the REPL's `trace f at x=1`).
Expected<std::vector<TracedNode>> traceAdjoints(const Function &f,
                                                const std::vector<Tensor> &args);

} // namespace nabla
