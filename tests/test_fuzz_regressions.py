"""Regression tests for the crashes and wrong exceptions that fuzzing found, and a smoke run of
every fuzz harness.

Native cases run in a subprocess: a crash (SIGFPE, SIGSEGV) must fail the test, not kill the
test run. Each case names the bug it guards against.
"""
import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import pyvis.io as pio

HERE = os.path.dirname(os.path.abspath(__file__))


def run_python(code, timeout=300):
    """Run `code` in a fresh interpreter; return (returncode, stdout, stderr)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), KERAS_BACKEND="torch")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=HERE)
    return proc.returncode, proc.stdout, proc.stderr


NATIVE = {
    # Dense with a (4, 0) kernel divided by OUT = 0 in forward: SIGFPE.
    "dense kernel without outputs": (
        "g = c.Graph([(c.OP_INPUT, (), (4,), (), ()), (c.OP_DENSE, (0,), (0,), (), (np.zeros((4, 0), np.float32),))])\n"
        "g.forward([np.ones((2, 4), np.float32)])", "ValueError", ["(Dense)", "(4, 0)", "OUT >= 1"]),
    # Conv2D with OC = 0 ran forward and died with SIGFPE in backward.
    "conv kernel without output channels": (
        "g = c.Graph([(c.OP_INPUT, (), (5, 5, 3), (), ()),\n"
        "             (c.OP_CONV2D, (0,), (3, 3, 1, 1, 1, 1, 0, 0), (), (np.zeros((3, 3, 3, 0), np.float32),))])\n"
        "t = g.forward([np.ones((2, 5, 5, 3), np.float32)])\n"
        "t.backward([(1, np.ones((2, 3, 3, 0), np.float32))], [0])", "ValueError", ["(Conv2D)", "(3, 3, 3, 0)", "OC >= 1"]),
    # Conv2D with C = 0 (an input with zero channels).
    "conv kernel without input channels": (
        "g = c.Graph([(c.OP_INPUT, (), (5, 5, -1), (), ()),\n"
        "             (c.OP_CONV2D, (0,), (3, 3, 1, 1, 1, 1, 1, 0), (), (np.zeros((3, 3, 0, 2), np.float32),))])\n"
        "t = g.forward([np.ones((1, 5, 5, 0), np.float32)])\n"
        "t.backward([(1, np.ones((1, 5, 5, 2), np.float32))], [0])", "ValueError", ["(Conv2D)", "(3, 3, 0, 2)", "C >= 1"]),
    # An op code of 2**32 + 2 was truncated to int and silently became op 2 (Dense).
    "op code beyond int": (
        "c.Graph([(c.OP_INPUT, (), (4,), (), ()), (2 ** 32 + 2, (0,), (0,), (), (np.ones((4, 3), np.float32),))])",
        "ValueError", ["unknown op code 4294967298", "expected 0.."]),
    # A Concatenate axis of 2**40 was truncated to 0 and concatenated along the wrong axis.
    "concatenate axis beyond int": (
        "g = c.Graph([(c.OP_INPUT, (), (4,), (), ()), (c.OP_CONCAT, (0, 0), (2 ** 40,), (), ())])\n"
        "g.forward([np.ones((1, 4), np.float32)])", "ValueError", ["(Concatenate)", "1099511627776", "0..7"]),
    # After a failed __init__, the half-filled graph stayed attached: a second __init__ said
    # "already initialised" and forward() read nodes that were never filled (heap over-read).
    "graph reused after a failed init": (
        "g = c.Graph.__new__(c.Graph)\n"
        "try:\n"
        "    g.__init__([(c.OP_INPUT, (), (4,), (), ()), 'not a node'])\n"
        "except TypeError:\n"
        "    pass\n"
        "try:\n"
        "    g.forward([])\n"
        "except RuntimeError as e:\n"
        "    assert 'not initialised' in str(e), e\n"
        "g.__init__([(c.OP_INPUT, (), (4,), (), ())])\n"
        "assert g.forward([np.ones((2, 4), np.float32)]).value(0).shape == (2, 4)\n"
        "raise ValueError('reinitialised cleanly')", "ValueError", ["reinitialised cleanly"]),
}


@pytest.mark.parametrize("case", list(NATIVE))
def test_native_regression(case):
    body, exc_name, words = NATIVE[case]
    code = ("import numpy as np\nfrom pyvis import _core as c\ntry:\n" + textwrap.indent(body, "    ") +
            "\nexcept Exception as e:\n    print(type(e).__name__)\n    print(e)\nelse:\n    print('no error')\n")
    rc, out, err = run_python(code)
    assert rc == 0, f"interpreter died with {rc}: {err[-2000:]}"
    lines = out.splitlines()
    assert lines[0] == exc_name, out
    for word in words:
        assert word in out, out


# -- file loaders -----------------------------------------------------------------------------

def _k3_config():
    sys.path.insert(0, os.path.join(HERE, "fuzz"))
    from _configs import keras3_functional
    return keras3_functional()


def test_config_with_batch_axis_concatenate_is_a_value_error():
    """A Concatenate over axis 0 raised NotImplementedError out of the loader (found by
    fuzz_config); an unsupported construct in a file is a ValueError naming the file."""
    from pyvis.io import config

    cfg = _k3_config()
    next(l for l in cfg["config"]["layers"] if l["name"] == "cat")["config"]["axis"] = 0
    with pytest.raises(ValueError, match=r"cfg\.keras.*cannot build.*'cat'.*batch axis"):
        config.build_model(cfg, "'cfg.keras'", "3.6.0")


def _deflated_keras(tmp_path):
    path = tmp_path / "deflated.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        z.writestr("config.json", json.dumps(_k3_config()) * 3)
    return path


def test_corrupt_deflate_stream_in_keras_archive(tmp_path):
    """zlib.error escaped the loader (found by fuzz_files)."""
    path = _deflated_keras(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("config.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for k in range(start + 2, start + 40):
        data[k] ^= 0xA5
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="deflated.keras") as err:
        pio.load_model(path)
    assert "config.json" in str(err.value) or "decompress" in str(err.value) or "Error -3" in str(err.value)


def _claim_zip_version(path, version=210):
    """Rewrite 'version needed to extract' of every central directory entry."""
    data = bytearray(path.read_bytes())
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        data[pos + 6:pos + 8] = struct.pack("<H", version)
        pos = data.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(data))
    return path


def test_keras_archive_claiming_unsupported_zip_version(tmp_path):
    """zipfile's NotImplementedError('zip file version 21.0') escaped (found by fuzz_files)."""
    path = _claim_zip_version(_deflated_keras(tmp_path))
    with pytest.raises(ValueError, match="deflated.keras.*zip file version 21.0"):
        pio.load_model(path)


