/* winograd.c — Winograd F(4x4, 3x3) for stride-1, undilated 3x3 convolutions, forward and
 * backward-to-input, NHWC.
 *
 * Each 4x4 block of output pixels ("tile") reads a 6x6 input patch. With the Lavin-Gray matrices
 *   V = B^T d B    (input patch, per channel)        U = G g G^T   (kernel, per in/out channel)
 *   M = sum_c V U  (36 independent GEMMs, one per position xi of the 6x6 transform domain)
 *   Y = A^T M A    (output tile)
 * the multiplications drop 4x against a direct convolution. Backward-to-input is the transposed
 * algorithm and reuses the same U: dM = A dY A^T, dV = dM U^T (36 GEMMs), dX += B dV B^T,
 * overlap-added into the input gradient.
 * Small kernels run whole chunks of tiles per thread; large ones share a chunk, with threads
 * splitting the channels in every transform stage (so the overlap-add never races) and the 36
 * positions in the product stage (each U_xi is read by one thread). The products are
 * gemm_small.c's. Tiles are processed in chunks that bound the V and M buffers.
 * Padding is TF's (pad_top/pad_left from pv_window; the far side is implicit).
 * Not here: other kernel sizes, strides or dilations (conv2d.c handles those).
 */
#include "pyvis.h"
#include "blas.h"

#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define XI 36          /* positions in the 6x6 transform domain */
#define CB 32          /* channels handled together in a transform (vector lanes) */
#define PV_WINO_CHUNK_FLOATS ((size_t)6 << 20)   /* V + M buffers per chunk of tiles */

int winograd_applies(const pv_window *win)
{
    return win->KH == 3 && win->KW == 3 && win->SH == 1 && win->SW == 1 && win->DH == 1 &&
           win->DW == 1 && win->C >= 16 && win->OC >= 16;
}

/* Two strategies, by the size of the transformed kernel U (36 * C * OC floats):
 *  - small U (early, wide layers): each thread runs whole chunks of tiles on its own, with V and
 *    M sized to stay in its L2 cache and U shared from L2/L3; no barriers.
 *  - large U (deep layers, few tiles): all threads share one big chunk; transforms split the
 *    channels and the 36 GEMMs split the positions, so each U_xi streams from memory once. */
#define PV_WINO_PRIVATE_MAX_U ((size_t)128 * 256)     /* C * OC up to which chunks are private */
#define PV_WINO_PRIVATE_FLOATS ((size_t)256 << 10)    /* V + M of one private chunk */
#define PV_WINO_PRIVATE_MIN_TILES 16

/* Small kernels run private chunks AND keep U^T (winograd_weights_acquire): the private
 * backward relies on U^T, as it has no scratch for transposing U. One test decides both. */
static int small_kernel(size_t C, size_t OC)
{
    return C * OC <= PV_WINO_PRIVATE_MAX_U;
}

static int private_chunks(const pv_window *win)
{
    return small_kernel(win->C, win->OC);
}

static size_t tiles_per_chunk(const pv_window *win, size_t tiles_total, int backward)
{
    size_t per_tile = XI * (win->C + win->OC), t;
    if (private_chunks(win)) {
        t = PV_WINO_PRIVATE_FLOATS / per_tile;
        if (t < PV_WINO_PRIVATE_MIN_TILES) t = PV_WINO_PRIVATE_MIN_TILES;
        /* at least a tile row plus two: then chunks two apart never overlap-add into one pixel
         * (backward runs even chunks, then odd ones) */
        size_t row = (win->OW + 3) / 4 + 2;
        if (backward && t < row) t = row;
    } else {
        t = PV_WINO_CHUNK_FLOATS / per_tile;
    }
    if (t < 1) t = 1;
    return t < tiles_total ? t : tiles_total;
}

/* Backward in shared chunks (no U^T kept) transposes 32x32 blocks of U on the way, except for
 * chunks of at most this many tiles (14x14 maps at batch 1), where that would cost as much as
 * the product itself: those compute dV^T = U dM^T instead. */
#define PV_WINO_FEW_TILES 16

/* per-thread scratch of those backward GEMMs: one transposed panel of U, or dM_x^T packed into
 * panels plus the product dV_x^T before it is transposed into place */
static size_t panel_floats(const pv_window *win, size_t Tmax)
{
    if (private_chunks(win)) return 0;
    size_t few = pv_mul_sat(pv_panels(Tmax) * PV_PANEL, win->C + win->OC);
    size_t block = pv_gemm_panels_t_work(win->OC);
    return few > block ? few : block;
}

