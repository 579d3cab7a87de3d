/* conv2d.c — Conv2D forward and backward-to-input, NHWC activations, Keras HWIO kernels.
 *
 * Forward is im2col + one sgemm per chunk of output pixels: the kernel (KH, KW, C, OC) read as a
 * (KH*KW*C, OC) matrix is already the GEMM's B operand, so weights are never transposed. A 1x1
 * stride-1 convolution skips im2col. Backward-to-input gathers, for each chunk of INPUT pixels,
 * the output gradients every tap of that pixel touched, then runs one sgemm per tap against the
 * kernel slice (C, OC) transposed. Gathering by input pixel means threads never write the same
 * row, so there is no col2im scatter and no race. When the input is much narrower than the output
 * (an RGB first layer), projecting first is cheaper: one sgemm gives, per output pixel, the
 * contribution of each tap to each input channel (KH*KW*C values), and each input pixel then sums
 * the taps that reach it. No weight gradients: pyvis never trains.
 * Padding follows TensorFlow: `same` puts the odd extra row/column at the bottom/right.
 * What this file does not do: groups, channels_first, Winograd (winograd.c takes the 3x3 stride-1
 * layers with 16 or more channels).
 */
#include "pyvis.h"
#include "blas.h"

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Target size of one thread's im2col chunk: big enough for an efficient GEMM, small enough to
 * stay near the caches (conv1_2 of VGG16 would need 116 MB per image unchunked). */
#define PV_CONV_CHUNK_FLOATS ((size_t)1 << 20)

static pv_status out_size(size_t in, size_t k, size_t s, size_t d, int padding, size_t *out,
                          size_t *pad_before, const char *axis, pv_error *err)
{
    if (k == 0 || s == 0 || d == 0)
        return PV_FAIL(err, PV_ERR_VALUE, "%s: kernel %zu, stride %zu and dilation %zu must be >= 1",
                       axis, k, s, d);
    size_t eff;
    if (pv_mul_size(k - 1, d, &eff) || pv_add_size(eff, 1, &eff))
        return PV_FAIL(err, PV_ERR_VALUE, "%s: kernel %zu with dilation %zu overflows", axis, k, d);
    if (padding == PV_PAD_SAME) {
        *out = in / s + (in % s != 0);
        size_t need = (*out == 0) ? 0 : (*out - 1) * s + eff;
        size_t total = need > in ? need - in : 0;
        *pad_before = total / 2;
    } else {
        if (in < eff)
            return PV_FAIL(err, PV_ERR_VALUE,
                           "%s: input size %zu is smaller than the effective kernel size %zu "
                           "with padding='valid'", axis, in, eff);
        *out = (in - eff) / s + 1;
        *pad_before = 0;
    }
    return PV_OK;
}

pv_status pv_window_resolve(pv_window *win, size_t H, size_t W, size_t C, size_t OC,
                            size_t KH, size_t KW, size_t SH, size_t SW, size_t DH, size_t DW,
                            int padding, pv_error *err)
{
    if (padding != PV_PAD_VALID && padding != PV_PAD_SAME)
        return PV_FAIL(err, PV_ERR_VALUE, "padding code %d: expected 0 (valid) or 1 (same)", padding);
    memset(win, 0, sizeof *win);
    win->H = H; win->W = W; win->C = C; win->OC = OC;
    win->KH = KH; win->KW = KW; win->SH = SH; win->SW = SW; win->DH = DH; win->DW = DW;
    pv_status st = out_size(H, KH, SH, DH, padding, &win->OH, &win->pad_top, "height", err);
    if (st) return st;
    return out_size(W, KW, SW, DW, padding, &win->OW, &win->pad_left, "width", err);
}

static int is_pointwise(const pv_window *win)
{
    return win->KH == 1 && win->KW == 1 && win->SH == 1 && win->SW == 1;
}

/* narrow inputs: project output gradients onto (tap, channel) first, gather second */
static int project_first(const pv_window *win)
{
    return !(win->KH == 1 && win->KW == 1 && win->SH == 1 && win->SW == 1) && 4 * win->C <= win->OC;
}

size_t conv2d_work_floats(const pv_window *win, size_t N, int threads)
{
    size_t kf = win->KH * win->KW * win->C;     /* forward im2col row */
    size_t kb = win->KH * win->KW * win->OC;    /* backward gather row */
    size_t row = kf > kb ? kf : kb;
    size_t pixels = N * (win->OH * win->OW > win->H * win->W ? win->OH * win->OW : win->H * win->W);
    size_t per_thread_rows = (pixels + (size_t)threads - 1) / (size_t)threads;
    size_t want = pv_mul_sat(per_thread_rows, row);
    if (want > PV_CONV_CHUNK_FLOATS) want = PV_CONV_CHUNK_FLOATS;
    if (want < row) want = row;
    if (project_first(win)) {   /* the whole projection, and the packed kernel, shared by the threads */
        size_t proj = pv_mul_sat(pv_mul_sat(N, win->OH * win->OW), kf);
        if (pv_add_size(proj, pv_mul_sat(pv_panels(kf) * PV_PANEL, win->OC), &proj)) proj = SIZE_MAX;
        proj = proj / (size_t)threads + 1;
        if (proj > want) want = proj;
    }
    return want;
}

