#!/usr/bin/env bash
# Installs nabla's dependencies (Debian packages, idempotent), builds it with CMake + Ninja, and
# runs the main job on a bundled example. Safe to run again: it installs only what is missing and
# rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake ninja-build clang-19 llvm-19-dev  # build tools; LLVM 19 for code generation
  libboost1.81-dev                         # Boost.Spirit X3: the parser
  libcli11-dev                             # command-line parsing
  libedit-dev                              # line editing in the REPL
  nlohmann-json3-dev                       # JSON inputs and outputs
  libfmt-dev                               # formatting
  libgtest-dev libbenchmark-dev            # tests and benchmarks
  libopenblas-dev                          # large matrix products; the benchmarks' baseline
  pkg-config                               # the install test links a C program through nabla.pc
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19
fi
cmake --build build

echo
echo "setup: built build/bin/nabla; checking every derivative of the lecture examples against"
echo "finite differences (nabla check examples/lectures.nabla):"
build/bin/nabla check examples/lectures.nabla
