/* module.c — pyvis._core: the only file that includes Python.h and the NumPy headers.
 *
 * It converts arguments to aligned, C-contiguous float32 arrays (never writing to the caller's),
 * releases the GIL around whole runs, and turns the kernels' status codes into Python exceptions
 * once it holds the GIL again. Types:
 *   Graph(nodes)            an immutable, validated node list; keeps its weight arrays alive
 *   Graph.forward(inputs)   -> Tape: one forward run holding every node's value
 *   Tape.value(node), Tape.backward(seeds, wrt, modifier)
 * A Graph keeps one spare tape arena so repeated calls at one batch size allocate nothing.
 * Validation of Keras-level arguments (layer names, shapes users understand) happens in Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <numpy/arrayobject.h>

#include <math.h>
#include "pyvis.h"

/* ---------------------------------------------------------------------------------------- */
/* status -> exception                                                                        */

static PyObject *raise_status(const pv_error *err)
{
    PyObject *type;
    switch (err->code) {
    case PV_ERR_TYPE: type = PyExc_TypeError; break;
    case PV_ERR_NOMEM: type = PyExc_MemoryError; break;
    case PV_ERR_INDEX: type = PyExc_IndexError; break;
    case PV_ERR_INTERNAL: type = PyExc_RuntimeError; break;
    default: type = PyExc_ValueError; break;
    }
    PyErr_SetString(type, err->msg);
    return NULL;
}

/* A real-valued array of any numeric dtype as aligned C-contiguous native float32 (a new
 * reference; a copy whenever the input is not already exactly that, so the caller's data is
 * never written). Complex, object, string and other dtypes raise TypeError naming `what`. */
static PyArrayObject *as_float32(PyObject *obj, const char *what)
{
    PyArrayObject *probe = (PyArrayObject *)PyArray_FROM_O(obj);
    if (!probe) return NULL;
    char kind = PyArray_DESCR(probe)->kind;
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
        PyErr_Format(PyExc_TypeError, "%s: expected a real numeric array, got dtype %R", what,
                     (PyObject *)PyArray_DESCR(probe));
        Py_DECREF(probe);
        return NULL;
    }
    PyArrayObject *arr = (PyArrayObject *)PyArray_FROM_OTF((PyObject *)probe, NPY_FLOAT32,
                                                           NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    Py_DECREF(probe);
    return arr;
}

static PyObject *shape_tuple(size_t N, const pv_shape *s, int with_batch)
{
    PyObject *t = PyTuple_New(s->rank + (with_batch ? 1 : 0));
    if (!t) return NULL;
    int k = 0;
    for (int a = with_batch ? -1 : 0; a < s->rank; a++) {
        PyObject *v = PyLong_FromSize_t(a < 0 ? N : s->d[a]);
        if (!v) { Py_DECREF(t); return NULL; }
        PyTuple_SET_ITEM(t, k++, v);
    }
    return t;
}

static PyArrayObject *new_array(size_t N, const pv_shape *s)
{
    npy_intp dims[PV_MAX_RANK + 1];
    dims[0] = (npy_intp)N;
    for (int a = 0; a < s->rank; a++) dims[a + 1] = (npy_intp)s->d[a];
    return (PyArrayObject *)PyArray_SimpleNew(s->rank + 1, dims, NPY_FLOAT32);
}

/* ---------------------------------------------------------------------------------------- */
/* Graph                                                                                      */

typedef struct {
    PyObject_HEAD
    pv_graph *g;
    PyObject *keep;        /* list of the converted weight arrays the nodes point into */
    pv_tape *spare;        /* an idle arena, reused by the next forward */
} GraphObject;

typedef struct {
    PyObject_HEAD
    GraphObject *graph;
    pv_tape *t;
    int busy;
} TapeObject;

static PyTypeObject GraphType, TapeType;

static int read_long_tuple(PyObject *seq, long *out, int max, int *n, const char *what, int node)
{
    PyObject *fast = PySequence_Fast(seq, "expected a sequence");
    if (!fast) return -1;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(fast);
    if (len > max) {
        PyErr_Format(PyExc_ValueError, "node %d: %s has %zd entries, at most %d allowed", node, what, len, max);
        Py_DECREF(fast);
        return -1;
    }
    for (Py_ssize_t k = 0; k < len; k++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, k));
        if (v == -1 && PyErr_Occurred()) { Py_DECREF(fast); return -1; }
        out[k] = v;
    }
    *n = (int)len;
    Py_DECREF(fast);
    return 0;
}

