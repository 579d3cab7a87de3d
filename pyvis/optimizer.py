"""Gradient descent on the input against weighted losses, mirroring ``vis.optimizer.Optimizer``.

One iteration is one native forward (``model.run``) and one native backward to the input (or to
``wrt_tensor``), seeded by every loss at once.  Everything else (regulariser gradients, the
normalisation, RMSProp) is elementwise NumPy on the input.

keras-vis semantics kept: losses are ``(Loss, weight)`` pairs summed into the overall loss; the
gradient is L2-normalised (g / sqrt(max(sum g^2, 1e-12))); the step is RMSProp without a learning
rate (cache = 0.95 cache + 0.05 g^2, step = -g / sqrt(cache + 1e-7)); input modifiers run ``pre``
in order before the evaluation and ``post`` in reverse order after the step; the result is the
best input, deprocessed to ``input_range``.

Fixed on purpose (DESIGN.md): a weight of ``None`` drops the term like 0; ``verbose`` shows a
tqdm progress bar and never appends to the caller's callback list; the best input is the one that
was evaluated (keras-vis stored the input *after* the step); if no loss is ever finite the first
evaluated input is returned, with a warning, instead of crashing.

Extended: ``seed_input`` may be a batch (N, ...).  Every sample is optimised on its own (its own
loss, gradient norm and best input), so a single image gives exactly keras-vis's trajectory.
"""

import numbers
import warnings

import numpy as np

from pyvis import grad_modifiers as _grad_modifiers
from pyvis.input_modifiers import global_generator, using_generator
from pyvis.utils import utils

__all__ = ['Optimizer']

# Keras's K.epsilon(), used by keras-vis's RMSProp step.
_EPS = 1e-7


def _identity(x):
    return x


def _is_model(obj):
    return hasattr(obj, 'run') and hasattr(obj, 'layers') and hasattr(obj, 'input')


def _model_in(obj, input_tensor):
    """A pyvis model referenced by one of ``obj``'s attributes whose input is ours."""
    for value in getattr(obj, '__dict__', {}).values():
        if _is_model(value) and value.input is input_tensor:
            return value
    return None


def _as_tensor(handle, model=None):
    """The symbolic tensor a handle denotes (tensor, layer, or layer name / index of ``model``)."""
    from pyvis.layers.base import KerasTensor, Layer
    if isinstance(handle, KerasTensor):
        return handle
    if isinstance(handle, Layer):
        return handle.output
    if model is not None and isinstance(handle, str):
        return model.get_layer(name=handle).output
    if model is not None and isinstance(handle, numbers.Integral) and not isinstance(handle, bool):
        return model.layers[int(handle)].output
    raise TypeError("Optimizer: cannot use %r as a tensor handle here; pass a tensor "
                    "(layer.output), a layer, or the model itself as input_tensor to use a "
                    "layer name or index" % (handle,))


def _read_tensors(losses, model):
    """Tensors read by losses of the built-in kinds, or None if some loss is of another kind."""
    from pyvis.losses import ActivationMaximization
    from pyvis.regularizers import LPNorm, TotalVariation
    found = []
    for loss in losses:
        if type(loss) is ActivationMaximization:
            found.append(_as_tensor(loss.layer, model))
        elif type(loss) in (LPNorm, TotalVariation):
            found.append(_as_tensor(loss.img, model))
        else:
            return None
    return found


def _tensors_in(obj):
    """Symbolic tensors an unknown loss refers to: attributes that are tensors or layers."""
    from pyvis.layers.base import KerasTensor, Layer
    found = []
    for value in getattr(obj, '__dict__', {}).values():
        if isinstance(value, KerasTensor):
            found.append(value)
        elif isinstance(value, Layer):
            found.append(value.output)
    return found


def _unique_outputs(tensors, input_tensor):
    out = []
    for t in tensors:
        if t is not input_tensor and all(t is not o for o in out):
            out.append(t)
    return out


def _same_tensors(a, b):
    return len(a) == len(b) and all(any(x is y for y in b) for x in a)


