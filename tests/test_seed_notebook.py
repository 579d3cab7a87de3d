"""The seed notebook (keras-vis "Attention on VGGNet") runs with only its import lines changed.

Its code cells are copied below verbatim except for the imports (``keras``/``vis`` -> ``pyvis``)
and executed in a real Jupyter kernel (nbclient), so ``%matplotlib inline`` and the plotting
run too.  The data are generated: a VGG16 weight file in the keras.applications layout (random
weights, Keras 2 group/dataset names) placed in a temporary ``$KERAS_HOME/models``, and two
synthetic JPEG images at ``images/ouzel1.jpg`` and ``images/ouzel2.jpg``.  The real file's md5
cannot match generated weights, so a setup cell (not part of the notebook) registers the
generated file's md5 in place of Keras's.  A final check cell asserts the results' shapes,
dtypes and ranges, and that the weights were really loaded from the file.
"""

import hashlib
import os
import textwrap

import h5py
import nbformat
import numpy as np
from nbclient import NotebookClient
from PIL import Image

WEIGHTS_FNAME = 'vgg16_weights_tf_dim_ordering_tf_kernels.h5'

# (layer name, kernel shape) of VGG16's weighted layers, in Keras order; the file also lists
# the weightless layers, with empty weight_names, as keras.applications files do.
VGG16_LAYERS = ['input_1']
_WEIGHTED = {}
_c_in = 3
for _b, (_filters, _n) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)), start=1):
    for _c in range(1, _n + 1):
        VGG16_LAYERS.append('block%d_conv%d' % (_b, _c))
        _WEIGHTED[VGG16_LAYERS[-1]] = (3, 3, _c_in, _filters)
        _c_in = _filters
    VGG16_LAYERS.append('block%d_pool' % _b)
VGG16_LAYERS.append('flatten')
for _name, _shape in (('fc1', (25088, 4096)), ('fc2', (4096, 4096)), ('predictions', (4096, 1000))):
    VGG16_LAYERS.append(_name)
    _WEIGHTED[_name] = _shape


def write_vgg16_weights(path, rng):
    """A keras.applications-style VGG16 weight file (legacy weights-only HDF5) with random,
    He-scaled weights.  Returns the first conv kernel (to check it was loaded)."""
    first = None
    with h5py.File(path, 'w') as f:
        f.attrs['layer_names'] = np.array([n.encode() for n in VGG16_LAYERS])
        f.attrs['backend'] = b'tensorflow'
        f.attrs['keras_version'] = b'2.0.8'
        for name in VGG16_LAYERS:
            g = f.create_group(name)
            if name not in _WEIGHTED:
                g.attrs['weight_names'] = np.array([], dtype='S1')
                continue
            shape = _WEIGHTED[name]
            fan_in = int(np.prod(shape[:-1]))
            kernel = rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2. / fan_in))
            bias = rng.standard_normal(shape[-1], dtype=np.float32) * np.float32(0.01)
            names = ['%s_W_1:0' % name, '%s_b_1:0' % name]
            g.attrs['weight_names'] = np.array([n.encode() for n in names])
            g.create_dataset(names[0], data=kernel)
            g.create_dataset(names[1], data=bias)
            if first is None:
                first = kernel
    return first


def write_images(folder, rng):
    """Two synthetic photos (smooth colour fields with a bright 'bird' blob), 300x400 JPEGs."""
    os.makedirs(folder)
    yy, xx = np.mgrid[0:300, 0:400]
    for k, (cy, cx) in enumerate(((120, 150), (180, 260)), start=1):
        img = np.stack([xx / 400. * 200, yy / 300. * 180, np.full(xx.shape, 90.)], axis=-1)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 40. ** 2))
        img = img * (1 - blob[..., None]) + blob[..., None] * np.array([40., 40., 50.])
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(folder, 'ouzel%d.jpg' % k), quality=92)


# ---------------------------------------------------------------------- the notebook's code cells

