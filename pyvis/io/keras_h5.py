"""Legacy Keras HDF5: full models (`model.save('x.h5')`) and weights-only files (keras-formats.md §1-2).

Weights are found through each layer group's `weight_names` list, never by guessing paths, so the
Keras 1 (`fc1_W_1:0`), Keras 2 (`fc1/kernel:0`), Theano (`fc1/kernel`) and Keras 3
(`fc1/kernel`) spellings all load. Pairing with the model is topological (the k-th file layer
with weights feeds the k-th model layer with weights, as Keras does) or by layer name on request.
"""

from . import assign, h5util, units
from .config import build_model, keras_major, parse_json


def versions(h5file, group, label):
    """(keras_version, backend) from the root attributes, else from the weights group."""
    kv = h5util.read_string_attr(h5file, "keras_version", label)
    backend = h5util.read_string_attr(h5file, "backend", label)
    if group is not None and group is not h5file:
        kv = kv or h5util.read_string_attr(group, "keras_version", label)
        backend = backend or h5util.read_string_attr(group, "backend", label)
    return kv, backend


def conversions_for(keras_version, backend):
    """Keras 2 transposed Theano-ordered kernels and flipped Theano kernels; Keras 3 converts nothing."""
    if keras_major(keras_version) >= 3:
        return assign.NO_CONVERSION
    return assign.Conversions(theano_flip=(backend == "theano"), transpose_kernels=True)


def weights_group(h5file, label):
    """The group holding `layer_names`: the root of a weights file or `/model_weights` of a full model."""
    if h5util.has_attr(h5file, "layer_names") or h5util.has_attr(h5file, "layer_names0"):
        return h5file
    group = h5util.get_child(h5file, "model_weights", label)
    if group is None:
        raise ValueError(f"{label}: no 'layer_names' attribute and no 'model_weights' group; "
                         "not a Keras 2 weights file")
    return group


def layer_table(group, label):
    """[(layer name, [weight names])] in the file's `layer_names` order."""
    names = h5util.read_string_list_attr(group, "layer_names", label)
    if names is None:
        raise ValueError(f"{label}: the weights group has no 'layer_names' attribute")
    table = []
    for name in names:
        layer_group = h5util.get_child(group, name, label) if name else None
        if layer_group is None:
            raise ValueError(f"{label}: layer_names lists {name!r} but the file has no group for it")
        weight_names = h5util.read_string_list_attr(layer_group, "weight_names", f"{label} layer {name!r}")
        table.append((name, layer_group, weight_names or []))
    return table


def sources(layer_group, weight_names, label):
    """assign.Source for each listed weight (resolved as a path relative to the layer group)."""
    out = []
    for wname in weight_names:
        ds = h5util.get_child(layer_group, wname, label)
        desc = f"{layer_group.name}/{wname}"
        if ds is None:
            raise ValueError(f"{label}: weight_names lists {wname!r} but there is no dataset {desc!r}")
        shape, read = h5util.dataset_shape_and_reader(ds, desc, label)
        out.append(assign.Source(shape, read, desc))
    return out


def _owner_name(weight_name):
    """'block1_conv1/kernel:0' -> 'block1_conv1' (the layer inside a nested model), else None."""
    parts = weight_name.split(":")[0].split("/")
    return parts[-2] if len(parts) >= 2 else None


