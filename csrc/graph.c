/* graph.c — the native layer graph: validation, memory planning, the forward loop and the
 * backward loop from any set of seeded nodes to any set of requested nodes.
 *
 * The graph is a node array in topological order (every input index is smaller than the node's
 * own), dispatched by one switch per direction. A tape is one forward run: it resolves every
 * node's shape from the fed input shapes and keeps every node's value in one activation arena.
 * Backward visits only nodes that lie on a path from a requested node to a seeded node, keeps
 * each of their gradients only while it is alive (a planned gradient arena), zeroes each just
 * before its first writer, and lets the kernels accumulate. It never computes weight gradients.
 * What this file does not do: any arithmetic of its own (kernels do), anything Python.
 */
#include "pyvis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const op_names[PV_OP_COUNT] = {
    "Input", "Conv2D", "Dense", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
    "GlobalMaxPooling2D", "Reshape", "Activation", "Add", "Concatenate",
    "Affine", "ZeroPadding2D", "Cropping2D", "UpSampling2D", "DepthwiseConv2D", "Multiply", "Average",
    "Maximum",
};

/* ---------------------------------------------------------------------------------------- */
/* graph construction and validation                                                         */

pv_graph *pv_graph_new(int n_nodes)
{
    pv_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->n = n_nodes;
    g->nodes = calloc(n_nodes > 0 ? (size_t)n_nodes : 1, sizeof *g->nodes);
    g->input_nodes = calloc(n_nodes > 0 ? (size_t)n_nodes : 1, sizeof *g->input_nodes);
    if (!g->nodes || !g->input_nodes) { pv_graph_free(g); return NULL; }
    return g;
}

void pv_graph_free(pv_graph *g)
{
    if (!g) return;
    if (g->nodes)
        for (int i = 0; i < g->n; i++) {
            free(g->nodes[i].in);
            if (g->nodes[i].wino_U) winograd_weights_release(g->nodes[i].wino_U);
        }
    free(g->nodes);
    free(g->input_nodes);
    free(g);
}

static pv_status check_arity(const pv_node *nd, int i, int n_in, int n_ip, int w_min, int w_max,
                             pv_error *err)
{
    const char *name = op_names[nd->op];
    if (n_in >= 0 && nd->n_in != n_in)
        return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): expected %d input(s), got %d", i, name, n_in, nd->n_in);
    if (nd->n_ip < n_ip)
        return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): expected %d integer parameters, got %d", i, name, n_ip, nd->n_ip);
    if (nd->n_w < w_min || nd->n_w > w_max)
        return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): expected %d to %d weight arrays, got %d", i, name, w_min, w_max, nd->n_w);
    return PV_OK;
}

static pv_status check_act(pv_node *nd, int i, long code, int fused, pv_error *err)
{
    if (code < 0 || code >= PV_ACT_COUNT)
        return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): unknown activation code %ld", i, op_names[nd->op], code);
    if (fused && code != PV_ACT_LINEAR && code != PV_ACT_RELU)
        return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): only linear or relu can be fused, got activation code %ld "
                       "(lower it to its own Activation node)", i, op_names[nd->op], code);
    nd->act.act = (pv_act)code;
    nd->act.flag = fused ? 0 : (int)nd->ip[1];
    nd->act.a = (float)nd->fp[0];
    nd->act.b = (float)nd->fp[1];
    nd->act.c = (float)nd->fp[2];
    return PV_OK;
}