NOTEBOOK_CELLS = [
    '''\
from pyvis.applications import VGG16
from pyvis.utils import utils
from pyvis import activations

# Build the VGG16 network with ImageNet weights
model = VGG16(weights='imagenet', include_top=True)

# Utility to search for layer index by name. 
# Alternatively we can specify this as -1 since it corresponds to the last layer.
layer_idx = utils.find_layer_idx(model, 'predictions')

# Swap softmax with linear
model.layers[layer_idx].activation = activations.linear
model = utils.apply_modifications(model)
''',
    '''\
from pyvis.utils import utils
from matplotlib import pyplot as plt
%matplotlib inline
plt.rcParams['figure.figsize'] = (18, 6)

img1 = utils.load_img('images/ouzel1.jpg', target_size=(224, 224))
img2 = utils.load_img('images/ouzel2.jpg', target_size=(224, 224))

f, ax = plt.subplots(1, 2)
''',
    '''\
from pyvis.visualization import visualize_saliency, overlay
from pyvis.utils import utils
from pyvis import activations

# Utility to search for layer index by name. 
# Alternatively we can specify this as -1 since it corresponds to the last layer.
layer_idx = utils.find_layer_idx(model, 'predictions')

f, ax = plt.subplots(1, 2)
for i, img in enumerate([img1, img2]):    
    # 20 is the imagenet index corresponding to `ouzel`
    grads = visualize_saliency(model, layer_idx, filter_indices=20, seed_input=img)
    # visualize grads as heatmap
    ax[i].imshow(grads, cmap='jet')
''',
    '''\
for modifier in ['guided', 'relu']:
    f, ax = plt.subplots(1, 2)
    for i, img in enumerate([img1, img2]):    
        # 20 is the imagenet index corresponding to `ouzel`
        grads = visualize_saliency(model, layer_idx, filter_indices=20, 
                                   seed_input=img, backprop_modifier=modifier)
        # Lets overlay the heatmap onto original image.    
        ax[i].imshow(grads, cmap='jet')
''',
    '''\
import numpy as np
import matplotlib.cm as cm
from pyvis.visualization import visualize_cam

for modifier in [None, 'guided', 'relu']:
    f, ax = plt.subplots(1, 2)
    plt.suptitle("vanilla" if modifier is None else modifier)
    for i, img in enumerate([img1, img2]):    
        # 20 is the imagenet index corresponding to `ouzel`
        grads = visualize_cam(model, layer_idx, filter_indices=20, 
                              seed_input=img, backprop_modifier=modifier)        
        # Lets overlay the heatmap onto original image.    
        jet_heatmap = np.uint8(cm.jet(grads)[..., :3] * 255)
        ax[i].imshow(overlay(jet_heatmap, img))
''',
]


def _setup_cell(keras_home, md5):
    return textwrap.dedent('''\
        import os
        os.environ['KERAS_HOME'] = %r
        import pyvis.applications.imagenet_utils as _imagenet_utils
        # generated weights: register their md5 in place of the real file's
        _imagenet_utils.WEIGHT_FILES[('vgg16', True)] = (%r, %r)
        ''' % (keras_home, WEIGHTS_FNAME, md5))


def _check_cell(first_kernel_path):
    return textwrap.dedent('''\
        import numpy as np
        from pyvis import activations as _act
        assert model.layers[layer_idx].name == 'predictions'
        assert model.layers[layer_idx].activation is _act.linear
        np.testing.assert_array_equal(model.get_layer('block1_conv1').get_weights()[0],
                                      np.load(%r))
        assert img1.shape == (224, 224, 3) and img1.dtype == np.uint8
        assert img2.shape == (224, 224, 3) and img2.dtype == np.uint8
        s = visualize_saliency(model, layer_idx, filter_indices=20, seed_input=img1)
        assert s.shape == (224, 224) and s.dtype == np.float32, s.shape
        assert s.min() == 0 and s.max() <= 1
        assert grads.shape == (224, 224) and grads.dtype == np.float32
        assert grads.min() >= 0 and grads.max() <= 1
        assert jet_heatmap.shape == (224, 224, 3) and jet_heatmap.dtype == np.uint8
        print('checks passed')
        ''' % first_kernel_path)


def test_seed_notebook_runs_with_only_imports_changed(tmp_path):
    rng = np.random.default_rng(20)
    models_dir = tmp_path / 'keras_home' / 'models'
    models_dir.mkdir(parents=True)
    weights_path = models_dir / WEIGHTS_FNAME
    first = write_vgg16_weights(str(weights_path), rng)
    np.save(str(tmp_path / 'first_kernel.npy'), first)
    del first
    with open(weights_path, 'rb') as f:
        md5 = hashlib.md5()
        for block in iter(lambda: f.read(1 << 20), b''):
            md5.update(block)
    write_images(str(tmp_path / 'images'), rng)

    nb = nbformat.v4.new_notebook()
    sources = ([_setup_cell(str(tmp_path / 'keras_home'), md5.hexdigest())] + NOTEBOOK_CELLS +
               [_check_cell(str(tmp_path / 'first_kernel.npy'))])
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    client = NotebookClient(nb, timeout=1800, kernel_name='python3',
                            resources={'metadata': {'path': str(tmp_path)}})
    client.execute()

    outputs = nb.cells[-1].outputs
    assert any('checks passed' in o.get('text', '') for o in outputs), outputs
    # the plotting cells really drew their figures
    for cell in nb.cells[3:6]:
        assert any(o.get('output_type') == 'display_data' for o in cell.outputs), cell.source
