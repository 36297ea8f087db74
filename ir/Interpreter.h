// The reference interpreter: evaluates a Function on concrete tensors, op by op, through the op
// table's evaluation rules. Every other engine is checked against it.
#pragma once

#include "ir/Function.h"
#include "ir/Tensor.h"
#include "nabla/Diagnostic.h"

#include <map>
#include <string>
#include <vector>

namespace nabla {

using DimBinding = std::map<std::string, std::int64_t>;

/// Binds `f`'s runtime dimensions from the shapes of `args` (one per argument, in order) on top of
/// `dims`, and checks every argument's dtype and shape. Errors name the argument and both types.
Expected<DimBinding> bindDimensions(const Function &f, const std::vector<Tensor> &args,
                                    DimBinding dims = {});

/// What a call computes: the result (a model's loss) and a model's outputs, in order.
struct Evaluation {
  Tensor result;
  std::vector<Tensor> outputs;
};

/// Evaluates `f` on `args` (one per argument, in the order of Function::arguments()).
Expected<Evaluation> interpret(const Function &f, const std::vector<Tensor> &args,
                               const DimBinding &dims = {});

/// Evaluates and returns every instruction's value (for traces and tests).
Expected<std::vector<Tensor>> interpretAll(const Function &f, const std::vector<Tensor> &args,
                                           const DimBinding &dims = {});

} // namespace nabla
