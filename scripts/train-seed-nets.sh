#!/usr/bin/env bash
# The training campaign of the source paper's networks (AlexNet, VGG16, ResNet-18; FP32, then the
# paper's W4A4 fine-tune), stage by stage as listed in scripts/seed-nets.plan. Resumable: run it
# again after any interruption (kill -9 included) and it continues the first unfinished stage from
# its last checkpoint; a finished stage's model and per-epoch log go into results/models/ and the
# stage is skipped from then on. The model goes there in compact form (`flashmc convert`: an FP32
# stage's weights scaled to 1/256 of their range, a quantized stage's integer model alone); the full file stays beside
# the checkpoints, and a later stage starts from it (--init) while it is there.
#
#   scripts/train-seed-nets.sh               run in the foreground
#   scripts/train-seed-nets.sh --background  detached, nice 19, log beside the checkpoints; refuses a second copy
#   scripts/train-seed-nets.sh --status      one line per stage: done / replaced / running / paused / stopped / pending
#                                            (replaced: its warm restart NAME_r<k> is done and its model may go)
#   scripts/train-seed-nets.sh --pause       SIGSTOP the running campaign (quiet cores for benchmarks)
#   scripts/train-seed-nets.sh --continue    SIGCONT it
#
# Environment: FLASHMC_CHECKPOINT_DIR (default ~/.cache/flashmc/checkpoints; the campaign keeps its
# checkpoints, logs, lock and PID file in its seed-nets/ subdirectory), FLASHMC_THREADS (2),
# FLASHMC_CAMPAIGN_PLAN (the plan file), FLASHMC_MODELS_DIR (results/models), FLASHMC_BIN,
# FLASHMC_TRAIN_ARGS (extra trainer options, e.g. --train-limit for a test), FLASHMC_DATA (a CIFAR-10
# directory other than the one scripts/prepare-cifar10.sh prepares).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
plan=${FLASHMC_CAMPAIGN_PLAN:-scripts/seed-nets.plan}
models=${FLASHMC_MODELS_DIR:-results/models}
threads=${FLASHMC_THREADS:-2}
dir=${FLASHMC_CHECKPOINT_DIR:-$HOME/.cache/flashmc/checkpoints}/seed-nets
lock=$dir/campaign.lock
pidfile=$dir/campaign.pid
log=$dir/campaign.log
mkdir -p "$dir" "$models"

die() { echo "train-seed-nets: $*" >&2; exit 1; }
[ -f "$plan" ] || die "no plan file $plan"

# Stages of the plan: "name from quant epochs lr schedule warmup seed" per line.
stages() { grep -v '^[[:space:]]*\(#\|$\)' "$plan"; }

# PID of the running campaign (its process group: an orphaned trainer still holds the lock after its
# script was killed), empty when none runs.
running_pid() {
  [ -f "$pidfile" ] || return 0
  flock -n "$lock" true 2>/dev/null && return 0
  cat "$pidfile"
}

# Whether a later stage NAME_r<k> (a warm restart, scripts/seed-nets.plan) has its model: then NAME's
# own model may leave results/models (the budget) and NAME counts as done.
replaced() {
  local other
  while read -r other _; do
    [[ "$other" =~ ^$1_r[0-9]+$ ]] && [ -f "$models/$other.h5" ] && return 0
  done < <(stages)
  return 1
}

# Rows of a per-epoch log (epoch,lr,train_loss,train_accuracy,test_accuracy,seconds) after its header.
log_rows() { [ -f "$1" ] && tail -n +2 "$1" || true; }

status() {
  local pid state="" first_open=1
  pid=$(running_pid)
  if [ -n "$pid" ]; then
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo R)
  fi
  printf '%-16s %-8s %-11s %-10s %-12s %s\n' stage state epochs "last test" "s/epoch" remaining
  while read -r name from quant epochs lr schedule warmup seed; do
    local csv=$dir/$name.csv st done_ep acc spe rem
    if [ -f "$models/$name.csv" ] && { [ -f "$models/$name.h5" ] || replaced "$name"; }; then csv=$models/$name.csv; fi
    done_ep=$(log_rows "$csv" | wc -l)
    acc=$(log_rows "$csv" | tail -n 1 | awk -F, '{ if (NF >= 6) printf "%.2f%%", 100 * $5 }')
    spe=$(log_rows "$csv" | awk -F, '{ s += $6; n++ } END { if (n) printf "%.0f", s / n }')
    rem=""
    if [ -f "$models/$name.h5" ]; then
      st=done
    elif replaced "$name"; then
      st=replaced
    elif [ $first_open -eq 1 ]; then
      first_open=0
      if [ -n "$pid" ]; then
        if [ "$state" = T ]; then st=paused; else st=running; fi
      elif [ -f "$dir/$name.ckpt.h5" ]; then st=stopped; else st=pending; fi
      if [ -n "$spe" ]; then
        rem=$(awk -v n="$epochs" -v k="$done_ep" -v s="$spe" 'BEGIN { printf "%.1f h", (n - k) * s / 3600 }')
      fi
      # Progress inside the running epoch, from the trainer's last progress line.
      if [ -n "$pid" ] && [ -f "$log" ]; then
        local step
        step=$(tail -c 4000 "$log" | tr '\r' '\n' | grep -o '^epoch [0-9]*/[0-9]*: [0-9]*/[0-9]* ([0-9]*%)' | tail -n 1 || true)
        [ -z "$step" ] || rem="$rem${rem:+; }now $step"
      fi
    else
      st=pending
    fi
    printf '%-16s %-8s %-11s %-10s %-12s %s\n' "$name" "$st" "$done_ep/$epochs" "${acc:--}" "${spe:--}" "$rem"
  done < <(stages)
  [ -n "$pid" ] && echo "campaign pid $pid, log $log" || echo "no campaign running (start: $0 --background)"
}

