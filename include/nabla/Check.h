// Finite-difference verification of every derivative mode (`nabla check`), as a library call.
#pragma once

#include "nabla/Diagnostic.h"
#include "nabla/Nabla.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nabla {

struct CheckOptions {
  std::uint64_t seed = 1;
  /// Only this fn or model (empty: all of them).
  std::string function;
  /// Sizes for runtime dimensions (others default to 3).
  std::map<std::string, std::int64_t> dims;
  /// Arguments with at most this many entries are checked entry by entry; larger ones by a
  /// random-direction Taylor test.
  std::size_t entrywiseLimit = 64;
  /// Where the function and its derivatives run.
  Engine engine = Engine::Jit;
};

/// One verdict: one argument of one function, by one mode.
struct CheckRow {
  std::string function;
  std::string argument;
  std::string mode;   // symbolic, forward, reverse
  std::string method; // "entrywise" or "taylor"
  double maxAbsError = 0;
  double maxRelError = 0;
  bool passed = false;
  std::string note; // why it failed, or the observed Taylor order
};

struct CheckReport {
  std::vector<CheckRow> rows;

  bool passed() const;
  /// The rows as an aligned table with a header and a summary line.
  std::string table() const;
};

/// Checks the gradient of every fn and model of `program` (or the one named in `options`) in each
/// mode against central differences in f64, at seeded random inputs away from kinks.
Expected<CheckReport> check(const Program &program, const CheckOptions &options = {});

} // namespace nabla
