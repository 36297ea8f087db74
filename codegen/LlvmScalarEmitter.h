// Elementwise math as LLVM instructions: the ScalarEmitter (ir/ScalarEmitter.h) through which the
// ops' own scalar definitions, instantiated with `Scalar`, become code.
#pragma once

#include "ir/ScalarEmitter.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <string>

namespace nabla::codegen {

/// Elementwise math as LLVM instructions of one element type.
class LlvmScalarEmitter final : public ScalarEmitter {
public:
  /// With `avx512VectorMath`, math calls offer the vectorizer libmvec's 512-bit variants.
  LlvmScalarEmitter(llvm::IRBuilder<> &b, llvm::Module &m, llvm::Type *type, bool avx512VectorMath)
      : b_(b), m_(m), type_(type), avx512_(avx512VectorMath) {}

  /// exp(x) with its 8-wide libmvec variant on offer, for loops outside the scalar definitions.
  llvm::Value *exp(llvm::Value *x) { return static_cast<llvm::Value *>(call(MathFn::Exp, x)); }

  Handle constant(double v) override;
  Handle call(MathFn fn, Handle x) override;
  Handle polygamma(int order, Handle x) override;
  Handle binary(MathOp op, Handle a, Handle c) override;
  Handle compare(MathCmp cmp, Handle a, Handle c) override;
  Handle maskOr(Handle a, Handle c) override { return b_.CreateOr(value(a), value(c)); }
  Handle maskAnd(Handle a, Handle c) override { return b_.CreateAnd(value(a), value(c)); }
  Handle maskNot(Handle a) override { return b_.CreateNot(value(a)); }
  Handle isNaN(Handle x) override { return b_.CreateFCmpUNO(value(x), value(x)); }
  Handle select(Handle mask, Handle a, Handle c) override {
    return b_.CreateSelect(value(mask), value(a), value(c));
  }

private:
  static llvm::Value *value(Handle h) { return static_cast<llvm::Value *>(h); }
  llvm::Value *libm(const std::string &name, llvm::Value *x);
  llvm::Value *widen(llvm::Value *call, const std::string &name, int arity);
  llvm::Value *support(int which, llvm::Value *x);

  llvm::IRBuilder<> &b_;
  llvm::Module &m_;
  llvm::Type *type_;
  bool avx512_; // offer libmvec's 512-bit variants
};

} // namespace nabla::codegen
