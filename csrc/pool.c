/* pool.c — MaxPooling2D, AveragePooling2D and the global poolings, forward and backward.
 *
 * Windows come from pv_window (TF padding). Max pooling ignores padded cells, as if they held
 * -inf; average pooling divides by the number of real cells in each window. Max backward re-reads
 * the forward input (and output) and routes each gradient to the FIRST maximum of its window in
 * row-major order (the cell TF and PyTorch pick), so no argmax array is stored. Backward kernels accumulate.
 * Threads split the batch and output rows in forward, and channels in backward, because
 * overlapping windows (3x3 stride 2) would otherwise make two threads write one input cell.
 */
#include "pyvis.h"

#include <math.h>
#include <stdlib.h>

#define PV_POOL_LANES 64      /* channels routed together in max backward (a stack block) */

#ifdef _OPENMP
#include <omp.h>
#endif

/* Valid window rows [*k0, *k1) for output row o along one axis. */
static void window_span(size_t o, size_t s, size_t k, size_t pad, size_t in, size_t *k0, size_t *k1)
{
    long start = (long)(o * s) - (long)pad;
    long lo = start < 0 ? -start : 0;
    long hi = (long)in - start;
    if (hi > (long)k) hi = (long)k;
    if (hi < lo) hi = lo;
    *k0 = (size_t)lo;
    *k1 = (size_t)hi;
}

/* Does cell value v take over from the window's current choice `best` in backward? A larger
 * value does, and so does the first NaN (forward lets NaN win), which then keeps it: the routing
 * of np.argmax, for which NaN is the maximum. */
static inline int beats(float v, float best)
{
    return v > best || (v != v && best == best);
}

static void pool_forward(float *out, const float *inp, const pv_window *win, size_t N, int is_max,
                         int threads)
{
    /* out is (N, OH, OW, C), inp is (N, H, W, C) */
    const size_t C = win->C;
    const long rows = (long)(N * win->OH);
#pragma omp parallel for schedule(static) num_threads(threads) if (PV_WORTH_THREADS((double)rows * win->OW * C * win->KH * win->KW))
    for (long row = 0; row < rows; row++) {
        size_t n = (size_t)row / win->OH, oh = (size_t)row % win->OH;
        size_t h0, h1;
        window_span(oh, win->SH, win->KH, win->pad_top, win->H, &h0, &h1);
        for (size_t ow = 0; ow < win->OW; ow++) {
            size_t w0, w1;
            window_span(ow, win->SW, win->KW, win->pad_left, win->W, &w0, &w1);
            float *o = out + ((n * win->OH + oh) * win->OW + ow) * C;
            for (size_t c = 0; c < C; c++) o[c] = is_max ? -INFINITY : 0.0f;
            for (size_t kh = h0; kh < h1; kh++) {
                size_t ih = oh * win->SH + kh - win->pad_top;
                for (size_t kw = w0; kw < w1; kw++) {
                    size_t iw = ow * win->SW + kw - win->pad_left;
                    const float *x = inp + ((n * win->H + ih) * win->W + iw) * C;
                    if (is_max) {
                        /* a NaN in the window wins and stays, so NaN propagates; a select, not
                         * a branch, so the channel loop vectorises */
                        for (size_t c = 0; c < C; c++) {
                            float v = x[c], cur = o[c];
                            o[c] = (v > cur) | (v != v) ? v : cur;
                        }
                    } else {
                        for (size_t c = 0; c < C; c++) o[c] += x[c];
                    }
                }
            }
            if (!is_max) {
                float inv = 1.0f / (float)((h1 - h0) * (w1 - w0));
                for (size_t c = 0; c < C; c++) o[c] *= inv;
            }
        }
    }
}

void maxpool2d_forward(float *out, const float *inp, const pv_window *win, size_t N, int threads)
{
    pool_forward(out, inp, win, N, 1, threads);
}

void avgpool2d_forward(float *out, const float *inp, const pv_window *win, size_t N, int threads)
{
    pool_forward(out, inp, win, N, 0, threads);
}

/* Max backward for windows that do not overlap (stride >= pool size, e.g. VGG's 2x2/2): each
 * input cell belongs to at most one window, so threads can own output rows. The forward output
 * holds each window's maximum, so the first cell equal to it (the first maximum in row-major
 * order, the one forward kept) is found tap by tap with selects over the contiguous channels:
 * the gradient still to route drops to zero once a cell has taken it. A NaN maximum (forward
 * lets NaN win) goes to the window's first NaN. */
PV_KERNEL_BODY void maxpool_row_body(float *dinp, const float *dout, const float *inp, const float *out,
                                     const pv_window *win, size_t row)
{
    const size_t C = win->C;
    size_t n = row / win->OH, oh = row % win->OH, h0, h1;
    window_span(oh, win->SH, win->KH, win->pad_top, win->H, &h0, &h1);
    for (size_t ow = 0; ow < win->OW; ow++) {
        size_t w0, w1;
        window_span(ow, win->SW, win->KW, win->pad_left, win->W, &w0, &w1);
        if (h0 == h1 || w0 == w1) continue;
        const size_t o = ((n * win->OH + oh) * win->OW + ow) * C;
        float left[PV_POOL_LANES];
        for (size_t c0 = 0; c0 < C; c0 += PV_POOL_LANES) {
            const size_t nc = C - c0 < PV_POOL_LANES ? C - c0 : PV_POOL_LANES;
            const float *g = dout + o + c0, *m = out + o + c0;
            for (size_t c = 0; c < nc; c++) left[c] = g[c];
            for (size_t kh = h0; kh < h1; kh++)
                for (size_t kw = w0; kw < w1; kw++) {
                    size_t at = ((n * win->H + oh * win->SH + kh - win->pad_top) * win->W +
                                 ow * win->SW + kw - win->pad_left) * C + c0;
                    const float *x = inp + at;
                    float *d = dinp + at;
                    for (size_t c = 0; c < nc; c++) {
                        int hit = (x[c] == m[c]) | ((x[c] != x[c]) & (m[c] != m[c]));
                        d[c] += hit ? left[c] : 0.0f;
                        left[c] = hit ? 0.0f : left[c];
                    }
                }
        }
    }
}

