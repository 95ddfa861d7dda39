#!/usr/bin/env bash
# Runs the canonical experiments (experiments/*.toml except quickstart and test files), resumable:
# a killed run continues where it stopped (--resume). Then plots each result and prints the
# results table (scripts/results_table.py).
#   scripts/run-experiments.sh [--model NAME] [EXPERIMENT ...]   (default: all; e.g. vth_variation retention)
# --model: a W4A4 model of results/models/ (default resnet20_w4a4, the shipped model, whose results
# go to results/NAME.{h5,png}); another model's go to results/<network>/NAME.{h5,png}, e.g.
# --model alexnet_w4a4 → results/alexnet/ (the same sweep files, with model.file set).
# Environment: FLASHMC_THREADS (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
model=resnet20_w4a4
if [ "${1:-}" = --model ]; then
  [ -n "${2:-}" ] || { echo "run-experiments: --model needs a name (e.g. alexnet_w4a4)" >&2; exit 2; }
  model=$2
  shift 2
fi
[ -x build/release/flashmc ] || scripts/build.sh
file=results/models/$model.h5
[ -f "$file" ] || { echo "run-experiments: $file is missing (scripts/train-resnet20.sh, scripts/train-seed-nets.sh)" >&2; exit 1; }
out=results
[ "$model" = resnet20_w4a4 ] || out=results/${model%%_*}
mkdir -p "$out"
scripts/prepare-cifar10.sh >/dev/null
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(vth_variation ispp_step retention retention_activation read_noise read_temperature ir_drop adc_bits worst_case read_disturb read_disturb_tail ir_drop_ua shot_noise)
fi
args=()
[ -n "${FLASHMC_THREADS:-}" ] && args+=(--threads "$FLASHMC_THREADS")
[ "$model" = resnet20_w4a4 ] || args+=(--set "model.file=\"$file\"")
for n in "${names[@]}"; do
  echo "== $n ($model)"
  build/release/flashmc sweep "experiments/$n.toml" --resume --out "$out/$n.h5" "${args[@]}"
  build/release/flashmc inspect "$out/$n.h5"
  /usr/bin/python3 scripts/plot_sweep.py "$out/$n.h5" -o "$out/$n.png"
done
/usr/bin/python3 scripts/results_table.py "$out"/*.h5
