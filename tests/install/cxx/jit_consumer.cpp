// The C++ API from an installed nabla: compile a lecture function's gradient and run it
// (LANGUAGE.md §8: f(x, y, z) = (x + y) * max(y, z) at (1, 2, 0) is 6, its gradient (2, 5, 0)).
#include <nabla/Nabla.h>

#include <cstddef>
#include <cstdio>
#include <memory>
#include <vector>

int main() {
  auto program = nabla::Program::fromSource(
      "fn f(x: f64, y: f64, z: f64) -> f64 = (x + y) * max(y, z)", "lecture");
  if (!program) {
    std::fprintf(stderr, "%s", program.error().render().c_str());
    return 2;
  }
  auto grad = program->compile("f", nabla::Derivative::Reverse);
  if (!grad) {
    std::fprintf(stderr, "%s", grad.error().render().c_str());
    return 2;
  }
  double x = 1, y = 2, z = 0, value = 0, dx = 0, dy = 0, dz = 0;
  const void *args[] = {&x, &y, &z};
  void *results[] = {&value, &dx, &dy, &dz};
  // Workspace as the kernel asks for it, 64-byte aligned (Nabla.h); no runtime dimensions.
  std::vector<std::max_align_t> workspace(grad->workspaceBytes(nullptr) / sizeof(std::max_align_t) + 8);
  void *aligned = workspace.data();
  std::size_t space = workspace.size() * sizeof(std::max_align_t);
  std::align(64, 1, aligned, space);
  if (grad->run(args, results, nullptr, aligned) != 0)
    return 1;
  std::printf("f = %g, grad = (%g, %g, %g)\n", value, dx, dy, dz);
  return value == 6 && dx == 2 && dy == 5 && dz == 0 ? 0 : 1;
}