/* one output row per call: the threaded loop stays outside the two compiled versions, whose
 * OpenMP region would otherwise be outlined once, for the baseline only */
PV_TWO_TARGETS(maxpool_row,
               (float *dinp, const float *dout, const float *inp, const float *out, const pv_window *win,
                size_t row),
               (dinp, dout, inp, out, win, row))

static void maxpool_backward_disjoint(float *dinp, const float *dout, const float *inp, const float *out,
                                      const pv_window *win, size_t N, int threads)
{
    const long rows = (long)(N * win->OH);
#pragma omp parallel for schedule(static) num_threads(threads) if (PV_WORTH_THREADS((double)rows * win->OW * win->C * win->KH * win->KW))
    for (long row = 0; row < rows; row++) maxpool_row(dinp, dout, inp, out, win, (size_t)row);
}

static void pool_backward(float *dinp, const float *dout, const float *inp, const float *out,
                          const pv_window *win, size_t N, int is_max, int threads)
{
    if (is_max && win->SH >= win->KH && win->SW >= win->KW) {
        maxpool_backward_disjoint(dinp, dout, inp, out, win, N, threads);
        return;
    }
    /* dinp is (N, H, W, C) accumulated into; dout is (N, OH, OW, C); inp only for max */
    const size_t C = win->C;
    const long tasks = (long)(N * C);
#pragma omp parallel for schedule(static) num_threads(threads) if (PV_WORTH_THREADS((double)tasks * win->OH * win->OW * win->KH * win->KW))
    for (long task = 0; task < tasks; task++) {
        size_t n = (size_t)task / C, c = (size_t)task % C;
        for (size_t oh = 0; oh < win->OH; oh++) {
            size_t h0, h1;
            window_span(oh, win->SH, win->KH, win->pad_top, win->H, &h0, &h1);
            for (size_t ow = 0; ow < win->OW; ow++) {
                size_t w0, w1;
                window_span(ow, win->SW, win->KW, win->pad_left, win->W, &w0, &w1);
                float g = dout[((n * win->OH + oh) * win->OW + ow) * C + c];
                if (h0 == h1 || w0 == w1) continue;
                if (is_max) {
                    size_t best = 0;
                    float bv = 0.0f;
                    int found = 0;
                    for (size_t kh = h0; kh < h1; kh++)
                        for (size_t kw = w0; kw < w1; kw++) {
                            size_t ih = oh * win->SH + kh - win->pad_top;
                            size_t iw = ow * win->SW + kw - win->pad_left;
                            size_t at = ((n * win->H + ih) * win->W + iw) * C + c;
                            if (!found || beats(inp[at], bv)) { best = at; bv = inp[at]; found = 1; }
                        }
                    dinp[best] += g;
                } else {
                    float share = g / (float)((h1 - h0) * (w1 - w0));
                    for (size_t kh = h0; kh < h1; kh++)
                        for (size_t kw = w0; kw < w1; kw++) {
                            size_t ih = oh * win->SH + kh - win->pad_top;
                            size_t iw = ow * win->SW + kw - win->pad_left;
                            dinp[((n * win->H + ih) * win->W + iw) * C + c] += share;
                        }
                }
            }
        }
    }
}

void maxpool2d_backward(float *dinp, const float *dout, const float *inp, const float *out,
                        const pv_window *win, size_t N, int threads)
{
    pool_backward(dinp, dout, inp, out, win, N, 1, threads);
}

void avgpool2d_backward(float *dinp, const float *dout, const pv_window *win, size_t N, int threads)
{
    pool_backward(dinp, dout, NULL, NULL, win, N, 0, threads);
}

void global_pool_forward(float *out, const float *inp, size_t N, size_t HW, size_t C, int is_max)
{
    /* out is (N, C), inp is (N, HW, C) */
    for (size_t n = 0; n < N; n++) {
        float *o = out + n * C;
        for (size_t c = 0; c < C; c++) o[c] = is_max ? -INFINITY : 0.0f;
        for (size_t p = 0; p < HW; p++) {
            const float *x = inp + (n * HW + p) * C;
            if (is_max) {
                for (size_t c = 0; c < C; c++) {
                    float v = x[c], cur = o[c];
                    o[c] = (v > cur) | (v != v) ? v : cur;
                }
            } else {
                for (size_t c = 0; c < C; c++) o[c] += x[c];
            }
        }
        if (!is_max)
            for (size_t c = 0; c < C; c++) o[c] /= (float)HW;
    }
}

void global_pool_backward(float *dinp, const float *dout, const float *inp, size_t N, size_t HW,
                          size_t C, int is_max)
{
    /* dinp is (N, HW, C) accumulated into; dout is (N, C) */
    for (size_t n = 0; n < N; n++) {
        const float *g = dout + n * C;
        if (!is_max) {
            for (size_t p = 0; p < HW; p++) {
                float *d = dinp + (n * HW + p) * C;
                for (size_t c = 0; c < C; c++) d[c] += g[c] / (float)HW;
            }
            continue;
        }
        for (size_t c = 0; c < C; c++) {
            size_t best = 0;
            for (size_t p = 1; p < HW; p++)
                if (beats(inp[(n * HW + p) * C + c], inp[(n * HW + best) * C + c])) best = p;
            dinp[(n * HW + best) * C + c] += g[c];
        }
    }
}
