#!/usr/bin/env bash
# Installs nabla from BUILD into a scratch prefix and builds, against that prefix only, what an
# embedding user builds: a CMake project with find_package(nabla) (the C++ API and
# nabla_add_kernels), and a C program compiled with cc and pkg-config alone. Runs each.
# Usage: tests/install/run.sh SOURCE_DIR BUILD_DIR   (ctest runs it as Install.ConsumersBuild)
set -euo pipefail
source_dir=$(cd "$1" && pwd)
build_dir=$(cd "$2" && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/nabla-install.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
prefix="$scratch/prefix"

cmake --install "$build_dir" --prefix "$prefix" > "$scratch/install.log"
# What an application may include: the public headers, none of the internal ones.
test -f "$prefix/include/nabla/Nabla.h" && test -f "$prefix/include/nabla/nabla_c.h"
if grep -rhoE '#include "[a-z]+/' "$prefix/include/nabla" | grep -v '"nabla/'; then
  echo "an installed header includes an internal one" >&2
  exit 1
fi

# 1. CMake: find_package(nabla), nabla::nabla, nabla_add_kernels.
cmake -S "$source_dir/tests/install/cxx" -B "$scratch/cxx" -G Ninja \
  -DCMAKE_PREFIX_PATH="$prefix" -DNABLA_EXAMPLES="$source_dir/examples" \
  -DCMAKE_C_COMPILER="${CC:-cc}" -DCMAKE_CXX_COMPILER="${CXX:-c++}" > "$scratch/configure.log" ||
  { cat "$scratch/configure.log"; exit 1; }
cmake --build "$scratch/cxx" > "$scratch/build.log" || { cat "$scratch/build.log"; exit 1; }
"$scratch/cxx/jit_consumer"
"$scratch/cxx/aot_consumer" | tail -1

# 2. C with pkg-config only: cc prog.c $(pkg-config --cflags --libs nabla).
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name nabla.pc | head -1)")
flags=$(pkg-config --cflags --libs nabla)
cc -std=c11 "$source_dir/examples/capi/lecture_gradient.c" $flags -o "$scratch/capi"
(cd "$source_dir" && "$scratch/capi")
echo "install: the C++ API, nabla_add_kernels and the C API build and run against $prefix"
