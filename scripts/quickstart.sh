#!/usr/bin/env bash
# Command (1) of the README: installs dependencies, builds, prepares CIFAR-10 and runs the main
# job: the quickstart robustness sweep (experiments/quickstart.toml) of the shipped W4A4 ResNet-20
# on sampled NOR-Flash chips; prints its table and the paths of its HDF5 file and plot.
# The sweep takes about a minute on 2 cores; re-running it resumes (and finishes at once).
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
# The run writes under the git-ignored build/ (results/quickstart.{h5,png} are the committed
# reference run); --resume continues a killed run there.
out=build/quickstart.h5
build/release/flashmc sweep experiments/quickstart.toml --out "$out" --resume
build/release/flashmc inspect "$out"
/usr/bin/python3 scripts/plot_sweep.py "$out" -o build/quickstart.png
echo "quickstart: results in $out (HDF5, docs/results-format.md), plot in build/quickstart.png (committed reference run: results/quickstart.h5)"
