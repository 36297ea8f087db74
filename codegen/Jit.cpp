// The ORC LLJIT, the optimization pipeline and the kernel cache.
#include "codegen/Jit.h"

#include "codegen/Lowering.h"
#include "codegen/RuntimeSupport.h"
#include "codegen/Target.h"
#include "ir/Printer.h"

#ifdef NABLA_HAVE_BLAS
#include <cblas.h>
#endif

#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/Bitcode/BitcodeWriter.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Transforms/Utils/Cloning.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unistd.h>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>
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
  const CpuTarget *target = nullptr;
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

namespace {

/// How many threads compile one kernel: the cores, or NABLA_JIT_THREADS.
unsigned compileThreads() {
  if (const char *n = std::getenv("NABLA_JIT_THREADS"))
    return std::max(1, std::atoi(n));
  return std::max(1u, std::thread::hardware_concurrency());
}

/// Splits a lowered kernel module into `parts` modules, each in a context of its own (as bitcode,
/// to be read back on its thread), balancing their instruction counts. Loop functions become
/// external (their names are unique per kernel) so that the parts link; constant globals are
/// copied into every part that uses them.
std::vector<llvm::SmallVector<char, 0>> splitForThreads(llvm::Module &m, unsigned parts) {
  std::vector<llvm::Function *> functions;
  for (llvm::Function &fn : m)
    if (!fn.isDeclaration()) {
      fn.setLinkage(llvm::GlobalValue::ExternalLinkage);
      functions.push_back(&fn);
    }
  // The cost of compiling a function, roughly: its instructions, plus what vectorizing each loop
  // adds (a vector body, a remainder, their checks), plus a fixed cost per function.
  auto cost = [](llvm::Function *fn) {
    std::size_t loops = 0;
    for (const llvm::BasicBlock &block : *fn)
      loops += block.getName().starts_with("loop") ? 1 : 0;
    return fn->getInstructionCount() + 40 * loops + 50;
  };
  std::sort(functions.begin(), functions.end(),
            [&](llvm::Function *a, llvm::Function *b) { return cost(a) > cost(b); });
  std::vector<std::size_t> load(parts, 0);
  std::unordered_map<const llvm::GlobalValue *, unsigned> partOf;
  for (llvm::Function *fn : functions) {
    auto lightest = static_cast<unsigned>(std::min_element(load.begin(), load.end()) - load.begin());
    partOf[fn] = lightest;
    load[lightest] += cost(fn);
  }
  std::vector<llvm::SmallVector<char, 0>> out(parts);
  for (unsigned p = 0; p < parts; ++p) {
    llvm::ValueToValueMapTy map;
    auto part = llvm::CloneModule(m, map, [&](const llvm::GlobalValue *gv) {
      auto it = partOf.find(gv);
      return it == partOf.end() || it->second == p; // functions where assigned, data everywhere
    });
    llvm::raw_svector_ostream os(out[p]);
    llvm::WriteBitcodeToFile(*part, os);
  }
  return out;
}

/// Optimizes one part (bitcode) and generates its object code, on the calling thread.
Expected<std::unique_ptr<llvm::MemoryBuffer>> compilePart(const llvm::SmallVector<char, 0> &bitcode,
                                                          const CpuTarget &target,
                                                          const std::string &name) {
  llvm::LLVMContext context;
  auto module = llvm::parseBitcodeFile(
      llvm::MemoryBufferRef(llvm::StringRef(bitcode.data(), bitcode.size()), name), context);
  if (!module)
    return makeDiagnostic("JIT: " + llvm::toString(module.takeError()));
  std::unique_ptr<llvm::TargetMachine> machine = newMachine(target);
  if (!machine)
    return makeDiagnostic("JIT: cannot create a target machine");
  auto t0 = std::chrono::steady_clock::now();
  optimizeFor(**module, target, machine.get());
  auto t1 = std::chrono::steady_clock::now();
  auto object = emitMachineCode(**module, *machine);
  if (!object)
    return object.takeError();
  auto t2 = std::chrono::steady_clock::now();
  if (std::getenv("NABLA_JIT_TIMING"))
    fmt::print(stderr, "  {}: optimize {:.1f} ms, codegen {:.1f} ms\n", name,
               std::chrono::duration<double, std::milli>(t1 - t0).count(),
               std::chrono::duration<double, std::milli>(t2 - t1).count());
  return llvm::MemoryBuffer::getMemBufferCopy(*object, name);
}

} // namespace

Expected<Kernel> Jit::compile(const Function &f) {
  State &s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  std::string key = print(f);
  if (auto it = s.cache.find(key); it != s.cache.end())
    return it->second;
  std::string symbol = fmt::format("nabla_kernel_{}", s.next++);
  auto context = std::make_unique<llvm::LLVMContext>();
  auto t0 = std::chrono::steady_clock::now();
  // Optimization and code generation run on every core: the kernel's loop functions are split
  // into one module per thread (a kernel of one loop compiles as one module).
  unsigned functions = 0;
  auto module = buildKernelModule(f, *context, symbol, /*optimized=*/false);
  if (!module)
    return module.takeError();
  for (llvm::Function &fn : **module)
    functions += fn.isDeclaration() ? 0 : 1;
  unsigned parts = std::min(compileThreads(), functions / 3);
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
  auto t1 = std::chrono::steady_clock::now();
  if (parts <= 1) {
    optimizeFor(**module, *s.target);
    if (std::getenv("NABLA_JIT_TIMING"))
      fmt::print(stderr, "  optimize {:.1f} ms\n",
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1)
                     .count());
    if (auto err = s.jit->addIRModule(
            llvm::orc::ThreadSafeModule(std::move(*module), std::move(context))))
      return makeDiagnostic("JIT: " + llvm::toString(std::move(err)));
  } else {
    std::vector<llvm::SmallVector<char, 0>> bitcode = splitForThreads(**module, parts);
    std::vector<std::optional<Expected<std::unique_ptr<llvm::MemoryBuffer>>>> objects(parts);
    std::vector<std::thread> threads;
    for (unsigned p = 1; p < parts; ++p)
      threads.emplace_back([&, p] {
        objects[p] = compilePart(bitcode[p], *s.target, fmt::format("{}.part{}", symbol, p));
      });
    objects[0] = compilePart(bitcode[0], *s.target, symbol + ".part0");
    for (std::thread &t : threads)
      t.join();
    for (auto &object : objects) {
      if (!*object)
        return object->takeError();
      if (auto err = s.jit->addObjectFile(std::move(**object)))
        return makeDiagnostic("JIT: " + llvm::toString(std::move(err)));
    }
  }
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
    fmt::print(stderr, "jit {}: lower {:.1f} ms, optimize+codegen+link {:.1f} ms ({} functions, {} "
               "thread{})\n",
               f.name, std::chrono::duration<double, std::milli>(t1 - t0).count(),
               std::chrono::duration<double, std::milli>(t2 - t1).count(), functions,
               std::max(parts, 1u), parts > 1 ? "s" : "");
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
  return emitMachineCode(**module, *s.target->machine, /*assembly=*/true);
}

} // namespace nabla::codegen
