// nabla's C++ embedding API: compile a .nabla source once, then call its functions, gradients
// and JVPs as native kernels on your own buffers (no allocation per call).
#pragma once

#include "nabla/Diagnostic.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nabla {

struct Function;
struct CheckOptions;
struct CheckReport;

/// A derivative of a function: what a kernel computes beside the value, or how a numeric
/// derivative is taken. The one name for this choice across the CLI, the REPL, `nabla check` and
/// both APIs.
enum class Derivative {
  None,     // the value (and a model's outputs)
  Reverse,  // value, outputs, then the gradient w.r.t. each differentiated argument (adjoints)
  Forward,  // value, outputs, then the tangent of the value (tangent arguments follow the args)
  Symbolic, // like Reverse, built as simplified derivative expressions (what `nabla diff` prints)
};

/// "none", "reverse", "forward", "symbolic".
const char *derivativeName(Derivative d);

/// Where a function runs: the reference interpreter (exact, slow) or JIT-compiled native code.
enum class Engine { Interp, Jit };

/// "interp" or "jit".
const char *engineName(Engine e);

/// One argument or result of a compiled function: its name, element type and shape, with
/// dimension names for sizes bound at call time.
struct Slot {
  std::string name;
  std::string dtype;              // "f32", "f64" or "i32"
  std::vector<std::string> shape; // each dimension as text: "784", "B"
};

/// A native kernel with the layout of its arguments and results.
class CompiledFunction {
public:
  const std::vector<Slot> &arguments() const { return arguments_; }
  const std::vector<Slot> &results() const { return results_; }
  /// The runtime dimensions that `dims` gives, in order (e.g. {"B"}).
  const std::vector<std::string> &dimensions() const { return dimensions_; }

  /// Bytes of scratch memory a call needs for these dimension values and, when a differentiated
  /// loop's bounds are arguments, these arguments (as for run; may be null otherwise). -1 when
  /// the size overflows int64 or needs the arguments.
  std::int64_t workspaceBytes(const std::int64_t *dims, const void *const *args = nullptr) const;

  /// Runs the kernel. `args[i]` points to argument i's row-major data, `results[j]` to room for
  /// result j, `workspace` to workspaceBytes(dims) bytes aligned to 64. Returns 0, or 1 when an
  /// index argument is out of range.
  int run(const void *const *args, void *const *results, const std::int64_t *dims,
          void *workspace) const;

private:
  friend class Program;
  using Run = std::int32_t (*)(void *const *, void *const *, const std::int64_t *, void *);
  using Workspace = std::int64_t (*)(const std::int64_t *, void *const *);
  Run run_ = nullptr;
  Workspace workspace_ = nullptr;
  std::vector<Slot> arguments_, results_;
  std::vector<std::string> dimensions_;
};

/// A compiled .nabla source.
class Program {
public:
  /// Parses and checks a source; `dims` overrides header dimensions (like `--dim`).
  static Expected<Program> fromSource(const std::string &source, const std::string &name = "input",
                                      const std::map<std::string, std::int64_t> &dims = {});
  static Expected<Program> fromFile(const std::string &path,
                                    const std::map<std::string, std::int64_t> &dims = {});

  /// The names of its fns and models, in source order.
  std::vector<std::string> functions() const;

  /// JIT-compiles `function` (with the requested derivative w.r.t. `wrt`, every param or float
  /// argument when empty).
  Expected<CompiledFunction> compile(const std::string &function,
                                     Derivative derivative = Derivative::None,
                                     const std::vector<std::string> &wrt = {}) const;

  /// The typed IR of `function` as text.
  Expected<std::string> ir(const std::string &function) const;

  Program(Program &&) noexcept;
  Program &operator=(Program &&) noexcept;
  ~Program();

private:
  friend Expected<CheckReport> check(const Program &program, const CheckOptions &options);
  Program();
  struct State;
  std::unique_ptr<State> state_;
};

} // namespace nabla
