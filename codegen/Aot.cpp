// Object files: each kernel lowered and optimized on its own (as the JIT does), the modules
// linked into one, and machine code emitted once.
#include "codegen/Aot.h"

#include "codegen/Target.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Linker/Linker.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace nabla::codegen {

namespace {

/// The constant that `symbol_workspace` returns once optimized, when it does not read `dims`.
std::optional<std::int64_t> constantWorkspace(const llvm::Module &m, const std::string &symbol) {
  const llvm::Function *fn = m.getFunction(symbol + "_workspace");
  if (!fn || fn->isDeclaration() || fn->size() != 1)
    return std::nullopt;
  const auto *ret = llvm::dyn_cast<llvm::ReturnInst>(fn->getEntryBlock().getTerminator());
  if (!ret)
    return std::nullopt;
  const auto *value = llvm::dyn_cast_or_null<llvm::ConstantInt>(ret->getReturnValue());
  if (!value)
    return std::nullopt;
  return value->getSExtValue();
}

/// The undefined symbols of an object file, sorted.
Expected<std::vector<std::string>> undefinedSymbols(const std::string &bytes) {
  auto object = llvm::object::ObjectFile::createObjectFile(
      llvm::MemoryBufferRef(llvm::StringRef(bytes.data(), bytes.size()), "kernels.o"));
  if (!object)
    return makeDiagnostic("internal error: cannot read back the object file: " +
                          llvm::toString(object.takeError()));
  std::set<std::string> out;
  for (const llvm::object::SymbolRef &symbol : (*object)->symbols()) {
    auto flags = symbol.getFlags();
    auto name = symbol.getName();
    if (!flags || !name) {
      if (!flags)
        llvm::consumeError(flags.takeError());
      if (!name)
        llvm::consumeError(name.takeError());
      continue;
    }
    if ((*flags & llvm::object::SymbolRef::SF_Undefined) && !name->empty())
      out.insert(name->str());
  }
  return std::vector<std::string>(out.begin(), out.end());
}

} // namespace

Expected<AotObject> compileObject(const std::vector<AotKernel> &kernels, const std::string &cpu) {
  std::set<std::string> symbols;
  for (const AotKernel &k : kernels)
    for (const std::string &s : {k.symbol, k.symbol + "_workspace"})
      if (!symbols.insert(s).second)
        return makeDiagnostic(fmt::format("two kernels would define the symbol '{}'", s));
  auto target = cpuTarget(cpu);
  if (!target)
    return target.takeError();
  llvm::TargetMachine *machine = (*target)->machine.get();

  AotObject object;
  object.cpu = machine->getTargetCPU().str();
  llvm::LLVMContext context;
  auto linked = std::make_unique<llvm::Module>("nabla", context);
  llvm::Linker linker(*linked);
  for (const AotKernel &k : kernels) {
    auto module = buildKernelModule(k.function, context, k.symbol, true, target->get());
    if (!module)
      return module.takeError();
    object.workspaceBytes.push_back(constantWorkspace(**module, k.symbol));
    if (linked->getDataLayout().isDefault()) {
      linked->setDataLayout((*module)->getDataLayout());
      linked->setTargetTriple((*module)->getTargetTriple());
    }
    if (linker.linkInModule(std::move(*module)))
      return makeDiagnostic(fmt::format("internal error: cannot link the kernel '{}'", k.symbol));
  }
  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(*linked, &os))
    return makeDiagnostic("internal error: invalid linked LLVM module: " + problems);

  auto bytes = emitMachineCode(*linked, *machine);
  if (!bytes)
    return bytes.takeError();
  object.bytes = std::move(*bytes);
  auto needs = undefinedSymbols(object.bytes);
  if (!needs)
    return needs.takeError();
  object.needs = std::move(*needs);
  return object;
}

std::vector<std::string> linkLibraries(const std::vector<std::string> &symbols) {
  auto any = [&](const char *prefix) {
    return std::any_of(symbols.begin(), symbols.end(),
                       [&](const std::string &s) { return s.rfind(prefix, 0) == 0; });
  };
  std::vector<std::string> out;
  if (any("nabla_rt_"))
    out.push_back("-lnabla_rt");
  if (any("cblas_"))
    out.push_back("-lopenblas");
  if (any("_ZGV"))
    out.push_back("-lmvec");
  out.push_back("-lm");
  return out;
}

} // namespace nabla::codegen
