"""``pyvis demo``: every visualisation on the built-in ShapesNet model, offline, in seconds.

It draws one fresh image per class (circle, square, triangle, cross), predicts them, and writes
into the output folder:

* ``attention.png``   one row per image: the input, saliency (vanilla, guided, rectified) and
                       Grad-CAM (vanilla, guided) of the predicted class, heat maps over the image;
* ``activation.png``  activation maximization of each class (what the network "looks for");
* ``predictions.csv`` the class probabilities of each image.
"""

import csv
import os
import time

TILE_SCALE = 2              # 64x64 images are shown at 128x128
ACTIVATION_ITERATIONS = 300
ACTIVATION_TV_WEIGHT = 0.1


def _explain(model_lin, x, classes):
    """{column title: (N, 64, 64) maps} for the five attention methods."""
    from pyvis import backprop_modifiers
    from pyvis.cli_support import ClassScore
    from pyvis.visualization import visualize_cam_with_losses, visualize_saliency_with_losses
    from pyvis.visualization.saliency import _find_penultimate_layer

    maps = {}
    for title, modifier in (("saliency", None), ("guided saliency", "guided"),
                            ("rectified saliency", "rectified")):
        m = model_lin if modifier is None else backprop_modifiers.get(modifier)(model_lin)
        losses = [(ClassScore(m.layers[-1], classes), -1)]
        maps[title] = visualize_saliency_with_losses(m, losses, x)
    for title, modifier in (("Grad-CAM", None), ("guided Grad-CAM", "guided")):
        m = model_lin if modifier is None else backprop_modifiers.get(modifier)(model_lin)
        penultimate = _find_penultimate_layer(m, len(m.layers) - 1, None)
        maps[title] = visualize_cam_with_losses(m, [(ClassScore(m.layers[-1], classes), -1)], x,
                                                penultimate)
    return maps


def _activations(model_lin, seed):
    """One activation-maximization image per class.

    keras-vis's default regularizer weights (L-6 norm 10, total variation 10) are tuned for
    VGG16 at 224x224; on this 64x64 network they swamp the class score and the image stays
    noise. A light total variation alone, plus a small jitter, shows what each class looks for.
    """
    from pyvis.input_modifiers import Jitter
    from pyvis.visualization import visualize_activation
    return [visualize_activation(model_lin, -1, filter_indices=c, max_iter=ACTIVATION_ITERATIONS,
                                 tv_weight=ACTIVATION_TV_WEIGHT, lp_norm_weight=0,
                                 input_modifiers=[Jitter(4)], seed=seed + c)
            for c in range(model_lin.output_shape[-1])]


def run_demo(out_dir, seed=0, quiet=False):
    """Write the demo pictures into `out_dir`; returns their paths and the computed maps."""
    import pyvis
    # A 64x64 network is too small to share among threads: one thread is faster (and does not
    # suffer when other processes keep the cores busy).
    threads = pyvis.get_num_threads()
    pyvis.set_num_threads(1)
    try:
        return _run_demo(out_dir, seed, quiet)
    finally:
        pyvis.set_num_threads(threads)


def _run_demo(out_dir, seed, quiet):
    from pyvis import activations
    from pyvis.applications import demo
    from pyvis.cli_render import grid, heat_overlay
    from pyvis.cli_support import UsageError
    from pyvis.utils import utils

    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError("--out %r exists and is not a folder" % out_dir)
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.time()
    names = demo.CLASS_NAMES
    data = demo.make_shapes(len(names), seed=seed, labels=list(range(len(names))))
    model = demo.ShapesNet()
    x = demo.preprocess_input(data.images)
    probs = model.predict(x)
    predicted = probs.argmax(axis=1)

    # keras-vis recipe: explain the class score before the softmax
    model.layers[-1].activation = activations.linear
    model_lin = utils.apply_modifications(model)

    maps = _explain(model_lin, x, predicted)
    titles = ["input"] + list(maps)
    rows = [[data.images[i]] + [heat_overlay(maps[t][i], data.images[i]) for t in maps]
            for i in range(len(x))]
    row_labels = ["%s -> %s %.2f" % (names[data.labels[i]], names[predicted[i]],
                                     probs[i, predicted[i]]) for i in range(len(x))]
    attention = os.path.join(out_dir, "attention.png")
    grid(rows, titles, row_labels, scale=TILE_SCALE,
         title="ShapesNet: true -> predicted class; maps of the predicted class").save(attention)

    images = _activations(model_lin, seed)
    activation = os.path.join(out_dir, "activation.png")
    grid([images], list(names), scale=TILE_SCALE,
         title="activation maximization of each class").save(activation)

    predictions = os.path.join(out_dir, "predictions.csv")
    with open(predictions, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "true class"] + ["p(%s)" % n for n in names])
        for i in range(len(x)):
            w.writerow([i, names[data.labels[i]]] + ["%.4f" % p for p in probs[i]])
    if not quiet:
        for i in range(len(x)):
            print("image %d: %-8s predicted %-8s (p=%.3f)"
                  % (i, names[data.labels[i]], names[predicted[i]], probs[i, predicted[i]]))
        print("wrote %s, %s and %s in %.1f s" % (attention, activation, predictions,
                                                 time.time() - t0))
    return {"attention": attention, "activation": activation, "predictions": predictions,
            "probs": probs, "labels": data.labels, "maps": maps}
