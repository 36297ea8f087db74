/* The C API in a C program: JIT-compile the lecture function f(x, y, z) = (x + y) * max(y, z)
 * and its gradient, and run them at (1, 2, 0) (LANGUAGE.md §8: 6, and (2, 5, 0)).
 * Built by CMake as build/bin/nabla_capi_example; run it from the source directory. */
#include "nabla/nabla_c.h"

#include <stdio.h>
#include <stdlib.h>

int main(void) {
  char *error = NULL;
  nabla_program *program = nabla_program_from_file("examples/lectures.nabla", &error);
  if (!program) {
    fprintf(stderr, "%s\n", error);
    nabla_string_free(error);
    return 2;
  }
  nabla_function *grad = nabla_compile(program, "f", NABLA_GRADIENT, NULL, 0, &error);
  nabla_program_free(program); /* compiled functions outlive their program */
  if (!grad) {
    fprintf(stderr, "%s\n", error);
    nabla_string_free(error);
    return 2;
  }
  double x = 1, y = 2, z = 0, value = 0, dx = 0, dy = 0, dz = 0;
  const void *args[] = {&x, &y, &z};
  void *results[] = {&value, &dx, &dy, &dz};
  if (nabla_argument_count(grad) != 3 || nabla_result_count(grad) != 4) {
    fprintf(stderr, "unexpected layout\n");
    return 1;
  }
  int64_t bytes = nabla_workspace_bytes(grad, NULL, NULL);
  void *workspace = aligned_alloc(64, (size_t)((bytes + 63) / 64 * 64 + 64));
  int status = nabla_run(grad, args, results, NULL, workspace);
  free(workspace);
  printf("status %d: f = %g, grad = (%g, %g, %g)", status, value, dx, dy, dz);
  for (size_t j = 0; j < nabla_result_count(grad); ++j)
    printf("%s%s:%s", j ? ", " : "; results ", nabla_result_name(grad, j),
           nabla_result_dtype(grad, j));
  printf("\n");
  nabla_function_free(grad);
  return status;
}
