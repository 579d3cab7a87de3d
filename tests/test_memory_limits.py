"""A request that cannot fit in memory raises MemoryError naming the size, before allocating.

The model up-samples a tiny input into a large activation (64 MB per sample), so a batch that
needs more than the machine's physical memory is only a few hundred tiny images. The check
runs in a fresh process whose peak RSS must stay near its baseline: the library refused the
request instead of allocating (Linux would have overcommitted and killed the process later).
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import json, os, resource, sys
    import numpy as np
    from pyvis import layers as L, models
    from pyvis.visualization import visualize_saliency

    inp = L.Input((8, 8, 3), name="mem_in")
    x = L.UpSampling2D(64, name="mem_up")(inp)                           # (512, 512, 3)
    x = L.Conv2D(64, 3, padding="same", activation="relu", name="mem_conv")(x)   # 64 MB / sample
    x = L.GlobalAveragePooling2D(name="mem_gap")(x)
    model = models.Model(inp, L.Dense(2, name="mem_out")(x), name="mem_model")
    model.predict(np.zeros((1, 8, 8, 3), np.float32))                    # warm-up
    phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    batch = int(phys / (512 * 512 * 64 * 4) * 1.5) + 1
    x = np.zeros((batch, 8, 8, 3), np.float32)
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    out = {"batch": batch}
    for what, call in [("run", lambda: model.run(x)),
                       ("predict", lambda: model.predict(x, batch_size=batch)),
                       ("saliency", lambda: visualize_saliency(model, -1, 0, x))]:
        base = peak()
        try:
            call()
            out[what] = ["no error", "", 0]
        except Exception as exc:
            out[what] = [type(exc).__name__, str(exc), peak() - base]
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def outcome():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("call", ["run", "predict", "saliency"])
def test_huge_batch_raises_memory_error_before_allocating(outcome, call):
    kind, message, grew_mb = outcome[call]
    assert kind == "MemoryError", f"{kind}: {message}"
    assert f"batch size {outcome['batch']}" in message, message
    assert "GB" in message, message
    assert grew_mb < 64, f"peak RSS grew by {grew_mb:.0f} MB before the refusal"
