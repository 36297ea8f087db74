// The ORC LLJIT, the optimization pipeline and the kernel cache.
#include "codegen/Jit.h"

#include "codegen/Lowering.h"
#include "codegen/RuntimeSupport.h"
#include "codegen/Target.h"
#include "ir/Printer.h"

#ifdef NABLA_HAVE_BLAS
#include <cblas.h>
#endif

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unistd.h>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

namespace nabla::codegen {

namespace {

/// Appends `names` (functions of one kernel) to /tmp/perf-PID.map: "start size name" per line,
/// sizes up to the next function (functions of a module are laid out in order).
void writePerfMap(llvm::orc::LLJIT &jit, const std::vector<std::string> &names,
                  const std::string &kernelName) {
  std::vector<std::pair<std::uint64_t, std::string>> starts;
  for (const std::string &name : names)
    if (auto address = jit.lookup(name))
      starts.emplace_back(address->getValue(), name);
  std::sort(starts.begin(), starts.end());
  std::FILE *map = std::fopen(fmt::format("/tmp/perf-{}.map", getpid()).c_str(), "a");
  if (!map)
    return;
  for (std::size_t i = 0; i < starts.size(); ++i) {
    std::uint64_t size = i + 1 < starts.size() ? starts[i + 1].first - starts[i].first : 4096;
    fmt::print(map, "{:x} {:x} {}:{}\n", starts[i].first, size, kernelName, starts[i].second);
  }
  std::fclose(map);
}

} // namespace

struct Jit::State {
  const HostTarget *target = nullptr;
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::mutex mutex;
  std::unordered_map<std::string, Kernel> cache;
  int next = 0;
};

Jit::Jit() : state_(std::make_unique<State>()) {}

Jit::~Jit() = default;

Expected<Jit *> Jit::instance() {
  static std::once_flag once;
  static std::unique_ptr<Jit> jit;
  static std::string failure;
  std::call_once(once, [] {
    auto target = hostTarget();
    if (!target) {
      failure = target.error().render();
      return;
    }
    // Vector math: libmvec's _ZGV* entry points, resolved in the process like libm's.
    llvm::sys::DynamicLibrary::LoadLibraryPermanently("libmvec.so.1");
    auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!builder) {
      failure = llvm::toString(builder.takeError());
      return;
    }
    std::unique_ptr<Jit> made(new Jit());
    State &s = *made->state_;
    s.target = *target;
    builder->setCPU(s.target->cpu);
    builder->getFeatures().addFeaturesVector({});
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      builder->getFeatures().AddFeature(feature.first(), feature.second);
    builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
    auto lljit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(*builder).create();
    if (!lljit) {
      failure = llvm::toString(lljit.takeError());
      return;
    }
    s.jit = std::move(*lljit);
    llvm::orc::JITDylib &dylib = s.jit->getMainJITDylib();
    auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
        s.jit->getDataLayout().getGlobalPrefix());
    if (!process) {
      failure = llvm::toString(process.takeError());
      return;
    }
    dylib.addGenerator(std::move(*process));
    // nabla's special functions, by address: they need not be exported by the executable.
    llvm::orc::SymbolMap support;
    auto flags = llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable;
    support[s.jit->mangleAndIntern(runtimeSymbolName(0))] = {
        llvm::orc::ExecutorAddr::fromPtr(&nabla_rt_lgamma), flags};
    support[s.jit->mangleAndIntern(runtimeSymbolName(1))] = {
        llvm::orc::ExecutorAddr::fromPtr(&nabla_rt_digamma), flags};
    support[s.jit->mangleAndIntern(runtimeSymbolName(2))] = {
        llvm::orc::ExecutorAddr::fromPtr(&nabla_rt_trigamma), flags};
    support[s.jit->mangleAndIntern(runtimeSymbolName(3))] = {
        llvm::orc::ExecutorAddr::fromPtr(&nabla_rt_polygamma), flags};
#ifdef NABLA_HAVE_BLAS
    // Referenced here so that the linker keeps OpenBLAS even with --as-needed.
    support[s.jit->mangleAndIntern("cblas_dgemm")] = {
        llvm::orc::ExecutorAddr::fromPtr(&cblas_dgemm), flags};
    support[s.jit->mangleAndIntern("cblas_sgemm")] = {
        llvm::orc::ExecutorAddr::fromPtr(&cblas_sgemm), flags};
#endif
    if (auto err = dylib.define(llvm::orc::absoluteSymbols(std::move(support)))) {
      failure = llvm::toString(std::move(err));
      return;
    }
    jit = std::move(made);
  });
  if (!jit)
    return makeDiagnostic("cannot start the JIT: " + failure);
  return jit.get();
}

