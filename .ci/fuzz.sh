#!/usr/bin/env bash
# Bounded fuzzing run for CI: each atheris target for FUZZ_SECONDS (default 20 s; 3 targets ~60 s).
#   .ci/fuzz.sh                     # CI
#   FUZZ_SECONDS=3600 .ci/fuzz.sh   # a longer local run (corpora kept in FUZZ_DIR)
# Inputs, corpora and crash artifacts go to FUZZ_DIR (default: a fresh temporary folder), never
# into the repository. Exits non-zero if any target finds a crash or an unexpected exception;
# the failing input is kept there and can be replayed with `python tests/fuzz/<target>.py <file>`.
# The seed is fixed (FUZZ_SEED) so CI explores the same inputs every run. An input that runs past
# the per-input timeout is reported as a HANG but does not fail the run: the only ones found
# hang inside libhdf5 (h5py's C library, reading an attribute of a corrupted file), where
# neither pyvis nor Python can interrupt the call.
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import atheris" 2>/dev/null || python -m pip install -q atheris   # wheels need no clang
SECONDS_EACH="${FUZZ_SECONDS:-20}"
DIR="${FUZZ_DIR:-$(mktemp -d -t pyvis-fuzz-XXXXXX)}"
export KERAS_BACKEND=torch PYTHONWARNINGS=ignore
total=0
hangs=0
status=0
for target in fuzz_graph fuzz_config fuzz_files; do
    mkdir -p "$DIR/$target"
    end=$((SECONDS + SECONDS_EACH))
    seed="${FUZZ_SEED:-1}"
    runs_target=0
    # a hang ends a libFuzzer run: record it and go on from the same corpus with the next seed
    while [ "$SECONDS" -lt "$end" ]; do
        log="$DIR/$target-$seed.log"
        if python "tests/fuzz/$target.py" -max_total_time=$((end - SECONDS)) -rss_limit_mb=4096 -timeout=30 \
                -seed="$seed" -print_final_stats=1 -artifact_prefix="$DIR/$target-" "$DIR/$target" >"$log" 2>&1; then
            done_run=1
        elif grep -q "ERROR: libFuzzer: timeout" "$log"; then
            done_run=0
            hangs=$((hangs + 1))
            echo "HANG $target (seed $seed; input kept under $DIR/$target-timeout-*): see $log"
        else
            echo "FAIL $target: see $log"; tail -40 "$log"; status=1; break
        fi
        runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
        runs_target=$((runs_target + ${runs:-0}))
        [ "$done_run" = 1 ] && break
        seed=$((seed + 1))
    done
    echo "$target: $runs_target executions in ${SECONDS_EACH}s"
    total=$((total + runs_target))
done
echo "fuzz: $total executions in total, $hangs hang(s) (artifacts and corpora in $DIR)"
exit $status
