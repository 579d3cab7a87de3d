"""Cost of one activation-maximisation iteration on VGG16, relative to one forward + backward.

An iteration of ``Optimizer.minimize`` (the loop behind ``visualize_activation``) should cost one
native forward and one native backward to the input, plus cheap NumPy work on the 224x224x3
input (LPNorm, TotalVariation, normalisation, RMSProp).  This script

1. counts the native forward and backward calls per iteration (must be exactly 1 and 1);
2. times ``model.run(x)`` + ``tape.backward(predictions -> input)`` on its own;
3. times ``minimize`` per iteration with keras-vis's losses (class 20, weights 1 / 10 / 10);

and prints the ratio iteration / (forward + backward), for wall time and for process CPU time.
The two timings are interleaved over several rounds so that load from other processes affects
both alike; medians are reported.

Usage: python benchmarks/bench_actmax_iteration.py [--iters 5] [--rounds 5] [--threads N]
"""

import argparse
import statistics
import time

import numpy as np

import pyvis
from pyvis import activations
from pyvis.applications import VGG16
from pyvis.losses import ActivationMaximization
from pyvis.optimizer import Optimizer
from pyvis.regularizers import LPNorm, TotalVariation
from pyvis.utils import utils


def build_model():
    np.random.seed(0)
    model = VGG16(weights=None, include_top=True)
    idx = utils.find_layer_idx(model, 'predictions')
    model.layers[idx].activation = activations.linear
    return utils.apply_modifications(model), idx


def forward_backward(model, pred, x, seed_grad):
    tape = model.run(x)
    tape.value(pred)
    return tape.backward([(pred, seed_grad)], wrt=[model.input])[0]


class CallCounter(object):
    """Wraps ``model.run`` (and the backward of each tape it returns) to count native calls."""

    def __init__(self, model):
        self.runs = self.backwards = 0
        run = model.run

        def counted_run(x):
            self.runs += 1
            tape = run(x)
            backward = tape.backward

            def counted_backward(*args, **kwargs):
                self.backwards += 1
                return backward(*args, **kwargs)
            tape.backward = counted_backward
            return tape
        model.run = counted_run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iters', type=int, default=5, help='iterations per minimize call')
    parser.add_argument('--rounds', type=int, default=5, help='interleaved timing rounds')
    parser.add_argument('--threads', type=int, default=None, help='pyvis threads (default all)')
    args = parser.parse_args()
    if args.threads:
        pyvis.set_num_threads(args.threads)

    model, idx = build_model()
    pred = model.layers[idx]
    losses = [(ActivationMaximization(pred, 20), 1), (LPNorm(model.input), 10),
              (TotalVariation(model.input), 10)]
    opt = Optimizer(model, losses)
    x = np.random.default_rng(0).uniform(96, 160, size=(1, 224, 224, 3)).astype(np.float32)
    seed_grad = np.zeros((1, 1000), np.float32)
    seed_grad[0, 20] = -1.0

    counter = CallCounter(opt.model)
    opt.minimize(seed_input=x, max_iter=3, verbose=False)       # also warms up
    print('native calls per iteration: forward %.2f, backward %.2f'
          % (counter.runs / 3.0, counter.backwards / 3.0))
    forward_backward(model, pred, x, seed_grad)

    # Wall time and process CPU time (the latter is less disturbed by other processes).
    clocks = {'wall': time.perf_counter, 'cpu': time.process_time}
    fb_times = {name: [] for name in clocks}
    it_times = {name: [] for name in clocks}
    for _ in range(args.rounds):
        start = {name: clock() for name, clock in clocks.items()}
        for _ in range(args.iters):
            forward_backward(model, pred, x, seed_grad)
        for name, clock in clocks.items():
            fb_times[name].append((clock() - start[name]) / args.iters)
        start = {name: clock() for name, clock in clocks.items()}
        opt.minimize(seed_input=x, max_iter=args.iters, verbose=False)
        for name, clock in clocks.items():
            it_times[name].append((clock() - start[name]) / args.iters)
    print('VGG16 224x224, batch 1, %d thread(s), %d rounds of %d'
          % (pyvis.get_num_threads(), args.rounds, args.iters))
    for name in clocks:
        fb, it = statistics.median(fb_times[name]), statistics.median(it_times[name])
        ratios = [i / f for i, f in zip(it_times[name], fb_times[name])]
        print('%-4s forward + backward %8.1f ms, one iteration %8.1f ms, ratio %.3f '
              '(per round: %s)' % (name, fb * 1e3, it * 1e3, statistics.median(ratios),
                                   ', '.join('%.3f' % r for r in ratios)))


if __name__ == '__main__':
    main()