def load_unit(unit, srcs, weight_names, label, conversions, skip_mismatch):
    """Assign a file layer's weights to a model unit (a layer, or a whole nested model)."""
    if unit.kind == "layer":
        return assign.assign_layer(unit.layer, unit.class_name, srcs, label, conversions, skip_mismatch)
    leaves = units.weighted_leaves(unit)
    # Prefer names: 'c1/kernel:0' belongs to the inner layer 'c1'.
    by_owner = {}
    for src, wname in zip(srcs, weight_names):
        by_owner.setdefault(_owner_name(wname), []).append(src)
    leaf_names = [leaf.name for leaf in leaves]
    if None not in by_owner and len(set(leaf_names)) == len(leaf_names) and set(by_owner) == set(leaf_names) \
            and all(len(by_owner[leaf.name]) == len(leaf.layer.weights) for leaf in leaves):
        groups = [(leaf, by_owner[leaf.name]) for leaf in leaves]
    else:
        # Fall back to Keras's order: trainable weights of all sublayers, then non-trainable ones.
        order = units.legacy_order(unit)
        if len(order) != len(srcs):
            msg = (f"{label}: nested model {unit.name!r} has {len(order)} weights but the file provides "
                   f"{len(srcs)} ({weight_names[:6]}...)")
            if skip_mismatch:
                return assign._mismatch(msg, True)
            raise ValueError(msg)
        per_leaf = {id(leaf): [None] * len(leaf.layer.weights) for leaf in leaves}
        for (leaf, i), src in zip(order, srcs):
            per_leaf[id(leaf)][i] = src
        groups = [(leaf, per_leaf[id(leaf)]) for leaf in leaves]
    done = True
    for leaf, leaf_srcs in groups:
        done &= assign.assign_layer(leaf.layer, leaf.class_name, leaf_srcs, label, conversions, skip_mismatch)
    return done


def load_group_into(root, group, label, by_name=False, skip_mismatch=False, conversions=assign.NO_CONVERSION):
    """Load a legacy weights group into the model described by record `root`."""
    table = layer_table(group, label)
    model_units = units.container(root)
    if by_name:
        index = {}
        for u in model_units:
            index.setdefault(u.name, []).append(u)
            if u.kind == "layer" and u.layer.name != u.name:
                index.setdefault(u.layer.name, []).append(u)
        for name, layer_group, weight_names in table:
            for u in index.get(name, []):
                srcs = sources(layer_group, weight_names, label)
                load_unit(u, srcs, weight_names, label, conversions, skip_mismatch)
        return
    weighted = [u for u in model_units if units.has_weights(u)]
    filed = [(n, g, w) for n, g, w in table if w]
    if len(weighted) != len(filed):
        raise ValueError(
            f"{label}: layer count mismatch: the file has weights for {len(filed)} layers "
            f"({[n for n, _, _ in filed][:8]}{'...' if len(filed) > 8 else ''}) but the model has "
            f"{len(weighted)} layers with weights ({[u.name for u in weighted][:8]}"
            f"{'...' if len(weighted) > 8 else ''}). Use by_name=True to match layers by name")
    for u, (name, layer_group, weight_names) in zip(weighted, filed):
        srcs = sources(layer_group, weight_names, label)
        load_unit(u, srcs, weight_names, label, conversions, skip_mismatch)


def load_full_weights(root, group, label, conversions):
    """Weights of a full-model file into the model built from its own config (matched by name)."""
    table = {n: (g, w) for n, g, w in layer_table(group, label)}
    for u in units.container(root):
        if not units.has_weights(u):
            continue
        if u.name not in table or not table[u.name][1]:
            raise ValueError(f"{label}: the config has layer {u.name!r} with weights, but model_weights has none for it")
        layer_group, weight_names = table[u.name]
        load_unit(u, sources(layer_group, weight_names, label), weight_names, label, conversions, False)


def load_model(path, custom_objects=None):
    """A pyvis model from a legacy full-model .h5 file."""
    label = repr(path)
    with h5util.open_h5(path, label) as f:
        text = h5util.read_string_attr(f, "model_config", label)
        if text is None:
            raise ValueError(f"{label}: no 'model_config' attribute; this is a weights-only file. Build the model "
                             "in code and call model.load_weights()")
        envelope = parse_json(text, label)
        group = weights_group(f, label)
        keras_version, backend = versions(f, group, label)
        model, root = build_model(envelope, label, keras_version, custom_objects)
        load_full_weights(root, group, label, conversions_for(keras_version, backend))
    units.remember(model, root)
    return model


def load_weights(model, path, by_name=False, skip_mismatch=False):
    """Legacy weights (weights-only file, or the weights of a full-model file) into `model`."""
    label = repr(path)
    with h5util.open_h5(path, label) as f:
        group = weights_group(f, label)
        keras_version, backend = versions(f, group, label)
        load_group_into(units.root_record(model), group, label, by_name, skip_mismatch,
                        conversions_for(keras_version, backend))
