// `nabla compile`: the driver compiles; this writes both files or neither, and says what it did.
#include "tools/Compile.h"

#include "driver/Source.h"
#include "tools/Cli.h"

#include <fmt/format.h>

#include <iostream>

namespace nabla::tools {

int runCompile(const AotOptions &options) {
  auto built = compileAheadOfTime(options);
  if (!built)
    return report(built.error());
  if (auto written = writeFilesAtomically(
          {{built->objectPath, built->object}, {built->headerPath, built->header}});
      !written)
    return report(written.error());
  std::string symbols;
  for (const std::string &s : built->symbols)
    symbols += (symbols.empty() ? "" : ", ") + s;
  std::cout << fmt::format("wrote {} ({}) and {}\n", built->objectPath, symbols, built->headerPath);
  for (const std::string &note : built->notes)
    std::cout << "note: " << note << "\n";
  std::cout << "link: " << built->link << "\n";
  return kSuccess;
}

} // namespace nabla::tools
