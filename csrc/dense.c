/* dense.c — Dense forward and backward-to-input: out = act(inp @ kernel + bias) on the last axis.
 *
 * inp is viewed as (M, IN) with M = N * (all leading per-sample dims), kernel is Keras's (IN, OUT).
 * At small M (batch 1 through a classifier head) the layer is a matrix-vector product bound by
 * memory bandwidth, so threads split the OUT columns (forward) or IN columns (backward) and each
 * streams its own slice of the kernel; at large M threads split rows. Fused activation is LINEAR
 * or RELU only; graph.c lowers every other activation to its own node. No weight gradients.
 */
#include "pyvis.h"
#include "blas.h"

/* Column slices are multiples of this many floats so slices start on cache-line boundaries. */
#define PV_DENSE_COL_ALIGN 16
#define PV_DENSE_ROW_SPLIT 64   /* from this many rows on, split rows instead of columns */

static void split(size_t total, int parts, int k, size_t align, size_t *lo, size_t *hi)
{
    size_t per = (total + (size_t)parts - 1) / (size_t)parts;
    per = (per + align - 1) / align * align;
    *lo = per * (size_t)k < total ? per * (size_t)k : total;
    *hi = *lo + per < total ? *lo + per : total;
}

static void bias_act(float *out, size_t ld, const float *bias, size_t rows, size_t c0, size_t c1,
                     pv_act act)
{
    for (size_t r = 0; r < rows; r++) {
        float *o = out + r * ld;
        if (bias)
            for (size_t k = c0; k < c1; k++) o[k] += bias[k];
        if (act == PV_ACT_RELU)
            for (size_t k = c0; k < c1; k++) o[k] = o[k] > 0.0f ? o[k] : 0.0f;
    }
}

void dense_forward(float *out, const float *inp, const float *kernel, const float *bias,
                   size_t M, size_t IN, size_t OUT, pv_act act, int threads)
{
    /* out is (M, OUT), inp is (M, IN), kernel is (IN, OUT), bias is (OUT,) or NULL */
    if (M == 0 || OUT == 0) return;
    const int by_rows = M >= PV_DENSE_ROW_SPLIT;
#pragma omp parallel for schedule(static, 1) num_threads(threads)
    for (int k = 0; k < threads; k++) {
        size_t lo, hi;
        if (by_rows) {
            split(M, threads, k, 1, &lo, &hi);
            if (lo == hi) continue;
            pv_sgemm(0, 0, hi - lo, OUT, IN, 1.0f, inp + lo * IN, IN, kernel, OUT, 0.0f,
                     out + lo * OUT, OUT);
            bias_act(out + lo * OUT, OUT, bias, hi - lo, 0, OUT, act);
        } else {
            split(OUT, threads, k, PV_DENSE_COL_ALIGN, &lo, &hi);
            if (lo == hi) continue;
            pv_sgemm(0, 0, M, hi - lo, IN, 1.0f, inp, IN, kernel + lo, OUT, 0.0f, out + lo, OUT);
            bias_act(out, OUT, bias, M, lo, hi, act);
        }
    }
}

void dense_backward_input(float *dinp, const float *dout, const float *kernel,
                          size_t M, size_t IN, size_t OUT, int threads)
{
    /* dinp is (M, IN) and is accumulated into, dout is (M, OUT): dinp += dout @ kernel^T */
    if (M == 0 || IN == 0) return;
    const int by_rows = M >= PV_DENSE_ROW_SPLIT;
#pragma omp parallel for schedule(static, 1) num_threads(threads)
    for (int k = 0; k < threads; k++) {
        size_t lo, hi;
        if (by_rows) {
            split(M, threads, k, 1, &lo, &hi);
            if (lo == hi) continue;
            pv_sgemm(0, 1, hi - lo, IN, OUT, 1.0f, dout + lo * OUT, OUT, kernel, OUT, 1.0f,
                     dinp + lo * IN, IN);
        } else {
            split(IN, threads, k, PV_DENSE_COL_ALIGN, &lo, &hi);
            if (lo == hi) continue;
            pv_sgemm(0, 1, M, hi - lo, OUT, 1.0f, dout, OUT, kernel + lo * OUT, OUT, 1.0f,
                     dinp + lo, IN);
        }
    }
}
