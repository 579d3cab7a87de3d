"""The fixed costs around a visualisation: importing pyvis, apply_modifications on VGG16, and
loading VGG16 weights from a keras.applications-layout .h5 against reading the file's bytes.

The weights file is generated (random weights, Keras 1 names as in the real application file)
in a temporary folder; the baseline reads the whole file into fresh memory with np.fromfile, as
the loader must. Medians of --repeats runs, file in the page cache for both.

Usage: python benchmarks/bench_loading.py [--repeats 7]
"""
import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np


def write_vgg16_application_file(path):
    from pyvis.applications import VGG16

    model = VGG16(weights=None)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in model.layers])
        for layer in model.layers:
            group = f.create_group(layer.name)
            values = layer.get_weights()
            names = [f"{layer.name}_W_1:0", f"{layer.name}_b_1:0"][:len(values)]
            group.attrs["weight_names"] = np.array([n.encode() for n in names]) if names else np.zeros((0,))
            for name, value in zip(names, values):
                group.create_dataset(name, data=value)


def median_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        del result
    return 1000 * statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    imports = [float(subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); import pyvis; "
                                     "print(time.perf_counter() - t)"], capture_output=True, text=True,
                                    check=True).stdout) for _ in range(args.repeats)]
    print("import pyvis: %.2f ms" % (1000 * statistics.median(imports)))

    from pyvis import activations
    from pyvis.applications import VGG16
    from pyvis.utils import utils

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
        write_vgg16_application_file(path)
        model = VGG16(weights=path)
        model.layers[-1].activation = activations.linear
        print("apply_modifications on VGG16: %.3f ms" % median_ms(lambda: utils.apply_modifications(model),
                                                                 args.repeats))
        read = median_ms(lambda: np.fromfile(path, dtype=np.uint8), args.repeats)
        load = median_ms(lambda: VGG16(weights=path), args.repeats)
        print("VGG16 weights, %.0f MB: read the bytes %.1f ms, VGG16(weights=file) %.1f ms, ratio %.2f"
              % (os.path.getsize(path) / 1e6, read, load, load / read))


if __name__ == "__main__":
    main()
