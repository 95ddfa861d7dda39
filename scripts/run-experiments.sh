#!/usr/bin/env bash
# Runs the canonical experiments (experiments/*.toml except quickstart and test files) on the
# shipped W4A4 ResNet-20, resumable: a killed run continues where it stopped (--resume). Then
# plots each result (results/NAME.png) and prints the results table (scripts/results_table.py).
#   scripts/run-experiments.sh [NAME ...]     (default: all; e.g. vth_variation retention)
# Environment: FLASHMC_THREADS (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/release/flashmc ] || scripts/build.sh
[ -f results/models/resnet20_w4a4.h5 ] || { echo "run-experiments: results/models/resnet20_w4a4.h5 is missing (scripts/train-resnet20.sh)" >&2; exit 1; }
scripts/prepare-cifar10.sh >/dev/null
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(vth_variation ispp_step retention retention_activation read_noise read_temperature ir_drop adc_bits worst_case)
fi
threads=()
[ -n "${FLASHMC_THREADS:-}" ] && threads=(--threads "$FLASHMC_THREADS")
for n in "${names[@]}"; do
  echo "== $n"
  build/release/flashmc sweep "experiments/$n.toml" --resume "${threads[@]}"
  build/release/flashmc inspect "results/$n.h5"
  /usr/bin/python3 scripts/plot_sweep.py "results/$n.h5" -o "results/$n.png"
done
/usr/bin/python3 scripts/results_table.py results/*.h5
