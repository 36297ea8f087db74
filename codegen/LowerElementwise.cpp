// Lowering of the elementwise ops: their math is their own scalar definition (OpInfo::lowerScalar,
// ir/OpsElementwise.cpp) instantiated with `Scalar`; select and convert, which change types, are
// computed here. All are fused into the loop of their consumer.
#include "codegen/KernelEmitter.h"

namespace nabla::codegen {

namespace {

using llvm::Value;

constexpr LowerRule kScalarMath{Lowering::Elementwise, RowAccess::SameRow};

Value *selectElement(KernelEmitter &e, ValueId v, const Index &idx) {
  const Inst &inst = e.inst(v);
  return e.b().CreateSelect(e.element(inst.operands[0], idx), e.element(inst.operands[1], idx),
                            e.element(inst.operands[2], idx));
}

Value *convertElement(KernelEmitter &e, ValueId v, const Index &idx) {
  const Inst &inst = e.inst(v);
  return e.convert(e.element(inst.operands[0], idx), e.f().typeOf(inst.operands[0]).dtype,
                   inst.dtypeAttr("dtype"));
}

} // namespace

const LowerRule lowerNeg = kScalarMath;
const LowerRule lowerExp = kScalarMath;
const LowerRule lowerLog = kScalarMath;
const LowerRule lowerSqrt = kScalarMath;
const LowerRule lowerSin = kScalarMath;
const LowerRule lowerCos = kScalarMath;
const LowerRule lowerTan = kScalarMath;
const LowerRule lowerTanh = kScalarMath;
const LowerRule lowerAbs = kScalarMath;
const LowerRule lowerSign = kScalarMath;
const LowerRule lowerLog1p = kScalarMath;
const LowerRule lowerExpm1 = kScalarMath;
const LowerRule lowerErf = kScalarMath;
const LowerRule lowerLgamma = kScalarMath;
const LowerRule lowerDigamma = kScalarMath;
const LowerRule lowerTrigamma = kScalarMath;
const LowerRule lowerPolygamma = kScalarMath;
const LowerRule lowerSigmoid = kScalarMath;
const LowerRule lowerRelu = kScalarMath;
const LowerRule lowerLeakyRelu = kScalarMath;
const LowerRule lowerHardtanh = kScalarMath;
const LowerRule lowerSoftplus = kScalarMath;

const LowerRule lowerAdd = kScalarMath;
const LowerRule lowerSub = kScalarMath;
const LowerRule lowerMul = kScalarMath;
const LowerRule lowerDiv = kScalarMath;
const LowerRule lowerPow = kScalarMath;
const LowerRule lowerMax = kScalarMath;
const LowerRule lowerMin = kScalarMath;

const LowerRule lowerLt = kScalarMath;
const LowerRule lowerLe = kScalarMath;
const LowerRule lowerGt = kScalarMath;
const LowerRule lowerGe = kScalarMath;
const LowerRule lowerEq = kScalarMath;
const LowerRule lowerNe = kScalarMath;

const LowerRule lowerSelect{Lowering::Element, RowAccess::SameRow, false, selectElement};
const LowerRule lowerConvert{Lowering::Element, RowAccess::SameRow, false, convertElement};
const LowerRule lowerStopGradient = kScalarMath;

} // namespace nabla::codegen
