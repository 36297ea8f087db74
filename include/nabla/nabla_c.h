/* nabla's C API: compile a .nabla source in process (the JIT) and run its functions, gradients
 * and JVPs as native kernels on your own buffers. The C++ API (nabla/Nabla.h) is the same
 * underneath; `nabla compile` makes objects that need no compiler at run time (docs/aot.md).
 *
 *   char *error = NULL;
 *   nabla_program *p = nabla_program_from_file("model.nabla", &error);
 *   nabla_function *g = nabla_compile(p, "loss", NABLA_GRADIENT, NULL, 0, &error);
 *   ... args[i]: argument i's row-major data; results[j]: room for result j ...
 *   void *ws = aligned_alloc(64, (nabla_workspace_bytes(g, dims, args) + 63) / 64 * 64 + 64);
 *   int status = nabla_run(g, args, results, dims, ws);
 *   nabla_function_free(g); nabla_program_free(p);
 *
 * Every call that can fail returns NULL (or a negative number) and, when `error` is not NULL,
 * stores a message (file:line:col: error: ...) to release with nabla_string_free. Compiled
 * functions stay valid after their program is freed; running one allocates nothing and may
 * happen on several threads at once, each with its own results and workspace. */
#ifndef NABLA_C_H
#define NABLA_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nabla_program nabla_program;
typedef struct nabla_function nabla_function;

/* What nabla_compile makes of a function. */
typedef enum nabla_derivative {
  NABLA_VALUE = 0,    /* the value (a model: the loss), then a model's outputs */
  NABLA_GRADIENT = 1, /* the value and outputs, then the gradient w.r.t. each of `wrt` (reverse) */
  NABLA_JVP = 2       /* the value and outputs, then the tangent of the value: forward mode, one
                         tangent argument per `wrt` entry after the arguments */
} nabla_derivative;

/* Parses and checks a source (`name` is used in messages); NULL on a diagnostic. */
nabla_program *nabla_program_from_source(const char *source, const char *name, char **error);
nabla_program *nabla_program_from_file(const char *path, char **error);
void nabla_program_free(nabla_program *program);

/* The number of fns and models, and the name of the i-th (valid while the program lives). */
size_t nabla_program_function_count(const nabla_program *program);
const char *nabla_program_function_name(const nabla_program *program, size_t i);

/* JIT-compiles `function` with `derivative` w.r.t. the arguments named in `wrt` (every float
 * argument of a fn and every param of a model when `wrt_count` is 0); NULL on a diagnostic. */
nabla_function *nabla_compile(const nabla_program *program, const char *function,
                              nabla_derivative derivative, const char *const *wrt,
                              size_t wrt_count, char **error);
void nabla_function_free(nabla_function *function);

/* The layout of its arguments and results: name, element type ("f64", "f32", "i32"), rank and
 * each dimension ("784", or a name such as "B" for a size given at run time in `dims`). */
size_t nabla_argument_count(const nabla_function *function);
size_t nabla_result_count(const nabla_function *function);
const char *nabla_argument_name(const nabla_function *function, size_t i);
const char *nabla_argument_dtype(const nabla_function *function, size_t i);
size_t nabla_argument_rank(const nabla_function *function, size_t i);
const char *nabla_argument_dim(const nabla_function *function, size_t i, size_t axis);
const char *nabla_result_name(const nabla_function *function, size_t j);
const char *nabla_result_dtype(const nabla_function *function, size_t j);
size_t nabla_result_rank(const nabla_function *function, size_t j);
const char *nabla_result_dim(const nabla_function *function, size_t j, size_t axis);

/* The runtime dimensions that `dims` holds, in order. */
size_t nabla_dimension_count(const nabla_function *function);
const char *nabla_dimension_name(const nabla_function *function, size_t k);

/* Bytes of workspace a call needs for these dimension values (64-byte aligned memory) and, when
 * a differentiated loop's bounds are arguments, these arguments (as for nabla_run; NULL
 * otherwise). -1 when the size overflows int64 or needs the arguments. */
int64_t nabla_workspace_bytes(const nabla_function *function, const int64_t *dims,
                              const void *const *args);

/* Runs the kernel: 0, or NABLA_INDEX_OUT_OF_RANGE when an index argument is out of range. */
#ifndef NABLA_INDEX_OUT_OF_RANGE
#define NABLA_INDEX_OUT_OF_RANGE 1
#endif
int nabla_run(const nabla_function *function, const void *const *args, void *const *results,
              const int64_t *dims, void *workspace);

void nabla_string_free(char *message);

#ifdef __cplusplus
}
#endif

#endif /* NABLA_C_H */
