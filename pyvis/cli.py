"""The ``pyvis`` command line (also ``python -m pyvis``).

    pyvis demo [--out DIR]
    pyvis saliency   MODEL IMAGES... [--layer L] [--class N | --top K] [--modifier M] [--overlay]
    pyvis cam        MODEL IMAGES... [--layer L] [--class N | --top K] [--modifier M]
                     [--penultimate L] [--overlay]
    pyvis activation MODEL [IMAGES...] [--layer L] [--class N] [--max-iter N]

MODEL is a Keras ``.h5`` / ``.keras`` file or an application name (vgg16, vgg19, resnet50, ...,
shapesnet). IMAGES are files or folders; they are processed in batches with a progress bar and
the results are written as PNG files (plus ``predictions.csv``) into ``--out``; an output never
overwrites an input. A mistake in the command line or its inputs prints one line and exits
with status 2 (set ``PYVIS_DEBUG=1`` to see the traceback).
"""

import argparse
import csv
import os
import sys

import numpy as np

from pyvis import cli_support as support
from pyvis.cli_support import UsageError

PROG = "pyvis"
DEFAULT_OUT = "pyvis_out"
MODIFIERS = ("guided", "rectified", "relu", "deconv")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, "%s: error: %s (see %s --help)\n" % (self.prog, message, self.prog))


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a positive integer, got %r" % text)
    if value < 1:
        raise argparse.ArgumentTypeError("expected a positive integer, got %r" % text)
    return value


def _class_list(text):
    """'20' or '20,21' -> [20] / [20, 21]."""
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("expected class indices like 20 or 20,21, got %r" % text)
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError("expected non-negative class indices, got %r" % text)
    return values


def _add_common(p, images_required):
    p.add_argument("model", metavar="MODEL",
                   help="a Keras .h5/.keras file, or vgg16, vgg19, resnet50, mobilenet, "
                        "mobilenet_v2, inception_v3, xception, densenet121, shapesnet")
    p.add_argument("images", metavar="IMAGES", nargs="+" if images_required else "*",
                   help="image files or folders of images")
    p.add_argument("--layer", default="-1", metavar="NAME|IDX",
                   help="layer whose output is explained (default -1, the last); a softmax "
                        "there is switched to linear first, as keras-vis recommends")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help="output folder (default %s)" % DEFAULT_OUT)
    p.add_argument("--preprocess", choices=support.PREPROCESS_MODES, default=None,
                   help="input preprocessing: the application's own for a named model, "
                        "'none' (raw 0..255 RGB) for a file")
    p.add_argument("--batch-size", type=_positive_int, default=4, metavar="N",
                   help="images per native batch (default 4)")
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="threads for pyvis and BLAS (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary")


def _add_classes(p, allow_top=True):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--class", dest="classes", type=_class_list, action="append", metavar="N",
                   help="class / filter index to explain (repeat or comma-separate for several)")
    if allow_top:
        g.add_argument("--top", type=_positive_int, default=None, metavar="K",
                       help="explain each image's K highest-scoring classes (default 1)")


