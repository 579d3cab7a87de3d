"""Threads: one model shared by 8 Python threads gives bit-identical results, and the GIL is
released during native work (Python keeps running while a native call is in progress). The
speed-up that release buys is measured by benchmarks/bench_threads.py, not asserted here:
wall-clock on a shared machine is no test.

Native loops are pinned to one thread each (pyvis.set_num_threads(1)) so that the only
parallelism is between the Python threads, and results do not depend on the split of work.
"""
import threading
import time

import numpy as np
import pytest

import pyvis
from pyvis import layers as L, models
from pyvis.visualization import visualize_saliency

N_THREADS = 8
CALLS_PER_THREAD = 3


@pytest.fixture
def one_native_thread():
    before = pyvis.get_num_threads()
    pyvis.set_num_threads(1)
    yield
    pyvis.set_num_threads(before)


def conv_model():
    """Enough convolution work per call (~1.5 GFLOP forward and backward) that the Python
    overhead, which holds the GIL, is small."""
    inp = L.Input((64, 64, 16), name="th_in")
    x = L.Conv2D(64, 3, activation="relu", padding="same", name="th_c1")(inp)
    x = L.Conv2D(64, 3, activation="relu", padding="same", name="th_c2")(x)
    x = L.MaxPooling2D(2, name="th_pool")(x)
    x = L.Flatten(name="th_flat")(x)
    x = L.Dense(10, name="th_out")(x)
    model = models.Model(inp, x, name="th_model")
    rng = np.random.default_rng(0)
    model.set_weights([(rng.normal(size=w.shape) * 0.1).astype(np.float32) for w in model.get_weights()])
    return model


def seeds(count):
    rng = np.random.default_rng(1)
    return [rng.uniform(size=(64, 64, 16)).astype(np.float32) for _ in range(count)]


def saliency(model, seed, k):
    return visualize_saliency(model, -1, k % 10, seed, backprop_modifier=("guided", None)[k % 2])


def run_threaded(model, inputs):
    results = [None] * len(inputs)
    errors = []

    def work(t):
        try:
            for k in range(t, len(inputs), N_THREADS):
                results[k] = saliency(model, inputs[k], k)
        except Exception as exc:   # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(N_THREADS)]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - start
    assert not errors, errors
    return results, elapsed


def run_serial(model, inputs):
    start = time.perf_counter()
    results = [saliency(model, x, k) for k, x in enumerate(inputs)]
    return results, time.perf_counter() - start


def test_threads_share_a_model_bit_identically(one_native_thread):
    model = conv_model()
    inputs = seeds(N_THREADS * CALLS_PER_THREAD)
    serial, _ = run_serial(model, inputs)
    threaded, _ = run_threaded(model, inputs)
    for k, (a, b) in enumerate(zip(serial, threaded)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b), f"input {k}: threaded result differs from the sequential one"


def test_python_runs_while_a_native_call_is_in_progress(one_native_thread):
    """While one thread is inside a long native forward+backward, the main thread keeps running
    Python: the longest pause between its loop iterations is a small fraction of the call. With
    the GIL held, that pause would be the whole call."""
    model = conv_model()
    x = np.stack(seeds(1) * 24)                 # one call of a few hundred milliseconds
    model.run(x[:1])
    window = []

    def worker():
        window.append(time.perf_counter())
        tape = model.run(x)
        tape.backward([("th_out", np.ones((24, 10), np.float32))])
        window.append(time.perf_counter())

    th = threading.Thread(target=worker)
    ticks = []
    th.start()
    while th.is_alive():
        ticks.append(time.perf_counter())
    th.join()
    start, end = window
    inside = [start] + [t for t in ticks if start < t < end] + [end]
    longest = max(b - a for a, b in zip(inside, inside[1:]))
    assert end - start > 0.05, "the native call was too short to tell"
    assert longest < 0.5 * (end - start), \
        f"main thread paused {longest * 1e3:.0f} ms during a {(end - start) * 1e3:.0f} ms native call"