def resolve_model(input_tensor, losses=(), wrt_tensor=None):
    """The pyvis model an ``Optimizer`` runs, its input tensor and the wrt tensor (or None).

    ``input_tensor`` may be the model itself (this pins the exact model object, e.g. a clone with
    a backprop modifier) or its input tensor, as in keras-vis.  When every loss is a built-in
    one (ActivationMaximization, LPNorm, TotalVariation), the model run is cut down to the layers
    those losses and ``wrt_tensor`` read: visualising ``block1_conv2`` of VGG16 then runs two
    convolutions, not the whole network.  Otherwise a model held by a loss is used, or one built
    from the input to the tensors and layers the losses refer to.
    """
    from pyvis.models import Model
    model = None
    if _is_model(input_tensor):
        model = input_tensor
        if isinstance(model.input, (list, tuple)):
            raise ValueError("Optimizer: models with several inputs are not supported (model %r "
                             "has %d inputs)" % (getattr(model, 'name', model), len(model.input)))
        input_tensor = model.input
    elif not hasattr(input_tensor, '_keras_history'):
        if hasattr(input_tensor, 'layers'):     # a Keras model object: convert it
            from pyvis.io import as_pyvis_model
            return resolve_model(as_pyvis_model(input_tensor), losses, wrt_tensor)
        raise TypeError("Optimizer: input_tensor must be a pyvis model or its input tensor "
                        "(model.input); got %r" % (input_tensor,))
    wrt = None if wrt_tensor is None else _as_tensor(wrt_tensor, model)
    extra = [] if wrt is None else [wrt]

    needed = _read_tensors(losses, model)
    if needed is not None:
        outputs = _unique_outputs(needed + extra, input_tensor)
        if not outputs:
            outputs = [input_tensor]
    else:
        if model is None:
            for loss in losses:
                model = _model_in(loss, input_tensor)
                if model is not None:
                    break
        if model is not None:
            return model, input_tensor, wrt
        outputs = _unique_outputs([t for loss in losses for t in _tensors_in(loss)] + extra,
                                  input_tensor)
        if not outputs:
            raise ValueError("Optimizer: cannot tell which model to run from input_tensor %r; "
                             "pass the model itself as input_tensor" % (input_tensor,))
    if model is not None and _same_tensors(outputs, model.outputs):
        return model, input_tensor, wrt      # nothing to cut: keep its compiled graph
    sub = Model(inputs=input_tensor, outputs=outputs)
    modifier = getattr(model, '_backprop_modifier', None) if model is not None else None
    if modifier is not None:
        sub = sub._with_backprop_modifier(modifier)
    return sub, input_tensor, wrt


def _check_input_range(input_range):
    try:
        low, high = input_range
    except (TypeError, ValueError):
        raise ValueError("input_range must be a pair (min, max), got %r" % (input_range,))
    for v in (low, high):
        if not isinstance(v, numbers.Real) or isinstance(v, bool) or not np.isfinite(v):
            raise ValueError("input_range must hold two finite numbers, got %r" % (input_range,))
    if not low < high:
        raise ValueError("input_range must satisfy min < max, got %r" % (input_range,))
    return tuple(input_range)


def _check_weight(weight, loss):
    if weight is None:
        return 0.0
    if not isinstance(weight, numbers.Real) or isinstance(weight, bool) or not np.isfinite(weight):
        raise ValueError("loss weight for %s must be a finite number or None, got %r"
                         % (loss, weight))
    return float(weight)


def _l2_normalize(grads):
    """Per sample g / sqrt(max(sum g^2, 1e-12)) (tf.nn.l2_normalize over the whole image)."""
    g = np.asarray(grads)
    sq = np.square(g.reshape(g.shape[0], -1), dtype=np.float64).sum(axis=1)
    scale = 1.0 / np.sqrt(np.maximum(sq, 1e-12))
    return (g * scale.reshape((-1,) + (1,) * (g.ndim - 1))).astype(g.dtype, copy=False)


def _rmsprop(grads, cache=None, decay_rate=0.95):
    """keras-vis's RMSProp step (no learning rate): returns (step, new cache)."""
    if cache is None:
        cache = np.zeros_like(grads)
    cache = decay_rate * cache + (1 - decay_rate) * grads ** 2
    step = -grads / np.sqrt(cache + _EPS)
    return step, cache


def _scalar_or_batch(values):
    """A single sample reports plain floats (as keras-vis); a batch reports (N,) arrays."""
    return float(values[0]) if values.shape[0] == 1 else values


