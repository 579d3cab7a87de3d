"""Repeated calls must not leak: memory stays flat and argument reference counts are unchanged.

5,000 saliency and 5,000 Grad-CAM calls on a small model (plus 2,000 calls that fail inside
the native core, to cover the error paths) may grow the resident set by less than 5 MB after a
warm-up; the caller's arrays and the model's weights keep their reference counts.
"""
import gc
import os
import sys

import numpy as np
import pytest

import pyvis
from pyvis import layers as L, models
from pyvis.visualization import visualize_cam, visualize_saliency

MAX_GROWTH_BYTES = 5 * 1024 * 1024


@pytest.fixture(autouse=True)
def one_native_thread():
    """Native loops on one thread: on a loaded 2-core CI machine, waking an OpenMP team for a
    tiny model costs milliseconds per call, and leaks do not depend on the thread count."""
    before = pyvis.get_num_threads()
    pyvis.set_num_threads(1)
    yield
    pyvis.set_num_threads(before)


def rss_bytes():
    """Current (not peak) resident set size from /proc."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def small_model():
    inp = L.Input((12, 12, 3), name="lk_in")
    x = L.Conv2D(6, 3, activation="relu", padding="same", name="lk_conv")(inp)
    x = L.MaxPooling2D(2, name="lk_pool")(x)
    x = L.Flatten(name="lk_flat")(x)
    x = L.Dense(4, name="lk_out")(x)
    model = models.Model(inp, x, name="lk_model")
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def growth_over(calls, fn, warmup=300):
    for _ in range(warmup):
        fn()
    gc.collect()
    before = rss_bytes()
    for _ in range(calls):
        fn()
    gc.collect()
    return rss_bytes() - before


def test_saliency_and_gradcam_do_not_leak():
    model = small_model()
    seed = np.random.default_rng(1).uniform(size=(12, 12, 3)).astype(np.float32)
    weights = model.get_layer("lk_conv").weights

    def both():
        visualize_saliency(model, -1, 1, seed, backprop_modifier="guided")
        visualize_cam(model, -1, 2, seed)

    both()                     # the compiled graph holds one reference to each weight array
    refs_seed = sys.getrefcount(seed)
    refs_weights = [sys.getrefcount(w) for w in weights]

    grew = growth_over(5000, both)
    assert grew < MAX_GROWTH_BYTES, f"RSS grew by {grew / 1e6:.1f} MB over 5000 saliency + 5000 Grad-CAM calls"
    assert sys.getrefcount(seed) == refs_seed
    assert [sys.getrefcount(w) for w in weights] == refs_weights


def test_failing_native_calls_do_not_leak():
    """Errors raised inside the core (wrong seed shape, bad node) release what they allocated."""
    model = small_model()
    x = np.ones((2, 12, 12, 3), np.float32)
    bad_seed = np.ones((2, 5), np.float32)

    def failing():
        tape = model.run(x)
        try:
            tape.backward([("lk_out", bad_seed)])
        except ValueError:
            pass
        try:
            tape._tape.backward([(0, x)], [10 ** 6])
        except IndexError:
            pass

    failing()
    refs = (sys.getrefcount(x), sys.getrefcount(bad_seed))
    grew = growth_over(2000, failing)
    assert grew < MAX_GROWTH_BYTES, f"RSS grew by {grew / 1e6:.1f} MB over 2000 failing calls"
    assert (sys.getrefcount(x), sys.getrefcount(bad_seed)) == refs
