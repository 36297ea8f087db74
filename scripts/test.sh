#!/usr/bin/env bash
# Builds what changed and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build
ctest --test-dir build --output-on-failure -j2
