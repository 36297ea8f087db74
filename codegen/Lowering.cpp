// Lowering of the tensor IR to LLVM IR: plan the kernel (codegen/Plan.h), then emit it as the
// plan says (codegen/KernelEmitter.h), each op through its LowerRule (codegen/LowerRule.h).
#include "codegen/Lowering.h"

#include "codegen/KernelEmitter.h"
#include "codegen/LowerRule.h"
#include "codegen/Plan.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <stdexcept>
#include <string>

namespace nabla::codegen {

namespace {

constexpr const char *kRuntimeSymbols[] = {"nabla_rt_lgamma", "nabla_rt_digamma",
                                           "nabla_rt_trigamma", "nabla_rt_polygamma"};

} // namespace

const char *runtimeSymbolName(int which) { return kRuntimeSymbols[which]; }

std::unique_ptr<llvm::Module> lowerToLlvm(const Function &f, llvm::LLVMContext &context,
                                          const std::string &symbol, bool avx512VectorMath) {
  auto module = std::make_unique<llvm::Module>(symbol, context);
  LoopPlan plan = planKernel(f);
  KernelEmitter(f, plan, *module, symbol, avx512VectorMath).run();
  return module;
}

} // namespace nabla::codegen
