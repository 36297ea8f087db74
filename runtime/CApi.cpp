// The C API (include/nabla/nabla_c.h) over the C++ one: opaque handles, messages as malloc'd
// strings, and no exception or Expected crossing into C.
#include "nabla/nabla_c.h"

#include "nabla/Nabla.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

struct nabla_program {
  nabla::Program program;
  std::vector<std::string> names;
};

struct nabla_function {
  nabla::CompiledFunction function;
};

namespace {

/// Hands `message` to C: malloc'd, for nabla_string_free.
void setError(char **error, const std::string &message) {
  if (!error)
    return;
  *error = static_cast<char *>(std::malloc(message.size() + 1));
  if (*error)
    std::memcpy(*error, message.c_str(), message.size() + 1);
}

nabla_program *wrap(nabla::Expected<nabla::Program> program, char **error) {
  if (!program) {
    setError(error, program.error().render());
    return nullptr;
  }
  auto *out = new (std::nothrow) nabla_program{std::move(*program), {}};
  if (!out) {
    setError(error, "out of memory");
    return nullptr;
  }
  out->names = out->program.functions();
  return out;
}

/// Argument (or result) `i` of `f`, or null when there is none.
const nabla::Slot *argument(const nabla_function *f, std::size_t i) {
  return f && i < f->function.arguments().size() ? &f->function.arguments()[i] : nullptr;
}
const nabla::Slot *result(const nabla_function *f, std::size_t j) {
  return f && j < f->function.results().size() ? &f->function.results()[j] : nullptr;
}

const char *nameOf(const nabla::Slot *s) { return s ? s->name.c_str() : nullptr; }
const char *dtypeOf(const nabla::Slot *s) { return s ? s->dtype.c_str() : nullptr; }
size_t rankOf(const nabla::Slot *s) { return s ? s->shape.size() : 0; }
const char *dimOf(const nabla::Slot *s, std::size_t axis) {
  return s && axis < s->shape.size() ? s->shape[axis].c_str() : nullptr;
}

} // namespace

extern "C" {

nabla_program *nabla_program_from_source(const char *source, const char *name, char **error) {
  if (!source) {
    setError(error, "nabla_program_from_source: source is NULL");
    return nullptr;
  }
  return wrap(nabla::Program::fromSource(source, name ? name : "input"), error);
}

nabla_program *nabla_program_from_file(const char *path, char **error) {
  if (!path) {
    setError(error, "nabla_program_from_file: path is NULL");
    return nullptr;
  }
  return wrap(nabla::Program::fromFile(path), error);
}

void nabla_program_free(nabla_program *program) { delete program; }

size_t nabla_program_function_count(const nabla_program *program) {
  return program ? program->names.size() : 0;
}

const char *nabla_program_function_name(const nabla_program *program, size_t i) {
  return program && i < program->names.size() ? program->names[i].c_str() : nullptr;
}

nabla_function *nabla_compile(const nabla_program *program, const char *function,
                              nabla_derivative derivative, const char *const *wrt,
                              size_t wrt_count, char **error) {
  if (!program || !function) {
    setError(error, "nabla_compile: program or function is NULL");
    return nullptr;
  }
  nabla::Derivative d = derivative == NABLA_GRADIENT ? nabla::Derivative::Reverse
                        : derivative == NABLA_JVP    ? nabla::Derivative::Forward
                                                     : nabla::Derivative::None;
  if (derivative != NABLA_VALUE && derivative != NABLA_GRADIENT && derivative != NABLA_JVP) {
    setError(error, "nabla_compile: derivative must be NABLA_VALUE, NABLA_GRADIENT or NABLA_JVP");
    return nullptr;
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < wrt_count; ++i) {
    if (!wrt || !wrt[i]) {
      setError(error, "nabla_compile: wrt has a NULL name");
      return nullptr;
    }
    names.emplace_back(wrt[i]);
  }
  auto compiled = program->program.compile(function, d, names);
  if (!compiled) {
    setError(error, compiled.error().render());
    return nullptr;
  }
  auto *out = new (std::nothrow) nabla_function{std::move(*compiled)};
  if (!out)
    setError(error, "out of memory");
  return out;
}

void nabla_function_free(nabla_function *function) { delete function; }

size_t nabla_argument_count(const nabla_function *f) {
  return f ? f->function.arguments().size() : 0;
}

size_t nabla_result_count(const nabla_function *f) { return f ? f->function.results().size() : 0; }

const char *nabla_argument_name(const nabla_function *f, size_t i) { return nameOf(argument(f, i)); }
const char *nabla_argument_dtype(const nabla_function *f, size_t i) {
  return dtypeOf(argument(f, i));
}
size_t nabla_argument_rank(const nabla_function *f, size_t i) { return rankOf(argument(f, i)); }
const char *nabla_argument_dim(const nabla_function *f, size_t i, size_t axis) {
  return dimOf(argument(f, i), axis);
}

const char *nabla_result_name(const nabla_function *f, size_t j) { return nameOf(result(f, j)); }
const char *nabla_result_dtype(const nabla_function *f, size_t j) { return dtypeOf(result(f, j)); }
size_t nabla_result_rank(const nabla_function *f, size_t j) { return rankOf(result(f, j)); }
const char *nabla_result_dim(const nabla_function *f, size_t j, size_t axis) {
  return dimOf(result(f, j), axis);
}

size_t nabla_dimension_count(const nabla_function *f) {
  return f ? f->function.dimensions().size() : 0;
}

const char *nabla_dimension_name(const nabla_function *f, size_t k) {
  return f && k < f->function.dimensions().size() ? f->function.dimensions()[k].c_str() : nullptr;
}

int64_t nabla_workspace_bytes(const nabla_function *f, const int64_t *dims,
                              const void *const *args) {
  return f ? f->function.workspaceBytes(dims, args) : -1;
}

int nabla_run(const nabla_function *f, const void *const *args, void *const *results,
              const int64_t *dims, void *workspace) {
  return f ? f->function.run(args, results, dims, workspace) : -1;
}

void nabla_string_free(char *message) { std::free(message); }

} // extern "C"
