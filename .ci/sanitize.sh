#!/usr/bin/env bash
# Run the test suite against an AddressSanitizer + UndefinedBehaviorSanitizer build of pyvis._core.
#   .ci/sanitize.sh                  # whole suite
#   .ci/sanitize.sh tests/test_ops.py -k conv    # any pytest arguments
# The build happens in a temporary copy of the working tree (PYVIS_SANITIZE=1, -O1 -g), so the
# normal install is untouched; the copy is put first on sys.path. CPython is not ASan-built, so
# the ASan runtime is preloaded; leak detection is off (CPython's arenas are never freed by
# design). Every sanitizer report goes to a log file; the script fails if pytest fails OR if any
# report was written, and prints the reports.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d -t pyvis-sanitize-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/src" "$WORK/logs"

# the working tree without build outputs
( cd "$ROOT" && git ls-files -co --exclude-standard -z ) | \
    ( cd "$ROOT" && xargs -0 cp --parents -t "$WORK/src" 2>/dev/null || true )
find "$WORK/src" \( -name '*.so' -o -name '*.so.*' \) -delete

cd "$WORK/src"
# the in-place build runs without pip's build isolation: make sure its build requirements exist
python -c "import setuptools, numpy"
pkg-config --exists openblas 2>/dev/null || python -c "import scipy_openblas32" 2>/dev/null || \
    python -m pip install -q "scipy-openblas32>=0.3.27"
echo "sanitize: building pyvis._core with -fsanitize=address,undefined in $WORK/src"
PYVIS_SANITIZE=1 python setup.py -q build_ext --inplace >"$WORK/logs/build.log" 2>&1 || {
    tail -50 "$WORK/logs/build.log"; exit 1; }

# libstdc++ is preloaded too: ASan must find the real __cxa_throw at start-up, or the first C++
# exception (matplotlib, torch) aborts with "CHECK failed: real___cxa_throw != 0"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_odr_violation=0:alloc_dealloc_mismatch=0:allocator_may_return_null=1:log_path=$WORK/logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0:suppressions=$ROOT/.ci/ubsan.supp:log_path=$WORK/logs/ubsan"
export KERAS_BACKEND=torch
export PYTHONPATH="$WORK/src${PYTHONPATH:+:$PYTHONPATH}"
python - <<'PY'
import pyvis._core as c, os
assert os.path.dirname(c.__file__).startswith(os.environ["PYTHONPATH"].split(":")[0]), c.__file__
print("sanitize: using", c.__file__)
PY
start=$(date +%s)
status=0
if [ $# -gt 0 ]; then
    python -m pytest -q -p no:cacheprovider "$@" || status=$?
else
    # RSS-based leak checks cannot work while ASan quarantines freed memory: they run in a second
    # pass with the quarantine off (every other check of ASan stays on)
    python -m pytest -q -p no:cacheprovider tests --deselect tests/test_leaks.py || status=$?
    ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=0:thread_local_quarantine_size_kb=0" \
        python -m pytest -q -p no:cacheprovider tests/test_leaks.py || status=$?
fi
echo "sanitize: pytest exit status $status after $(( $(date +%s) - start )) s"
reports=$(find "$WORK/logs" -name 'asan*' -o -name 'ubsan*' | sort)
if [ -n "$reports" ]; then
    echo "sanitize: sanitizer reports:"
    for f in $reports; do echo "== $f"; head -60 "$f"; done
    status=1
else
    echo "sanitize: no sanitizer reports"
fi
exit $status