# Runs every unfinished stage in order; returns non-zero when a stage stops before its end.
run_stages() {
  local flashmc=${FLASHMC_BIN:-build/release/flashmc}
  [ -x "$flashmc" ] || scripts/build.sh
  [ -n "${FLASHMC_DATA:-}" ] || scripts/prepare-cifar10.sh
  # The campaign runs its own copy of the binary, so rebuilding the tree cannot disturb it.
  cp "$flashmc" "$dir/flashmc.tmp" && mv "$dir/flashmc.tmp" "$dir/flashmc"
  flashmc=$dir/flashmc
  local extra=()
  read -r -a extra <<< "${FLASHMC_TRAIN_ARGS:-}"
  while read -r name from quant epochs lr schedule warmup seed; do
    { [ -f "$models/$name.h5" ] || replaced "$name"; } && continue
    local args=(--epochs "$epochs" --lr "$lr" --schedule "$schedule" --seed "$seed" --batch 128 --momentum 0.9
                --weight-decay 5e-4 --label-smoothing 0.1 --threads "$threads" --checkpoint-every 100 --resume
                --out "$dir/$name.h5" --log "$dir/$name.csv" --checkpoint "$dir/$name.ckpt.h5")
    if [ -f "$dir/$from.h5" ]; then
      args+=(--init "$dir/$from.h5")
    elif [ -f "$models/$from.h5" ]; then
      args+=(--init "$models/$from.h5")
    elif grep -q "^$from[[:space:]]" < <(stages); then
      die "stage $name starts from stage $from, which has no model in $models"
    else
      args+=(--model "$from")
    fi
    [ "$quant" = - ] || args+=(--quant "$quant")
    [ "$warmup" = - ] || args+=(--warmup-epochs "$warmup")
    echo "train-seed-nets: $(date -u +%FT%TZ) stage $name: flashmc train ${args[*]} ${extra[*]}"
    rm -f "$dir/$name.h5"
    "$flashmc" train "${args[@]}" "${extra[@]}"
    if [ ! -f "$dir/$name.h5" ]; then
      echo "train-seed-nets: stage $name stopped before its end; run again to continue"
      return 3
    fi
    cp "$dir/$name.csv" "$models/.$name.csv.tmp" && mv "$models/.$name.csv.tmp" "$models/$name.csv"
    local compact=--scaled
    [ "$quant" = - ] || compact=--deployable
    "$flashmc" convert "$dir/$name.h5" "$models/$name.h5" "$compact"  # written atomically
    echo "train-seed-nets: $(date -u +%FT%TZ) stage $name done: $models/$name.h5"
  done < <(stages)
  echo "train-seed-nets: all stages done"
}

# Holds the lock for the whole run (the trainer inherits it, so an orphaned trainer still holds it).
run_locked() {
  exec 9> "$lock"
  flock -n 9 || die "a campaign is already running (pid $(cat "$pidfile" 2>/dev/null)); see $0 --status"
  echo $$ > "$pidfile"
  run_stages
}

case "${1:-}" in
  "") run_locked ;;
  --run-detached) run_locked >> "$log" 2>&1 < /dev/null ;;
  --background)
    pid=$(running_pid)
    [ -z "$pid" ] || die "a campaign is already running (pid $pid); see $0 --status"
    setsid nice -n 19 "$0" --run-detached > /dev/null 2>&1 < /dev/null &
    sleep 1
    echo "train-seed-nets: started in the background (pid $(cat "$pidfile" 2>/dev/null)), log $log"
    ;;
  --status) status ;;
  --pause|--continue)
    pid=$(running_pid)
    [ -n "$pid" ] || die "no campaign is running"
    if [ "$1" = --pause ]; then kill -STOP -- "-$pid"; echo "paused campaign $pid"
    else kill -CONT -- "-$pid"; echo "continued campaign $pid"; fi
    ;;
  *) die "unknown option '$1' (--background, --status, --pause, --continue, or none to run in the foreground)" ;;
esac
