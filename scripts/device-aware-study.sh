#!/bin/bash
# Issue 18 §4: the shipped W4A4 ResNet-20 against its device-aware fine-tuned version, on the same
# sampled chips, under each condition of experiments/device_aware/, with and without the per-bit-
# line gain-offset calibration; then the table (scripts/device_aware_table.py).
#   scripts/device-aware-study.sh [--train]   (--train: fine-tune the mix6 model first, ~35 min on 2 cores)
# Models: shipped (resnet20_w4a4.h5); tuned (resnet20_w4a4_da.h5: the five conditions, 2 epochs);
# mix6 (resnet20_w4a4_da_mix6.h5: the five and an ideal chip, 3 epochs; the recipe of --train).
# Results: results/device_aware/<condition>_<shipped|tuned|mix6>_<none|gain-offset>.h5
set -euo pipefail
cd "$(dirname "$0")/.."
flashmc=${FLASHMC:-build/release/flashmc}
conditions=(vth10 ispp10 retention_1d_85c rtn10 read_85c)
if [ "${1:-}" = --train ]; then
    args=()
    for c in "${conditions[@]}" ideal; do args+=(--device-aware "experiments/device_aware/$c.toml"); done
    out=results/models/resnet20_w4a4_da_mix6.h5
    "$flashmc" train --init results/models/resnet20_w4a4.h5 "${args[@]}" --epochs 3 --lr 0.001 --schedule cosine \
        --warmup-epochs 0.2 --seed 4 --threads 2 --checkpoint-every 50 --resume --out "$out" --log "${out%.h5}.csv"
fi
mkdir -p results/device_aware
for c in "${conditions[@]}"; do
    for model in shipped tuned mix6; do
        file=results/models/resnet20_w4a4.h5
        [ "$model" = tuned ] && file=results/models/resnet20_w4a4_da.h5
        [ "$model" = mix6 ] && file=results/models/resnet20_w4a4_da_mix6.h5
        [ -f "$file" ] || continue
        for cal in none gain-offset; do
            # The calibration runs on the static path only; read noise needs the array path.
            [ "$c" = rtn10 ] && [ "$cal" = gain-offset ] && continue
            out=results/device_aware/${c}_${model}_${cal}.h5
            "$flashmc" sweep "experiments/device_aware/$c.toml" --quiet --resume --out "$out" --set "model.file=\"$file\"" \
                --set "chip.column_calibration=\"$cal\""
        done
    done
done
/usr/bin/python3 scripts/device_aware_table.py results/device_aware mix6
