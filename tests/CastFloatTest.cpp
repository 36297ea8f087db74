// castFloats (passes/CastFloat.h), the pass behind `nabla compile --dtype`: golden IR both ways on
// a model that mixes f32, f64, i32 and bool, and the converted functions run in the interpreter.
#include "Golden.h"
#include "frontend/Sema.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/CastFloat.h"
#include "driver/Execute.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace nabla {
namespace {

constexpr const char *kMixed = R"(model mixed(B, n = 3) {
  input  x: f32[B, n]
  input  ids: i32[2]
  param  E: f64[4, n]
  param  w: f32[n]
  e = f32(sum(E[ids], axis=0))
  s = x @ (w * e) + 0.1
  output big = where(s > 0.5, s, 0)
  loss   mean(s * s) + 0.25 * f32(sum(E * E))
}
)";

Function mixedModel() {
  auto module = compileSource(SourceFile("mixed.nabla", kMixed));
  EXPECT_TRUE(module) << module.error().render();
  return module->functions.at(0);
}

TEST(CastFloat, EveryFloatTypeBecomesF32OrF64) {
  Function f = mixedModel();
  for (DType to : {DType::F32, DType::F64}) {
    Function g = castFloats(f, to);
    auto problem = verify(g);
    EXPECT_FALSE(problem) << *problem;
    for (const Inst &inst : g.insts) {
      EXPECT_TRUE(!isFloat(inst.type.dtype) || inst.type.dtype == to) << print(g);
      EXPECT_NE(inst.op == Op::Convert && isFloat(inst.type.dtype) &&
                    isFloat(g.typeOf(inst.operands[0]).dtype),
                true)
          << "a float-to-float convert is left:\n"
          << print(g);
    }
    expectGolden(print(g), std::string("passes/castfloat.") + dtypeName(to) + ".ir");
  }
}

TEST(CastFloat, KeepsIntegerAndBoolValuesAndTheSignature) {
  Function f = mixedModel();
  Function g = castFloats(f, DType::F64);
  ASSERT_EQ(g.arguments().size(), f.arguments().size());
  EXPECT_EQ(g.typeOf(*g.argument("ids")).str(), "i32[2]");
  EXPECT_EQ(g.typeOf(*g.argument("x")).str(), "f64[B,3]");
  EXPECT_EQ(g.dimParams, f.dimParams);
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.outputs[0].name, "big");
}

TEST(CastFloat, TheF64VersionComputesWhatTheF32OneRoundsTo) {
  Function f = mixedModel();
  Function wide = castFloats(f, DType::F64);
  Tensor x(DType::F32, {2, 3}), ids(DType::I32, {2}), e(DType::F64, {4, 3}), w(DType::F32, {3});
  x.data = {0.5, -0.25, 1, 2, 0.75, -1};
  ids.data = {1, 3};
  for (std::size_t i = 0; i < e.data.size(); ++i)
    e.data[i] = 0.1 * static_cast<double>(i) - 0.4;
  w.data = {0.5, 1.5, -0.5};
  auto narrow = execute(Engine::Interp, f, {x, ids, e, w});
  ASSERT_TRUE(narrow) << narrow.error().render();
  Tensor x64 = x, w64 = w;
  x64.dtype = w64.dtype = DType::F64;
  auto precise = execute(Engine::Interp, wide, {x64, ids, e, w64});
  ASSERT_TRUE(precise) << precise.error().render();
  for (std::size_t r = 0; r < narrow->size(); ++r)
    for (std::size_t i = 0; i < (*narrow)[r].data.size(); ++i)
      EXPECT_NEAR((*precise)[r].data[i], (*narrow)[r].data[i],
                  1e-6 * std::max(1.0, std::fabs((*precise)[r].data[i])));
}

} // namespace
} // namespace nabla