static int fill_node(GraphObject *self, int i, PyObject *spec)
{
    pv_node *nd = &self->g->nodes[i];
    PyObject *op, *ins, *ip, *fp, *ws;
    if (!PyTuple_Check(spec) || !PyArg_ParseTuple(spec, "OOOOO", &op, &ins, &ip, &fp, &ws)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "node %d: expected a tuple (op, inputs, iparams, fparams, weights)", i);
        return -1;
    }
    long code = PyLong_AsLong(op);
    if (code == -1 && PyErr_Occurred()) return -1;
    if (code < 0 || code >= PV_OP_COUNT) {   /* before the cast: 2**32 + 1 must not become op 1 */
        PyErr_Format(PyExc_ValueError, "node %d: unknown op code %ld, expected 0..%d", i, code, PV_OP_COUNT - 1);
        return -1;
    }
    nd->op = (pv_op)code;

    long tmp[PV_MAX_IPARAMS];
    int n_in = 0;
    PyObject *fast = PySequence_Fast(ins, "node inputs must be a sequence of ints");
    if (!fast) return -1;
    n_in = (int)PySequence_Fast_GET_SIZE(fast);
    nd->in = calloc(n_in > 0 ? (size_t)n_in : 1, sizeof(int));
    if (!nd->in) { Py_DECREF(fast); PyErr_NoMemory(); return -1; }
    for (int k = 0; k < n_in; k++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, k));
        if (v == -1 && PyErr_Occurred()) { Py_DECREF(fast); return -1; }
        nd->in[k] = (v < -1 || v > INT32_MAX) ? -2 : (int)v;
    }
    nd->n_in = n_in;
    Py_DECREF(fast);

    if (read_long_tuple(ip, tmp, PV_MAX_IPARAMS, &nd->n_ip, "iparams", i)) return -1;
    memcpy(nd->ip, tmp, sizeof tmp);

    fast = PySequence_Fast(fp, "fparams must be a sequence of floats");
    if (!fast) return -1;
    Py_ssize_t nf = PySequence_Fast_GET_SIZE(fast);
    if (nf > 4) { Py_DECREF(fast); PyErr_Format(PyExc_ValueError, "node %d: at most 4 fparams", i); return -1; }
    for (Py_ssize_t k = 0; k < nf; k++) {
        nd->fp[k] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast, k));
        if (nd->fp[k] == -1.0 && PyErr_Occurred()) { Py_DECREF(fast); return -1; }
    }
    Py_DECREF(fast);

    fast = PySequence_Fast(ws, "weights must be a sequence of arrays");
    if (!fast) return -1;
    Py_ssize_t nw = PySequence_Fast_GET_SIZE(fast);
    if (nw > PV_MAX_WEIGHTS) { Py_DECREF(fast); PyErr_Format(PyExc_ValueError, "node %d: at most %d weight arrays", i, PV_MAX_WEIGHTS); return -1; }
    for (Py_ssize_t k = 0; k < nw; k++) {
        PyArrayObject *arr = as_float32(PySequence_Fast_GET_ITEM(fast, k), "weights");
        if (!arr) { Py_DECREF(fast); return -1; }
        int nd_rank = PyArray_NDIM(arr);
        if (nd_rank > PV_MAX_RANK) {
            Py_DECREF(arr); Py_DECREF(fast);
            PyErr_Format(PyExc_ValueError, "node %d: weight %zd has rank %d, at most %d", i, k, nd_rank, PV_MAX_RANK);
            return -1;
        }
        nd->wshape[k].rank = nd_rank;
        for (int a = 0; a < nd_rank; a++) nd->wshape[k].d[a] = (size_t)PyArray_DIM(arr, a);
        nd->w[k] = (const float *)PyArray_DATA(arr);
        int rc = PyList_Append(self->keep, (PyObject *)arr);
        Py_DECREF(arr);
        if (rc) { Py_DECREF(fast); return -1; }
    }
    nd->n_w = (int)nw;
    Py_DECREF(fast);
    return 0;
}

