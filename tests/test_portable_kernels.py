"""Machines without AVX-512 run portable loops in place of pyvis's AVX-512 kernels (the Winograd
products and transforms, the transposes of the transformed kernel, max-pool backward, the batch-1
Dense products). The choice is made once, at import, and PYVIS_DISABLE_AVX512 forces the
portable side everywhere: these tests run the Winograd grid and the convolution, pooling and Dense
op tests again in such a process, against the same float64 references."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("target", [["test_winograd.py"], ["test_ops.py", "-k", "dense or conv or pool"],
                                    ["test_conv_paths.py"]], ids=lambda t: t[0])
def test_portable_kernels_match_reference(target):
    env = dict(os.environ, PYVIS_DISABLE_AVX512="1")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *target],
                         env=env, capture_output=True, text=True, cwd=HERE)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " passed" in run.stdout
