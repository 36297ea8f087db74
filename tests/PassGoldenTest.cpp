// Each pass alone on textual IR, against golden output (MLIR's mlir-opt + FileCheck habit):
// tests/golden/passes/input/NAME.ir through forward mode, reverse mode and the simplifier.
#include "Golden.h"
#include "ir/IrParser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "ir/Differentiate.h"
#include "passes/ForwardMode.h"
#include "passes/ReverseMode.h"
#include "passes/Simplify.h"
#include "passes/Symbolic.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace nabla {
namespace {

namespace fs = std::filesystem;

TEST(PassGolden, ForwardReverseSymbolicAndSimplifyOnTextualIr) {
  fs::path inputs = fs::path(NABLA_SOURCE_DIR) / "tests/golden/passes/input";
  int count = 0;
  for (const auto &entry : fs::directory_iterator(inputs)) {
    if (entry.path().extension() != ".ir")
      continue;
    ++count;
    std::string name = entry.path().stem().string();
    SCOPED_TRACE(name);
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    auto f = parseIrFunction(SourceFile(entry.path().string(), text.str()));
    ASSERT_TRUE(f) << f.error().render();
    auto wrt = *selectArguments(*f, {});
    const std::pair<const char *, Function> stages[] = {
        {"jvp", forwardMode(*f, wrt, 2)},
        {"grad", reverseMode(*f, wrt)},
        {"symbolic", symbolicGradient(*f, wrt)},
        {"simplified", simplify(reverseMode(*f, wrt))},
    };
    for (const auto &[stage, g] : stages) {
      auto problem = verify(g);
      EXPECT_FALSE(problem) << stage << ": " << *problem;
      expectGolden(print(g), "passes/" + name + "." + stage + ".ir");
    }
  }
  EXPECT_GE(count, 5);
}

} // namespace
} // namespace nabla