def test_npz_claiming_unsupported_zip_version(tmp_path):
    from pyvis import layers as L, models
    inp = L.Input((4,), name="in")
    model = models.Model(inp, L.Dense(3, name="d")(inp))
    path = tmp_path / "w.npz"
    np.savez(path, **{"d/0": np.ones((4, 3), np.float32), "d/1": np.zeros(3, np.float32)})
    _claim_zip_version(path)
    with pytest.raises(ValueError, match="w.npz.*zip file version 21.0"):
        pio.load_weights(model, path)


def test_zip_version_crash_input_from_the_fuzzer(tmp_path):
    """The exact input fuzz_files.py crashed on, replayed through the harness."""
    data = bytes.fromhex("6666666666c0280bc073746f726576c0744066660e9868d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2"
                         "d2d2d23563666 70bc076c07440982398980098".replace(" ", ""))
    rc, out, err = run_python(f"""
        import sys
        sys.path.insert(0, {os.path.join(HERE, 'fuzz')!r})
        import fuzz_files
        fuzz_files.setup()
        fuzz_files.one_input({data!r})
        print("clean")
    """)
    assert rc == 0 and out.strip().endswith("clean"), err[-3000:]


# -- the harnesses themselves keep working -----------------------------------------------------

@pytest.mark.parametrize("target", ["fuzz_graph", "fuzz_config", "fuzz_files"])
def test_fuzz_harness_smoke(target):
    """A few hundred pseudo-random inputs through each target, without atheris, in a subprocess."""
    rc, out, err = run_python(f"""
        import sys, warnings
        warnings.simplefilter("ignore")
        sys.path.insert(0, {os.path.join(HERE, 'fuzz')!r})
        import _harness, {target} as t
        t.setup()
        print(_harness.replay(t.one_input, 300, seed=11))
    """, timeout=600)
    assert rc == 0, err[-3000:]
    assert out.strip() == "300"
