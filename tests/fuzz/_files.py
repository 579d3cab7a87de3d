"""Valid small model files made with h5py/zipfile (no Keras needed), and byte-level damage.

`h5_full(config)` is a Keras 2 full-model .h5; `weights_store()` a Keras 3 model.weights.h5;
`keras_archive(...)` a .keras zip. `damage(draw, blob)` flips, zeroes, cuts and duplicates
bytes the way a bad disk, a partial download or a hostile editor would.
"""
import io
import json
import zipfile

import h5py
import numpy as np


def _kernel_shapes(config):
    """{layer name: [(weight name, shape)]} for the layers of the _configs bases."""
    return {
        "c": [("c/kernel:0", (3, 3, 2, 3)), ("c/bias:0", (3,))],
        "c2": [("c2/kernel:0", (1, 1, 2, 3))],
        "d": [("d/kernel:0", (27, 4)), ("d/bias:0", (4,))],
    }


def h5_full(config):
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        g = f.create_group("model_weights")
        names = ["in", "c", "c2", "add", "p", "f", "d"]
        g.attrs["layer_names"] = np.asarray([n.encode() for n in names])
        shapes = _kernel_shapes(config)
        for name in names:
            lg = g.create_group(name)
            ws = shapes.get(name, [])
            lg.attrs["weight_names"] = np.asarray([w.encode() for w, _ in ws]) if ws else np.asarray([])
            for wname, shape in ws:
                lg.create_dataset(wname, data=np.linspace(-1, 1, int(np.prod(shape)), dtype=np.float32).reshape(shape))
    return buf.getvalue()


def weights_store():
    """model.weights.h5 for _configs.keras3_functional (Dense a, b, d)."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for path, (k, b) in {"layers/dense": ((4, 5), (5,)), "layers/dense_1": ((4, 5), (5,)),
                             "layers/dense_2": ((10, 2), (2,))}.items():
            g = f.create_group(path + "/vars")
            g["0"] = np.ones(k, np.float32)
            g["1"] = np.zeros(b, np.float32)
        for path in ("layers/input_layer", "layers/concatenate", "layers/dropout"):
            f.create_group(path + "/vars")
    return buf.getvalue()


def keras_archive(members, compression=zipfile.ZIP_STORED):
    """A zip with `members` [(name, bytes)] in order (duplicates and odd names allowed)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buf.getvalue()


def damage(draw, blob):
    """Apply 1..8 byte-level edits to `blob` (bytes) and return the result."""
    buf = bytearray(blob)
    for _ in range(draw.int_in(1, 8)):
        if not buf:
            break
        kind = draw.int_in(0, 5)
        pos = draw.int_in(0, min(len(buf) - 1, 65535))
        if draw.chance(128):                      # anywhere in the file, not just the head
            pos = (pos * 7919) % len(buf)
        if kind <= 2:
            buf[pos] = draw.byte()
        elif kind == 3:
            del buf[pos:]
        elif kind == 4:
            buf[pos:pos + draw.int_in(1, 64)] = bytes(draw.int_in(1, 64))
        else:
            n = draw.int_in(1, 64)
            buf[pos:pos] = buf[pos:pos + n]
    return bytes(buf)
