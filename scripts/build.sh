#!/usr/bin/env bash
# Configures and builds flashmc (release preset: -O3, -march=native, OpenMP) into build/release.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cmake --preset release > /dev/null
cmake --build --preset release
