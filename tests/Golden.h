// Golden-file comparison for tests; NABLA_UPDATE_GOLDEN=1 rewrites the expected files instead.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#ifndef NABLA_SOURCE_DIR
#error "golden tests need NABLA_SOURCE_DIR, the source tree, defined by tests/CMakeLists.txt"
#endif

namespace nabla {

/// Where a golden file lives: `relative` under tests/golden/ of the source tree (an absolute
/// path is taken as it is).
inline std::filesystem::path goldenFile(const std::string &relative) {
  std::filesystem::path p(relative);
  if (p.is_absolute())
    return p;
  return std::filesystem::path(NABLA_SOURCE_DIR) / "tests" / "golden" / p;
}

/// Checks `actual` against the golden file `goldenPath` (relative to tests/golden/). With
/// NABLA_UPDATE_GOLDEN=1 in the environment it writes `actual` there instead, so that an intended
/// change is one rerun plus a reviewed diff.
inline void expectGolden(const std::string &actual, const std::string &goldenPath) {
  std::filesystem::path path = goldenFile(goldenPath);
  const char *update = std::getenv("NABLA_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    std::ofstream out(path, std::ios::binary);
    out << actual;
    if (!out)
      ADD_FAILURE() << "cannot write golden file " << path;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "golden file " << path
                  << " is missing; rerun with NABLA_UPDATE_GOLDEN=1 to create it";
    return;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string expected = buffer.str();
  if (expected == actual)
    return;
  // Point at the first differing line: whole-text dumps of large IR are hard to compare by eye.
  std::istringstream e(expected), a(actual);
  std::string el, al;
  int line = 1;
  while (true) {
    bool he = static_cast<bool>(std::getline(e, el));
    bool ha = static_cast<bool>(std::getline(a, al));
    if (!he && !ha)
      break;
    if (!he || !ha || el != al) {
      ADD_FAILURE() << "output differs from golden file " << path << " at line " << line
                    << "\n  expected: " << (he ? el : "<end of file>")
                    << "\n  actual:   " << (ha ? al : "<end of file>") << "\nfull output:\n"
                    << actual << "(rerun with NABLA_UPDATE_GOLDEN=1 to accept it)";
      return;
    }
    ++line;
  }
  // Only a trailing newline differs.
  ADD_FAILURE() << "output differs from golden file " << path
                << " in its final newline (rerun with NABLA_UPDATE_GOLDEN=1 to accept it)";
}

} // namespace nabla
