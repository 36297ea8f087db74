#!/usr/bin/env bash
# Builds nabla_bench and runs it pinned to one core, then prints the markdown summary tables
# (docs/performance.md keeps the latest). Extra arguments go to the binary, e.g.
# bench/run.sh --benchmark_filter='BM_Mlp'. REPS=N sets the repetitions (default 21: this 2-core
# VM's speed drifts by up to 2x while the other core is busy, so many short runs, randomly
# interleaved). The table's ratios are then re-timed back to back (see timePaired in
# bench/NablaBench.cpp), which is what makes them repeatable here.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19
fi
ninja -C "$build" nabla_bench

# Every kernel, nabla's and the baselines' (OpenBLAS included), runs on one thread: pin the process
# to the last CPU and leave CPU 0 to the rest of the system (this machine has 2 cores).
cpu=$(( $(nproc) - 1 ))
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), pinned to CPU $cpu"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# The environment may set OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (forcing OpenBLAS's kernel choice
# and blocking); unset both for the benchmark process only, so that OpenBLAS detects this CPU
# itself. nabla_bench prints the core it picked: OpenBLAS 0.3.21 does not know every recent CPU
# and then falls back to its generic "Prescott" (SSE3) kernels, which slows the OpenBLAS baseline
# and nabla's BLAS-backed matmuls alike. BENCH_OPENBLAS_CORETYPE=Cooperlake bench/run.sh names a
# core explicitly instead (docs/performance.md has both).
blas_env=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1)
if [ -n "${BENCH_OPENBLAS_CORETYPE:-}" ]; then
  blas_env+=("OPENBLAS_CORETYPE=$BENCH_OPENBLAS_CORETYPE")
fi
env "${blas_env[@]}" taskset -c "$cpu" "$build/bin/nabla_bench" \
  --benchmark_repetitions="${REPS:-21}" --benchmark_min_time=0.1 \
  --benchmark_enable_random_interleaving=true \
  "$@"

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
