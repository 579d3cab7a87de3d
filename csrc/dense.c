/* dense.c — Dense forward and backward-to-input: out = act(inp @ kernel + bias) on the last axis.
 *
 * inp is viewed as (M, IN) with M = N * (all leading per-sample dims), kernel is Keras's (IN, OUT).
 * At small M (batch 1 through a classifier head) the layer is a matrix-vector product bound by
 * memory bandwidth: each thread then streams its own contiguous block of kernel ROWS through
 * gemv.c (forward: partial sums over its rows, added up at the end; backward: its slice of the
 * input gradient), which reads the kernel once at full bandwidth. At large M threads split rows
 * of the input and run sgemm. Fused activation is LINEAR
 * or RELU only; graph.c lowers every other activation to its own node. No weight gradients.
 */
#include "pyvis.h"
#include "blas.h"

#include <string.h>

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

/* M == 1: out = inp @ kernel, with thread k summing kernel rows [lo, hi) into partial[k]. */
static void dense_forward_vector(float *out, const float *inp, const float *kernel, size_t IN,
                                 size_t OUT, float *partial, int threads)
{
#pragma omp parallel for schedule(static, 1) num_threads(threads) if (PV_WORTH_THREADS((double)IN * OUT))
    for (int k = 0; k < threads; k++) {
        size_t lo, hi;
        split(IN, threads, k, PV_DENSE_COL_ALIGN, &lo, &hi);
        float *y = k == 0 ? out : partial + (size_t)(k - 1) * OUT;
        if (lo == hi) { memset(y, 0, OUT * sizeof(float)); continue; }
        pv_gemv_rows_axpy(y, inp + lo, kernel + lo * OUT, hi - lo, OUT);
    }
    for (int k = 1; k < threads; k++)
        for (size_t j = 0; j < OUT; j++) out[j] += partial[(size_t)(k - 1) * OUT + j];
}

size_t dense_work_floats(size_t M, size_t OUT, int threads)
{
    return M == 1 && threads > 1 ? (size_t)(threads - 1) * OUT : 0;
}

void dense_forward(float *out, const float *inp, const float *kernel, const float *bias,
                   size_t M, size_t IN, size_t OUT, pv_act act, const pv_work *work)
{
    /* out is (M, OUT), inp is (M, IN), kernel is (IN, OUT), bias is (OUT,) or NULL;
     * work holds dense_work_floats(M, OUT, threads) floats */
    const int threads = work->threads;
    if (M == 0 || OUT == 0) return;
    if (M == 1) {
        dense_forward_vector(out, inp, kernel, IN, OUT, work->buf, threads);
        bias_act_rows(out, OUT, bias, 1, 0, OUT, act);
        return;
    }
    const int by_rows = M >= PV_DENSE_ROW_SPLIT;
#pragma omp parallel for schedule(static, 1) num_threads(threads) if (PV_WORTH_THREADS((double)M * IN * OUT))
    for (int k = 0; k < threads; k++) {
        size_t lo, hi;
        if (by_rows) {
            split(M, threads, k, 1, &lo, &hi);
            if (lo == hi) continue;
            pv_sgemm(0, 0, hi - lo, OUT, IN, 1.0f, inp + lo * IN, IN, kernel, OUT, 0.0f,
                     out + lo * OUT, OUT);
            bias_act_rows(out + lo * OUT, OUT, bias, hi - lo, 0, OUT, act);
        } else {
            split(OUT, threads, k, PV_DENSE_COL_ALIGN, &lo, &hi);
            if (lo == hi) continue;
            pv_sgemm(0, 0, M, hi - lo, IN, 1.0f, inp, IN, kernel + lo, OUT, 0.0f, out + lo, OUT);
            bias_act_rows(out, OUT, bias, M, lo, hi, act);
        }
    }
}

void dense_backward_input(float *dinp, const float *dout, const float *kernel,
                          size_t M, size_t IN, size_t OUT, int threads)
{
    /* dinp is (M, IN) and is accumulated into, dout is (M, OUT): dinp += dout @ kernel^T */
    if (M == 0 || IN == 0) return;
    const int by_rows = M >= PV_DENSE_ROW_SPLIT;
#pragma omp parallel for schedule(static, 1) num_threads(threads) if (PV_WORTH_THREADS((double)M * IN * OUT))
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
            if (M == 1)   /* dinp[lo:hi] += kernel[lo:hi, :] @ dout: contiguous rows, no packing */
                pv_gemv_rows_dot(dinp + lo, kernel + lo * OUT, dout, hi - lo, OUT);
            else
                pv_sgemm(0, 1, M, hi - lo, OUT, 1.0f, dout, OUT, kernel + lo * OUT, OUT, 1.0f,
                         dinp + lo, IN);
        }
    }
}
