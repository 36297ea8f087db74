// Engines: the interpreter, and compiled kernels fed with typed buffers.
#include "driver/Execute.h"

#include "codegen/Jit.h"
#include "codegen/Lowering.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace nabla {

namespace {

/// A tensor's elements in the kernel's memory layout for its dtype.
struct Buffer {
  DType dtype;
  std::vector<std::int64_t> shape;
  std::vector<unsigned char> bytes;

  static std::size_t width(DType t) {
    switch (t) {
    case DType::F64:
      return 8;
    case DType::F32:
    case DType::I32:
      return 4;
    case DType::Bool:
      return 1;
    }
    return 8;
  }

  Buffer(DType t, std::vector<std::int64_t> s) : dtype(t), shape(std::move(s)) {
    bytes.assign(static_cast<std::size_t>(elementCount(shape)) * width(t) + 1, 0);
  }

  static Buffer from(const Tensor &t, DType dtype) {
    Buffer b(dtype, t.shape);
    for (std::size_t i = 0; i < t.data.size(); ++i)
      b.set(i, t.data[i]);
    return b;
  }

  void set(std::size_t i, double v) {
    unsigned char *p = bytes.data() + i * width(dtype);
    switch (dtype) {
    case DType::F64:
      std::memcpy(p, &v, 8);
      break;
    case DType::F32: {
      float x = static_cast<float>(v);
      std::memcpy(p, &x, 4);
      break;
    }
    case DType::I32: {
      auto x = static_cast<std::int32_t>(v);
      std::memcpy(p, &x, 4);
      break;
    }
    case DType::Bool:
      *p = v != 0;
      break;
    }
  }

  double get(std::size_t i) const {
    const unsigned char *p = bytes.data() + i * width(dtype);
    switch (dtype) {
    case DType::F64: {
      double x;
      std::memcpy(&x, p, 8);
      return x;
    }
    case DType::F32: {
      float x;
      std::memcpy(&x, p, 4);
      return x;
    }
    case DType::I32: {
      std::int32_t x;
      std::memcpy(&x, p, 4);
      return x;
    }
    case DType::Bool:
      return *p;
    }
    return 0;
  }

  Tensor toTensor() const {
    Tensor t(dtype, shape);
    for (std::size_t i = 0; i < t.data.size(); ++i)
      t.data[i] = get(i);
    return t;
  }
};

Expected<std::vector<Tensor>> runJit(const Function &f, const std::vector<Tensor> &args,
                                     const DimBinding &given) {
  auto dims = bindDimensions(f, args, given);
  if (!dims)
    return dims.takeError();
  auto kernel = jitKernel(f);
  if (!kernel)
    return kernel.takeError();

  std::vector<ValueId> argIds = f.arguments();
  std::vector<Buffer> inputs;
  std::vector<void *> argPtrs;
  inputs.reserve(args.size());
  for (std::size_t i = 0; i < args.size(); ++i) {
    inputs.push_back(Buffer::from(args[i], f.typeOf(argIds[i]).dtype));
    argPtrs.push_back(inputs.back().bytes.data());
  }
  std::vector<ValueId> resultIds{f.result};
  for (const NamedValue &o : f.outputs)
    resultIds.push_back(o.value);
  std::vector<Buffer> results;
  std::vector<void *> resultPtrs;
  results.reserve(resultIds.size());
  for (ValueId v : resultIds) {
    auto shape = concreteShape(f.typeOf(v).shape, *dims);
    results.emplace_back(f.typeOf(v).dtype, *shape);
    resultPtrs.push_back(results.back().bytes.data());
  }
  std::vector<std::int64_t> dimValues;
  for (const std::string &d : f.dimParams)
    dimValues.push_back(dims->at(d));
  dimValues.push_back(0); // never empty, so data() is a valid pointer
  std::int64_t workspaceBytes = kernel->workspaceSize(dimValues.data(), argPtrs.data());
  if (workspaceBytes < 0)
    return makeDiagnostic(fmt::format("in '{}': the workspace size overflows", f.name));
  std::unique_ptr<void, decltype(&std::free)> workspace(
      std::aligned_alloc(64, static_cast<std::size_t>((workspaceBytes + 63) / 64 * 64 + 64)),
      &std::free);
  std::int32_t status =
      kernel->run(argPtrs.data(), resultPtrs.data(), dimValues.data(), workspace.get());
  if (status == codegen::kIndexOutOfRange)
    return makeDiagnostic(fmt::format("in '{}': an index is out of range", f.name));
  std::vector<Tensor> out;
  for (const Buffer &b : results)
    out.push_back(b.toTensor());
  return out;
}

} // namespace

const char *engineName(Engine e) { return e == Engine::Jit ? "jit" : "interp"; }

Expected<codegen::Kernel> jitKernel(const Function &f) {
  auto jit = codegen::Jit::instance();
  if (!jit)
    return jit.takeError();
  return (*jit)->compile(f);
}

Expected<std::vector<Tensor>> execute(Engine engine, const Function &f,
                                      const std::vector<Tensor> &args, const DimBinding &dims) {
  if (engine == Engine::Jit)
    return runJit(f, args, dims);
  auto values = interpretAll(f, args, dims);
  if (!values)
    return values.takeError();
  std::vector<Tensor> out{(*values)[f.result]};
  for (const NamedValue &o : f.outputs)
    out.push_back((*values)[o.value]);
  return out;
}

} // namespace nabla
