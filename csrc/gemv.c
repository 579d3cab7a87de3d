/* gemv.c — the two matrix-vector products of a Dense layer at batch 1, at memory bandwidth.
 *
 * Keras stores a Dense kernel as W (IN, OUT), row-major. Forward needs y = x W (each row of W
 * scaled by one input and added up) and backward-to-input needs g W^T (one dot product per row).
 * Both are a single pass over W, which for a classifier head is hundreds of megabytes: the only
 * thing that matters is streaming it as fast as the memory delivers. Each caller's thread takes
 * a contiguous block of rows; four rows are read side by side so that every load of the small
 * vector (x's slice of y, or g) in L1 serves four rows. The row update is a plain loop compiled
 * for AVX-512 and the baseline (PV_TWO_TARGETS); the dot products need several accumulators per
 * row, written out for AVX-512, with a plain loop elsewhere.
 * Not here: threading (dense.c splits the rows), products with more than one row of inputs.
 */
#include "pyvis.h"

/* y[0:OUT] = x[0:rows] W[0:rows, 0:OUT] (ld = OUT) */
PV_KERNEL_BODY void gemv_axpy_body(float *y, const float *x, const float *W, size_t rows, size_t OUT)
{
    size_t i = 0;
    for (size_t j = 0; j < OUT; j++) y[j] = 0.0f;
    for (; i + 4 <= rows; i += 4) {
        const float x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
        const float *w0 = W + i * OUT, *w1 = w0 + OUT, *w2 = w1 + OUT, *w3 = w2 + OUT;
#pragma GCC ivdep
        for (size_t j = 0; j < OUT; j++) y[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j];
    }
    for (; i < rows; i++) {
        const float xi = x[i], *w = W + i * OUT;
#pragma GCC ivdep
        for (size_t j = 0; j < OUT; j++) y[j] += xi * w[j];
    }
}

PV_TWO_TARGETS(gemv_axpy, (float *y, const float *x, const float *W, size_t rows, size_t OUT),
               (y, x, W, rows, OUT))

void pv_gemv_rows_axpy(float *y, const float *x, const float *W, size_t rows, size_t OUT)
{
    gemv_axpy(y, x, W, rows, OUT);
}

/* sum over j < n of w_r[j] * g[j] for four rows r at once */
static void dot4_portable(const float *w0, const float *w1, const float *w2, const float *w3, const float *g,
                          size_t n, float out[4])
{
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (size_t j = 0; j < n; j++) {
        s[0] += w0[j] * g[j];
        s[1] += w1[j] * g[j];
        s[2] += w2[j] * g[j];
        s[3] += w3[j] * g[j];
    }
    for (int r = 0; r < 4; r++) out[r] = s[r];
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/* two accumulators per row (eight chains in flight) hide the FMA latency; the loads of g are
 * shared by the four rows */
__attribute__((target("avx512f"))) static void dot4_avx512(const float *w0, const float *w1, const float *w2,
                                                           const float *w3, const float *g, size_t n, float out[4])
{
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    size_t j = 0;
    for (; j + 32 <= n; j += 32) {
        __m512 g0 = _mm512_loadu_ps(g + j), g1 = _mm512_loadu_ps(g + j + 16);
        a00 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + j), g0, a00);
        a01 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + j + 16), g1, a01);
        a10 = _mm512_fmadd_ps(_mm512_loadu_ps(w1 + j), g0, a10);
        a11 = _mm512_fmadd_ps(_mm512_loadu_ps(w1 + j + 16), g1, a11);
        a20 = _mm512_fmadd_ps(_mm512_loadu_ps(w2 + j), g0, a20);
        a21 = _mm512_fmadd_ps(_mm512_loadu_ps(w2 + j + 16), g1, a21);
        a30 = _mm512_fmadd_ps(_mm512_loadu_ps(w3 + j), g0, a30);
        a31 = _mm512_fmadd_ps(_mm512_loadu_ps(w3 + j + 16), g1, a31);
    }
    for (; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        __m512 g0 = _mm512_maskz_loadu_ps(m, g + j);
        a00 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w0 + j), g0, a00);
        a10 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w1 + j), g0, a10);
        a20 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w2 + j), g0, a20);
        a30 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w3 + j), g0, a30);
    }
    out[0] = _mm512_reduce_add_ps(_mm512_add_ps(a00, a01));
    out[1] = _mm512_reduce_add_ps(_mm512_add_ps(a10, a11));
    out[2] = _mm512_reduce_add_ps(_mm512_add_ps(a20, a21));
    out[3] = _mm512_reduce_add_ps(_mm512_add_ps(a30, a31));
}
#endif

static void dot4(const float *w0, const float *w1, const float *w2, const float *w3, const float *g, size_t n,
                 float out[4])
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (pv_use_avx512()) {
        dot4_avx512(w0, w1, w2, w3, g, n, out);
        return;
    }
#endif
    dot4_portable(w0, w1, w2, w3, g, n, out);
}

/* dx[0:rows] += W[0:rows, 0:OUT] g (ld = OUT) */
void pv_gemv_rows_dot(float *dx, const float *W, const float *g, size_t rows, size_t OUT)
{
    size_t i = 0;
    float s[4];
    for (; i + 4 <= rows; i += 4) {
        const float *w0 = W + i * OUT;
        dot4(w0, w0 + OUT, w0 + 2 * OUT, w0 + 3 * OUT, g, OUT, s);
        dx[i] += s[0];
        dx[i + 1] += s[1];
        dx[i + 2] += s[2];
        dx[i + 3] += s[3];
    }
    for (; i < rows; i++) {
        const float *w = W + i * OUT;
        dot4(w, w, w, w, g, OUT, s);
        dx[i] += s[0];
    }
}
