#!/usr/bin/env bash
# Command (1) of the README: installs dependencies, builds, prepares CIFAR-10 and runs the main
# job: integer-only evaluation of the shipped W4A4 ResNet-20 on the 10,000 test images.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh
scripts/prepare-cifar10.sh
model=results/models/resnet20_w4a4.h5
if [ ! -f "$model" ]; then
  echo "quickstart: $model is not in this checkout yet (its training is in progress; see results/README.md)." >&2
  echo "quickstart: to train it yourself: scripts/train-resnet20.sh (hours on 2 cores; resumable)." >&2
  exit 1
fi
build/release/flashmc eval --model "$model" --compare
