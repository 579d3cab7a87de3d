"""Eight Python threads sharing one model against the same saliency calls made serially.

Native loops are pinned to one thread (pyvis.set_num_threads(1)) so the only parallelism is
between the Python threads; with the GIL held during native work the threaded run could not be
faster. Prints the medians of --rounds interleaved rounds and their ratio.

Usage: python benchmarks/bench_threads.py [--rounds 5]
"""
import argparse
import statistics
import sys
import threading
import time

import numpy as np

import pyvis
from pyvis import layers as L
from pyvis import models
from pyvis.visualization import visualize_saliency

N_THREADS = 8


def conv_model():
    inp = L.Input((64, 64, 16))
    x = L.Conv2D(64, 3, activation="relu", padding="same")(inp)
    x = L.Conv2D(64, 3, activation="relu", padding="same")(x)
    x = L.MaxPooling2D(2)(x)
    x = L.Dense(10)(L.Flatten()(x))
    return models.Model(inp, x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=24)
    args = ap.parse_args()
    pyvis.set_num_threads(1)
    model = conv_model()
    rng = np.random.default_rng(0)
    inputs = [rng.uniform(size=(64, 64, 16)).astype(np.float32) for _ in range(args.calls)]

    def serial():
        for k, x in enumerate(inputs):
            visualize_saliency(model, -1, k % 10, x)

    def threaded():
        def work(t):
            for k in range(t, len(inputs), N_THREADS):
                visualize_saliency(model, -1, k % 10, inputs[k])
        threads = [threading.Thread(target=work, args=(t,)) for t in range(N_THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

    serial()
    s_times, t_times = [], []
    for _ in range(args.rounds):
        for fn, out in ((serial, s_times), (threaded, t_times)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    s, t = statistics.median(s_times), statistics.median(t_times)
    print("%d saliency calls: serial %.0f ms, %d threads %.0f ms, threaded/serial %.2f"
          % (args.calls, 1000 * s, N_THREADS, 1000 * t, t / s))


if __name__ == "__main__":
    sys.exit(main())
