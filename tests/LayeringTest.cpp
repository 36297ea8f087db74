// The folders' dependencies point down only (docs/design.md): each folder's #include lines may
// name itself and the folders below it. A header included from the wrong layer fails here, by
// file and line, before it becomes a cycle that the linker order hides.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

namespace nabla {
namespace {

namespace fs = std::filesystem;

/// For each folder, the folders its sources may include. `nabla` is include/nabla, the public
/// headers (Diagnostic.h is shared by every layer). ir is the vocabulary every layer shares;
/// tools and the public APIs reach the compiler through the driver only.
const std::map<std::string, std::set<std::string>> kMayInclude = {
    {"nabla", {"nabla"}},
    {"ir", {"ir", "nabla"}},
    {"frontend", {"frontend", "ir", "nabla"}},
    {"passes", {"passes", "ir", "nabla"}},
    {"codegen", {"codegen", "passes", "ir", "nabla"}},
    {"driver", {"driver", "frontend", "passes", "codegen", "ir", "nabla"}},
    {"runtime", {"runtime", "driver", "ir", "nabla"}},
    {"tools", {"tools", "driver", "ir", "nabla"}},
};

TEST(Layering, IncludesPointDown) {
  const fs::path root(NABLA_SOURCE_DIR);
  const std::regex include(R"(^\s*#\s*include\s*"([A-Za-z_]+)/)");
  std::size_t files = 0;
  for (const auto &[folder, allowed] : kMayInclude) {
    fs::path dir = folder == "nabla" ? root / "include" / "nabla" : root / folder;
    ASSERT_TRUE(fs::is_directory(dir)) << dir;
    for (const auto &entry : fs::recursive_directory_iterator(dir)) {
      std::string ext = entry.path().extension().string();
      if (ext != ".h" && ext != ".cpp" && ext != ".def")
        continue;
      ++files;
      std::ifstream in(entry.path());
      std::string line;
      for (int number = 1; std::getline(in, line); ++number) {
        std::smatch m;
        if (std::regex_search(line, m, include) && !allowed.count(m[1]))
          ADD_FAILURE() << fs::relative(entry.path(), root).string() << ":" << number << ": "
                        << folder << "/ may not include " << m[1] << "/ (" << line << ")";
      }
    }
  }
  EXPECT_GT(files, 50u) << "the scan found too few sources to mean anything";
}

} // namespace
} // namespace nabla
