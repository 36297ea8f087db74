/* Trains the two-layer perceptron of examples/mlp.nabla by gradient descent in plain C, through
 * the kernels that `nabla compile` put in an object file: no nabla, no JIT at run time.
 *
 *   build/bin/nabla compile examples/mlp.nabla --dim D=2 --dim H=16 --dim C=2 -o mlp.o
 *   cc -std=c11 -I. examples/aot/mlp_sgd.c mlp.o -lopenblas -lmvec -lm -o mlp_sgd
 *   ./mlp_sgd
 *
 * (`nabla compile` prints the exact link line for the object it wrote.) The task: is a point of
 * the plane in the first or the third quadrant? The layer sizes are fixed by --dim; the batch
 * size B is a runtime dimension, given at each call.
 */
#include "mlp.h"

#include <stdio.h>
#include <stdlib.h>

enum { B = 64, D = 2, H = 16, C = 2, STEPS = 400 };

/* Uniform in [-1, 1) from a linear congruential generator: the same numbers everywhere. */
static float uniform(uint32_t *state) {
  *state = *state * 1664525u + 1013904223u;
  return (float)(*state >> 8) / 8388608.0f - 1.0f;
}

/* Workspace for a kernel: the size it asks for, 64-byte aligned (aligned_alloc wants a multiple). */
static void *workspace(int64_t bytes) { return aligned_alloc(64, (size_t)(bytes + 64) / 64 * 64); }

int main(void) {
  static float x[B][D], W1[H][D], b1[H], W2[C][H], b2[C];
  static float dW1[H][D], db1[H], dW2[C][H], db2[C], pred[B][C];
  static int32_t y[B];
  uint32_t seed = 42;
  for (int i = 0; i < B; ++i) {
    x[i][0] = uniform(&seed);
    x[i][1] = uniform(&seed);
    y[i] = x[i][0] * x[i][1] > 0;
  }
  for (int h = 0; h < H; ++h)
    for (int d = 0; d < D; ++d)
      W1[h][d] = uniform(&seed);
  for (int c = 0; c < C; ++c)
    for (int h = 0; h < H; ++h)
      W2[c][h] = 0.5f * uniform(&seed);

  /* The value and gradient of the loss, the softmax output `pred` besides: one call. */
  void *ws = workspace(nabla_mlp_grad_workspace_bytes(B));
  const float rate = 0.5f;
  for (int step = 0; step <= STEPS; ++step) {
    float loss;
    if (nabla_mlp_grad_call(&x[0][0], y, &W1[0][0], b1, &W2[0][0], b2, &loss, &pred[0][0],
                            &dW1[0][0], db1, &dW2[0][0], db2, B, ws) != 0) {
      fprintf(stderr, "a label is out of range\n");
      return 1;
    }
    if (step % 100 == 0)
      printf("step %d loss %.4f\n", step, loss);
    for (int h = 0; h < H; ++h) {
      for (int d = 0; d < D; ++d)
        W1[h][d] -= rate * dW1[h][d];
      b1[h] -= rate * db1[h];
    }
    for (int c = 0; c < C; ++c) {
      for (int h = 0; h < H; ++h)
        W2[c][h] -= rate * dW2[c][h];
      b2[c] -= rate * db2[c];
    }
  }
  free(ws);

  /* The value kernel alone: the loss and the predictions of the trained network. */
  float loss;
  ws = workspace(nabla_mlp_workspace_bytes(B));
  nabla_mlp_call(&x[0][0], y, &W1[0][0], b1, &W2[0][0], b2, &loss, &pred[0][0], B, ws);
  free(ws);
  int right = 0;
  for (int i = 0; i < B; ++i)
    right += (pred[i][1] > pred[i][0]) == (y[i] == 1);
  printf("final loss %.4f accuracy %.3f\n", loss, (double)right / B);
  return 0;
}
