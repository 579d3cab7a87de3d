"""Valid Keras model configs (Keras 2 and Keras 3 dialects) and a structure-aware mutator.

The fuzz targets start from these small but representative configs (conv, pooling, dense,
merge, nested Sequential) and replace, delete or duplicate values at random places in the JSON
tree with hostile values: huge or negative sizes, wrong types, deep nesting, lambdas.
"""
import copy

DEEP = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]

HOSTILE = (None, 0, -1, 1, 3, 2 ** 31, 2 ** 63, -(2 ** 63), 10 ** 12, 1e308, float("nan"), 0.5, True,
           "", "relu", "same", "valid", "channels_first", "Lambda", "in", "d", "c", [], {}, [None, 4],
           [None, 10 ** 6, 10 ** 6, 3], [0, 0], [-1], ["in", 0, 0], [["in", 0, 0, {}]], DEEP,
           {"class_name": "__lambda__", "config": {"code": "ZXZpbA=="}},
           {"class_name": "Lambda", "config": {"name": "x"}}, {"module": "evil", "class_name": "function",
                                                                "config": "x", "registered_name": "x"})


def _k2_layer(cls, name, inbound, **cfg):
    cfg["name"] = name
    return {"class_name": cls, "name": name, "config": cfg,
            "inbound_nodes": [[[src, 0, 0, {}] for src in inbound]] if inbound else []}


def keras2_functional():
    layers = [
        {"class_name": "InputLayer", "name": "in", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 6, 6, 2], "dtype": "float32", "name": "in"}},
        _k2_layer("Conv2D", "c", ["in"], filters=3, kernel_size=[3, 3], strides=[1, 1], padding="same",
                  dilation_rate=[1, 1], activation="relu", use_bias=True, data_format="channels_last"),
        _k2_layer("Conv2D", "c2", ["in"], filters=3, kernel_size=[1, 1], strides=[1, 1], padding="valid",
                  activation="linear", use_bias=False),
        _k2_layer("Add", "add", ["c", "c2"]),
        _k2_layer("MaxPooling2D", "p", ["add"], pool_size=[2, 2], strides=[2, 2], padding="valid"),
        _k2_layer("Flatten", "f", ["p"]),
        _k2_layer("Dense", "d", ["f"], units=4, activation="softmax", use_bias=True),
    ]
    return {"class_name": "Model", "config": {"name": "m", "layers": layers,
                                              "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}}


def keras2_sequential():
    return {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Conv2D", "config": {"name": "c", "filters": 2, "kernel_size": [2, 2], "activation": "relu",
                                            "batch_input_shape": [None, 5, 5, 1], "padding": "valid"}},
        {"class_name": "GlobalAveragePooling2D", "config": {"name": "g"}},
        {"class_name": "Dense", "config": {"name": "d", "units": 3, "activation": "linear"}}]}}


def _kt(name):
    return {"class_name": "__keras_tensor__", "config": {"shape": [None, 4], "dtype": "float32",
                                                          "keras_history": [name, 0, 0]}}


def keras3_functional():
    def layer(cls, name, inbound, **cfg):
        cfg["name"] = name
        args = [_kt(inbound[0])] if len(inbound) == 1 else [[_kt(n) for n in inbound]]
        return {"module": "keras.layers", "class_name": cls, "registered_name": None, "name": name,
                "config": cfg, "inbound_nodes": [{"args": args, "kwargs": {}}]}
    layers = [
        {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": "in",
         "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "in"}, "inbound_nodes": []},
        layer("Dense", "a", ["in"], units=5, activation="relu", use_bias=True),
        layer("Dense", "b", ["in"], units=5, activation={"module": "keras.activations", "class_name": "function",
                                                            "config": "tanh", "registered_name": "tanh"}),
        layer("Concatenate", "cat", ["a", "b"], axis=-1),
        layer("Dropout", "drop", ["cat"], rate=0.5),
        layer("Dense", "d", ["drop"], units=2, activation="sigmoid"),
    ]
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "m3", "trainable": True, "layers": layers,
                       "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}}


BASES = (("2.2.4", keras2_functional), ("2.1.0", keras2_sequential), ("3.6.0", keras3_functional))


def _children(node):
    if isinstance(node, dict):
        return list(node.keys())
    if isinstance(node, list):
        return list(range(len(node)))
    return []


def mutate(draw, config, rounds=None):
    """Apply 1..6 random edits to a deep copy of `config` and return it."""
    config = copy.deepcopy(config)
    for _ in range(rounds if rounds is not None else draw.int_in(1, 6)):
        parent, key = None, None
        node = config
        for _ in range(draw.int_in(1, 8)):            # walk down a random path
            keys = _children(node)
            if not keys:
                break
            parent, key = node, draw.pick(keys)
            node = node[key]
        if parent is None:
            continue
        action = draw.int_in(0, 9)
        if action == 0 and isinstance(parent, dict):
            del parent[key]
        elif action == 1:
            parent[key] = copy.deepcopy(config["config"] if isinstance(config, dict) and "config" in config
                                        else node)       # self-similar nesting
        else:
            parent[key] = copy.deepcopy(draw.pick(HOSTILE))
    return config
