"""Fuzz target: the file loaders (`pyvis.io.load_model` / `load_weights`) on .h5 and .keras files.

Each input picks a valid file (Keras 2 full-model .h5, Keras 3 .keras archive, Keras 3
.weights.h5), optionally mutates the config inside it (`_configs.mutate`), rebuilds the
archive with odd member names (path traversal, absolute paths, duplicates) or compression, and
then damages the bytes (`_files.damage`). Loading must raise ValueError, OSError or MemoryError,
or return a model; any other exception or a crash is a bug. Files go to a private temp folder.

Run:  python tests/fuzz/fuzz_files.py -max_total_time=15 -rss_limit_mb=4096
"""
import atexit
import json
import os
import shutil
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _configs import keras2_functional, keras3_functional, mutate  # noqa: E402
from _files import damage, h5_full, keras_archive, weights_store  # noqa: E402
from _harness import Draw, main  # noqa: E402

pio = None
_DIR = tempfile.mkdtemp(prefix="pyvis-fuzz-files-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
atexit.register(shutil.rmtree, _DIR, True)
_BASE = {}


class Finding(Exception):
    """An exception type a damaged file must never produce."""


def setup():
    global pio
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import pyvis.io as pio_mod
    pio = pio_mod
    _BASE["h5"] = h5_full(keras2_functional())
    _BASE["store"] = weights_store()


def _archive(d):
    cfg = keras3_functional()
    if d.chance(96):
        cfg = mutate(d, cfg)
    members = [("metadata.json", json.dumps({"keras_version": d.pick(("3.6.0", "3.0.0", 3, None))}).encode()),
               ("config.json", json.dumps(cfg).encode()),
               ("model.weights.h5", _BASE["store"] if not d.chance(64) else damage(d, _BASE["store"]))]
    for _ in range(d.int_in(0, 3) if d.chance(64) else 0):
        name = d.pick(("../../evil.txt", "/tmp/pyvis-evil", "config.json", "model.weights.h5",
                       "a/../../../x", "C:\\evil", "model.weights.npz", "assets/x", "\x00"))
        members.insert(d.int_in(0, len(members)), (name, b"x" * d.int_in(0, 64)))
    compression = zipfile.ZIP_DEFLATED if d.chance(64) else zipfile.ZIP_STORED
    return keras_archive(members, compression)


def one_input(data):
    d = Draw(data)
    kind = d.pick(("h5", "h5cfg", "keras", "store"))
    if kind == "h5":
        blob, suffix = _BASE["h5"], ".h5"
    elif kind == "h5cfg":
        blob, suffix = h5_full(mutate(d, keras2_functional())), ".h5"
    elif kind == "keras":
        blob, suffix = _archive(d), ".keras"
    else:
        blob, suffix = _BASE["store"], ".weights.h5"
    if d.chance(200):
        blob = damage(d, blob)
    path = os.path.join(_DIR, "f" + suffix)
    with open(path, "wb") as f:
        f.write(blob)
    before = set(os.listdir(_DIR))
    try:
        if kind == "store":
            from pyvis.io.config import build_model
            model = build_model(keras3_functional(), "fuzz", "3.6.0")[0]
            pio.load_weights(model, path)
        else:
            pio.load_model(path)
    except (ValueError, OSError, MemoryError):
        pass
    except Exception as exc:             # noqa: BLE001 - this is what we are hunting
        raise Finding(f"{kind}: {type(exc).__name__}: {exc}") from exc
    finally:
        os.unlink(path)
    if set(os.listdir(_DIR)) - before - {"f" + suffix}:
        raise Finding(f"loading wrote files: {set(os.listdir(_DIR)) - before}")


if __name__ == "__main__":
    main(one_input, setup)