static pv_status check_node(pv_graph *g, int i, pv_error *err)
{
    pv_node *nd = &g->nodes[i];
    if ((int)nd->op < 0 || nd->op >= PV_OP_COUNT)
        return PV_FAIL(err, PV_ERR_VALUE, "node %d: unknown op code %d", i, (int)nd->op);
    for (int k = 0; k < nd->n_in; k++)
        if (nd->in[k] < 0 || nd->in[k] >= i)
            return PV_FAIL(err, PV_ERR_VALUE,
                           "node %d (%s): input %d refers to node %d, but inputs must be earlier nodes "
                           "(0..%d); the graph has a cycle or a dangling input", i, op_names[nd->op], k, nd->in[k], i - 1);
    if (nd->n_in > PV_MAX_MERGE)
        return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): %d inputs, at most %d supported", i, op_names[nd->op], nd->n_in, PV_MAX_MERGE);
    pv_status st = PV_OK;
    switch (nd->op) {
    case PV_OP_INPUT:
        if ((st = check_arity(nd, i, 0, 1, 0, 0, err))) return st;
        if (nd->n_ip > PV_MAX_RANK)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Input): rank %d exceeds the maximum %d", i, nd->n_ip, PV_MAX_RANK);
        for (int k = 0; k < nd->n_ip; k++)
            if (nd->ip[k] == 0 || nd->ip[k] < -1)
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (Input): dimension %d is %ld; expected >= 1 or -1 (any)", i, k, nd->ip[k]);
        g->input_nodes[g->n_inputs++] = i;
        return PV_OK;
    case PV_OP_CONV2D:
        if ((st = check_arity(nd, i, 1, 8, 1, 2, err))) return st;
        for (int k = 0; k < 6; k++)
            if (nd->ip[k] < 1)
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (Conv2D): kernel, strides and dilation must be >= 1, got %ld at position %d", i, nd->ip[k], k);
        if (nd->wshape[0].rank != 4 || nd->wshape[0].d[0] != (size_t)nd->ip[0] || nd->wshape[0].d[1] != (size_t)nd->ip[1])
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Conv2D): kernel must have shape (%ld, %ld, C, OC)", i, nd->ip[0], nd->ip[1]);
        /* a zero-width kernel would make the kernels divide by zero */
        if (nd->wshape[0].d[2] < 1 || nd->wshape[0].d[3] < 1)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Conv2D): kernel shape (%zu, %zu, %zu, %zu) has a zero dimension; "
                           "expected C >= 1 and OC >= 1", i, nd->wshape[0].d[0], nd->wshape[0].d[1], nd->wshape[0].d[2], nd->wshape[0].d[3]);
        if (nd->n_w == 2 && (nd->wshape[1].rank != 1 || nd->wshape[1].d[0] != nd->wshape[0].d[3]))
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Conv2D): bias must have shape (%zu,)", i, nd->wshape[0].d[3]);
        if (nd->ip[6] != PV_PAD_VALID && nd->ip[6] != PV_PAD_SAME)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Conv2D): padding code %ld, expected 0 (valid) or 1 (same)", i, nd->ip[6]);
        return check_act(nd, i, nd->ip[7], 1, err);
    case PV_OP_DENSE:
        if ((st = check_arity(nd, i, 1, 1, 1, 2, err))) return st;
        if (nd->wshape[0].rank != 2)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Dense): kernel must be 2-D (IN, OUT), got rank %d", i, nd->wshape[0].rank);
        if (nd->wshape[0].d[1] < 1)   /* rows = n / OUT below */
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Dense): kernel shape (%zu, 0) has no outputs; expected OUT >= 1", i, nd->wshape[0].d[0]);
        if (nd->n_w == 2 && (nd->wshape[1].rank != 1 || nd->wshape[1].d[0] != nd->wshape[0].d[1]))
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Dense): bias must have shape (%zu,)", i, nd->wshape[0].d[1]);
        return check_act(nd, i, nd->ip[0], 1, err);
    case PV_OP_MAXPOOL2D:
    case PV_OP_AVGPOOL2D:
        if ((st = check_arity(nd, i, 1, 5, 0, 0, err))) return st;
        for (int k = 0; k < 4; k++)
            if (nd->ip[k] < 1)
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): pool size and strides must be >= 1, got %ld", i, op_names[nd->op], nd->ip[k]);
        if (nd->ip[4] != PV_PAD_VALID && nd->ip[4] != PV_PAD_SAME)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): padding code %ld, expected 0 or 1", i, op_names[nd->op], nd->ip[4]);
        return PV_OK;
    case PV_OP_GLOBAL_AVGPOOL2D:
    case PV_OP_GLOBAL_MAXPOOL2D:
        return check_arity(nd, i, 1, 1, 0, 0, err);
    case PV_OP_RESHAPE: {
        if ((st = check_arity(nd, i, 1, 1, 0, 0, err))) return st;
        if (nd->n_ip > PV_MAX_RANK)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Reshape): rank %d exceeds the maximum %d", i, nd->n_ip, PV_MAX_RANK);
        int unknown = 0;
        for (int k = 0; k < nd->n_ip; k++) {
            if (nd->ip[k] == -1) unknown++;
            else if (nd->ip[k] < 1)
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (Reshape): target dimension %ld; expected >= 1 or one -1", i, nd->ip[k]);
        }
        if (unknown > 1)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Reshape): at most one target dimension may be -1", i);
        return PV_OK;
    }
    case PV_OP_ACTIVATION:
        if ((st = check_arity(nd, i, 1, 2, 0, 0, err))) return st;
        return check_act(nd, i, nd->ip[0], 0, err);
    case PV_OP_ADD:
        if (nd->n_in < 2)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Add): expected at least 2 inputs, got %d", i, nd->n_in);
        return check_arity(nd, i, -1, 0, 0, 0, err);
    case PV_OP_CONCAT:
        if (nd->n_in < 1)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Concatenate): expected at least 1 input", i);
        if ((st = check_arity(nd, i, -1, 1, 0, 0, err))) return st;
        if (nd->ip[0] < 0 || nd->ip[0] >= PV_MAX_RANK)   /* later read as an int */
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Concatenate): axis %ld must be a per-sample axis in 0..%d", i, nd->ip[0], PV_MAX_RANK - 1);
        return PV_OK;
    case PV_OP_AFFINE:
        if ((st = check_arity(nd, i, 1, 0, 2, 2, err))) return st;
        if (nd->wshape[0].rank != 1 || nd->wshape[1].rank != 1 || nd->wshape[0].d[0] != nd->wshape[1].d[0])
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Affine): scale and shift must both have shape (C,)", i);
        return PV_OK;
    case PV_OP_PAD2D:
    case PV_OP_CROP2D:
        if ((st = check_arity(nd, i, 1, 4, 0, 0, err))) return st;
        for (int k = 0; k < 4; k++)
            if (nd->ip[k] < 0)
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): amounts (top, bottom, left, right) must be >= 0, got %ld at position %d",
                               i, op_names[nd->op], nd->ip[k], k);
        return PV_OK;
    case PV_OP_UPSAMPLE2D:
        if ((st = check_arity(nd, i, 1, 2, 0, 0, err))) return st;
        if (nd->ip[0] < 1 || nd->ip[1] < 1)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (UpSampling2D): size must be >= 1, got (%ld, %ld)", i, nd->ip[0], nd->ip[1]);
        return PV_OK;
    case PV_OP_DEPTHWISE_CONV2D:
        if ((st = check_arity(nd, i, 1, 8, 1, 2, err))) return st;
        for (int k = 0; k < 6; k++)
            if (nd->ip[k] < 1)
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (DepthwiseConv2D): kernel, strides and dilation must be >= 1, got %ld at position %d", i, nd->ip[k], k);
        if (nd->wshape[0].rank != 4 || nd->wshape[0].d[0] != (size_t)nd->ip[0] || nd->wshape[0].d[1] != (size_t)nd->ip[1]
            || nd->wshape[0].d[2] < 1 || nd->wshape[0].d[3] < 1)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (DepthwiseConv2D): kernel must have shape (%ld, %ld, C, depth_multiplier)", i, nd->ip[0], nd->ip[1]);
        if (nd->n_w == 2 && (nd->wshape[1].rank != 1 || nd->wshape[1].d[0] != nd->wshape[0].d[2] * nd->wshape[0].d[3]))
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (DepthwiseConv2D): bias must have shape (C * depth_multiplier,)", i);
        if (nd->ip[6] != PV_PAD_VALID && nd->ip[6] != PV_PAD_SAME)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (DepthwiseConv2D): padding code %ld, expected 0 (valid) or 1 (same)", i, nd->ip[6]);
        return check_act(nd, i, nd->ip[7], 1, err);
    case PV_OP_MULTIPLY:
    case PV_OP_AVERAGE:
    case PV_OP_MAXIMUM:
        if (nd->n_in < 2)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): expected at least 2 inputs, got %d", i, op_names[nd->op], nd->n_in);
        return check_arity(nd, i, -1, 0, 0, 0, err);
    default:
        return PV_FAIL(err, PV_ERR_INTERNAL, "node %d: op %d has no checker", i, (int)nd->op);
    }
}

