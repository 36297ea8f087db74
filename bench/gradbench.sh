#!/bin/sh
# nabla's GradBench kernels against hand-written C++ primals (bench/GradBenchPrimals.cpp) on each
# recorded session's workload: mean seconds of a run, and each as a ratio to the C++ primal.
# The baseline is built as bench/CMakeLists.txt builds the others (-O3 host, libmvec).
# Usage: bench/gradbench.sh [BUILD_DIR] [SESSIONS_DIR]
set -eu
build=${1:-build}
sessions=${2:-../shared/gradbench-data/sessions}
baseline=$(mktemp)
clang++-19 -std=c++20 -O3 -march=native -fno-math-errno -fveclib=libmvec -o "$baseline" "$(dirname "$0")/GradBenchPrimals.cpp"
echo "eval | C++ primal s | nabla primal s | nabla derivative s | primal / C++ | derivative / C++"
for eval in lse llsq gmm kmeans; do
  cpp=$("$baseline" "$eval" "$sessions/$eval.jsonl" | cut -d' ' -f1)
  python3 - "$build/bin/nabla" "$sessions/$eval.jsonl" "$eval" "$cpp" <<'PY'
import json, subprocess, sys
nabla, session, name, cpp = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
messages = [json.loads(l)["message"] for l in open(session) if '"message"' in l[:12]]
for m in messages:
    if m["kind"] == "evaluate":
        m["input"]["min_seconds"] = 0.5
out = subprocess.run([nabla, "gradbench"], input="\n".join(map(json.dumps, messages)) + "\n",
                     capture_output=True, text=True, check=True).stdout
means = []
for m, a in zip(messages, map(json.loads, out.splitlines())):
    if m["kind"] == "evaluate":
        t = [x["nanoseconds"] for x in a["timings"] if x["name"] == "evaluate"]
        means.append(sum(t) / len(t) * 1e-9)
p, d = means
print(f"{name} | {cpp:.3g} | {p:.3g} | {d:.3g} | {p / cpp:.2f} | {d / cpp:.2f}")
PY
done
rm -f "$baseline"