static int Graph_init(GraphObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"nodes", NULL};
    PyObject *nodes;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &nodes)) return -1;
    if (self->g) { PyErr_SetString(PyExc_RuntimeError, "Graph is already initialised"); return -1; }
    PyObject *fast = PySequence_Fast(nodes, "nodes must be a sequence of node tuples");
    if (!fast) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n < 1 || n > INT32_MAX / 2) {
        Py_DECREF(fast);
        PyErr_Format(PyExc_ValueError, "nodes: expected between 1 and %d nodes, got %zd", INT32_MAX / 2, n);
        return -1;
    }
    self->keep = PyList_New(0);
    self->g = pv_graph_new((int)n);
    if (!self->keep || !self->g) { Py_DECREF(fast); PyErr_NoMemory(); return -1; }
    pv_error err = {0};
    for (Py_ssize_t i = 0; i < n; i++)
        if (fill_node(self, (int)i, PySequence_Fast_GET_ITEM(fast, i))) goto fail;
    Py_DECREF(fast);
    fast = NULL;
    if (pv_graph_check(self->g, &err) || pv_graph_prepare(self->g, &err)) { raise_status(&err); goto fail; }
    return 0;
fail:
    /* leave no half-filled graph behind: a later forward() on it would read unset nodes */
    Py_XDECREF(fast);
    pv_graph_free(self->g);
    self->g = NULL;
    Py_CLEAR(self->keep);
    return -1;
}

static void Graph_dealloc(GraphObject *self)
{
    pv_tape_free(self->spare);
    pv_graph_free(self->g);
    Py_XDECREF(self->keep);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int graph_ready(GraphObject *self)
{
    if (!self->g) { PyErr_SetString(PyExc_RuntimeError, "Graph was not initialised"); return 0; }
    return 1;
}

static PyObject *Graph_forward(GraphObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"inputs", "exact", NULL};
    PyObject *inputs;
    int exact = 0;
    if (!graph_ready(self)) return NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|p", kwlist, &inputs, &exact)) return NULL;
    PyObject *fast = PySequence_Fast(inputs, "inputs must be a list of arrays, one per Input node");
    if (!fast) return NULL;
    const pv_graph *g = self->g;
    Py_ssize_t n_in = PySequence_Fast_GET_SIZE(fast);
    if (n_in != g->n_inputs) {
        Py_DECREF(fast);
        return PyErr_Format(PyExc_ValueError, "inputs: the graph has %d Input node(s), got %zd arrays", g->n_inputs, n_in);
    }
    PyArrayObject **arrs = calloc((size_t)n_in, sizeof *arrs);
    const float **ptrs = calloc((size_t)n_in, sizeof *ptrs);
    pv_shape *dims = calloc((size_t)n_in, sizeof *dims);
    TapeObject *tape = NULL;
    pv_tape *t = NULL;
    size_t N = 0;
    if (!arrs || !ptrs || !dims) { PyErr_NoMemory(); goto fail; }
    for (Py_ssize_t k = 0; k < n_in; k++) {
        arrs[k] = as_float32(PySequence_Fast_GET_ITEM(fast, k), "inputs");
        if (!arrs[k]) goto fail;
        int rank = PyArray_NDIM(arrs[k]);
        if (rank < 1 || rank > PV_MAX_RANK) {
            PyErr_Format(PyExc_ValueError, "inputs[%zd]: expected an array (N, ...) with 1 to %d dimensions, got %d",
                         k, PV_MAX_RANK, rank);
            goto fail;
        }
        size_t nk = (size_t)PyArray_DIM(arrs[k], 0);
        if (k > 0 && nk != N) {
            PyErr_Format(PyExc_ValueError, "inputs[%zd]: batch size %zu differs from inputs[0]'s %zu", k, nk, N);
            goto fail;
        }
        N = nk;
        dims[k].rank = rank - 1;
        for (int a = 1; a < rank; a++) dims[k].d[a - 1] = (size_t)PyArray_DIM(arrs[k], a);
        ptrs[k] = (const float *)PyArray_DATA(arrs[k]);
    }
    t = self->spare;
    self->spare = NULL;
    if (!t && !(t = pv_tape_new(g))) { PyErr_NoMemory(); goto fail; }

    t->exact = exact;
    pv_error err = {0};
    pv_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pv_plan(t, N, dims, &err);
    if (!st) st = pv_forward(t, ptrs, &err);
    Py_END_ALLOW_THREADS
    if (st) { raise_status(&err); goto fail; }

    tape = PyObject_New(TapeObject, &TapeType);
    if (!tape) goto fail;
    Py_INCREF(self);
    tape->graph = self;
    tape->t = t;
    tape->busy = 0;
    t = NULL;
fail:
    if (t) {
        if (!self->spare) self->spare = t;
        else pv_tape_free(t);
    }
    for (Py_ssize_t k = 0; arrs && k < n_in; k++) Py_XDECREF(arrs[k]);
    free(arrs); free(ptrs); free(dims);
    Py_DECREF(fast);
    return (PyObject *)tape;
}

