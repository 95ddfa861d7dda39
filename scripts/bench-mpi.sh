#!/usr/bin/env bash
# Benchmark (issue 5 §9): a sweep as 2 MPI ranks × 1 thread against 1 process × 2 threads, on the
# same machine. Runs the pair REPEATS times, alternating (the VM's speed drifts), checks that both
# give bit-identical accuracies, and prints each wall time, the medians and their ratio.
#   scripts/bench-mpi.sh [SWEEP.toml] [REPEATS]   (defaults: experiments/quickstart.toml, 5)
set -euo pipefail
cd "$(dirname "$0")/.."
sweep=${1:-experiments/quickstart.toml}
repeats=${2:-5}
bin=${FLASHMC_BIN:-build/release/flashmc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mpi=(mpirun -np 2 --bind-to none)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
wall() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
one=() two=()
for r in $(seq "$repeats"); do
    one+=("$(wall "$bin" sweep "$sweep" --out "$tmp/one.h5" --threads 2)")
    two+=("$(wall "${mpi[@]}" "$bin" sweep "$sweep" --out "$tmp/two.h5" --threads 1)")
    echo "repeat $r: 1 rank x 2 threads ${one[-1]} s, 2 ranks x 1 thread ${two[-1]} s"
    rm -f "$tmp"/*.h5.*
done
/usr/bin/python3 - "$tmp/one.h5" "$tmp/two.h5" "${one[*]}" "${two[*]}" <<'PY'
import statistics, sys, h5py, numpy as np
a, b = (h5py.File(f, "r")["accuracy"][...] for f in sys.argv[1:3])
one, two = ([float(x) for x in s.split()] for s in sys.argv[3:5])
m1, m2 = statistics.median(one), statistics.median(two)
print(f"accuracies bit-identical: {np.array_equal(a, b)}")
print(f"median: 1 rank x 2 threads {m1:.1f} s, 2 ranks x 1 thread {m2:.1f} s, ratio {m2 / m1:.3f} (target within 10 %)")
sys.exit(0 if np.array_equal(a, b) else 1)
PY