pv_status pv_graph_check(pv_graph *g, pv_error *err)
{
    g->n_inputs = 0;
    if (g->n < 1) return PV_FAIL(err, PV_ERR_VALUE, "a graph needs at least one node");
    for (int i = 0; i < g->n; i++) {
        pv_status st = check_node(g, i, err);
        if (st) return st;
    }
    if (g->n_inputs == 0) return PV_FAIL(err, PV_ERR_VALUE, "the graph has no Input node");
    return PV_OK;
}

pv_status pv_graph_prepare(pv_graph *g, pv_error *err)
{
    for (int i = 0; i < g->n; i++) {
        pv_node *nd = &g->nodes[i];
        if (nd->op != PV_OP_CONV2D || nd->wino_U) continue;
        pv_window win = {0};   /* only the kernel geometry matters for eligibility */
        win.KH = (size_t)nd->ip[0]; win.KW = (size_t)nd->ip[1]; win.SH = (size_t)nd->ip[2];
        win.SW = (size_t)nd->ip[3]; win.DH = (size_t)nd->ip[4]; win.DW = (size_t)nd->ip[5];
        win.C = nd->wshape[0].d[2]; win.OC = nd->wshape[0].d[3];
        if (!winograd_applies(&win)) continue;
        nd->wino_U = winograd_weights_acquire(nd->w[0], win.C, win.OC, &nd->wino_UT);
        if (!nd->wino_U)
            return PV_FAIL(err, PV_ERR_NOMEM, "node %d (Conv2D): no memory for its Winograd-transformed kernel "
                           "(%zu floats)", i, 36 * win.C * win.OC);
    }
    return PV_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* planning: shapes, offsets, arenas                                                         */

pv_tape *pv_tape_new(const pv_graph *g)
{
    pv_tape *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->g = g;
    size_t n = (size_t)g->n;
    t->shape = calloc(n, sizeof *t->shape);
    t->size = calloc(n, sizeof *t->size);
    t->offset = calloc(n, sizeof *t->offset);
    t->active = calloc(n, 1);
    t->goffset = calloc(n, sizeof *t->goffset);
    t->glive = calloc(n, sizeof *t->glive);
    if (!t->shape || !t->size || !t->offset || !t->active || !t->goffset || !t->glive) { pv_tape_free(t); return NULL; }
    return t;
}

void pv_tape_free(pv_tape *t)
{
    if (!t) return;
    free(t->shape); free(t->size); free(t->offset); free(t->active); free(t->goffset); free(t->glive);
    free(t->acts); free(t->grads); free(t->work);
    free(t);
}

static size_t physical_memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return SIZE_MAX;
    size_t total;
    if (pv_mul_size((size_t)pages, (size_t)page, &total)) return SIZE_MAX;
    return total;
}

/* Allocate `floats` floats, refusing (before touching memory) anything beyond physical memory:
 * Linux overcommits, so a huge malloc would "succeed" and the process die later. */
static pv_status alloc_floats(float **out, size_t floats, const char *what, size_t N, pv_error *err)
{
    size_t bytes;
    if (pv_mul_size(floats, sizeof(float), &bytes) || bytes > physical_memory_bytes())
        return PV_FAIL(err, PV_ERR_NOMEM, "the %s for batch size %zu needs %zu floats (%.3g GB), more than this "
                       "machine's memory; use a smaller batch", what, N, floats, (double)floats * 4.0 / 1e9);
    /* 64-byte aligned (node offsets are multiples of 16 floats too): a vector load or store
     * that straddles two cache lines costs twice, and store forwarding fails across them */
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? (bytes + 63) / 64 * 64 : 64)) p = NULL;
    *out = p;
    if (!*out)
        return PV_FAIL(err, PV_ERR_NOMEM, "could not allocate %.3g GB for the %s (batch size %zu)",
                       (double)bytes / 1e9, what, N);
    return PV_OK;
}

static pv_status shape_count(const pv_shape *s, size_t *count, int node, pv_error *err)
{
    size_t c = 1;
    for (int k = 0; k < s->rank; k++)
        if (pv_mul_size(c, s->d[k], &c))
            return PV_FAIL(err, PV_ERR_NOMEM, "node %d: element count of its output overflows size_t", node);
    *count = c;
    return PV_OK;
}

static pv_status window_of(const pv_tape *t, int i, pv_window *win, pv_error *err)
{
    const pv_node *nd = &t->g->nodes[i];
    const pv_shape *in = &t->shape[nd->in[0]];
    if (in->rank != 3)
        return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): expected a 3-D (H, W, C) input per sample, got rank %d",
                       i, op_names[nd->op], in->rank);
    if (nd->op == PV_OP_CONV2D) {
        if (nd->wshape[0].d[2] != in->d[2])
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Conv2D): kernel expects %zu input channels, input has %zu",
                           i, nd->wshape[0].d[2], in->d[2]);
        return pv_window_resolve(win, in->d[0], in->d[1], in->d[2], nd->wshape[0].d[3],
                                 (size_t)nd->ip[0], (size_t)nd->ip[1], (size_t)nd->ip[2], (size_t)nd->ip[3],
                                 (size_t)nd->ip[4], (size_t)nd->ip[5], (int)nd->ip[6], err);
    }
    return pv_window_resolve(win, in->d[0], in->d[1], in->d[2], in->d[2], (size_t)nd->ip[0], (size_t)nd->ip[1],
                             (size_t)nd->ip[2], (size_t)nd->ip[3], 1, 1, (int)nd->ip[4], err);
}