class Optimizer(object):
    """Minimises a weighted sum of losses with respect to the model input.

    Args:
        input_tensor: the model input (``model.input``), or the pyvis model itself.
        losses: list of ``(Loss, weight)``; a weight of 0 or None drops the term.
        input_range: (min, max) of valid input values; the result is deprocessed to it.
        wrt_tensor: tensor or layer to take gradients with respect to (a layer name or index
            too when ``input_tensor`` is the model); ``None`` means the input.  When it is
            not the input, the input is never updated (keras-vis).
        norm_grads: L2-normalise the gradient of every sample.
    """

    def __init__(self, input_tensor, losses, input_range=(0, 255), wrt_tensor=None,
                 norm_grads=True):
        pairs = list(losses)
        for entry in pairs:
            if not isinstance(entry, (list, tuple)) or len(entry) != 2:
                raise ValueError("losses must be a list of (Loss, weight) pairs, got entry %r"
                                 % (entry,))
        self.model, self.input_tensor, wrt_tensor = resolve_model(
            input_tensor, [l for l, w in pairs if _check_weight(w, l) != 0], wrt_tensor)
        self.input_range = _check_input_range(input_range)
        self.norm_grads = bool(norm_grads)
        self.loss_names = []
        self.loss_functions = []
        self.loss_weights = []
        for loss, weight in pairs:
            weight = _check_weight(weight, loss)
            if weight == 0:
                continue
            if not callable(getattr(loss, 'evaluate', None)):
                raise TypeError("losses: %r has no evaluate(tape) method (see pyvis.losses.Loss)"
                                % (loss,))
            self.loss_names.append(getattr(loss, 'name', str(loss)))
            self.loss_functions.append(loss)
            self.loss_weights.append(weight)
        self.wrt_tensor_is_input_tensor = wrt_tensor is None or wrt_tensor is self.input_tensor
        if self.wrt_tensor_is_input_tensor:
            # keras-vis wrapped the input in K.identity here; the InputLayer is our equivalent:
            # a distinct handle that denotes the input tensor.
            history = getattr(self.input_tensor, '_keras_history', None)
            self.wrt_tensor = history[0] if history is not None else self.input_tensor
        else:
            self.wrt_tensor = wrt_tensor

    # ------------------------------------------------------------------ one evaluation

    def evaluate(self, x):
        """One forward and one backward at input ``x`` (N, ...).

        Returns ``(weighted loss values list of (N,), overall (N,), grads, wrt_value)``; grads are
        d(overall)/d(wrt), L2-normalised per sample when ``norm_grads``.
        """
        tape = self.model.run(x)
        n = tape.batch
        values, seeds = [], []
        for loss, weight in zip(self.loss_functions, self.loss_weights):
            v, s = loss.evaluate(tape)
            v = np.asarray(v, dtype=np.float64).reshape(-1)
            if v.shape != (n,):
                raise ValueError("%s.evaluate returned %d values for a batch of %d; expected one "
                                 "per sample" % (type(loss).__name__, v.size, n))
            values.append(weight * v)
            seeds.extend((handle, np.float32(weight) * np.asarray(g, dtype=np.float32))
                         for handle, g in s)
        overall = np.sum(values, axis=0) if values else np.zeros(n)
        if self.wrt_tensor_is_input_tensor:
            wrt_value = np.asarray(x, dtype=np.float32)
        else:
            wrt_value = tape.value(self.wrt_tensor)
        if seeds:
            wrt = self.input_tensor if self.wrt_tensor_is_input_tensor else self.wrt_tensor
            grads = np.asarray(tape.backward(seeds, wrt=[wrt])[0])
        else:
            grads = np.zeros_like(wrt_value)
        if self.norm_grads:
            grads = _l2_normalize(grads)
        return values, overall, grads, wrt_value

    def compute_fn(self, inputs):
        """keras-vis's compiled function: ``[input, learning_phase]`` ->
        ``[each weighted loss..., overall loss, grads, wrt value]`` (learning phase ignored:
        pyvis always runs in inference mode)."""
        x = np.asarray(inputs[0] if isinstance(inputs, (list, tuple)) else inputs)
        values, overall, grads, wrt_value = self.evaluate(x)
        return [_scalar_or_batch(v) for v in values] + [_scalar_or_batch(overall), grads,
                                                         wrt_value]

    # ------------------------------------------------------------------ seed

    def _get_seed_input(self, seed_input, gen):
        """Seed as a fresh array with a batch axis; random noise around the range if None."""
        static = tuple(self.model.input_shape)
        desired = (1,) + static[1:]
        if seed_input is None:
            if any(d is None for d in desired):
                raise ValueError("seed_input is required: the model input shape %s has unknown "
                                 "dims, so a random seed cannot be drawn" % (static,))
            low, high = self.input_range
            u = gen.random(desired)
            u = (u - u.mean()) / (u.std() + _EPS)
            # keras-vis's random_array(mean=mid-range, std=5% of the range), float64.
            return u * (0.05 * (high - low)) + (low + high) / 2.0
        seed = np.asarray(seed_input)
        if seed.ndim == len(desired) - 1:
            seed = seed[None]
        if seed.ndim != len(desired):
            raise ValueError("seed_input must have shape %s or %s (with a batch axis); got %s"
                             % (static[1:], ('N',) + static[1:], np.shape(seed_input)))

        def fits(shape):
            return all(d is None or d == s for d, s in zip(static[1:], shape[1:]))
        if not fits(seed.shape):
            hint = ''
            if seed.ndim > 3 and fits(np.moveaxis(seed, 1, -1).shape):
                hint = ('; it looks like channels_first data, but pyvis models are '
                        'channels_last: pass the image as %s' % (static[1:],))
            raise ValueError("seed_input of shape %s does not fit the model input %s%s"
                             % (np.shape(seed_input), static, hint))
        if not np.issubdtype(seed.dtype, np.number) or \
                np.issubdtype(seed.dtype, np.complexfloating):
            raise TypeError("seed_input must be a real numeric array, got dtype %s" % seed.dtype)
        return np.array(seed, dtype=np.float32, copy=True)

    # ------------------------------------------------------------------ descent

    def minimize(self, seed_input=None, max_iter=200, input_modifiers=None, grad_modifier=None,
                 callbacks=None, verbose=True, seed=None):
        """Run the descent.

        Args:
            seed_input: starting input, (…) or (N, …); random noise around the range if None.
            max_iter: number of iterations.
            input_modifiers: list of ``InputModifier`` (``pre`` in order, ``post`` reversed).
            grad_modifier: name or callable from ``pyvis.grad_modifiers``, applied to the
                normalised gradient before the step; None = identity.
            callbacks: list of ``OptimizerCallback``; the list is not modified.
            verbose: show a tqdm progress bar with the current weighted losses.
            seed: int for a private random generator (random seed input and pyvis input
                modifiers), making the run reproducible without touching global state; None
                draws from pyvis's global generator (``pyvis.backend.set_random_seed``).

        Returns:
            ``(best input deprocessed to input_range, grads, wrt_value)``.  The image has no batch
            axis for a single seed and keeps it for a batch of N > 1; ``grads`` and ``wrt_value``
            are those of the last iteration, with the batch axis.
        """
        if not isinstance(max_iter, numbers.Integral) or isinstance(max_iter, bool) or max_iter < 0:
            raise ValueError("max_iter must be a non-negative int, got %r" % (max_iter,))
        modifiers = list(utils.listify(input_modifiers)) if input_modifiers is not None else []
        callbacks = list(utils.listify(callbacks)) if callbacks is not None else []
        grad_fn = _identity if grad_modifier is None else _grad_modifiers.get(grad_modifier)
        gen = global_generator() if seed is None else np.random.default_rng(seed)

        x = self._get_seed_input(seed_input, gen)
        n = x.shape[0]
        best_loss = np.full(n, np.inf)
        best_input = None
        cache = None
        grads = wrt_value = None
        progress = None
        if verbose:
            from tqdm import tqdm
            progress = tqdm(total=max_iter, desc='Activation maximization', unit='it')
        lend = using_generator(modifiers, gen) if seed is not None else _no_context()
        try:
            with lend:
                for i in range(max_iter):
                    for m in modifiers:
                        x = m.pre(x)
                    values, overall, grads, wrt_value = self.evaluate(x)
                    grads = grad_fn(grads)
                    named_losses = [(name, _scalar_or_batch(v))
                                    for name, v in zip(self.loss_names, values)]
                    overall_report = _scalar_or_batch(overall)
                    for c in callbacks:
                        c.callback(i, named_losses, overall_report, grads, wrt_value)

                    # Keep the input that produced this loss, before it is stepped.
                    improved = overall < best_loss
                    if best_input is None:
                        best_input = np.array(x, copy=True)
                    elif improved.any():
                        best_input[improved] = x[improved]
                    best_loss = np.where(improved, overall, best_loss)

                    if self.wrt_tensor_is_input_tensor:
                        step, cache = _rmsprop(np.asarray(grads), cache)
                        x = x + step
                    for m in reversed(modifiers):
                        x = m.post(x)
                    if progress is not None:
                        progress.set_postfix(_postfix(named_losses, overall), refresh=False)
                        progress.update(1)
        finally:
            if progress is not None:
                progress.close()
        for c in callbacks:
            c.on_end()

        if best_input is None:          # max_iter == 0: nothing was evaluated
            best_input = x
        elif np.isinf(best_loss).any():
            warnings.warn("Optimizer.minimize: the overall loss was never finite for %d of %d "
                          "sample(s); returning their first evaluated input"
                          % (int(np.isinf(best_loss).sum()), n), RuntimeWarning, stacklevel=2)
        if n == 1:
            img = utils.deprocess_input(best_input[0], self.input_range)
        else:
            img = np.stack([utils.deprocess_input(b, self.input_range) for b in best_input])
        return img, grads, wrt_value


class _no_context(object):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _postfix(named_losses, overall):
    """Short loss read-out for the progress bar (batch: mean over samples)."""
    out = {}
    for name, v in named_losses:
        out[name.replace(' Loss', '')] = '%.4g' % float(np.mean(v))
    out['overall'] = '%.4g' % float(np.mean(overall))
    return out