/* Rows per chunk: fill one thread's scratch, but leave every thread some work. */
static size_t chunk_rows(size_t rows_total, size_t row_len, const pv_work *work)
{
    size_t rows = work->per_thread / row_len;
    size_t fair = (rows_total + (size_t)work->threads - 1) / (size_t)work->threads;
    if (rows > fair) rows = fair;
    return rows ? rows : 1;
}

/* col[r, (kh, kw, c)] = padded input under output pixel p0 + r. */
static void im2col_rows(float *col, const float *inp, const pv_window *win, size_t p0, size_t rows)
{
    const size_t C = win->C, ohw = win->OH * win->OW;
    for (size_t r = 0; r < rows; r++) {
        size_t p = p0 + r, n = p / ohw, rem = p % ohw;
        size_t oh = rem / win->OW, ow = rem % win->OW;
        float *dst = col + r * win->KH * win->KW * C;
        for (size_t kh = 0; kh < win->KH; kh++) {
            long ih = (long)(oh * win->SH + kh * win->DH) - (long)win->pad_top;
            for (size_t kw = 0; kw < win->KW; kw++, dst += C) {
                long iw = (long)(ow * win->SW + kw * win->DW) - (long)win->pad_left;
                if (ih < 0 || ih >= (long)win->H || iw < 0 || iw >= (long)win->W)
                    memset(dst, 0, C * sizeof(float));
                else
                    memcpy(dst, inp + ((n * win->H + (size_t)ih) * win->W + (size_t)iw) * C,
                           C * sizeof(float));
            }
        }
    }
}

void conv2d_forward(float *out, const float *inp, const float *kernel, const float *bias,
                    const pv_window *win, size_t N, pv_act act, const pv_work *work)
{
    /* out is (N, OH, OW, OC), inp is (N, H, W, C), kernel is (KH, KW, C, OC), bias is (OC,) or NULL */
    const size_t K = win->KH * win->KW * win->C, OC = win->OC;
    const size_t P = N * win->OH * win->OW;
    if (P == 0) return;
    const size_t rows = chunk_rows(P, K, work);
    const long n_chunks = (long)((P + rows - 1) / rows);
    const int pointwise = is_pointwise(win);

#pragma omp parallel for schedule(dynamic, 1) num_threads(work->threads) if (PV_WORTH_THREADS((double)P * K * OC))
    for (long chunk = 0; chunk < n_chunks; chunk++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        size_t p0 = (size_t)chunk * rows;
        size_t m = P - p0 < rows ? P - p0 : rows;
        const float *A = inp + p0 * K;
        if (!pointwise) {
            float *col = work->buf + (size_t)tid * work->per_thread;
            im2col_rows(col, inp, win, p0, m);
            A = col;
        }
        pv_sgemm(0, 0, m, OC, K, 1.0f, A, K, kernel, OC, 0.0f, out + p0 * OC, OC);
        bias_act_rows(out + p0 * OC, OC, bias, m, 0, OC, act);
    }
}

/* g[r, (kh, kw, oc)] = dout at the output pixel that tap (kh, kw) of input pixel q0 + r feeds,
 * or 0 where that tap belongs to no output pixel (padding, stride gaps, borders). */
static void gather_rows(float *g, const float *dout, const pv_window *win, size_t q0, size_t rows)
{
    const size_t OC = win->OC, hw = win->H * win->W;
    for (size_t r = 0; r < rows; r++) {
        size_t q = q0 + r, n = q / hw, rem = q % hw;
        size_t ih = rem / win->W, iw = rem % win->W;
        float *dst = g + r * win->KH * win->KW * OC;
        for (size_t kh = 0; kh < win->KH; kh++) {
            long th = (long)(ih + win->pad_top) - (long)(kh * win->DH);
            int okh = th >= 0 && th % (long)win->SH == 0 && th / (long)win->SH < (long)win->OH;
            size_t oh = okh ? (size_t)(th / (long)win->SH) : 0;
            for (size_t kw = 0; kw < win->KW; kw++, dst += OC) {
                long tw = (long)(iw + win->pad_left) - (long)(kw * win->DW);
                int ok = okh && tw >= 0 && tw % (long)win->SW == 0 && tw / (long)win->SW < (long)win->OW;
                if (!ok) {
                    memset(dst, 0, OC * sizeof(float));
                } else {
                    size_t ow = (size_t)(tw / (long)win->SW);
                    memcpy(dst, dout + ((n * win->OH + oh) * win->OW + ow) * OC, OC * sizeof(float));
                }
            }
        }
    }
}

