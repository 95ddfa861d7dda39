#!/usr/bin/env bash
# Trains the shipped ResNet-20 models exactly as committed, in three resumable stages:
#   1. FP32 from scratch: 30 epochs one-cycle (lr 0.15), seed 1   -> resnet20_fp32_e30.h5
#   2. FP32 warm restart from stage 1: 15 epochs cosine (lr 0.05), seed 3 -> resnet20_fp32.h5
#   3. the source paper's W4A4 quantization-aware fine-tune of stage 2: 4 epochs cosine (lr 0.01),
#      seed 2 -> resnet20_w4a4.h5
#   4. the same fine-tune with the first and last layers at 8 bits (w4a4-fl8) -> resnet20_w4a4_fl8.h5
# Each stage fits one 3-hour session on 2 cores (stage 1 about 2 h, stage 2 about 1 h, stages 3
# and 4 about 20 min each); a stage whose output exists is skipped. Run it again after any interruption and it
# continues from the last checkpoint ($FLASHMC_CHECKPOINT_DIR, default ~/.cache/flashmc/checkpoints).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
flashmc=${FLASHMC_BIN:-build/release/flashmc}
[ -x "$flashmc" ] || scripts/build.sh
scripts/prepare-cifar10.sh
threads=${FLASHMC_THREADS:-2}
ckdir=${FLASHMC_CHECKPOINT_DIR:-$HOME/.cache/flashmc/checkpoints}
m=results/models
common=(--batch 128 --momentum 0.9 --weight-decay 5e-4 --label-smoothing 0.1 --threads "$threads"
        --checkpoint-every 100 --resume)
if [ ! -f $m/resnet20_fp32_e30.h5 ]; then
  $flashmc train --model resnet20 --epochs 30 --lr 0.15 --schedule onecycle --seed 1 "${common[@]}" \
    --out $m/resnet20_fp32_e30.h5 --log $m/resnet20_fp32_e30.csv --checkpoint "$ckdir/resnet20_fp32_e30.ckpt.h5"
fi
if [ ! -f $m/resnet20_fp32.h5 ]; then
  $flashmc train --init $m/resnet20_fp32_e30.h5 --epochs 15 --lr 0.05 --schedule cosine --warmup-epochs 0.5 \
    --seed 3 "${common[@]}" \
    --out $m/resnet20_fp32.h5 --log $m/resnet20_fp32.csv --checkpoint "$ckdir/resnet20_fp32.ckpt.h5"
fi
if [ ! -f $m/resnet20_w4a4.h5 ]; then
  $flashmc train --init $m/resnet20_fp32.h5 --quant w4a4 --epochs 4 --lr 0.01 --schedule cosine --warmup-epochs 0.5 \
    --seed 2 "${common[@]}" \
    --out $m/resnet20_w4a4.h5 --log $m/resnet20_w4a4.csv --checkpoint "$ckdir/resnet20_w4a4.ckpt.h5"
fi
if [ ! -f $m/resnet20_w4a4_fl8.h5 ]; then
  $flashmc train --init $m/resnet20_fp32.h5 --quant w4a4-fl8 --epochs 4 --lr 0.01 --schedule cosine --warmup-epochs 0.5 \
    --seed 2 "${common[@]}" \
    --out $m/resnet20_w4a4_fl8.h5 --log $m/resnet20_w4a4_fl8.csv --checkpoint "$ckdir/resnet20_w4a4_fl8.ckpt.h5"
fi
$flashmc eval --model $m/resnet20_fp32.h5
$flashmc eval --model $m/resnet20_w4a4.h5 --compare
$flashmc eval --model $m/resnet20_w4a4_fl8.h5 --compare
