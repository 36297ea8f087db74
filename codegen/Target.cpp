// The host target and the optimization pipeline.
#include "codegen/Target.h"

#include "codegen/Lowering.h"

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/ADT/SmallString.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <fmt/format.h>

#include <cstdlib>
#include <mutex>
#include <sstream>
#include <vector>

namespace nabla::codegen {

namespace {

/// The host's features as an LLVM feature string (`+avx512f,+fma,...`).
std::string hostFeatures() {
  std::string out;
  for (const auto &feature : llvm::sys::getHostCPUFeatures())
    out += (out.empty() ? "" : ",") + std::string(feature.second ? "+" : "-") +
           feature.first().str();
  return out;
}

} // namespace

Expected<const CpuTarget *> hostTarget() {
  static std::once_flag once;
  static CpuTarget target;
  static std::string failure;
  std::call_once(once, [] {
    // NABLA_LLVM_ARGS: LLVM's own options (as opt and llc take them), for experiments.
    if (const char *args = std::getenv("NABLA_LLVM_ARGS")) {
      std::vector<std::string> words{"nabla"};
      std::istringstream in(args);
      for (std::string w; in >> w;)
        words.push_back(w);
      std::vector<const char *> argv;
      for (const std::string &w : words)
        argv.push_back(w.c_str());
      llvm::cl::ParseCommandLineOptions(static_cast<int>(argv.size()), argv.data(), "nabla",
                                        &llvm::errs());
    }
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
    std::string triple = llvm::sys::getProcessTriple();
    std::string error;
    const llvm::Target *t = llvm::TargetRegistry::lookupTarget(triple, error);
    if (!t) {
      failure = error;
      return;
    }
    target.cpu = llvm::sys::getHostCPUName().str();
    target.features = hostFeatures();
    target.avx512 = target.features.find("+avx512f") != std::string::npos;
    llvm::TargetOptions options;
    target.machine.reset(t->createTargetMachine(triple, target.cpu, target.features, options,
                                                llvm::Reloc::PIC_, std::nullopt,
                                                llvm::CodeGenOptLevel::Aggressive));
    if (!target.machine)
      failure = "cannot create a target machine for " + triple;
  });
  if (!target.machine)
    return makeDiagnostic("cannot target this machine: " + failure);
  return &target;
}

std::unique_ptr<llvm::TargetMachine> newMachine(const CpuTarget &target,
                                                const llvm::TargetMachine &like) {
  return std::unique_ptr<llvm::TargetMachine>(like.getTarget().createTargetMachine(
      like.getTargetTriple().str(), target.cpu, target.features, like.Options, llvm::Reloc::PIC_,
      std::nullopt, llvm::CodeGenOptLevel::Aggressive));
}

std::unique_ptr<llvm::TargetMachine> newMachine(const CpuTarget &target) {
  return newMachine(target, *target.machine);
}

Expected<std::string> emitMachineCode(llvm::Module &m, llvm::TargetMachine &machine,
                                      bool assembly) {
  llvm::SmallString<0> out;
  llvm::raw_svector_ostream os(out);
  llvm::legacy::PassManager passes;
  if (machine.addPassesToEmitFile(passes, os, nullptr,
                                  assembly ? llvm::CodeGenFileType::AssemblyFile
                                           : llvm::CodeGenFileType::ObjectFile))
    return makeDiagnostic(fmt::format("this target cannot emit {}",
                                      assembly ? "assembly" : "object files"));
  passes.run(m);
  return std::string(out.str());
}

Expected<std::unique_ptr<CpuTarget>> cpuTarget(const std::string &cpu) {
  auto host = hostTarget();
  if (!host)
    return host.takeError();
  auto out = std::make_unique<CpuTarget>();
  const llvm::TargetMachine &hostMachine = *(*host)->machine;
  if (cpu.empty() || cpu == "native") {
    out->cpu = (*host)->cpu;
    out->features = (*host)->features;
    out->avx512 = (*host)->avx512;
  } else {
    // Checked against the host subtarget's CPU table first: LLVM warns on stderr when it builds a
    // subtarget for a CPU it does not know.
    if (!hostMachine.getMCSubtargetInfo()->isCPUStringValid(cpu))
      return makeDiagnostic(fmt::format(
          "unknown CPU '{}' for {} (try x86-64, x86-64-v2, x86-64-v3, x86-64-v4, skylake, native)",
          cpu, hostMachine.getTargetTriple().str()));
    std::unique_ptr<llvm::MCSubtargetInfo> subtarget(hostMachine.getTarget().createMCSubtargetInfo(
        hostMachine.getTargetTriple().str(), cpu, ""));
    out->cpu = cpu;
    out->avx512 = subtarget->checkFeatures("+avx512f");
  }
  out->machine = newMachine(*out, hostMachine);
  if (!out->machine)
    return makeDiagnostic("cannot create a target machine for CPU '" + cpu + "'");
  return out;
}

void optimizeFor(llvm::Module &m, const CpuTarget &target, llvm::TargetMachine *own) {
  llvm::TargetMachine &machine = own ? *own : *target.machine;
  m.setDataLayout(machine.createDataLayout());
  m.setTargetTriple(machine.getTargetTriple().str());
  for (llvm::Function &fn : m) {
    if (fn.isDeclaration())
      continue;
    fn.addFnAttr("target-cpu", target.cpu);
    if (!target.features.empty())
      fn.addFnAttr("target-features", target.features);
    if (target.avx512)
      fn.addFnAttr("prefer-vector-width", "512"); // use all of AVX-512
  }
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  tuning.LoopInterleaving = false;
  tuning.LoopUnrolling = false;
  llvm::PassBuilder pb(&machine, tuning);
  llvm::TargetLibraryInfoImpl tlii(machine.getTargetTriple());
  tlii.addVectorizableFunctionsFromVecLib(llvm::TargetLibraryInfoImpl::LIBMVEC_X86,
                                          machine.getTargetTriple());
  fam.registerPass([&] { return llvm::TargetLibraryAnalysis(tlii); });
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm;
  const char *custom = std::getenv("NABLA_LLVM_PASSES");
  // NABLA_LLVM_PASSES replaces O3 with an opt-style pipeline, for experiments with compile time.
  bool customized = false;
  if (custom && *custom) {
    if (auto err = pb.parsePassPipeline(mpm, custom))
      fmt::print(stderr, "nabla: ignoring NABLA_LLVM_PASSES: {}\n", llvm::toString(std::move(err)));
    else
      customized = true;
  }
  if (!customized)
    mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(m, mam);
}

Expected<std::unique_ptr<llvm::Module>> buildKernelModule(const Function &f,
                                                          llvm::LLVMContext &context,
                                                          const std::string &symbol,
                                                          bool optimized,
                                                          const CpuTarget *target) {
  if (!target) {
    auto host = hostTarget();
    if (!host)
      return host.takeError();
    target = *host;
  }
  std::unique_ptr<llvm::Module> m;
  try {
    m = lowerToLlvm(f, context, symbol, target->avx512);
  } catch (const std::exception &e) {
    return makeDiagnostic(fmt::format("cannot compile '{}': {}", f.name, e.what()));
  }
  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(*m, &os))
    return makeDiagnostic(
        fmt::format("internal error: invalid LLVM IR for '{}': {}", f.name, problems));
  if (optimized)
    optimizeFor(*m, *target);
  return m;
}

} // namespace nabla::codegen
