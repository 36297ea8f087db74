// `nabla gradbench`: a GradBench tool (docs/gradbench.md). It answers the JSON-lines protocol of
// GradBench's evals with kernels compiled from the programs in examples/gradbench/.
#pragma once

#include <iosfwd>

namespace nabla::tools {

/// Answers each JSON message line on `in` with one JSON line on `out`, in order, until EOF.
/// Bad messages get an error answer and the tool keeps serving; returns the exit code (0).
int runGradBench(std::istream &in, std::ostream &out);

} // namespace nabla::tools
