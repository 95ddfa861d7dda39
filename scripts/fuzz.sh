#!/usr/bin/env bash
# Fuzzes flashmc's file loaders (fuzz/README.md): builds the libFuzzer targets of fuzz/ with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer in their own tree, then runs each for SECONDS
# (default 60) from its committed seed corpus fuzz/corpus/<target>/. New inputs go into the build
# tree, never into the committed corpus.
#   scripts/fuzz.sh [SECONDS]
# Environment: FLASHMC_FUZZ_BUILD (build tree, default build/fuzz), FLASHMC_FUZZ_TARGETS (the targets,
# e.g. "model_h5 cifar"; default all), FLASHMC_FUZZ_JOBS (build jobs, default 2),
# FLASHMC_FUZZ_FRESH=1 (start from the committed corpus alone, as the CTest smoke test does; by
# default the inputs found by earlier runs are kept and replayed first).
# Exit status: 0 no finding; 1 a target crashed, leaked or reported undefined behaviour (log and
# reproducer under the build tree, named in the output); 77 clang++ or libFuzzer is not installed
# (CTest reports the fuzz_smoke test as skipped).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
build=${FLASHMC_FUZZ_BUILD:-$root/build/fuzz}
cxx=$(command -v clang++ || command -v clang++-14 || true)
cc=$(command -v clang || command -v clang-14 || true)
if [ -z "$cxx" ] || [ -z "$cc" ]; then
  echo "fuzz: clang++ not found (scripts/install-deps.sh installs it); skipped"
  exit 77
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' > "$probe/probe.cpp"
if ! "$cxx" -fsanitize=fuzzer "$probe/probe.cpp" -o "$probe/probe" > /dev/null 2>&1; then
  echo "fuzz: $cxx cannot link libFuzzer (Debian: libclang-rt-14-dev); skipped"
  exit 77
fi

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DFLASHMC_FUZZ=ON -DFLASHMC_MPI=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$build" --target flashmc_fuzzers -j "${FLASHMC_FUZZ_JOBS:-2}"

# Sanitizers: stop at the first report, with a stack; leaks are findings too. The seed corpus names
# devices/... relative to the repository root.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:allocator_may_return_null=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
cd "$root"
targets=${FLASHMC_FUZZ_TARGETS:-$(ls "$root/fuzz/corpus")}
status=0
for t in $targets; do
  work="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  [ -z "${FLASHMC_FUZZ_FRESH:-}" ] || rm -rf "$work"
  mkdir -p "$work" "$artifacts"
  log="$build/fuzz_$t.log"
  # -rss_limit_mb: a loader must refuse a file long before it allocates gigabytes.
  if "$build/fuzz_$t" "$work" "$root/fuzz/corpus/$t" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2560 \
       -artifact_prefix="$artifacts/" -print_final_stats=1 < /dev/null > "$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $t: ${runs:-?} inputs in $seconds s, no finding"
  else
    echo "fuzz: $t: FINDING (log $log, reproducer in $artifacts/):"
    grep -E "ERROR|runtime error|SUMMARY|Test unit written" "$log" | head -20 || tail -30 "$log"
    status=1
  fi
done
exit $status