static pv_status infer_shape(pv_tape *t, int i, const pv_shape *fed, size_t *work, int threads, pv_error *err)
{
    const pv_node *nd = &t->g->nodes[i];
    pv_shape *out = &t->shape[i];
    const pv_shape *in = nd->n_in ? &t->shape[nd->in[0]] : NULL;
    pv_window win;
    pv_status st;
    switch (nd->op) {
    case PV_OP_INPUT:
        if (fed->rank != nd->n_ip)
            return PV_FAIL(err, PV_ERR_VALUE, "input node %d: expected %d dimensions per sample, got %d", i, nd->n_ip, fed->rank);
        for (int k = 0; k < fed->rank; k++)
            if (fed->d[k] == 0)
                return PV_FAIL(err, PV_ERR_VALUE, "input node %d: per-sample dimension %d is 0; every dimension "
                               "but the batch must be at least 1", i, k);
        for (int k = 0; k < fed->rank; k++)
            if (nd->ip[k] != -1 && (size_t)nd->ip[k] != fed->d[k])
                return PV_FAIL(err, PV_ERR_VALUE, "input node %d: per-sample dimension %d is %zu, expected %ld", i, k, fed->d[k], nd->ip[k]);
        *out = *fed;
        return PV_OK;
    case PV_OP_CONV2D:
    case PV_OP_MAXPOOL2D:
    case PV_OP_AVGPOOL2D:
        if ((st = window_of(t, i, &win, err))) return st;
        out->rank = 3; out->d[0] = win.OH; out->d[1] = win.OW; out->d[2] = win.OC;
        if (nd->op == PV_OP_CONV2D) {
            size_t w = conv2d_work_floats(&win, t->N, threads);
            if (nd->wino_U) {   /* Winograd's buffers are shared by the threads: split the total */
                size_t ww = (winograd_work_floats(&win, t->N, threads) + (size_t)threads - 1) / (size_t)threads;
                if (ww > w) w = ww;
            }
            if (w > *work) *work = w;
        }
        return PV_OK;
    case PV_OP_DENSE: {
        if (in->rank < 1 || in->d[in->rank - 1] != nd->wshape[0].d[0])
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Dense): kernel expects a last axis of %zu, input has %zu",
                           i, nd->wshape[0].d[0], in->rank ? in->d[in->rank - 1] : 0);
        *out = *in;
        out->d[out->rank - 1] = nd->wshape[0].d[1];
        size_t rows = t->N;
        for (int a = 0; a + 1 < in->rank; a++) rows = pv_mul_sat(rows, in->d[a]);
        size_t w = (dense_work_floats(rows, out->d[out->rank - 1], threads) + (size_t)threads - 1) / (size_t)threads;
        if (w > *work) *work = w;
        return PV_OK;
    }
    case PV_OP_GLOBAL_AVGPOOL2D:
    case PV_OP_GLOBAL_MAXPOOL2D:
        if (in->rank != 3)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): expected a 3-D (H, W, C) input per sample, got rank %d",
                           i, op_names[nd->op], in->rank);
        if (nd->ip[0]) { out->rank = 3; out->d[0] = 1; out->d[1] = 1; out->d[2] = in->d[2]; }
        else { out->rank = 1; out->d[0] = in->d[2]; }
        return PV_OK;
    case PV_OP_RESHAPE: {
        size_t total = 0, known = 1;
        if ((st = shape_count(in, &total, i, err))) return st;
        int unknown = -1;
        out->rank = nd->n_ip;
        for (int k = 0; k < nd->n_ip; k++) {
            if (nd->ip[k] == -1) { unknown = k; continue; }
            out->d[k] = (size_t)nd->ip[k];
            if (pv_mul_size(known, out->d[k], &known))
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (Reshape): target shape overflows", i);
        }
        if (unknown >= 0) {
            if (known == 0 || total % known)
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (Reshape): cannot reshape %zu elements per sample with the given target", i, total);
            out->d[unknown] = total / known;
            known = total;
        }
        if (known != total)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Reshape): target has %zu elements per sample, input has %zu", i, known, total);
        return PV_OK;
    }
    case PV_OP_ACTIVATION:
        *out = *in;
        if (nd->act.act == PV_ACT_SOFTMAX && in->rank < 1)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Activation): softmax needs at least one axis", i);
        return PV_OK;
    case PV_OP_ADD:
        for (int k = 1; k < nd->n_in; k++) {
            const pv_shape *o = &t->shape[nd->in[k]];
            if (o->rank != in->rank || memcmp(o->d, in->d, (size_t)in->rank * sizeof(size_t)))
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (Add): input %d has a different shape from input 0", i, k);
        }
        *out = *in;
        return PV_OK;
    case PV_OP_CONCAT: {
        int axis = (int)nd->ip[0];
        if (axis >= in->rank)
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Concatenate): axis %d out of range for rank %d", i, axis, in->rank);
        *out = *in;
        for (int k = 1; k < nd->n_in; k++) {
            const pv_shape *o = &t->shape[nd->in[k]];
            if (o->rank != in->rank)
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (Concatenate): input %d has rank %d, input 0 has %d", i, k, o->rank, in->rank);
            for (int a = 0; a < in->rank; a++)
                if (a != axis && o->d[a] != in->d[a])
                    return PV_FAIL(err, PV_ERR_VALUE, "node %d (Concatenate): input %d differs on axis %d (%zu vs %zu)", i, k, a, o->d[a], in->d[a]);
            if (pv_add_size(out->d[axis], o->d[axis], &out->d[axis]))
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (Concatenate): size overflows", i);
        }
        return PV_OK;
    }
    case PV_OP_AFFINE:
        if (in->rank < 1 || in->d[in->rank - 1] != nd->wshape[0].d[0])
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (Affine): scale has %zu channels, the input's last axis has %zu",
                           i, nd->wshape[0].d[0], in->rank ? in->d[in->rank - 1] : 0);
        *out = *in;
        return PV_OK;
    case PV_OP_PAD2D:
    case PV_OP_CROP2D:
    case PV_OP_UPSAMPLE2D:
        return spatial_infer_shape(out, nd, in, i, err);
    case PV_OP_DEPTHWISE_CONV2D:
        if ((st = depthwise_window(&win, nd, in, i, err))) return st;
        out->rank = 3; out->d[0] = win.OH; out->d[1] = win.OW; out->d[2] = win.OC;
        return PV_OK;
    case PV_OP_MULTIPLY:
    case PV_OP_AVERAGE:
    case PV_OP_MAXIMUM:
        for (int k = 1; k < nd->n_in; k++) {
            const pv_shape *o = &t->shape[nd->in[k]];
            if (o->rank != in->rank || memcmp(o->d, in->d, (size_t)in->rank * sizeof(size_t)))
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): input %d has a different shape from input 0", i, op_names[nd->op], k);
        }
        *out = *in;
        return PV_OK;
    default:
        return PV_FAIL(err, PV_ERR_INTERNAL, "node %d: op %d has no shape rule", i, (int)nd->op);
    }
}