static PyObject *Graph_get_num_nodes(GraphObject *self, void *closure)
{
    if (!graph_ready(self)) return NULL;
    return PyLong_FromLong(self->g->n);
}

static PyObject *Graph_get_num_inputs(GraphObject *self, void *closure)
{
    if (!graph_ready(self)) return NULL;
    return PyLong_FromLong(self->g->n_inputs);
}

static PyMethodDef Graph_methods[] = {
    {"forward", (PyCFunction)(void (*)(void))Graph_forward, METH_VARARGS | METH_KEYWORDS,
     "forward(inputs, exact=False) -> Tape. inputs: one array (N, *dims) per Input node, in node\n"
     "order. exact=True convolves directly (im2col) instead of with Winograd F(4x4, 3x3), so ReLU\n"
     "and max-pool decisions match a direct convolution; backward is unaffected by the choice."},
    {NULL}
};

static PyGetSetDef Graph_getset[] = {
    {"num_nodes", (getter)Graph_get_num_nodes, NULL, "number of nodes", NULL},
    {"num_inputs", (getter)Graph_get_num_inputs, NULL, "number of Input nodes", NULL},
    {NULL}
};

static PyTypeObject GraphType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyvis._core.Graph",
    .tp_basicsize = sizeof(GraphObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Graph(nodes): a validated native layer graph.\n\n"
              "nodes: list of (op, inputs, iparams, fparams, weights) tuples in topological order.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Graph_init,
    .tp_dealloc = (destructor)Graph_dealloc,
    .tp_methods = Graph_methods,
    .tp_getset = Graph_getset,
};

/* ---------------------------------------------------------------------------------------- */
/* Tape                                                                                       */

static void Tape_dealloc(TapeObject *self)
{
    if (self->graph && !self->graph->spare) self->graph->spare = self->t;
    else pv_tape_free(self->t);
    Py_XDECREF(self->graph);
    PyObject_Free(self);
}

static int node_index(TapeObject *self, PyObject *obj, const char *what, int *out)
{
    long v = PyLong_AsLong(obj);
    if (v == -1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s: expected a node index (int), got %R", what, obj);
        }
        return -1;
    }
    int n = self->graph->g->n;
    if (v < 0 || v >= n) {
        PyErr_Format(PyExc_IndexError, "%s: node %ld is out of range; the graph has nodes 0..%d", what, v, n - 1);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int claim(TapeObject *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "this Tape is being used by another thread; run a forward per thread");
        return 0;
    }
    self->busy = 1;
    return 1;
}

static PyObject *Tape_value(TapeObject *self, PyObject *arg)
{
    int i;
    if (node_index(self, arg, "node", &i)) return NULL;
    const pv_tape *t = self->t;
    PyArrayObject *out = new_array(t->N, &t->shape[i]);
    if (!out) return NULL;
    memcpy(PyArray_DATA(out), t->acts + t->offset[i], t->N * t->size[i] * sizeof(float));
    return (PyObject *)out;
}

