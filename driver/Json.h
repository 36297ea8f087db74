// Tensors to and from JSON (nested row-major arrays; NaN, Infinity and -Infinity as bare tokens)
// and the assembly of a function's arguments from named values.
#pragma once

#include "ir/Function.h"
#include "ir/Tensor.h"
#include "nabla/Diagnostic.h"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace nabla {

/// Objects keep their insertion order, so `value` prints before `outputs` and `grad`.
using Json = nlohmann::ordered_json;

/// Parses JSON text; bare `NaN`, `Infinity` and `-Infinity` are accepted as numbers.
Expected<Json> parseJson(const std::string &text, const std::string &sourceName);

/// Serializes JSON, writing non-finite numbers as `NaN`, `Infinity`, `-Infinity`.
std::string dumpJson(const Json &value, int indent = -1);

/// A JSON number for `v` (non-finite values included); f32 values print with float's shortest
/// round-trip digits.
Json jsonNumber(double v, DType dtype = DType::F64);

/// A tensor as nested arrays (a scalar is a bare number).
Json tensorToJson(const Tensor &t);

/// Reads nested arrays of numbers into a tensor of `dtype`; the error says what is wrong.
Expected<Tensor> tensorFromJson(const Json &value, DType dtype);

/// Parses `x=1, y=2, w=[1, 2]` (values are JSON) into named values.
Expected<std::map<std::string, Json>> parseAssignments(const std::string &text);

/// The arguments of `f`, in order, from named values. Missing, unknown or misshapen entries are
/// errors naming the entry and, for shapes, both shapes; `origin` names where values came from.
Expected<std::vector<Tensor>> collectArguments(const Function &f,
                                               const std::map<std::string, Json> &values,
                                               const std::string &origin,
                                               const std::map<std::string, std::int64_t> &dims);

/// Human-readable: `6`, `[1, 2.5]`, `[[1, 0], [0, 1]]`, shortest round-trip digits.
std::string formatTensor(const Tensor &t);
std::string formatNumber(double v, DType dtype = DType::F64);

} // namespace nabla