/* floats a value of n floats occupies in an arena: whole 16-float (64-byte) blocks, so every
 * node's data starts cache-line aligned (n <= SIZE_MAX - 15, checked by pv_plan) */
static size_t arena_block(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

pv_status pv_plan(pv_tape *t, size_t N, const pv_shape *input_dims, pv_error *err)
{
    const pv_graph *g = t->g;
    int threads = pv_get_num_threads();
    size_t work = 0, total = 0;  /* floats of the whole activation arena */
    t->planned = 0;
    t->N = N;
    for (int i = 0, k = 0; i < g->n; i++) {
        const pv_shape *fed = g->nodes[i].op == PV_OP_INPUT ? &input_dims[k++] : NULL;
        pv_status st = infer_shape(t, i, fed, &work, threads, err);
        if (st) return st;
        if ((st = shape_count(&t->shape[i], &t->size[i], i, err))) return st;
        size_t batch_size;
        if (pv_mul_size(t->size[i], N, &batch_size) || batch_size > SIZE_MAX - 15 ||
            pv_add_size(total, arena_block(batch_size), &total))
            return PV_FAIL(err, PV_ERR_NOMEM, "activations for batch size %zu overflow size_t", N);
        t->offset[i] = total - arena_block(batch_size);
    }
    if (total != t->acts_len || !t->acts) {
        free(t->acts); t->acts = NULL; t->acts_len = 0;
        free(t->grads); t->grads = NULL; t->grads_len = 0;
        pv_status st = alloc_floats(&t->acts, total, "activations", N, err);
        if (st) return st;
        t->acts_len = total;
    }
    size_t work_total;
    if (pv_mul_size(work, (size_t)threads, &work_total))
        return PV_FAIL(err, PV_ERR_NOMEM, "convolution workspace overflows size_t");
    if (work_total > t->work_len || !t->work) {
        free(t->work); t->work = NULL; t->work_len = 0;
        pv_status st = alloc_floats(&t->work, work_total, "convolution workspace", N, err);
        if (st) return st;
        t->work_len = work_total;
    }
    t->work_threads = threads;
    t->planned = 1;
    return PV_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* forward                                                                                   */

static float *value(const pv_tape *t, int i) { return t->acts + t->offset[i]; }
static float *grad(const pv_tape *t, int i) { return t->grads + t->goffset[i]; }

static pv_status forward_node(pv_tape *t, int i, const float *fed, const pv_work *work, pv_error *err)
{
    const pv_node *nd = &t->g->nodes[i];
    const size_t N = t->N, n = N * t->size[i];
    float *out = value(t, i);
    const float *x = nd->n_in ? value(t, nd->in[0]) : NULL;
    const pv_shape *in = nd->n_in ? &t->shape[nd->in[0]] : NULL;
    pv_window win;
    pv_status st;
    switch (nd->op) {
    case PV_OP_INPUT:
        memcpy(out, fed, n * sizeof(float));
        return PV_OK;
    case PV_OP_CONV2D:
        if ((st = window_of(t, i, &win, err))) return st;
        if (nd->wino_U && !t->exact)
            winograd_forward(out, x, nd->wino_U, nd->n_w > 1 ? nd->w[1] : NULL, &win, N, nd->act.act,
                             work->buf, work->threads);
        else
            conv2d_forward(out, x, nd->w[0], nd->n_w > 1 ? nd->w[1] : NULL, &win, N, nd->act.act, work);
        return PV_OK;
    case PV_OP_DENSE: {
        size_t IN = nd->wshape[0].d[0], OUT = nd->wshape[0].d[1];
        dense_forward(out, x, nd->w[0], nd->n_w > 1 ? nd->w[1] : NULL, n / OUT, IN, OUT, nd->act.act, work);
        return PV_OK;
    }
    case PV_OP_MAXPOOL2D:
    case PV_OP_AVGPOOL2D:
        if ((st = window_of(t, i, &win, err))) return st;
        if (nd->op == PV_OP_MAXPOOL2D) maxpool2d_forward(out, x, &win, N, work->threads);
        else avgpool2d_forward(out, x, &win, N, work->threads);
        return PV_OK;
    case PV_OP_GLOBAL_AVGPOOL2D:
    case PV_OP_GLOBAL_MAXPOOL2D:
        global_pool_forward(out, x, N, in->d[0] * in->d[1], in->d[2], nd->op == PV_OP_GLOBAL_MAXPOOL2D);
        return PV_OK;
    case PV_OP_RESHAPE:
        memcpy(out, x, n * sizeof(float));
        return PV_OK;
    case PV_OP_ACTIVATION:
        activation_forward(out, x, n, t->shape[i].rank ? t->shape[i].d[t->shape[i].rank - 1] : 1, &nd->act);
        return PV_OK;
    case PV_OP_ADD: {
        const float *ins[PV_MAX_MERGE];
        for (int k = 0; k < nd->n_in; k++) ins[k] = value(t, nd->in[k]);
        add_forward(out, ins, nd->n_in, n);
        return PV_OK;
    }
    case PV_OP_CONCAT: {
        const float *ins[PV_MAX_MERGE];
        size_t inner[PV_MAX_MERGE], outer = N;
        int axis = (int)nd->ip[0];
        for (int a = 0; a < axis; a++) outer *= t->shape[i].d[a];
        for (int k = 0; k < nd->n_in; k++) {
            ins[k] = value(t, nd->in[k]);
            inner[k] = outer ? N * t->size[nd->in[k]] / outer : 0;
        }
        concat_forward(out, ins, inner, nd->n_in, outer, outer ? n / outer : 0);
        return PV_OK;
    }
    case PV_OP_AFFINE: {
        size_t C = nd->wshape[0].d[0];
        affine_forward(out, x, nd->w[0], nd->w[1], C ? n / C : 0, C, work->threads);
        return PV_OK;
    }
    case PV_OP_PAD2D:
    case PV_OP_CROP2D: {
        long sign = nd->op == PV_OP_PAD2D ? -1 : 1;
        shift2d_forward(out, x, N, in->d[0], in->d[1], in->d[2], t->shape[i].d[0], t->shape[i].d[1],
                        sign * nd->ip[0], sign * nd->ip[2], work->threads);
        return PV_OK;
    }
    case PV_OP_UPSAMPLE2D:
        upsample2d_forward(out, x, N, in->d[0], in->d[1], in->d[2], (size_t)nd->ip[0], (size_t)nd->ip[1], work->threads);
        return PV_OK;
    case PV_OP_DEPTHWISE_CONV2D:
        if ((st = depthwise_window(&win, nd, in, i, err))) return st;
        depthwise_forward(out, x, nd->w[0], nd->n_w > 1 ? nd->w[1] : NULL, &win, N, nd->act.act, work->threads);
        return PV_OK;
    case PV_OP_MULTIPLY:
    case PV_OP_AVERAGE:
    case PV_OP_MAXIMUM: {
        const float *ins[PV_MAX_MERGE];
        for (int k = 0; k < nd->n_in; k++) ins[k] = value(t, nd->in[k]);
        if (nd->op == PV_OP_MULTIPLY) multiply_forward(out, ins, nd->n_in, n);
        else if (nd->op == PV_OP_AVERAGE) average_forward(out, ins, nd->n_in, n);
        else maximum_forward(out, ins, nd->n_in, n);
        return PV_OK;
    }
    default:
        return PV_FAIL(err, PV_ERR_INTERNAL, "node %d: op %d has no forward", i, (int)nd->op);
    }
}

pv_status pv_forward(pv_tape *t, const float *const *inputs, pv_error *err)
{
    if (!t->planned) return PV_FAIL(err, PV_ERR_INTERNAL, "pv_forward before pv_plan");
    pv_work work = { t->work, t->work_threads ? t->work_len / (size_t)t->work_threads : 0, t->work_threads };
    for (int i = 0, k = 0; i < t->g->n; i++) {
        const float *fed = t->g->nodes[i].op == PV_OP_INPUT ? inputs[k++] : NULL;
        pv_status st = forward_node(t, i, fed, &work, err);
        if (st) return st;
    }
    return PV_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* backward                                                                                  */

static void accumulate(float *dst, const float *src, size_t n)
{
    const size_t block = 1 << 14;
    const long blocks = (long)((n + block - 1) / block);
#pragma omp parallel for schedule(static) num_threads(pv_get_num_threads()) if (PV_WORTH_THREADS(8.0 * (double)n))
    for (long b = 0; b < blocks; b++) {
        size_t lo = (size_t)b * block, hi = lo + block < n ? lo + block : n;
        for (size_t i = lo; i < hi; i++) dst[i] += src[i];
    }
}

/* g is node i's gradient and may be modified in place (nothing reads it afterwards). */
static pv_status backward_node(pv_tape *t, int i, pv_modifier mod, const pv_work *work, pv_error *err)
{
    const pv_node *nd = &t->g->nodes[i];
    const size_t N = t->N, n = N * t->size[i];
    float *g = grad(t, i);
    const int src = nd->n_in ? nd->in[0] : -1;
    const int want = src >= 0 && t->active[src];
    float *dx = want ? grad(t, src) : NULL;
    const pv_shape *in = src >= 0 ? &t->shape[src] : NULL;
    pv_window win;
    pv_status st;
    switch (nd->op) {
    case PV_OP_INPUT:
        return PV_OK;
    case PV_OP_CONV2D:
        fused_activation_backward(g, value(t, i), n, nd->act.act, mod);
        if (!want) return PV_OK;
        if ((st = window_of(t, i, &win, err))) return st;
        /* exact mode keeps Winograd out of backward too: every product then has the direct
         * path's rounding (1e-5 per op), not only its ReLU decisions */
        if (nd->wino_U && !t->exact) winograd_backward_input(dx, g, nd->wino_U, nd->wino_UT, &win, N, work->buf, work->threads);
        else conv2d_backward_input(dx, g, nd->w[0], &win, N, work);
        return PV_OK;
    case PV_OP_DENSE: {
        fused_activation_backward(g, value(t, i), n, nd->act.act, mod);
        if (!want) return PV_OK;
        size_t IN = nd->wshape[0].d[0], OUT = nd->wshape[0].d[1];
        dense_backward_input(dx, g, nd->w[0], n / OUT, IN, OUT, work->threads);
        return PV_OK;
    }
    case PV_OP_MAXPOOL2D:
    case PV_OP_AVGPOOL2D:
        if (!want) return PV_OK;
        if ((st = window_of(t, i, &win, err))) return st;
        if (nd->op == PV_OP_MAXPOOL2D) maxpool2d_backward(dx, g, value(t, src), value(t, i), &win, N, work->threads);
        else avgpool2d_backward(dx, g, &win, N, work->threads);
        return PV_OK;
    case PV_OP_GLOBAL_AVGPOOL2D:
    case PV_OP_GLOBAL_MAXPOOL2D:
        if (want)
            global_pool_backward(dx, g, value(t, src), N, in->d[0] * in->d[1], in->d[2],
                                 nd->op == PV_OP_GLOBAL_MAXPOOL2D);
        return PV_OK;
    case PV_OP_RESHAPE:
        if (want) accumulate(dx, g, n);
        return PV_OK;
    case PV_OP_ACTIVATION:
        if (want)
            activation_backward(dx, g, value(t, src), value(t, i), n,
                                t->shape[i].rank ? t->shape[i].d[t->shape[i].rank - 1] : 1, &nd->act, mod);
        return PV_OK;
    case PV_OP_ADD:
        for (int k = 0; k < nd->n_in; k++)
            if (t->active[nd->in[k]]) accumulate(grad(t, nd->in[k]), g, n);
        return PV_OK;
    case PV_OP_CONCAT: {
        float *dins[PV_MAX_MERGE];
        size_t inner[PV_MAX_MERGE], outer = N;
        int axis = (int)nd->ip[0];
        for (int a = 0; a < axis; a++) outer *= t->shape[i].d[a];
        for (int k = 0; k < nd->n_in; k++) {
            dins[k] = t->active[nd->in[k]] ? grad(t, nd->in[k]) : NULL;
            inner[k] = outer ? N * t->size[nd->in[k]] / outer : 0;
        }
        concat_backward(dins, g, inner, nd->n_in, outer, outer ? n / outer : 0);
        return PV_OK;
    }
    case PV_OP_AFFINE: {
        size_t C = nd->wshape[0].d[0];
        if (want) affine_backward(dx, g, nd->w[0], C ? n / C : 0, C, work->threads);
        return PV_OK;
    }
    case PV_OP_PAD2D:
    case PV_OP_CROP2D: {
        long sign = nd->op == PV_OP_PAD2D ? -1 : 1;
        if (want)
            shift2d_backward(dx, g, N, in->d[0], in->d[1], in->d[2], t->shape[i].d[0], t->shape[i].d[1],
                             sign * nd->ip[0], sign * nd->ip[2], work->threads);
        return PV_OK;
    }
    case PV_OP_UPSAMPLE2D:
        if (want)
            upsample2d_backward(dx, g, N, in->d[0], in->d[1], in->d[2], (size_t)nd->ip[0], (size_t)nd->ip[1], work->threads);
        return PV_OK;
    case PV_OP_DEPTHWISE_CONV2D:
        fused_activation_backward(g, value(t, i), n, nd->act.act, mod);
        if (!want) return PV_OK;
        if ((st = depthwise_window(&win, nd, in, i, err))) return st;
        depthwise_backward_input(dx, g, nd->w[0], &win, N, work->threads);
        return PV_OK;
    case PV_OP_MULTIPLY:
    case PV_OP_AVERAGE:
    case PV_OP_MAXIMUM: {
        const float *ins[PV_MAX_MERGE];
        float *dins[PV_MAX_MERGE];
        for (int k = 0; k < nd->n_in; k++) {
            ins[k] = value(t, nd->in[k]);
            dins[k] = t->active[nd->in[k]] ? grad(t, nd->in[k]) : NULL;
        }
        if (nd->op == PV_OP_MULTIPLY) multiply_backward(dins, g, ins, nd->n_in, n);
        else if (nd->op == PV_OP_AVERAGE) average_backward(dins, g, nd->n_in, n);
        else maximum_backward(dins, g, ins, nd->n_in, n);
        return PV_OK;
    }
    default:
        return PV_FAIL(err, PV_ERR_INTERNAL, "node %d: op %d has no backward", i, (int)nd->op);
    }
}

/* active[i] = node i lies on a path from a requested (wrt) node to a seeded node. */
static void mark_active(pv_tape *t, const pv_seed *seeds, int n_seeds, const int *wrt, int n_wrt)
{
    const pv_graph *g = t->g;
    unsigned char *from_wrt = t->active;
    memset(from_wrt, 0, (size_t)g->n);
    for (int k = 0; k < n_wrt; k++) from_wrt[wrt[k]] = 1;
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].n_in && !from_wrt[i]; k++)
            if (from_wrt[g->nodes[i].in[k]]) from_wrt[i] = 1;
    /* bit 1: reaches a seed. Walk in reverse, pushing "reaches a seed" to the inputs. */
    for (int k = 0; k < n_seeds; k++) from_wrt[seeds[k].node] |= 2;
    for (int i = g->n - 1; i >= 0; i--)
        if (from_wrt[i] & 2)
            for (int k = 0; k < g->nodes[i].n_in; k++) from_wrt[g->nodes[i].in[k]] |= 2;
    for (int i = 0; i < g->n; i++) t->active[i] = from_wrt[i] == 3;
}

/* ---------------------------------------------------------------------------------------- */
/* Gradient memory. A node's gradient lives from the first step that writes it (its seed, at
 * the start, or its last active consumer's backward) to its own backward step. Each call plans
 * offsets by first fit over that schedule, so the arena holds only the gradients alive together
 * (in a chain, two neighbours) instead of one per node; it only grows, so repeated calls at one
 * batch size allocate nothing. The plan and the run walk the same schedule: grad_start does
 * both, allocating (plan) or zeroing (run) the gradients that step i starts. */

typedef struct {
    int n_live;
    size_t total;          /* floats the plan needs */
} grad_plan;

#define GRAD_UNSET ((size_t)-1)

static size_t grad_floats(const pv_tape *t, int i)
{
    return arena_block(t->N * t->size[i]);
}

/* place node i's gradient in the first gap of the live blocks (kept sorted by offset) */
static void grad_place(pv_tape *t, grad_plan *p, int i)
{
    const size_t need = grad_floats(t, i);
    size_t at = 0;
    int k = 0;
    for (; k < p->n_live; k++) {
        int j = t->glive[k];
        if (t->goffset[j] >= at + need) break;
        at = t->goffset[j] + grad_floats(t, j);
    }
    memmove(t->glive + k + 1, t->glive + k, (size_t)(p->n_live - k) * sizeof *t->glive);
    t->glive[k] = i;
    p->n_live++;
    t->goffset[i] = at;
    if (at + need > p->total) p->total = at + need;
}

static void grad_release(pv_tape *t, grad_plan *p, int i)
{
    for (int k = 0; k < p->n_live; k++)
        if (t->glive[k] == i) {
            memmove(t->glive + k, t->glive + k + 1, (size_t)(p->n_live - k - 1) * sizeof *t->glive);
            p->n_live--;
            return;
        }
}

static void zero_floats(float *x, size_t n, int threads)
{
    const long blocks = (long)((n + 4095) / 4096);
#pragma omp parallel for schedule(static) num_threads(threads) if (PV_WORTH_THREADS(4.0 * (double)n))
    for (long b = 0; b < blocks; b++) {
        size_t lo = (size_t)b * 4096, hi = lo + 4096 < n ? lo + 4096 : n;
        memset(x + lo, 0, (hi - lo) * sizeof(float));
    }
}

/* node i's gradient starts at this step: plan (p != NULL) places it, run zeroes it */
static void grad_start(pv_tape *t, grad_plan *p, int i, int threads)
{
    if (p) {
        if (t->goffset[i] == GRAD_UNSET) grad_place(t, p, i);
    } else if (t->glive[i] == 0) {
        zero_floats(grad(t, i), t->N * t->size[i], threads);
        t->glive[i] = 1;
    }
}

static pv_status plan_grads(pv_tape *t, const pv_seed *seeds, int n_seeds, pv_error *err)
{
    const pv_graph *g = t->g;
    grad_plan p = { 0, 0 };
    for (int i = 0; i < g->n; i++) t->goffset[i] = GRAD_UNSET;
    for (int k = 0; k < n_seeds; k++)
        if (t->active[seeds[k].node]) grad_start(t, &p, seeds[k].node, 0);
    for (int i = g->n - 1; i >= 0; i--) {
        if (!t->active[i]) continue;
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (t->active[g->nodes[i].in[k]]) grad_start(t, &p, g->nodes[i].in[k], 0);
        grad_release(t, &p, i);
    }
    if (p.total > t->grads_len || !t->grads) {
        free(t->grads); t->grads = NULL; t->grads_len = 0;
        pv_status st = alloc_floats(&t->grads, p.total, "gradients", t->N, err);
        if (st) return st;
        t->grads_len = p.total;
    }
    memset(t->glive, 0, (size_t)g->n * sizeof *t->glive);    /* the run's "zeroed yet" flags */
    return PV_OK;
}

pv_status pv_backward(pv_tape *t, const pv_seed *seeds, int n_seeds, const int *wrt, int n_wrt,
                      float *const *outs, pv_modifier mod, pv_error *err)
{
    const pv_graph *g = t->g;
    if (!t->planned) return PV_FAIL(err, PV_ERR_INTERNAL, "pv_backward before a forward run");
    if ((int)mod < PV_MOD_NONE || mod > PV_MOD_RECTIFIED)
        return PV_FAIL(err, PV_ERR_VALUE, "modifier code %d, expected 0 (none), 1 (guided) or 2 (rectified)", (int)mod);
    for (int k = 0; k < n_seeds; k++)
        if (seeds[k].node < 0 || seeds[k].node >= g->n)
            return PV_FAIL(err, PV_ERR_INDEX, "seed %d names node %d; the graph has nodes 0..%d", k, seeds[k].node, g->n - 1);
    for (int k = 0; k < n_wrt; k++)
        if (wrt[k] < 0 || wrt[k] >= g->n)
            return PV_FAIL(err, PV_ERR_INDEX, "wrt entry %d names node %d; the graph has nodes 0..%d", k, wrt[k], g->n - 1);
    for (int k = 0; k < n_wrt; k++) memset(outs[k], 0, t->N * t->size[wrt[k]] * sizeof(float));
    mark_active(t, seeds, n_seeds, wrt, n_wrt);
    pv_status st = plan_grads(t, seeds, n_seeds, err);
    if (st) return st;

    const int threads = t->work_threads ? t->work_threads : 1;
    for (int k = 0; k < n_seeds; k++)
        if (t->active[seeds[k].node]) {
            grad_start(t, NULL, seeds[k].node, threads);
            accumulate(grad(t, seeds[k].node), seeds[k].grad, t->N * t->size[seeds[k].node]);
        }
    pv_work work = { t->work, t->work_threads ? t->work_len / (size_t)t->work_threads : 0, t->work_threads };
    for (int i = g->n - 1; i >= 0; i--) {
        if (!t->active[i]) continue;
        /* every consumer has run, so node i's gradient is complete: hand it out before the
         * node's own backward rewrites it in place */
        for (int k = 0; k < n_wrt; k++)
            if (wrt[k] == i) memcpy(outs[k], grad(t, i), t->N * t->size[i] * sizeof(float));
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (t->active[g->nodes[i].in[k]]) grad_start(t, NULL, g->nodes[i].in[k], threads);
        if ((st = backward_node(t, i, mod, &work, err))) return st;
    }
    return PV_OK;
}