static PyObject *Tape_shape(TapeObject *self, PyObject *arg)
{
    int i;
    if (node_index(self, arg, "node", &i)) return NULL;
    return shape_tuple(self->t->N, &self->t->shape[i], 1);
}

static PyObject *Tape_backward(TapeObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"seeds", "wrt", "modifier", NULL};
    PyObject *seeds_obj, *wrt_obj;
    int modifier = PV_MOD_NONE;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|i", kwlist, &seeds_obj, &wrt_obj, &modifier)) return NULL;
    if (modifier < PV_MOD_NONE || modifier > PV_MOD_RECTIFIED)
        return PyErr_Format(PyExc_ValueError, "modifier: expected 0 (none), 1 (guided) or 2 (rectified), got %d", modifier);
    PyObject *sfast = PySequence_Fast(seeds_obj, "seeds must be a list of (node, gradient) pairs");
    if (!sfast) return NULL;
    PyObject *wfast = PySequence_Fast(wrt_obj, "wrt must be a list of node indices");
    if (!wfast) { Py_DECREF(sfast); return NULL; }
    Py_ssize_t n_seeds = PySequence_Fast_GET_SIZE(sfast), n_wrt = PySequence_Fast_GET_SIZE(wfast);
    const pv_tape *t = self->t;
    PyArrayObject **garr = calloc((size_t)n_seeds + 1, sizeof *garr);
    pv_seed *seeds = calloc((size_t)n_seeds + 1, sizeof *seeds);
    int *wrt = calloc((size_t)n_wrt + 1, sizeof *wrt);
    float **outs = calloc((size_t)n_wrt + 1, sizeof *outs);
    PyObject *result = NULL;
    if (!garr || !seeds || !wrt || !outs) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t k = 0; k < n_seeds; k++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(sfast, k), *node_obj, *g_obj;
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_Format(PyExc_TypeError, "seeds[%zd]: expected a (node, gradient) tuple, got %R", k, pair);
            goto done;
        }
        node_obj = PyTuple_GET_ITEM(pair, 0);
        g_obj = PyTuple_GET_ITEM(pair, 1);
        if (node_index(self, node_obj, "seeds", &seeds[k].node)) goto done;
        garr[k] = as_float32(g_obj, "seeds");
        if (!garr[k]) goto done;
        const pv_shape *s = &t->shape[seeds[k].node];
        int ok = PyArray_NDIM(garr[k]) == s->rank + 1 && (size_t)PyArray_DIM(garr[k], 0) == t->N;
        for (int a = 0; ok && a < s->rank; a++) ok = (size_t)PyArray_DIM(garr[k], a + 1) == s->d[a];
        if (!ok) {
            PyObject *want = shape_tuple(t->N, s, 1);
            PyObject *got = PyObject_GetAttrString((PyObject *)garr[k], "shape");
            PyErr_Format(PyExc_ValueError, "seeds[%zd]: gradient for node %d must have shape %R, got %R",
                         k, seeds[k].node, want, got);
            Py_XDECREF(want); Py_XDECREF(got);
            goto done;
        }
        seeds[k].grad = (const float *)PyArray_DATA(garr[k]);
    }
    result = PyList_New(n_wrt);
    if (!result) goto done;
    for (Py_ssize_t k = 0; k < n_wrt; k++) {
        if (node_index(self, PySequence_Fast_GET_ITEM(wfast, k), "wrt", &wrt[k])) { Py_CLEAR(result); goto done; }
        PyArrayObject *o = new_array(t->N, &t->shape[wrt[k]]);
        if (!o) { Py_CLEAR(result); goto done; }
        outs[k] = (float *)PyArray_DATA(o);
        PyList_SET_ITEM(result, k, (PyObject *)o);
    }
    if (!claim(self)) { Py_CLEAR(result); goto done; }
    pv_error err = {0};
    pv_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pv_backward(self->t, seeds, (int)n_seeds, wrt, (int)n_wrt, outs, (pv_modifier)modifier, &err);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (st) { Py_CLEAR(result); raise_status(&err); }
done:
    for (Py_ssize_t k = 0; garr && k < n_seeds; k++) Py_XDECREF(garr[k]);
    free(garr); free(seeds); free(wrt); free(outs);
    Py_DECREF(sfast); Py_DECREF(wfast);
    return result;
}

