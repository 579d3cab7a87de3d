#!/usr/bin/env bash
# Bounded fuzzing run for CI: each atheris target for FUZZ_SECONDS (default 20 s; 3 targets ~60 s).
#   .ci/fuzz.sh                     # CI
#   FUZZ_SECONDS=3600 .ci/fuzz.sh   # a longer local run (corpora kept in FUZZ_DIR)
# Inputs, corpora and crash artifacts go to FUZZ_DIR (default: a fresh temporary folder), never
# into the repository. Exits non-zero if any target finds a crash or an unexpected exception;
# the failing input is kept there and can be replayed with `python tests/fuzz/<target>.py <file>`.
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import atheris" 2>/dev/null || python -m pip install -q atheris   # wheels need no clang
SECONDS_EACH="${FUZZ_SECONDS:-20}"
DIR="${FUZZ_DIR:-$(mktemp -d -t pyvis-fuzz-XXXXXX)}"
export KERAS_BACKEND=torch PYTHONWARNINGS=ignore
total=0
status=0
for target in fuzz_graph fuzz_config fuzz_files; do
    mkdir -p "$DIR/$target"
    log="$DIR/$target.log"
    if ! python "tests/fuzz/$target.py" -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 -timeout=60 \
            -print_final_stats=1 -artifact_prefix="$DIR/$target-" "$DIR/$target" >"$log" 2>&1; then
        echo "FAIL $target: see $log"; tail -40 "$log"; status=1
    fi
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
    echo "$target: ${runs:-0} executions in ${SECONDS_EACH}s"
    total=$((total + ${runs:-0}))
done
echo "fuzz: $total executions in total (artifacts and corpora in $DIR)"
exit $status
