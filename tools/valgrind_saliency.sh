#!/usr/bin/env bash
# valgrind memcheck on tools/valgrind_saliency.py (a VGG16-shaped saliency + Grad-CAM run).
# Counts memcheck errors whose stack passes through pyvis's native core and definite leaks
# allocated by it; exits non-zero if there is any. Needs `apt-get install -y valgrind`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install -y valgrind)"; exit 2; }
LOG="${VALGRIND_LOG:-$(mktemp -t pyvis-valgrind-XXXXXX.log)}"
PY="$(python -c 'import sys; print(sys.executable)')"     # the interpreter itself, not a pyenv shim
PYTHONMALLOC=malloc valgrind --tool=memcheck --num-callers=40 --leak-check=full --show-leak-kinds=definite \
    --errors-for-leak-kinds=definite --log-file="$LOG" "$PY" tools/valgrind_saliency.py
python - "$LOG" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.split(r"\n==\d+== \n", text)
# a frame of the core shows either the library's name (no debug info) or a csrc file (-g builds)
core = re.compile(r"_core\.cpython|\b(activation|conv2d|dense|depthwise|errors|gemm_small|gemv|graph|merge|module|norm|pool|"
                  r"spatial|threads|winograd|zoom)\.c:\d+")
ours = [b for b in blocks if core.search(b) and ("Invalid" in b or "uninitialised" in b
        or "definitely lost" in b or "Mismatched" in b or "overlap" in b)]
summary = re.findall(r"ERROR SUMMARY: .*", text)
print("valgrind:", summary[-1] if summary else "no summary", "| in pyvis._core:", len(ours), "| log:", sys.argv[1])
for b in ours[:10]:
    print(b)
sys.exit(1 if ours or not summary else 0)
PY
