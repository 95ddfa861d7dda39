#!/bin/bash
# Issue 18 §4: a shipped W4A4 network against its device-aware fine-tuned version, on the same
# sampled chips, under each condition of experiments/device_aware/, with and without the per-bit-
# line gain-offset calibration; then the table (scripts/device_aware_table.py).
#   scripts/device-aware-study.sh [--model NET] [--train [--init FULL.h5]]
# NET: resnet20 (default), alexnet, vgg16, resnet18: the model measured as "shipped" is
# results/models/NET_w4a4.h5, or NET_w4a4_r<k>.h5 where the campaign's warm restart replaced it.
# --train: fine-tune the mix6 model first (the five conditions and an ideal chip, 3 epochs; ~35 min
# on 2 cores for ResNet-20) from FULL.h5, a W4A4 file with its float
# graph (default: the shipped file, which is one for ResNet-20; the paper's networks ship deployable
# files, so give the full file the campaign trained, or one re-trained by its recipe, and measure
# that file's deployable form as the shipped model). Models: shipped; mix6 (NET_w4a4_da_mix6.h5);
# for ResNet-20 also tuned (resnet20_w4a4_da.h5: the five conditions, 2 epochs).
# Results: results/device_aware/ (ResNet-20) or results/NET/device_aware/ (the paper's networks),
# <condition>_<shipped|tuned|mix6>_<none|gain-offset>.h5 and, for the refresh intervals,
# retention_<shipped|tuned|mix6>_<none|gain-offset>.h5 (experiments/retention.toml, 8 chips a point).
# With --init FILE other than the shipped model, "shipped" is FILE's deployable form,
# results/models/NET_w4a4_da_base.h5.
set -euo pipefail
cd "$(dirname "$0")/.."
flashmc=${FLASHMC:-build/release/flashmc}
net=resnet20
train=0
init=
while [ $# -gt 0 ]; do
    case "$1" in
        --model) net=$2; shift 2 ;;
        --train) train=1; shift ;;
        --init) init=$2; shift 2 ;;
        *) echo "usage: $0 [--model resnet20|alexnet|vgg16|resnet18] [--train [--init FULL.h5]]" >&2; exit 2 ;;
    esac
done
# The network's W4A4 model: its latest warm-restart stage's (NET_w4a4_r<k>, scripts/seed-nets.plan)
# where the campaign has one, else NET_w4a4.
shipped=$(ls results/models/${net}_w4a4_r[0-9]*.h5 2>/dev/null | sort -V | tail -n 1 || true)
shipped=${shipped:-results/models/${net}_w4a4.h5}
[ -f "$shipped" ] || { echo "device-aware-study: no $shipped" >&2; exit 2; }
init=${init:-$shipped}
# Fine-tuned from a full file other than the shipped model's own (the campaign writes the shipped
# model as the deployable form of its full file of the same name): the baseline is that file's
# deployable form, so that both models start from the same weights.
if [ "$(basename "$init")" != "$(basename "$shipped")" ]; then
    base=results/models/${net}_w4a4_da_base.h5
    [ -f "$base" ] || "$flashmc" convert "$init" "$base" --deployable
    shipped=$base
fi
outdir=results/device_aware
[ "$net" = resnet20 ] || outdir=results/$net/device_aware
conditions=(vth10 ispp10 retention_1d_85c rtn10 read_85c)
# A finished model is kept: re-writing it (even with the same weights) changes the file's checksum,
# which the sweeps below record, so their --resume would refuse the files already written.
mix6=results/models/${net}_w4a4_da_mix6.h5
if [ $train = 1 ] && [ -f "$mix6" ]; then
    echo "device-aware-study: $mix6 exists; not re-trained (remove it to train again)"
elif [ $train = 1 ]; then
    # The full file (float graph, for further training) stays beside the checkpoints; the study
    # measures, and results/models/ ships, its deployable form.
    full=${FLASHMC_CHECKPOINT_DIR:-$HOME/.cache/flashmc/checkpoints}/${net}_w4a4_da_mix6_full.h5
    args=()
    for c in "${conditions[@]}" ideal; do args+=(--device-aware "experiments/device_aware/$c.toml"); done
    "$flashmc" train --init "$init" "${args[@]}" --epochs 3 --lr 0.001 --schedule cosine \
        --warmup-epochs 0.2 --seed 4 --threads 2 --checkpoint-every 50 --resume --out "$full" --log "${mix6%.h5}.csv"
    "$flashmc" convert "$full" "$mix6" --deployable
fi
# The file of each measured model: shipped, tuned (ResNet-20's first mixture) or mix6.
model_file() {
    case "$1" in
        shipped) echo "$shipped" ;;
        tuned) echo "results/models/${net}_w4a4_da.h5" ;;
        mix6) echo "$mix6" ;;
    esac
}
mkdir -p "$outdir"
for c in "${conditions[@]}"; do
    for model in shipped tuned mix6; do
        file=$(model_file "$model")
        [ -f "$file" ] || continue
        for cal in none gain-offset; do
            out=$outdir/${c}_${model}_${cal}.h5
            "$flashmc" sweep "experiments/device_aware/$c.toml" --quiet --resume --out "$out" --set "model.file=\"$file\"" \
                --set "chip.column_calibration=\"$cal\""
        done
    done
done
# Refresh intervals (90 % yield of 85 % accuracy, 25/85/125 °C): the whole retention grid, 8 chips a
# point, for every model with and without the calibration.
for model in shipped tuned mix6; do
    file=$(model_file "$model")
    [ -f "$file" ] || continue
    for cal in none gain-offset; do
        "$flashmc" sweep experiments/retention.toml --quiet --resume --out "$outdir/retention_${model}_${cal}.h5" \
            --set "model.file=\"$file\"" --set "chip.column_calibration=\"$cal\"" --set adaptive.max_trials=8
    done
done
/usr/bin/python3 scripts/device_aware_table.py "$outdir" mix6
