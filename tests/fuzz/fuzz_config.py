"""Fuzz target: the model-config parser and builder (`pyvis.io.config`), then the lowering.

A valid Keras 2 / Keras 3 config is mutated structurally (see `_configs.mutate`) and loaded
exactly as `pyvis.io.load_model` does after reading the file (`parse_json` + `build_model`
under the loader's error guard). Malformed configs must raise ValueError (or MemoryError);
a model that builds is run on a tiny batch, where only ValueError, TypeError and
NotImplementedError (an unsupported layer option) are acceptable.

Run:  python tests/fuzz/fuzz_config.py -max_total_time=15 -rss_limit_mb=4096
"""
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _configs import BASES, mutate  # noqa: E402
from _harness import Draw, main  # noqa: E402

pio = config = None
MAX_RUN_ELEMENTS = 1 << 16          # per-sample size of every layer before we run a built model


class Finding(Exception):
    """An exception type that bad input must never produce."""


def setup():
    global pio, config
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import pyvis.io as pio_mod
    from pyvis.io import config as config_mod
    pio, config = pio_mod, config_mod


def _small_enough(model):
    for layer in model.layers:
        shape = layer.output.shape if hasattr(layer.output, "shape") else None
        if shape is None or any(d is None for d in shape[1:]):
            return False
        if math.prod(shape[1:]) > MAX_RUN_ELEMENTS:
            return False
    return True


def load(text, version):
    """parse + build as load_model does; any exception but ValueError/MemoryError is a Finding."""
    try:
        envelope = config.parse_json(text, "fuzz")
        return pio._guard("fuzz", config.build_model, envelope, "fuzz", version, None)[0]
    except (ValueError, MemoryError):
        return None
    except Exception as exc:             # noqa: BLE001 - this is what we are hunting
        raise Finding(f"{type(exc).__name__}: {exc}") from exc


def one_input(data):
    d = Draw(data)
    version, base = d.pick(BASES)
    cfg = mutate(d, base())
    text = json.dumps(cfg, allow_nan=True)
    if d.chance(16):                      # raw byte damage as well
        raw = bytearray(text.encode())
        for _ in range(d.int_in(1, 4)):
            raw[d.int_in(0, len(raw) - 1)] = d.byte()
        text = bytes(raw)
    model = load(text, d.pick((version, None, "1.2.2", "3.0.0", "garbage")))
    if model is None or not _small_enough(model):
        return
    shape = (d.int_in(1, 2),) + tuple(model.input_shape[1:])
    try:
        model.predict(np.full(shape, 0.5, np.float32))
    except (ValueError, TypeError, NotImplementedError, MemoryError):
        pass


if __name__ == "__main__":
    main(one_input, setup)
