// The C++ embedding API over the compiler: Program and CompiledFunction.
#include "nabla/Nabla.h"

#include "driver/Check.h"
#include "driver/DerivedFunction.h"
#include "driver/Execute.h"
#include "driver/Source.h"
#include "ir/Function.h"
#include "ir/Printer.h"
#include "nabla/Check.h"

#include <fmt/format.h>

namespace nabla {

struct Program::State {
  Module module;
};

Program::Program() : state_(std::make_unique<State>()) {}
Program::Program(Program &&) noexcept = default;
Program &Program::operator=(Program &&) noexcept = default;
Program::~Program() = default;

Expected<Program> Program::fromSource(const std::string &source, const std::string &name,
                                      const std::map<std::string, std::int64_t> &dims) {
  SemaOptions options;
  options.dims = dims;
  auto module = compileSource(SourceFile(name, source), options);
  if (!module)
    return module.takeError();
  Program p;
  p.state_->module = std::move(*module);
  return p;
}

Expected<Program> Program::fromFile(const std::string &path,
                                    const std::map<std::string, std::int64_t> &dims) {
  auto source = readSource(path);
  if (!source)
    return source.takeError();
  return fromSource(source->text(), path, dims);
}

std::vector<std::string> Program::functions() const {
  std::vector<std::string> out;
  for (const Function &f : state_->module.functions)
    out.push_back(f.name);
  return out;
}

namespace {

Slot slotOf(const std::string &name, const Type &t) {
  Slot s{name, dtypeName(t.dtype), {}};
  for (const Dim &d : t.shape)
    s.shape.push_back(d.str());
  return s;
}

} // namespace

Expected<CompiledFunction> Program::compile(const std::string &name, Derivative derivative,
                                            const std::vector<std::string> &wrtNames) const {
  const Function *f = state_->module.find(name);
  if (!f)
    return makeDiagnostic(fmt::format("no fn or model named '{}'", name));
  auto derived = derivedFunction(*f, derivative, wrtNames);
  if (!derived)
    return derived.takeError();
  const Function &g = *derived;
  auto kernel = jitKernel(g);
  if (!kernel)
    return kernel.takeError();
  CompiledFunction c;
  c.run_ = kernel->run;
  c.workspace_ = kernel->workspaceSize;
  for (ValueId a : g.arguments())
    c.arguments_.push_back(slotOf(g.inst(a).stringAttr("name"), g.typeOf(a)));
  c.results_.push_back(slotOf("value", g.typeOf(g.result)));
  for (const NamedValue &o : g.outputs)
    c.results_.push_back(slotOf(o.name, g.typeOf(o.value)));
  c.dimensions_ = g.dimParams;
  return c;
}

Expected<std::string> Program::ir(const std::string &name) const {
  const Function *f = state_->module.find(name);
  if (!f)
    return makeDiagnostic(fmt::format("no fn or model named '{}'", name));
  return print(*f);
}

Expected<CheckReport> check(const Program &program, const CheckOptions &options) {
  return checkModule(program.state_->module, options);
}

std::int64_t CompiledFunction::workspaceBytes(const std::int64_t *dims,
                                              const void *const *args) const {
  static const std::int64_t none = 0;
  return workspace_(dims ? dims : &none, const_cast<void *const *>(args));
}

int CompiledFunction::run(const void *const *args, void *const *results, const std::int64_t *dims,
                          void *workspace) const {
  static const std::int64_t none = 0;
  return run_(const_cast<void *const *>(args), results, dims ? dims : &none, workspace);
}

} // namespace nabla