/* proj (P, KH*KW*C) = dout (P, OC) @ kernel^T, kernel read as (KH*KW*C, OC); then every input
 * pixel q sums proj[p][tap][c] over the taps (p, tap) that read it. */
static void backward_project_first(float *dinp, const float *dout, const float *kernel,
                                   const pv_window *win, size_t N, const pv_work *work)
{
    const size_t C = win->C, OC = win->OC, KC = win->KH * win->KW * C;
    const size_t P = N * win->OH * win->OW, Q = N * win->H * win->W;
    float *proj = work->buf, *packed = work->buf + P * KC;
    const int threads = work->threads;
    /* the projection has few columns (27 for an RGB 3x3 layer): OpenBLAS handles that shape
     * poorly, the panel kernel streams it at full rate from kernel^T packed once */
    pv_pack_panels_t(packed, kernel, OC, KC, OC);
#pragma omp parallel for schedule(static, 1) num_threads(threads) if (PV_WORTH_THREADS((double)P * KC * OC))
    for (int k = 0; k < threads; k++) {
        size_t per = (P + (size_t)threads - 1) / (size_t)threads, p0 = per * (size_t)k;
        size_t p1 = p0 + per < P ? p0 + per : P;
        if (p0 < p1) pv_gemm_panels(p1 - p0, KC, OC, dout + p0 * OC, OC, packed, proj + p0 * KC, KC);
    }
    const size_t hw = win->H * win->W;
    const int unit_stride = win->SH == 1 && win->SW == 1;   /* no divisions in the tap search */
#pragma omp parallel for schedule(static) num_threads(threads) if (PV_WORTH_THREADS(4.0 * (double)Q * KC))
    for (long qi = 0; qi < (long)Q; qi++) {
        size_t q = (size_t)qi, n = q / hw, rem = q % hw, ih = rem / win->W, iw = rem % win->W;
        float *d = dinp + q * C;
        for (size_t kh = 0; kh < win->KH; kh++) {
            long th = (long)(ih + win->pad_top) - (long)(kh * win->DH);
            if (th < 0 || (!unit_stride && th % (long)win->SH)) continue;
            size_t oh = unit_stride ? (size_t)th : (size_t)(th / (long)win->SH);
            if (oh >= win->OH) continue;
            for (size_t kw = 0; kw < win->KW; kw++) {
                long tw = (long)(iw + win->pad_left) - (long)(kw * win->DW);
                if (tw < 0 || (!unit_stride && tw % (long)win->SW)) continue;
                size_t ow = unit_stride ? (size_t)tw : (size_t)(tw / (long)win->SW);
                if (ow >= win->OW) continue;
                const float *src = proj + ((n * win->OH + oh) * win->OW + ow) * KC + (kh * win->KW + kw) * C;
                for (size_t c = 0; c < C; c++) d[c] += src[c];
            }
        }
    }
}

void conv2d_backward_input(float *dinp, const float *dout, const float *kernel,
                           const pv_window *win, size_t N, const pv_work *work)
{
    /* dinp is (N, H, W, C) and is accumulated into; dout is (N, OH, OW, OC) */
    const size_t C = win->C, OC = win->OC, taps = win->KH * win->KW;
    const size_t Q = N * win->H * win->W;
    if (Q == 0) return;
    if (project_first(win)) {
        backward_project_first(dinp, dout, kernel, win, N, work);
        return;
    }
    if (is_pointwise(win)) {
        /* OH == H and OW == W: dinp[q, c] += sum_oc dout[q, oc] * kernel[c, oc] */
        const size_t rows = chunk_rows(Q, C > OC ? C : OC, work);
        const long n_chunks = (long)((Q + rows - 1) / rows);
#pragma omp parallel for schedule(dynamic, 1) num_threads(work->threads) if (PV_WORTH_THREADS((double)Q * C * OC))
        for (long chunk = 0; chunk < n_chunks; chunk++) {
            size_t q0 = (size_t)chunk * rows;
            size_t m = Q - q0 < rows ? Q - q0 : rows;
            pv_sgemm(0, 1, m, C, OC, 1.0f, dout + q0 * OC, OC, kernel, OC, 1.0f, dinp + q0 * C, C);
        }
        return;
    }
    const size_t K = taps * OC;
    const size_t rows = chunk_rows(Q, K, work);
    const long n_chunks = (long)((Q + rows - 1) / rows);
#pragma omp parallel for schedule(dynamic, 1) num_threads(work->threads) if (PV_WORTH_THREADS((double)Q * K * C))
    for (long chunk = 0; chunk < n_chunks; chunk++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        size_t q0 = (size_t)chunk * rows;
        size_t m = Q - q0 < rows ? Q - q0 : rows;
        float *g = work->buf + (size_t)tid * work->per_thread;
        gather_rows(g, dout, win, q0, m);
        for (size_t t = 0; t < taps; t++)
            pv_sgemm(0, 1, m, C, OC, 1.0f, g + t * OC, K, kernel + t * C * OC, OC, 1.0f,
                     dinp + q0 * C, C);
    }
}
