#!/usr/bin/env bash
# Trains the shipped ResNet-20 models exactly as committed: FP32 from scratch, then the source
# paper's W4A4 quantization-aware fine-tune from it. Resumable: run it again after any interruption
# and it continues from the last checkpoint ($FLASHMC_CHECKPOINT_DIR, default
# ~/.cache/flashmc/checkpoints). The recipe fits one 3-hour session on 2 cores: 30 FP32 epochs
# (about 2 h) and a 3-epoch W4A4 fine-tune (about 13 min).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
flashmc=build/release/flashmc
[ -x "$flashmc" ] || scripts/build.sh
scripts/prepare-cifar10.sh
threads=${FLASHMC_THREADS:-2}
ckdir=${FLASHMC_CHECKPOINT_DIR:-$HOME/.cache/flashmc/checkpoints}
if [ ! -f results/models/resnet20_fp32.h5 ]; then
  $flashmc train --model resnet20 --epochs 30 --batch 128 --lr 0.15 --schedule onecycle \
    --momentum 0.9 --weight-decay 5e-4 --label-smoothing 0.1 --seed 1 --threads "$threads" \
    --out results/models/resnet20_fp32.h5 --log results/models/resnet20_fp32.csv \
    --checkpoint "$ckdir/resnet20_fp32.ckpt.h5" --checkpoint-every 100 --resume
fi
if [ ! -f results/models/resnet20_w4a4.h5 ]; then
  $flashmc train --init results/models/resnet20_fp32.h5 --quant w4a4 --epochs 3 --batch 128 \
    --lr 0.01 --schedule cosine --warmup-epochs 0.5 --momentum 0.9 --weight-decay 5e-4 \
    --label-smoothing 0.1 --seed 2 --threads "$threads" \
    --out results/models/resnet20_w4a4.h5 --log results/models/resnet20_w4a4.csv \
    --checkpoint "$ckdir/resnet20_w4a4.ckpt.h5" --checkpoint-every 100 --resume
fi
$flashmc eval --model results/models/resnet20_fp32.h5
$flashmc eval --model results/models/resnet20_w4a4.h5 --compare
