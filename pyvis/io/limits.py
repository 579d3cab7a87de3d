"""Upper bounds that keep a hostile or corrupt file from making pyvis allocate absurd memory.

Every size read from a config or a file is checked against these *before* anything of that size
is allocated. The bounds are far above any real network (VGG16 has 1.4e8 weights) and far below
what would exhaust a machine's memory by surprise.
"""

MAX_JSON_BYTES = 64 * 1024 * 1024        # a model config; VGG16's is ~25 KB
MAX_LAYERS = 100_000                     # layers in one config, nested models included
MAX_NESTING = 32                         # depth of models nested inside models
MAX_DIM = 1 << 24                        # any single dimension (units, filters, image side)
MAX_KERNEL_SIDE = 4096                   # kernel_size / pool_size / strides / dilation
MAX_TENSOR_ELEMENTS = 1 << 31            # one sample of one tensor (H*W*C)
MAX_WEIGHT_ELEMENTS = 1 << 30            # all weights of one model (4 GiB as float32)
MAX_ATTRIBUTE_ELEMENTS = 1 << 20         # entries of an HDF5 attribute (layer_names, weight_names)
MAX_ATTRIBUTE_CHUNKS = 10_000            # layer_names0, layer_names1, ...
MAX_NAME_CHARS = 1 << 16                 # one layer or weight name