static PyObject *Tape_get_batch(TapeObject *self, void *closure)
{
    return PyLong_FromSize_t(self->t->N);
}

static PyMethodDef Tape_methods[] = {
    {"value", (PyCFunction)Tape_value, METH_O, "value(node) -> a copy of the node's output (N, *dims)."},
    {"shape", (PyCFunction)Tape_shape, METH_O, "shape(node) -> the node's output shape (N, *dims)."},
    {"backward", (PyCFunction)(void (*)(void))Tape_backward, METH_VARARGS | METH_KEYWORDS,
     "backward(seeds, wrt, modifier=0) -> list of gradients.\n\n"
     "seeds: list of (node, gradient) pairs; the gradients accumulate. wrt: node indices whose\n"
     "gradient to return. modifier: MOD_NONE, MOD_GUIDED or MOD_RECTIFIED (ReLU units only)."},
    {NULL}
};

static PyGetSetDef Tape_getset[] = {
    {"batch", (getter)Tape_get_batch, NULL, "batch size of this run", NULL},
    {NULL}
};

static PyTypeObject TapeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyvis._core.Tape",
    .tp_basicsize = sizeof(TapeObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One forward run of a Graph; made by Graph.forward().",
    .tp_dealloc = (destructor)Tape_dealloc,
    .tp_methods = Tape_methods,
    .tp_getset = Tape_getset,
};

/* ---------------------------------------------------------------------------------------- */
/* module functions                                                                           */

static PyObject *zoom_cubic(PyObject *mod, PyObject *args)
{
    PyObject *obj;
    Py_ssize_t oh, ow;
    if (!PyArg_ParseTuple(args, "Onn", &obj, &oh, &ow)) return NULL;
    if (oh < 1 || ow < 1)
        return PyErr_Format(PyExc_ValueError, "zoom_cubic: output size must be >= 1, got (%zd, %zd)", oh, ow);
    PyArrayObject *a = as_float32(obj, "zoom_cubic");
    if (!a) return NULL;
    if (PyArray_NDIM(a) != 2 || PyArray_DIM(a, 0) < 1 || PyArray_DIM(a, 1) < 1) {
        PyErr_Format(PyExc_ValueError, "zoom_cubic: expected a non-empty 2-D array, got %d dimensions", PyArray_NDIM(a));
        Py_DECREF(a);
        return NULL;
    }
    npy_intp dims[2] = {oh, ow};
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (!out) { Py_DECREF(a); return NULL; }
    pv_error err = {0};
    pv_status st;
    size_t H = (size_t)PyArray_DIM(a, 0), W = (size_t)PyArray_DIM(a, 1);
    Py_BEGIN_ALLOW_THREADS
    st = zoom_cubic2d((float *)PyArray_DATA(out), (const float *)PyArray_DATA(a), H, W, (size_t)oh, (size_t)ow, &err);
    Py_END_ALLOW_THREADS
    Py_DECREF(a);
    if (st) { Py_DECREF(out); return raise_status(&err); }
    return (PyObject *)out;
}

static PyObject *set_num_threads(PyObject *mod, PyObject *arg)
{
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 1 || n > 4096) return PyErr_Format(PyExc_ValueError, "set_num_threads: n must be between 1 and 4096, got %ld", n);
    pv_set_num_threads((int)n);
    Py_RETURN_NONE;
}

static PyObject *get_num_threads(PyObject *mod, PyObject *unused)
{
    return PyLong_FromLong(pv_get_num_threads());
}

static PyMethodDef module_methods[] = {
    {"zoom_cubic", zoom_cubic, METH_VARARGS,
     "zoom_cubic(a, out_h, out_w) -> float32 (out_h, out_w): cubic-spline zoom of a 2-D map,\n"
     "as scipy.ndimage.zoom(a, (out_h/H, out_w/W), order=3)."},
    {"set_num_threads", set_num_threads, METH_O, "set_num_threads(n): threads for pyvis loops and BLAS."},
    {"get_num_threads", get_num_threads, METH_NOARGS, "get_num_threads() -> int."},
    {NULL}
};