size_t winograd_work_floats(const pv_window *win, size_t N, int threads)
{
    size_t th = (win->OH + 3) / 4, tw = (win->OW + 3) / 4;
    size_t tiles = N * th * tw;
    if (tiles == 0) return 0;
    size_t Tmax = tiles_per_chunk(win, tiles, 1);
    size_t chunk = pv_mul_sat(Tmax, XI * (win->C + win->OC));
    return private_chunks(win) ? pv_mul_sat(chunk, (size_t)threads)
                               : chunk + pv_mul_sat(panel_floats(win, Tmax), (size_t)threads);
}

/* U holds, for each of the 36 positions, the (C, OC) matrix U_x in panel-major form
 * (gemm_small.c): pv_panels(OC) panels of C rows by PV_PANEL columns. */
static size_t u_stride(size_t C, size_t OC)
{
    return pv_panels(OC) * PV_PANEL * C;
}

/* U_x[c][oc] = (G g G^T)[i][j] for kernel g = kernel[:, :, c, oc], stored panel-major; UT, when
 * not NULL, receives each U_x^T (OC, C) panel-major as well, for the backward products. */
void winograd_transform_kernel(float *U, float *UT, const float *kernel, size_t C, size_t OC)
{
    /* kernel is (3, 3, C, OC); U and UT are 36 x u_stride floats each, padding columns zero */
    const size_t stride = u_stride(C, OC), stride_t = u_stride(OC, C);
    memset(U, 0, XI * stride * sizeof(float));
    if (UT) memset(UT, 0, XI * stride_t * sizeof(float));
#pragma omp parallel for schedule(static) num_threads(pv_get_num_threads()) if (PV_WORTH_THREADS(200.0 * C * OC))
    for (long c = 0; c < (long)C; c++) {
        for (size_t oc = 0; oc < OC; oc++) {
            double g[3][3], t[6][3];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) g[i][j] = kernel[((size_t)(i * 3 + j) * C + (size_t)c) * OC + oc];
            for (int j = 0; j < 3; j++) {          /* t = G g */
                t[0][j] = g[0][j] / 4.0;
                t[1][j] = -(g[0][j] + g[1][j] + g[2][j]) / 6.0;
                t[2][j] = -(g[0][j] - g[1][j] + g[2][j]) / 6.0;
                t[3][j] = g[0][j] / 24.0 + g[1][j] / 12.0 + g[2][j] / 6.0;
                t[4][j] = g[0][j] / 24.0 - g[1][j] / 12.0 + g[2][j] / 6.0;
                t[5][j] = g[2][j];
            }
            for (int i = 0; i < 6; i++) {          /* U = t G^T */
                double u[6];
                u[0] = t[i][0] / 4.0;
                u[1] = -(t[i][0] + t[i][1] + t[i][2]) / 6.0;
                u[2] = -(t[i][0] - t[i][1] + t[i][2]) / 6.0;
                u[3] = t[i][0] / 24.0 + t[i][1] / 12.0 + t[i][2] / 6.0;
                u[4] = t[i][0] / 24.0 - t[i][1] / 12.0 + t[i][2] / 6.0;
                u[5] = t[i][2];
                for (int j = 0; j < 6; j++) {
                    U[(size_t)(i * 6 + j) * stride + ((oc / PV_PANEL) * C + (size_t)c) * PV_PANEL + oc % PV_PANEL] = (float)u[j];
                    if (UT)
                        UT[(size_t)(i * 6 + j) * stride_t + (((size_t)c / PV_PANEL) * OC + oc) * PV_PANEL + (size_t)c % PV_PANEL] = (float)u[j];
                }
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* 1-D transforms on CB-lane vectors, read through an array of input pointers and written
 * through an array of output pointers. A 2-D transform is then two passes, the rows into a
 * small buffer and the columns straight to their destination, with no copies in between (copies
 * through local arrays cost more than the arithmetic). Outputs never overlap inputs; ivdep lets
 * the lane loop vectorise without run-time alias checks. */

static _Alignas(64) const float zero_lanes[CB];      /* read in place of pixels outside the image */

/* o = B^T d (6 -> 6) */
PV_KERNEL_BODY void bt6(float *const o[6], const float *const d[6])
{
#pragma GCC ivdep
    for (size_t l = 0; l < CB; l++) {
        float d0 = d[0][l], d1 = d[1][l], d2 = d[2][l], d3 = d[3][l], d4 = d[4][l], d5 = d[5][l];
        o[0][l] = 4 * d0 - 5 * d2 + d4;
        o[1][l] = -4 * d1 - 4 * d2 + d3 + d4;
        o[2][l] = 4 * d1 - 4 * d2 - d3 + d4;
        o[3][l] = -2 * d1 - d2 + 2 * d3 + d4;
        o[4][l] = 2 * d1 - d2 - 2 * d3 + d4;
        o[5][l] = 4 * d1 - 5 * d3 + d5;
    }
}

/* o = A^T m (6 -> 4), then + bias and ReLU when asked (the column pass of the output) */
PV_KERNEL_BODY void at4(float *const o[4], const float *const m[6], const float *bias, int relu)
{
#pragma GCC ivdep
    for (size_t l = 0; l < CB; l++) {
        float m0 = m[0][l], m1 = m[1][l], m2 = m[2][l], m3 = m[3][l], m4 = m[4][l], m5 = m[5][l];
        float b = bias[l];
        float y0 = m0 + m1 + m2 + m3 + m4 + b;
        float y1 = m1 - m2 + 2 * m3 - 2 * m4 + b;
        float y2 = m1 + m2 + 4 * m3 + 4 * m4 + b;
        float y3 = m1 - m2 + 8 * m3 - 8 * m4 + m5 + b;
        if (relu) {   /* !(y > 0) also maps NaN to 0, as the direct path does */
            y0 = y0 > 0.0f ? y0 : 0.0f;
            y1 = y1 > 0.0f ? y1 : 0.0f;
            y2 = y2 > 0.0f ? y2 : 0.0f;
            y3 = y3 > 0.0f ? y3 : 0.0f;
        }
        o[0][l] = y0;
        o[1][l] = y1;
        o[2][l] = y2;
        o[3][l] = y3;
    }
}

/* o = A y (4 -> 6), the transpose of at4 */
PV_KERNEL_BODY void a6(float *const o[6], const float *const y[4])
{
#pragma GCC ivdep
    for (size_t l = 0; l < CB; l++) {
        float y0 = y[0][l], y1 = y[1][l], y2 = y[2][l], y3 = y[3][l];
        o[0][l] = y0;
        o[1][l] = y0 + y1 + y2 + y3;
        o[2][l] = y0 - y1 + y2 - y3;
        o[3][l] = y0 + 2 * y1 + 4 * y2 + 8 * y3;
        o[4][l] = y0 - 2 * y1 + 4 * y2 - 8 * y3;
        o[5][l] = y3;
    }
}

/* o (+)= B v (6 -> 6), the transpose of bt6; accumulate for the overlap-add into the input */
PV_KERNEL_BODY void b6(float *const o[6], const float *const v[6], int accumulate)
{
#pragma GCC ivdep
    for (size_t l = 0; l < CB; l++) {
        float v0 = v[0][l], v1 = v[1][l], v2 = v[2][l], v3 = v[3][l], v4 = v[4][l], v5 = v[5][l];
        float x0 = 4 * v0;
        float x1 = -4 * v1 + 4 * v2 - 2 * v3 + 2 * v4 + 4 * v5;
        float x2 = -5 * v0 - 4 * v1 - 4 * v2 - v3 - v4;
        float x3 = v1 - v2 + 2 * v3 - 2 * v4 - 5 * v5;
        float x4 = v0 + v1 + v2 + v3 + v4;
        float x5 = v5;
        if (accumulate) {
            o[0][l] += x0; o[1][l] += x1; o[2][l] += x2; o[3][l] += x3; o[4][l] += x4; o[5][l] += x5;
        } else {
            o[0][l] = x0; o[1][l] = x1; o[2][l] = x2; o[3][l] = x3; o[4][l] = x4; o[5][l] = x5;
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Channel blocks narrower than CB (C not a multiple of 32) go through staging buffers: loads
 * are zero-padded to CB lanes, stores keep only the first nl. */

PV_KERNEL_BODY const float *stage_load(float *stage, const float *src, size_t nl)
{
    if (nl == CB) return src;
    for (size_t l = 0; l < CB; l++) stage[l] = l < nl ? src[l] : 0.0f;
    return stage;
}

PV_KERNEL_BODY void stage_store(float *dst, const float *stage, size_t nl)
{
    for (size_t l = 0; l < nl; l++) dst[l] = stage[l];
}

/* Tiles in memory order: image, tile row, tile column. */
typedef struct { size_t rows, cols, tiles; } tiling;

static tiling tiling_of(const pv_window *win, size_t N)
{
    tiling t;
    t.rows = (win->OH + 3) / 4;
    t.cols = (win->OW + 3) / 4;
    t.tiles = N * t.rows * t.cols;
    return t;
}

/* tile index -> image n and top-left output pixel (oh0, ow0) */
static void tile_origin(const tiling *tl, size_t tile, size_t *n, size_t *oh0, size_t *ow0)
{
    size_t per_image = tl->rows * tl->cols, r = tile % per_image;
    *n = tile / per_image;
    *oh0 = (r / tl->cols) * 4;
    *ow0 = (r % tl->cols) * 4;
}

/* offset of the input pixel under row i, column j of a tile's 6x6 patch; -1 outside the image */
PV_KERNEL_BODY long patch_offset(const pv_window *win, size_t n, size_t oh0, size_t ow0, int i, int j)
{
    long ih = (long)(oh0 + (size_t)i) - (long)win->pad_top, iw = (long)(ow0 + (size_t)j) - (long)win->pad_left;
    if (ih < 0 || ih >= (long)win->H || iw < 0 || iw >= (long)win->W) return -1;
    return (long)(((n * win->H + (size_t)ih) * win->W + (size_t)iw) * win->C);
}

/* offset of the output pixel (oh0 + i, ow0 + j); -1 past the output's edge */
PV_KERNEL_BODY long tile_offset(const pv_window *win, size_t n, size_t oh0, size_t ow0, int i, int j)
{
    if (oh0 + (size_t)i >= win->OH || ow0 + (size_t)j >= win->OW) return -1;
    return (long)(((n * win->OH + oh0 + (size_t)i) * win->OW + ow0 + (size_t)j) * win->OC);
}

/* V[xi][t][c] = (B^T d B) for tiles [t0, t0+T) and channels [c0, c1) */
PV_KERNEL_BODY void input_transform_body(float *V, const float *inp, const pv_window *win, const tiling *tl,
                                         size_t t0, size_t T, size_t c0, size_t c1)
{
    const size_t C = win->C;
    _Alignas(64) float rows[XI * CB], stage_in[XI * CB], stage_out[XI * CB];
    for (size_t t = 0; t < T; t++) {
        size_t n, oh0, ow0;
        tile_origin(tl, t0 + t, &n, &oh0, &ow0);
        for (size_t cb = c0; cb < c1; cb += CB) {
            const size_t nl = c1 - cb < CB ? c1 - cb : CB;
            for (int i = 0; i < 6; i++) {          /* rows: d B */
                const float *d[6];
                float *o[6];
                for (int j = 0; j < 6; j++) {
                    long at = patch_offset(win, n, oh0, ow0, i, j);
                    d[j] = at >= 0 ? stage_load(stage_in + (i * 6 + j) * CB, inp + at + cb, nl) : zero_lanes;
                    o[j] = rows + (i * 6 + j) * CB;
                }
                bt6(o, d);
            }
            for (int j = 0; j < 6; j++) {          /* columns: B^T (d B), into V */
                const float *d[6];
                float *o[6];
                for (int i = 0; i < 6; i++) {
                    d[i] = rows + (i * 6 + j) * CB;
                    o[i] = nl == CB ? V + ((size_t)(i * 6 + j) * T + t) * C + cb : stage_out + (i * 6 + j) * CB;
                }
                bt6(o, d);
            }
            if (nl < CB)
                for (int x = 0; x < XI; x++) stage_store(V + ((size_t)x * T + t) * C + cb, stage_out + x * CB, nl);
        }
    }
}

PV_TWO_TARGETS(input_transform,
               (float *V, const float *inp, const pv_window *win, const tiling *tl, size_t t0, size_t T,
                size_t c0, size_t c1),
               (V, inp, win, tl, t0, T, c0, c1))

/* out tile = A^T M A (+ bias, relu) for tiles [t0, t0+T), channels [c0, c1) */
PV_KERNEL_BODY void output_transform_body(float *out, const float *M, const float *bias, pv_act act,
                                          const pv_window *win, const tiling *tl, size_t t0, size_t T,
                                          size_t c0, size_t c1)
{
    const size_t OC = win->OC;
    const int relu = act == PV_ACT_RELU;
    _Alignas(64) float rows[24 * CB], stage_in[XI * CB], stage_out[16 * CB], stage_bias[CB];
    for (size_t t = 0; t < T; t++) {
        size_t n, oh0, ow0;
        tile_origin(tl, t0 + t, &n, &oh0, &ow0);
        for (size_t cb = c0; cb < c1; cb += CB) {
            const size_t nl = c1 - cb < CB ? c1 - cb : CB;
            for (int i = 0; i < 6; i++) {          /* rows: M A, 6x6 -> 6x4 */
                const float *m[6];
                float *o[4];
                for (int j = 0; j < 6; j++)
                    m[j] = stage_load(stage_in + (i * 6 + j) * CB, M + ((size_t)(i * 6 + j) * T + t) * OC + cb, nl);
                for (int j = 0; j < 4; j++) o[j] = rows + (i * 4 + j) * CB;
                at4(o, m, zero_lanes, 0);
            }
            const float *b = bias ? stage_load(stage_bias, bias + cb, nl) : zero_lanes;
            for (int j = 0; j < 4; j++) {          /* columns: A^T (M A) + bias, into the output */
                const float *m[6];
                float *o[4];
                for (int i = 0; i < 6; i++) m[i] = rows + (i * 4 + j) * CB;
                for (int i = 0; i < 4; i++) o[i] = stage_out + (i * 4 + j) * CB;
                if (relu) at4(o, m, b, 1);
                else at4(o, m, b, 0);
            }
            if (nl == CB)
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) {
                        long at = tile_offset(win, n, oh0, ow0, i, j);
                        if (at >= 0) memcpy(out + at + cb, stage_out + (i * 4 + j) * CB, CB * sizeof(float));
                    }
            else
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) {
                        long at = tile_offset(win, n, oh0, ow0, i, j);
                        if (at >= 0) stage_store(out + at + cb, stage_out + (i * 4 + j) * CB, nl);
                    }
        }
    }
}

PV_TWO_TARGETS(output_transform,
               (float *out, const float *M, const float *bias, pv_act act, const pv_window *win,
                const tiling *tl, size_t t0, size_t T, size_t c0, size_t c1),
               (out, M, bias, act, win, tl, t0, T, c0, c1))

/* dM[xi][t][oc] = (A dY A^T) for tiles [t0, t0+T), channels [c0, c1); dY outside the output is 0 */
PV_KERNEL_BODY void grad_output_transform_body(float *dM, const float *dout, const pv_window *win,
                                               const tiling *tl, size_t t0, size_t T, size_t c0, size_t c1)
{
    const size_t OC = win->OC;
    _Alignas(64) float rows[24 * CB], stage_in[16 * CB], stage_out[XI * CB];
    for (size_t t = 0; t < T; t++) {
        size_t n, oh0, ow0;
        tile_origin(tl, t0 + t, &n, &oh0, &ow0);
        for (size_t cb = c0; cb < c1; cb += CB) {
            const size_t nl = c1 - cb < CB ? c1 - cb : CB;
            for (int i = 0; i < 4; i++) {          /* rows: dY A^T, 4x4 -> 4x6 */
                const float *y[4];
                float *o[6];
                for (int j = 0; j < 4; j++) {
                    long at = tile_offset(win, n, oh0, ow0, i, j);
                    y[j] = at >= 0 ? stage_load(stage_in + (i * 4 + j) * CB, dout + at + cb, nl) : zero_lanes;
                }
                for (int j = 0; j < 6; j++) o[j] = rows + (i * 6 + j) * CB;
                a6(o, y);
            }
            for (int j = 0; j < 6; j++) {          /* columns: A (dY A^T), into dM */
                const float *y[4];
                float *o[6];
                for (int i = 0; i < 4; i++) y[i] = rows + (i * 6 + j) * CB;
                for (int i = 0; i < 6; i++)
                    o[i] = nl == CB ? dM + ((size_t)(i * 6 + j) * T + t) * OC + cb : stage_out + (i * 6 + j) * CB;
                a6(o, y);
            }
            if (nl < CB)
                for (int x = 0; x < XI; x++) stage_store(dM + ((size_t)x * T + t) * OC + cb, stage_out + x * CB, nl);
        }
    }
}

PV_TWO_TARGETS(grad_output_transform,
               (float *dM, const float *dout, const pv_window *win, const tiling *tl, size_t t0, size_t T,
                size_t c0, size_t c1),
               (dM, dout, win, tl, t0, T, c0, c1))

/* dinp += B dV B^T, overlap-added, for tiles [t0, t0+T), channels [c0, c1) */
PV_KERNEL_BODY void grad_input_transform_body(float *dinp, const float *dV, const pv_window *win,
                                              const tiling *tl, size_t t0, size_t T, size_t c0, size_t c1)
{
    const size_t C = win->C;
    _Alignas(64) float rows[XI * CB], stage_in[XI * CB], stage_out[XI * CB];
    for (size_t t = 0; t < T; t++) {
        size_t n, oh0, ow0;
        tile_origin(tl, t0 + t, &n, &oh0, &ow0);
        for (size_t cb = c0; cb < c1; cb += CB) {
            const size_t nl = c1 - cb < CB ? c1 - cb : CB;
            for (int i = 0; i < 6; i++) {          /* rows: dV B^T */
                const float *v[6];
                float *o[6];
                for (int j = 0; j < 6; j++) {
                    v[j] = stage_load(stage_in + (i * 6 + j) * CB, dV + ((size_t)(i * 6 + j) * T + t) * C + cb, nl);
                    o[j] = rows + (i * 6 + j) * CB;
                }
                b6(o, v, 0);
            }
            for (int j = 0; j < 6; j++) {          /* columns: B (dV B^T), added into the input gradient */
                const float *v[6];
                float *o[6];
                for (int i = 0; i < 6; i++) {
                    long at = patch_offset(win, n, oh0, ow0, i, j);
                    v[i] = rows + (i * 6 + j) * CB;
                    if (at >= 0 && nl == CB) {
                        o[i] = dinp + at + cb;
                    } else {              /* a sink outside the image, or staging for nl < CB */
                        o[i] = stage_out + (i * 6 + j) * CB;
                        memset(o[i], 0, CB * sizeof(float));
                    }
                }
                b6(o, v, 1);
            }
            if (nl < CB)
                for (int i = 0; i < 6; i++)
                    for (int j = 0; j < 6; j++) {
                        long at = patch_offset(win, n, oh0, ow0, i, j);
                        if (at >= 0)
                            for (size_t l = 0; l < nl; l++) dinp[at + (long)(cb + l)] += stage_out[(i * 6 + j) * CB + l];
                    }
        }
    }
}

PV_TWO_TARGETS(grad_input_transform,
               (float *dinp, const float *dV, const pv_window *win, const tiling *tl, size_t t0, size_t T,
                size_t c0, size_t c1),
               (dinp, dV, win, tl, t0, T, c0, c1))

/* the channel slice [c0, c1) of thread k out of `threads`, in whole CB blocks */
static void channel_slice(size_t C, int threads, int k, size_t *c0, size_t *c1)
{
    size_t blocks = (C + CB - 1) / CB, per = (blocks + (size_t)threads - 1) / (size_t)threads;
    *c0 = per * (size_t)k * CB;
    *c1 = *c0 + per * CB;
    if (*c0 > C) *c0 = C;
    if (*c1 > C) *c1 = C;
}

/* One pass of either direction. Forward: src = input, dst = output, stage A is the input
 * transform (C channels), the GEMMs are V U, stage B the output transform (OC channels).
 * Backward: src = output gradient, dst = input gradient (accumulated), stage A is A dY A^T (OC
 * channels), the GEMMs are dM U^T, stage B the overlap-add B dV B^T (C channels). */
typedef struct {
    int backward;
    const float *src, *U, *UT, *bias;    /* UT: U^T panels (small kernels only) or NULL */
    float *dst;
    pv_act act;
    const pv_window *win;
    size_t ca, cb;          /* channels of stage A's and stage B's buffers */
} wino_pass;

static void stage_a(const wino_pass *p, float *buf, const tiling *tl, size_t t0, size_t T, size_t c0, size_t c1)
{
    if (p->backward) grad_output_transform(buf, p->src, p->win, tl, t0, T, c0, c1);
    else input_transform(buf, p->src, p->win, tl, t0, T, c0, c1);
}

static void stage_gemm(const wino_pass *p, int x, size_t T, const float *a, float *b, float *scratch)
{
    const size_t C = p->win->C, OC = p->win->OC, ca = p->ca, cb = p->cb;
    const float *U = p->U + (size_t)x * u_stride(C, OC);
    const float *ax = a + (size_t)x * T * ca;
    float *bx = b + (size_t)x * T * cb;
    if (!p->backward) {         /* M_x (T, OC) = V_x (T, C) U_x (C, OC) */
        pv_gemm_panels(T, OC, C, ax, C, U, bx, OC);
    } else if (p->UT) {         /* dV_x (T, C) = dM_x (T, OC) U_x^T, transposed copy at hand */
        pv_gemm_panels(T, C, OC, ax, OC, p->UT + (size_t)x * u_stride(OC, C), bx, C);
    } else if (T > PV_WINO_FEW_TILES) {   /* ... transposing 32x32 blocks of U on the way */
        pv_gemm_panels_t(T, C, OC, ax, OC, U, bx, C, scratch);
    } else {
        /* dV_x^T (C, T) = U_x (C, OC) dM_x^T (OC, T): U's panels read as k-blocks of the left
         * operand, so only the small dM_x and dV_x (a chunk's tiles) are transposed */
        const size_t Tp = pv_panels(T) * PV_PANEL;
        float *packed = scratch, *prod = scratch + Tp * OC;
        pv_pack_panels_t(packed, ax, OC, T, OC);
        pv_gemm_kblocked(C, T, OC, U, packed, prod, Tp);
        for (size_t t = 0; t < T; t++)
            for (size_t c = 0; c < C; c++) bx[t * C + c] = prod[c * Tp + t];
    }
}

static void stage_b(const wino_pass *p, const float *buf, const tiling *tl, size_t t0, size_t T, size_t c0, size_t c1)
{
    if (p->backward) grad_input_transform(p->dst, buf, p->win, tl, t0, T, c0, c1);
    else output_transform(p->dst, buf, p->bias, p->act, p->win, tl, t0, T, c0, c1);
}

/* chunks first, first + step, ... of tiles, each on its own thread with private buffers (small U) */
static void run_private(const wino_pass *p, const tiling *tl, long first, long step, float *work, int threads)
{
    const size_t Tmax = tiles_per_chunk(p->win, tl->tiles, p->backward);
    const long chunks = (long)((tl->tiles + Tmax - 1) / Tmax);
    const size_t per_thread = XI * Tmax * (p->ca + p->cb);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (PV_WORTH_THREADS(XI * (double)tl->tiles * p->ca * p->cb / step))
    for (long chunk = first; chunk < chunks; chunk += step) {
        int k = 0;
#ifdef _OPENMP
        k = omp_get_thread_num();
#endif
        float *a = work + (size_t)k * per_thread, *b = a + XI * Tmax * p->ca;
        size_t t0 = (size_t)chunk * Tmax, T = tl->tiles - t0 < Tmax ? tl->tiles - t0 : Tmax;
        stage_a(p, a, tl, t0, T, 0, p->ca);
        for (int x = 0; x < XI; x++) stage_gemm(p, x, T, a, b, NULL);
        stage_b(p, b, tl, t0, T, 0, p->cb);
    }
}

/* one shared chunk at a time: channels split in the transforms, positions split in the GEMMs,
 * so each U_x streams from memory once per chunk (large U) */
static void run_shared(const wino_pass *p, const tiling *tl, float *work, int threads)
{
    const size_t Tmax = tiles_per_chunk(p->win, tl->tiles, p->backward);
    float *a = work, *b = work + XI * Tmax * p->ca, *panels = b + XI * Tmax * p->cb;
    for (size_t t0 = 0; t0 < tl->tiles; t0 += Tmax) {
        const size_t T = tl->tiles - t0 < Tmax ? tl->tiles - t0 : Tmax;
#pragma omp parallel num_threads(threads) if (PV_WORTH_THREADS(XI * (double)T * p->ca * p->cb))
        {
            int k = 0, nt = 1;
#ifdef _OPENMP
            k = omp_get_thread_num();
            nt = omp_get_num_threads();
#endif
            size_t c0, c1;
            channel_slice(p->ca, nt, k, &c0, &c1);
            stage_a(p, a, tl, t0, T, c0, c1);
#pragma omp barrier
#pragma omp for schedule(static)
            for (int x = 0; x < XI; x++) stage_gemm(p, x, T, a, b, panels + (size_t)k * panel_floats(p->win, Tmax));
            channel_slice(p->cb, nt, k, &c0, &c1);
            stage_b(p, b, tl, t0, T, c0, c1);
        }
    }
}

void winograd_forward(float *out, const float *inp, const float *U, const float *bias,
                      const pv_window *win, size_t N, pv_act act, float *work, int threads)
{
    /* out is (N, OH, OW, OC), inp is (N, H, W, C), U is (36, C, OC); work holds V and M */
    const wino_pass p = { 0, inp, U, NULL, bias, out, act, win, win->C, win->OC };
    const tiling tl = tiling_of(win, N);
    if (tl.tiles == 0) return;
    if (private_chunks(win)) run_private(&p, &tl, 0, 1, work, threads);
    else run_shared(&p, &tl, work, threads);
}

void winograd_backward_input(float *dinp, const float *dout, const float *U, const float *UT,
                             const pv_window *win, size_t N, float *work, int threads)
{
    /* dinp is (N, H, W, C) accumulated into, dout is (N, OH, OW, OC), U is (36, C, OC), UT its
     * transposes or NULL */
    const wino_pass p = { 1, dout, U, UT, NULL, dinp, PV_ACT_LINEAR, win, win->OC, win->C };
    const tiling tl = tiling_of(win, N);
    if (tl.tiles == 0) return;
    if (!private_chunks(win)) {
        run_shared(&p, &tl, work, threads);
        return;
    }
    /* Private chunks run concurrently, and neighbouring tiles overlap-add into the same input
     * pixels. Chunks span more than a tile row, so chunks two apart never meet: even chunks
     * first, then odd ones. */
    run_private(&p, &tl, 0, 2, work, threads);
    run_private(&p, &tl, 1, 2, work, threads);
}

/* ---------------------------------------------------------------------------------------- */
/* sharing transformed kernels between graphs                                                */

/* apply_modifications builds a new graph over the same weight arrays; recomputing U for every
 * 3x3 layer would cost far more than the 1 ms that rebuild is allowed. Graphs therefore share U
 * through this registry, keyed by the kernel's address, size and a sampled fingerprint. Layers
 * store their weights read-only and replace (never rewrite) them, so a kernel's values cannot
 * change under its transform; the fingerprint guards an array freed and another allocated at the
 * same address. Called with the GIL held, so the list needs no lock of its own. */
typedef struct wino_entry {
    const float *kernel;
    size_t C, OC;
    uint64_t fingerprint;
    float *U, *UT;
    int refs;
    struct wino_entry *next;
} wino_entry;

static wino_entry *registry = NULL;

static uint64_t fingerprint(const float *kernel, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    size_t step = n / 256 + 1;
    for (size_t i = 0; i < n; i += step) {
        uint32_t bits;
        memcpy(&bits, &kernel[i], sizeof bits);
        h = (h ^ bits) * 1099511628211ULL;
    }
    return h;
}

/* Small kernels (the private-chunk layers) also keep U^T: backward would otherwise transpose
 * every panel of U once per chunk of tiles. Large ones transpose once per (single) chunk; a
 * second copy of them would cost as much memory as all the other buffers of a run together. */
const float *winograd_weights_acquire(const float *kernel, size_t C, size_t OC, const float **UT)
{
    uint64_t fp = fingerprint(kernel, 9 * C * OC);
    for (wino_entry *e = registry; e; e = e->next)
        if (e->kernel == kernel && e->C == C && e->OC == OC && e->fingerprint == fp) {
            e->refs++;
            *UT = e->UT;
            return e->U;
        }
    wino_entry *e = calloc(1, sizeof *e);
    size_t n, nt;
    int keep_t = small_kernel(C, OC);
    if (!e || pv_mul_size(XI, u_stride(C, OC), &n) || pv_mul_size(XI, u_stride(OC, C), &nt) ||
        !(e->U = malloc(n * sizeof(float))) || (keep_t && !(e->UT = malloc(nt * sizeof(float))))) {
        if (e) free(e->U);
        free(e);
        return NULL;
    }
    winograd_transform_kernel(e->U, e->UT, kernel, C, OC);
    *UT = e->UT;
    e->kernel = kernel; e->C = C; e->OC = OC; e->fingerprint = fp; e->refs = 1;
    e->next = registry;
    registry = e;
    return e->U;
}

void winograd_weights_release(const float *U)
{
    for (wino_entry **p = &registry; *p; p = &(*p)->next)
        if ((*p)->U == U) {
            wino_entry *e = *p;
            if (--e->refs == 0) {
                *p = e->next;
                free(e->U);
                free(e->UT);
                free(e);
            }
            return;
        }
}
