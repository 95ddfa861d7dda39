#!/usr/bin/env bash
# Command (2) of the README: installs dependencies, builds, prepares CIFAR-10 when a tarball is at
# hand (so the real-data integration tests run), and runs the whole test suite with CTest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh
if [ -n "${FLASHMC_CIFAR10_TARBALL:-}" ] || [ -f "$root/../shared/data/cifar-10-binary.tar.gz" ] || [ -d data/cifar-10-batches-bin ]; then
  scripts/prepare-cifar10.sh
else
  echo "run-tests: no CIFAR-10 tarball at hand; the real-data tests will be skipped"
fi
ctest --preset release
