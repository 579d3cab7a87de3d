"""Shared plumbing of the atheris fuzz targets in this folder.

Each target module defines ``one_input(data: bytes)`` which must either return or raise one of
the exception types a user may legitimately see for bad input (``EXPECTED``); anything else —
another exception, a crash, a hang — is a finding. ``main(one_input)`` runs it under atheris
(libFuzzer) with the command-line options libFuzzer understands (``-max_total_time=15`` ...);
``replay(one_input, n, seed)`` feeds pseudo-random byte strings without atheris, which is what
the regression test uses to keep the harnesses themselves working.
"""
import os
import random
import resource
import sys

# The exception types bad input may raise; everything else is a bug.
EXPECTED = (ValueError, TypeError, IndexError, MemoryError, OSError, OverflowError)


def limit_memory(gigabytes=3.0):
    """Cap the data segment so a graph that *fits* the machine but is big fails with MemoryError
    instead of slowly eating a shared CI machine (libFuzzer's -rss_limit_mb is the second net)."""
    limit = int(gigabytes * (1 << 30))
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def guarded(one_input):
    """Wrap a target so that expected exceptions count as a clean run."""
    def run(data):
        try:
            one_input(data)
        except EXPECTED:
            pass
    return run


def replay(one_input, n, seed=0, max_len=512):
    """Run `one_input` on `n` pseudo-random inputs (no atheris needed); returns the count."""
    rnd = random.Random(seed)
    run = guarded(one_input)
    for _ in range(n):
        run(bytes(rnd.randrange(256) for _ in range(rnd.randrange(max_len))))
    return n


def main(one_input, setup):
    """Run `one_input` under atheris; sys.argv holds libFuzzer options and corpus folders.

    `setup()` imports pyvis; it runs inside atheris's import hook so pyvis's Python code is
    coverage-instrumented (the C core is not: it is built with gcc, and its crashes are caught
    as signals by libFuzzer all the same)."""
    import atheris
    os.environ.setdefault("KERAS_BACKEND", "torch")
    limit_memory()
    with atheris.instrument_imports(include=["pyvis"]):
        setup()
    # The target's own functions and Draw are instrumented too: their branches (which op was
    # built, whether forward and backward were reached) are the feedback for the C core.
    for obj in list(one_input.__globals__.values()) + [Draw.byte, Draw.int_in, Draw.pick, Draw.chance]:
        if getattr(obj, "__code__", None) is not None and getattr(obj, "__module__", "") in ("__main__", __name__):
            atheris.instrument_func(obj)
    atheris.Setup(sys.argv, guarded(one_input))
    atheris.Fuzz()


class Draw:
    """Consumes a fuzz input as a stream of small decisions (works with or without atheris).

    When the bytes run out every draw returns its lowest choice, so short inputs still make
    complete (small) cases.
    """

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def byte(self):
        if self.pos >= len(self.data):
            return 0
        b = self.data[self.pos]
        self.pos += 1
        return b

    def int_in(self, lo, hi):
        """An int in [lo, hi] (a span of up to 2**16 values)."""
        span = hi - lo + 1
        v = self.byte() | (self.byte() << 8) if span > 256 else self.byte()
        return lo + v % span

    def pick(self, choices):
        return choices[self.int_in(0, len(choices) - 1)]

    def chance(self, per256):
        return self.byte() < per256

    def rest(self):
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out