Expected<Kernel> Jit::compile(const Function &f) {
  State &s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  std::string key = print(f);
  if (auto it = s.cache.find(key); it != s.cache.end())
    return it->second;
  std::string symbol = fmt::format("nabla_kernel_{}", s.next++);
  auto context = std::make_unique<llvm::LLVMContext>();
  auto t0 = std::chrono::steady_clock::now();
  auto module = buildKernelModule(f, *context, symbol, true);
  if (!module)
    return module.takeError();
  auto t1 = std::chrono::steady_clock::now();
  // NABLA_PERF_MAP=1: name every function of the kernel for `perf report`, through the
  // /tmp/perf-PID.map file that perf reads for JIT code. Its loop functions are exported for
  // that (they are internal otherwise).
  std::vector<std::string> functionNames;
  if (std::getenv("NABLA_PERF_MAP"))
    for (llvm::Function &fn : **module)
      if (!fn.isDeclaration()) {
        fn.setLinkage(llvm::GlobalValue::ExternalLinkage);
        functionNames.push_back(fn.getName().str());
      }
  if (auto err = s.jit->addIRModule(
          llvm::orc::ThreadSafeModule(std::move(*module), std::move(context))))
    return makeDiagnostic("JIT: " + llvm::toString(std::move(err)));
  auto run = s.jit->lookup(symbol);
  if (!run)
    return makeDiagnostic("JIT: " + llvm::toString(run.takeError()));
  auto workspace = s.jit->lookup(symbol + "_workspace");
  if (!workspace)
    return makeDiagnostic("JIT: " + llvm::toString(workspace.takeError()));
  Kernel kernel{run->toPtr<Kernel::Run>(), workspace->toPtr<Kernel::WorkspaceSize>()};
  auto t2 = std::chrono::steady_clock::now();
  if (!functionNames.empty())
    writePerfMap(*s.jit, functionNames, f.name);
  if (std::getenv("NABLA_JIT_TIMING"))
    fmt::print(stderr, "jit {}: lower+optimize {:.1f} ms, codegen+link {:.1f} ms\n", f.name,
               std::chrono::duration<double, std::milli>(t1 - t0).count(),
               std::chrono::duration<double, std::milli>(t2 - t1).count());
  s.cache.emplace(std::move(key), kernel);
  return kernel;
}

Expected<std::string> Jit::llvmIr(const Function &f, bool optimized) {
  State &s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  llvm::LLVMContext context;
  auto module = buildKernelModule(f, context, f.name, optimized);
  if (!module)
    return module.takeError();
  std::string text;
  llvm::raw_string_ostream os(text);
  (*module)->print(os, nullptr);
  return text;
}

Expected<std::string> Jit::assembly(const Function &f) {
  State &s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  llvm::LLVMContext context;
  auto module = buildKernelModule(f, context, f.name, true);
  if (!module)
    return module.takeError();
  llvm::SmallString<0> text;
  llvm::raw_svector_ostream os(text);
  llvm::legacy::PassManager pm;
  if (s.target->machine->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::AssemblyFile))
    return makeDiagnostic("this target cannot emit assembly");
  pm.run(**module);
  return std::string(text.str());
}

} // namespace nabla::codegen