def build_parser():
    parser = _Parser(prog=PROG, description="Saliency maps, Grad-CAM and activation maximization "
                                            "with the keras-vis API, no deep-learning framework.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("demo", help="run everything on the built-in ShapesNet model (offline)")
    p.add_argument("--out", default="demo_out", metavar="DIR",
                   help="output folder (default demo_out)")
    p.add_argument("--seed", type=int, default=0, help="seed for the generated images")
    p.add_argument("--quiet", action="store_true", help="no summary")

    p = sub.add_parser("saliency", help="saliency maps (vanilla, guided or rectified backprop)")
    _add_common(p, images_required=True)
    _add_classes(p)
    p.add_argument("--modifier", choices=MODIFIERS, default=None,
                   help="backprop modifier (default: none, vanilla gradients)")
    p.add_argument("--overlay", action="store_true", help="blend the heat map over the image")

    p = sub.add_parser("cam", help="Grad-CAM maps")
    _add_common(p, images_required=True)
    _add_classes(p)
    p.add_argument("--modifier", choices=MODIFIERS, default=None,
                   help="backprop modifier for the gradients (default: none)")
    p.add_argument("--penultimate", default=None, metavar="NAME|IDX",
                   help="conv/pool layer whose output is weighed (default: keras-vis's search)")
    p.add_argument("--overlay", action="store_true", help="blend the heat map over the image")

    p = sub.add_parser("activation", help="activation maximization: images a class or filter "
                                          "responds to most (in raw 0..255 pixel space, as "
                                          "keras-vis; IMAGES are starting points)")
    _add_common(p, images_required=False)
    _add_classes(p, allow_top=False)
    p.add_argument("--modifier", choices=MODIFIERS, default=None, help="backprop modifier")
    p.add_argument("--max-iter", type=_positive_int, default=200, metavar="N",
                   help="optimizer iterations (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starting image")
    return parser


# --------------------------------------------------------------------------------------------
# shared steps

def _prepare_out(out_dir):
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError("--out %r exists and is not a folder" % out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise UsageError("cannot create --out folder %r: %s" % (out_dir, exc)) from exc


def _linear_model(model, layer_idx):
    """(model with a softmax at `layer_idx` switched to linear, whether it was switched).

    The layers are shared with `model` (``apply_modifications``), so `model` must not be used
    for anything else afterwards.
    """
    from pyvis import activations
    from pyvis.utils import utils
    layer = model.layers[layer_idx]
    if getattr(layer, "activation", None) is not activations.softmax:
        return model, False
    layer.activation = activations.linear
    return utils.apply_modifications(model), True


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _batches(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _progress(total, desc, quiet):
    """A tqdm bar on stderr, shown only on a terminal (a log file gets no carriage returns)."""
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr,
                disable=quiet or not sys.stderr.isatty())


def _load_batch(loaded, paths):
    rows, cols, channels = loaded.input_dims()
    raw = [support.load_image(p, rows, cols, channels) for p in paths]
    if len({r.shape for r in raw}) != 1:
        raise UsageError("the model has no fixed input size and these images differ in size; "
                         "use --batch-size 1")
    raw = np.stack(raw)
    return raw, support.preprocess(raw.astype(np.float32), loaded.preprocess)


def _given_classes(args, units):
    """The --class indices (in order, without repeats), checked against the layer's units."""
    if not args.classes:
        return None
    chosen = list(dict.fromkeys(c for group in args.classes for c in group))
    bad = [c for c in chosen if c >= units]
    if bad:
        raise UsageError("--class %d is out of range: the layer has %d units" % (bad[0], units))
    return chosen


def _choose_classes(args, scores, units):
    """Per image, the list of classes to explain: --class as given, else the --top K scores."""
    if args.classes:
        return [_given_classes(args, units)] * len(scores)
    k = min(args.top or 1, units)
    return [list(np.argsort(-s, kind="stable")[:k]) for s in scores]


def _layer_scores(tape, layer):
    """(N, units) output of `layer`, averaged over any spatial axes (the ranking for --top)."""
    out = np.asarray(tape.value(layer), dtype=np.float64)
    return out.reshape(out.shape[0], -1, out.shape[-1]).mean(axis=1)


def _write_predictions(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "rank", "class", "label", "score"])
        w.writerows(rows)


# --------------------------------------------------------------------------------------------
# commands

def _attention(args, kind):
    """`pyvis saliency` and `pyvis cam`: one map per image and class, in batches."""
    from pyvis import backprop_modifiers
    from pyvis.visualization import visualize_cam_with_losses, visualize_saliency_with_losses
    from pyvis.cli_render import heat_overlay, jet, save_png

    paths = support.find_images(args.images)
    support.check_images(paths)
    inputs = {os.path.realpath(p) for p in paths}
    _prepare_out(args.out)
    loaded = support.load_model(args.model, args.preprocess)
    model = loaded.model
    layer_idx = support.resolve_layer(model, args.layer)
    units = support.output_units(model, layer_idx)
    _given_classes(args, units)
    plain, switched = _linear_model(model, layer_idx)
    # the model's outputs are probabilities again if its own last layer was switched
    output_softmax = switched and plain.layers[layer_idx].output is plain.output
    explained = backprop_modifiers.get(args.modifier)(plain) if args.modifier else plain
    layer = explained.layers[layer_idx]
    penultimate = None
    if kind == "cam":
        from pyvis.visualization.saliency import _find_penultimate_layer
        pen_idx = None if args.penultimate is None else \
            support.resolve_layer(model, args.penultimate, "--penultimate")
        try:
            penultimate = _find_penultimate_layer(explained, layer_idx, pen_idx)
        except (ValueError, IndexError) as exc:
            raise UsageError("%s; give --penultimate NAME" % exc) from exc
    method = kind + ("-" + args.modifier if args.modifier else "")
    stems = support.unique_stems(paths)
    support.check_no_clobber(args.out, stems, method, inputs)
    pred_rows, written = [], 0
    with _progress(len(paths), method, args.quiet) as bar:
        for batch in _batches(list(range(len(paths))), args.batch_size):
            raw, x = _load_batch(loaded, [paths[i] for i in batch])
            tape = plain.run(x)
            out = np.asarray(tape.value(plain.output), dtype=np.float64)
            if output_softmax:
                out = _softmax(out)
            top_out = np.argsort(-out, axis=1, kind="stable")[:, :min(5, out.shape[1])]
            for j, i in enumerate(batch):
                for rank, c in enumerate(top_out[j], start=1):
                    pred_rows.append([paths[i], rank, int(c), loaded.label(int(c)),
                                      "%.6g" % out[j, c]])
            # ranking by the pre-softmax scores is ranking by the probabilities
            classes = _choose_classes(args, _layer_scores(tape, plain.layers[layer_idx]), units)
            # rank r of every image in one native batch (ClassScore: one class per sample)
            for r in range(max(len(c) for c in classes)):
                sel = [j for j in range(len(batch)) if r < len(classes[j])]
                loss = support.ClassScore(layer, [classes[j][r] for j in sel])
                if kind == "saliency":
                    maps = visualize_saliency_with_losses(explained, [(loss, -1)], x[sel])
                else:
                    maps = visualize_cam_with_losses(explained, [(loss, -1)], x[sel], penultimate)
                maps = np.reshape(maps, (len(sel),) + np.shape(maps)[-2:])
                for m, j in zip(maps, sel):
                    c = int(classes[j][r])
                    dest = support.output_path(args.out, stems[batch[j]],
                                               "%s_%d" % (method, c), inputs)
                    save_png(heat_overlay(m, raw[j]) if args.overlay else jet(m), dest)
                    written += 1
            bar.update(len(batch))
    _write_predictions(os.path.join(args.out, "predictions.csv"), pred_rows)
    if not args.quiet:
        print("wrote %d %s maps and predictions.csv to %s" % (written, method, args.out))


def _activation(args):
    from pyvis import backprop_modifiers
    from pyvis.cli_render import save_png
    from pyvis.visualization import visualize_activation

    paths = support.find_images(args.images) if args.images else []
    support.check_images(paths)
    inputs = {os.path.realpath(p) for p in paths}
    _prepare_out(args.out)
    loaded = support.load_model(args.model, args.preprocess)
    model = loaded.model
    rows, cols, channels = loaded.input_dims()
    if (rows is None or cols is None) and not paths:
        raise UsageError("the model has no fixed input size: give IMAGES to start from")
    layer_idx = support.resolve_layer(model, args.layer)
    units = support.output_units(model, layer_idx)
    if args.classes:
        classes = _given_classes(args, units)
    elif units <= 16:
        classes = list(range(units))
    else:
        raise UsageError("layer %r has %d units: choose some with --class N"
                         % (model.layers[layer_idx].name, units))
    explained = _linear_model(model, layer_idx)[0]
    if args.modifier:
        explained = backprop_modifiers.get(args.modifier)(explained)
    seeds = [None]
    if paths:
        # keras-vis optimises in raw 0..255 pixel space (input_range); seeds are raw pixels too
        seeds = [_load_batch(loaded, [p])[0][0].astype(np.float32) for p in paths]
    stems = support.unique_stems(paths) if paths else ["%s" % loaded.name]
    layer_name = model.layers[layer_idx].name
    written = 0
    with _progress(len(classes) * len(seeds), "activation", args.quiet) as bar:
        for s, seed in enumerate(seeds):
            for c in classes:
                img = visualize_activation(explained, layer_idx, filter_indices=c,
                                           seed_input=seed, max_iter=args.max_iter,
                                           seed=args.seed)
                label = "activation_%s_%d" % (layer_name, c)
                save_png(img, support.output_path(args.out, stems[s], label, inputs))
                written += 1
                bar.update(1)
    if not args.quiet:
        print("wrote %d activation maximization images to %s" % (written, args.out))


def _demo(args):
    from pyvis.cli_demo import run_demo
    run_demo(args.out, seed=args.seed, quiet=args.quiet)


def main(argv=None):
    """Entry point of the `pyvis` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "threads", None):
            import pyvis
            pyvis.set_num_threads(args.threads)
        if args.command == "demo":
            _demo(args)
        elif args.command in ("saliency", "cam"):
            _attention(args, args.command)
        else:
            _activation(args)
    except UsageError as exc:
        if os.environ.get("PYVIS_DEBUG"):
            raise
        sys.stderr.write("%s %s: error: %s\n" % (PROG, args.command, exc))
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("%s: interrupted\n" % PROG)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