static int add_int(PyObject *m, const char *name, long v)
{
    return PyModule_AddIntConstant(m, name, v);
}

static int module_exec(PyObject *m)
{
    import_array1(-1);
    if (PyType_Ready(&GraphType) < 0 || PyType_Ready(&TapeType) < 0) return -1;
    Py_INCREF(&GraphType);
    if (PyModule_AddObject(m, "Graph", (PyObject *)&GraphType) < 0) { Py_DECREF(&GraphType); return -1; }
    Py_INCREF(&TapeType);
    if (PyModule_AddObject(m, "Tape", (PyObject *)&TapeType) < 0) { Py_DECREF(&TapeType); return -1; }
    static const struct { const char *name; long v; } consts[] = {
        {"OP_INPUT", PV_OP_INPUT}, {"OP_CONV2D", PV_OP_CONV2D}, {"OP_DENSE", PV_OP_DENSE},
        {"OP_MAXPOOL2D", PV_OP_MAXPOOL2D}, {"OP_AVGPOOL2D", PV_OP_AVGPOOL2D},
        {"OP_GLOBAL_AVGPOOL2D", PV_OP_GLOBAL_AVGPOOL2D}, {"OP_GLOBAL_MAXPOOL2D", PV_OP_GLOBAL_MAXPOOL2D},
        {"OP_RESHAPE", PV_OP_RESHAPE}, {"OP_ACTIVATION", PV_OP_ACTIVATION}, {"OP_ADD", PV_OP_ADD},
        {"OP_CONCAT", PV_OP_CONCAT},
        {"OP_AFFINE", PV_OP_AFFINE}, {"OP_PAD2D", PV_OP_PAD2D}, {"OP_CROP2D", PV_OP_CROP2D},
        {"OP_UPSAMPLE2D", PV_OP_UPSAMPLE2D}, {"OP_DEPTHWISE_CONV2D", PV_OP_DEPTHWISE_CONV2D},
        {"OP_MULTIPLY", PV_OP_MULTIPLY}, {"OP_AVERAGE", PV_OP_AVERAGE}, {"OP_MAXIMUM", PV_OP_MAXIMUM},
        {"ACT_LINEAR", PV_ACT_LINEAR}, {"ACT_RELU", PV_ACT_RELU}, {"ACT_SOFTMAX", PV_ACT_SOFTMAX},
        {"ACT_SIGMOID", PV_ACT_SIGMOID}, {"ACT_TANH", PV_ACT_TANH}, {"ACT_ELU", PV_ACT_ELU},
        {"ACT_SELU", PV_ACT_SELU}, {"ACT_SOFTPLUS", PV_ACT_SOFTPLUS}, {"ACT_SOFTSIGN", PV_ACT_SOFTSIGN},
        {"ACT_SWISH", PV_ACT_SWISH}, {"ACT_GELU", PV_ACT_GELU}, {"ACT_HARD_SIGMOID", PV_ACT_HARD_SIGMOID},
        {"ACT_EXPONENTIAL", PV_ACT_EXPONENTIAL}, {"ACT_RELU6", PV_ACT_RELU6},
        {"ACT_LEAKY_RELU", PV_ACT_LEAKY_RELU}, {"ACT_RELU_GENERAL", PV_ACT_RELU_GENERAL},
        {"MOD_NONE", PV_MOD_NONE}, {"MOD_GUIDED", PV_MOD_GUIDED}, {"MOD_RECTIFIED", PV_MOD_RECTIFIED},
        {"PAD_VALID", PV_PAD_VALID}, {"PAD_SAME", PV_PAD_SAME},
    };
    for (size_t k = 0; k < sizeof consts / sizeof consts[0]; k++)
        if (add_int(m, consts[k].name, consts[k].v) < 0) return -1;
    pv_get_num_threads();   /* settle the thread count (and BLAS's) once at import */
    pv_gemm_small_init();
    return 0;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL}
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pyvis._core",
    .m_doc = "pyvis native core: layer graph forward and backward with backprop modifiers.",
    .m_size = 0,
    .m_methods = module_methods,
    .m_slots = module_slots,
};

PyMODINIT_FUNC PyInit__core(void)
{
    return PyModuleDef_Init(&module_def);
}
