// Ahead-of-time compilation: which kernels each fn and model gets, their symbols and
// descriptions, the object and the header.
#include "driver/Aot.h"

#include "codegen/Aot.h"
#include "codegen/CHeader.h"
#include "ir/Builder.h"
#include "ir/Differentiate.h"
#include "driver/DerivedFunction.h"
#include "driver/Source.h"
#include "passes/CastFloat.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

namespace nabla {

namespace {

namespace fs = std::filesystem;

/// The names of `f`'s arguments in `ids`, as "a, b, c".
std::string namesOf(const Function &f, const std::vector<ValueId> &ids) {
  std::string out;
  for (ValueId v : ids)
    out += (out.empty() ? "" : ", ") + f.inst(v).stringAttr("name");
  return out;
}

/// The value of `f` as a sentence starts: "the value of fn f", "the loss of model mlp and its
/// outputs (pred)".
std::string valueText(const Function &f) {
  if (f.kind == Function::Kind::Fn)
    return "the value of fn " + f.name;
  std::string outputs;
  for (const NamedValue &o : f.outputs)
    outputs += (outputs.empty() ? "" : ", ") + o.name;
  return "the loss of model " + f.name +
         (outputs.empty() ? std::string() : " and its outputs (" + outputs + ")");
}

struct Kernels {
  std::vector<codegen::AotKernel> kernels;
  std::vector<std::string> summaries;
  std::vector<std::string> notes; // derivative kernels left out, and why
};

/// The value, gradient and JVP kernels of `f` (already in its final precision).
std::optional<Diagnostics> addKernels(const Function &f, const std::string &prefix, Kernels &out) {
  std::string symbol = prefix + f.name;
  auto value = derivedFunction(f, Derivative::None);
  if (!value)
    return value.takeError();
  out.kernels.push_back({symbol, std::move(*value)});
  out.summaries.push_back(valueText(f) + ".");

  const Type &result = f.typeOf(f.result);
  auto wrt = *selectArguments(f, {});
  if (!isFloat(result.dtype) || wrt.empty()) {
    out.notes.push_back(fmt::format(
        "{}_grad and {}_jvp are not compiled: {}", symbol, symbol,
        !isFloat(result.dtype) ? fmt::format("the value of {} is {}", f.name, dtypeName(result.dtype))
                               : fmt::format("{} has no float {} to differentiate", f.name,
                                             f.kind == Function::Kind::Model ? "param"
                                                                             : "argument")));
    return std::nullopt;
  }
  std::string of = namesOf(f, wrt);
  auto grad = derivedFunction(f, Derivative::Reverse);
  if (!grad)
    return grad.takeError();
  out.kernels.push_back({symbol + "_grad", std::move(*grad)});
  out.summaries.push_back(
      result.isScalar()
          ? fmt::format("{}, then the gradient of the {} w.r.t. {} (reverse mode).", valueText(f),
                        f.kind == Function::Kind::Model ? "loss" : "value", of)
          : fmt::format("{}, then the vector-Jacobian product seed.ct^T J w.r.t. {} (reverse "
                        "mode), for the cotangent seed.ct given as the last argument.",
                        valueText(f), of));
  auto jvp = derivedFunction(f, Derivative::Forward);
  if (!jvp)
    return jvp.takeError();
  // forwardMode appends one tangent argument per differentiated argument.
  std::vector<ValueId> jvpArgs = jvp->arguments();
  std::vector<ValueId> directions(jvpArgs.begin() + static_cast<std::ptrdiff_t>(f.arguments().size()),
                                  jvpArgs.end());
  out.summaries.push_back(fmt::format(
      "{}, then the directional derivative of {} (forward mode) along the direction ({}).",
      valueText(f),
      f.kind == Function::Kind::Fn ? "the value"
      : f.outputs.empty()          ? "the loss"
                                   : "the loss and of each output",
      namesOf(*jvp, directions)));
  out.kernels.push_back({symbol + "_jvp", std::move(*jvp)});
  return std::nullopt;
}

std::string upper(std::string s) {
  for (char &c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

} // namespace

namespace {

/// Where libnabla_rt.a is: ../lib beside the running `nabla` (the build tree's build/bin and
/// build/lib, or an installed PREFIX/bin and PREFIX/lib), else the build tree it was built in.
std::string runtimeLibraryDir() {
  std::error_code error;
  fs::path exe = fs::canonical("/proc/self/exe", error);
  if (!error) {
    fs::path lib = exe.parent_path().parent_path() / "lib";
    if (fs::exists(lib / "libnabla_rt.a", error))
      return lib.string();
  }
  return NABLA_RT_LIBRARY_DIR;
}

} // namespace

Expected<AotArtifacts> compileAheadOfTime(const AotOptions &o) {
  std::string headerPath = o.header;
  if (headerPath.empty())
    headerPath = fs::path(o.output).replace_extension(".h").string();
  if (fs::path(headerPath).lexically_normal() == fs::path(o.output).lexically_normal())
    return makeDiagnostic(fmt::format(
        "the header and the object would both be '{}'; name the header with --header", o.output));

  if (!o.prefix.empty() && codegen::cIdentifier(o.prefix) != o.prefix)
    return makeDiagnostic(fmt::format(
        "--prefix '{}' is not a C identifier (letters, digits and '_', not starting with a digit, "
        "not a keyword)", o.prefix));

  auto loaded = loadWithDims(o.file, o.dims);
  if (!loaded)
    return loaded.takeError();
  std::vector<const Function *> chosen;
  if (o.fn.empty()) {
    for (const Function &f : loaded->module.functions)
      chosen.push_back(&f);
  } else {
    auto fn = selectFunction(loaded->module, o.fn, o.file);
    if (!fn)
      return fn.takeError();
    chosen.push_back(*fn);
  }
  if (chosen.empty())
    return makeDiagnostic(fmt::format("'{}' defines no fn or model to compile", o.file));

  Kernels kernels;
  for (const Function *f : chosen) {
    Function typed = *f;
    if (!o.dtype.empty()) {
      try {
        typed = castFloats(*f, *parseDType(o.dtype));
      } catch (const IrError &e) {
        return makeDiagnostic(
            fmt::format("cannot convert '{}' to {}: {}", f->name, o.dtype, e.what()));
      }
    }
    if (auto err = addKernels(typed, o.prefix, kernels))
      return *err;
  }
  auto object = codegen::compileObject(kernels.kernels, o.cpu);
  if (!object)
    return object.takeError();

  std::vector<std::string> libraries = codegen::linkLibraries(object->needs);
  std::string link = "cc app.c " + o.output;
  for (const std::string &l : libraries) {
    if (l == "-lnabla_rt")
      link += fmt::format(" -L{}", runtimeLibraryDir());
    link += " " + l;
  }

  std::string dims;
  for (const auto &[name, value] : loaded->dims)
    dims += fmt::format("{}{}={}", dims.empty() ? "" : ", ", name, value);
  codegen::HeaderOptions header;
  header.guard = "NABLA_" + upper(codegen::cIdentifier(fs::path(headerPath).stem().string())) + "_H";
  header.preamble = {
      fmt::format("{}: the kernels of {}, compiled ahead of time by nabla {} into {}.",
                  fs::path(headerPath).filename().string(), o.file, NABLA_VERSION, o.output),
      "",
      "Link a program with the object (x86-64 ELF, position-independent) and what it needs:",
      "  " + link,
      o.cpu == "native"
          ? fmt::format("The code is compiled for this machine's CPU ({}) and all of its features:",
                        object->cpu)
          : fmt::format("The code is compiled for the CPU '{}' (nabla compile --cpu {}):",
                        object->cpu, object->cpu),
      "it runs on CPUs that have its features.",
      fmt::format("Floats: {}. Dimensions fixed at compile time: {}.",
                  o.dtype.empty() ? "as declared" : "every float type converted to " + o.dtype,
                  dims.empty() ? "none (only header defaults)" : dims),
      "",
      "The ABI of every kernel S (docs/aot.md):",
      "  int32_t S(void *const *args, void *const *results, const int64_t *dims, void *workspace);",
      "  int64_t S_workspace(const int64_t *dims, void *const *args);",
      "args[i] points to argument i's data and results[j] to room for result j, row-major",
      "(f64: double, f32: float, i32: int32_t); dims holds the runtime dimensions; workspace",
      "points to S_workspace(dims, args) bytes aligned to 64 (args may be NULL unless a",
      "differentiated loop's bounds are arguments; -1: overflow or arguments needed). A kernel",
      "allocates nothing and keeps no",
      "state: calls may run concurrently, each with its own workspace and results. It returns 0,",
      "or NABLA_INDEX_OUT_OF_RANGE when an index argument is out of range (results unspecified).",
      "S_call(...) is S with one typed pointer per argument and result, then the dimensions as",
      "values; S_workspace_bytes(...) is S_workspace with the dimensions as values.",
  };
  if (std::find(libraries.begin(), libraries.end(), "-lnabla_rt") != libraries.end())
    header.preamble.insert(header.preamble.begin() + 4,
                           fmt::format("libnabla_rt.a holds nabla's special functions (lgamma, "
                                       "digamma, ...); it is in {}.",
                                       NABLA_RT_LIBRARY_DIR));
  header.notes = kernels.notes;
  std::vector<codegen::HeaderKernel> described;
  for (std::size_t i = 0; i < kernels.kernels.size(); ++i)
    described.push_back({kernels.kernels[i].symbol, &kernels.kernels[i].function,
                         kernels.summaries[i], object->workspaceBytes[i]});
  std::string text = codegen::emitCHeader(described, header);

  AotArtifacts out{o.output, std::move(object->bytes), headerPath, std::move(text), {}, kernels.notes,
                   link};
  for (const codegen::AotKernel &k : kernels.kernels)
    out.symbols.push_back(k.symbol);
  return out;
}

} // namespace nabla
