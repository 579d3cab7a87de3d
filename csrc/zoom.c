/* zoom.c — cubic B-spline resize of a 2-D map, as scipy.ndimage.zoom(order=3) does it.
 *
 * Grad-CAM upsamples its coarse heat map with scipy.ndimage.zoom(heatmap, zoom) under SciPy's
 * defaults: order=3, mode='constant', grid_mode=False, prefilter=True. For the mapping used by
 * zoom (every output sample lands inside the input) this is:
 *
 *   1. Prefilter: turn the samples into cubic B-spline coefficients, one axis after the other
 *      (recursive filter with the single pole z = sqrt(3) - 2 and gain 6). SciPy handles the
 *      line ends of mode 'constant' with mirror-symmetric extension (x[-k] = x[k], period
 *      2n - 2), which is what _init_causal / _init_anticausal below implement; 'constant'
 *      gets no pre-padding in SciPy >= 1.6 (only 'nearest' and 'grid-constant' do).
 *   2. Coordinates: grid_mode=False aligns the corners, so output index i reads input
 *      coordinate i * (n - 1) / (on - 1) (0 when on == 1).
 *   3. Evaluation: sum of the 4 x 4 coefficients around the coordinate, weighted by the cubic
 *      B-spline; coefficient indices outside [0, n) are mirrored the same way.
 *
 * The tensor-product spline is separable, so step 3 runs along rows (H, W) -> (H, OW) and then
 * along columns (H, OW) -> (OH, OW). Everything is computed in double, as SciPy does, and
 * rounded to float32 once at the end.
 *
 * Pure C: no Python, no NumPy. module.c binds it as _core.zoom_cubic(a2d, out_h, out_w).
 */
#include "pyvis.h"

#include <math.h>
#include <stdlib.h>

/* The pole of the cubic B-spline interpolation filter. */
#define ZOOM_POLE (-0.26794919243112270) /* sqrt(3) - 2 */

/* Index i of a line of length n under mirror-symmetric extension (x[-k] = x[k], x[n-1+k] = x[n-1-k]). */
static size_t mirror_index(long i, size_t n)
{
    if (n == 1) return 0;
    long period = 2 * (long)n - 2;
    if (i < 0) i = -i;
    i %= period;
    if (i >= (long)n) i = period - i;
    return (size_t)i;
}

/* In place: samples c[0..n) at stride `stride` -> cubic B-spline coefficients. line is scratch (n). */
static void spline_prefilter_line(double *c, size_t n, size_t stride, double *line)
{
    if (n < 2) return;                       /* a single sample is its own coefficient */
    const double z = ZOOM_POLE;
    const double gain = (1.0 - z) * (1.0 - 1.0 / z);
    for (size_t i = 0; i < n; i++) line[i] = c[i * stride] * gain;

    /* causal init: c+[0] = sum_k z^k x[k] over the mirrored signal, summed in closed form
     * over one period 2n-2. */
    const double z_n1 = pow(z, (double)(n - 1));
    double z_i = z;
    double c0 = line[0] + z_n1 * line[n - 1];
    for (size_t i = 1; i + 1 < n; i++) {
        c0 += z_i * (line[i] + z_n1 * line[n - 1 - i]);
        z_i *= z;
    }
    line[0] = c0 / (1.0 - z_n1 * z_n1);
    for (size_t i = 1; i < n; i++) line[i] += z * line[i - 1];

    /* anti-causal init for the mirrored signal, then the backward recursion */
    line[n - 1] = (z * line[n - 2] + line[n - 1]) * z / (z * z - 1.0);
    for (size_t i = n - 1; i-- > 0;) line[i] = z * (line[i + 1] - line[i]);

    for (size_t i = 0; i < n; i++) c[i * stride] = line[i];
}

/* For each of on output samples along an axis of n inputs: the 4 mirrored source indices and
 * their cubic B-spline weights. idx, wt are (on, 4). */
static void spline_taps(size_t *idx, double *wt, size_t n, size_t on)
{
    const double step = on > 1 ? (double)(n - 1) / (double)(on - 1) : 0.0;
    for (size_t o = 0; o < on; o++) {
        double x = (double)o * step;
        double f = floor(x);
        double t = x - f;
        double s = 1.0 - t;
        wt[4 * o + 0] = s * s * s / 6.0;
        wt[4 * o + 1] = (4.0 - 6.0 * t * t + 3.0 * t * t * t) / 6.0;
        wt[4 * o + 2] = (1.0 + 3.0 * t + 3.0 * t * t - 3.0 * t * t * t) / 6.0;
        wt[4 * o + 3] = t * t * t / 6.0;
        for (int k = 0; k < 4; k++) idx[4 * o + k] = mirror_index((long)f - 1 + k, n);
    }
}

/* out (OH, OW) float32 <- cubic-spline zoom of inp (H, W) float32. */
pv_status zoom_cubic2d(float *out, const float *inp, size_t H, size_t W, size_t OH, size_t OW,
                       pv_error *err)
{
    if (H == 0 || W == 0 || OH == 0 || OW == 0)
        return PV_FAIL(err, PV_ERR_VALUE, "zoom: sizes must be positive, got (%zu, %zu) -> (%zu, %zu)",
                       H, W, OH, OW);
    /* element counts and byte sizes, every product overflow-checked */
    size_t n_coef, n_tmp, b_coef, b_tmp, b_taps;
    size_t n_line = H > W ? H : W, n_out_max = OH > OW ? OH : OW;
    if (pv_mul_size(H, W, &n_coef) || pv_mul_size(n_coef, sizeof(double), &b_coef) ||
        pv_mul_size(H, OW, &n_tmp) || pv_mul_size(n_tmp, sizeof(double), &b_tmp) ||
        pv_mul_size(n_out_max, 4 * sizeof(double), &b_taps))
        return PV_FAIL(err, PV_ERR_NOMEM, "zoom: (%zu, %zu) -> (%zu, %zu) is too large", H, W, OH, OW);

    double *coef = malloc(b_coef);                           /* (H, W) */
    double *tmp = malloc(b_tmp);                             /* (H, OW) */
    double *line = malloc(n_line * sizeof(double));          /* one row or column */
    size_t *xi = malloc(OW * 4 * sizeof(size_t));            /* (OW, 4) */
    double *xw = malloc(OW * 4 * sizeof(double));
    size_t *yi = malloc(OH * 4 * sizeof(size_t));            /* (OH, 4) */
    double *yw = malloc(OH * 4 * sizeof(double));
    pv_status st = PV_OK;
    if (!coef || !tmp || !line || !xi || !xw || !yi || !yw) {
        st = PV_FAIL(err, PV_ERR_NOMEM, "zoom: out of memory for (%zu, %zu) -> (%zu, %zu)",
                     H, W, OH, OW);
        goto done;
    }

    for (size_t i = 0; i < n_coef; i++) coef[i] = (double)inp[i];
    for (size_t x = 0; x < W; x++) spline_prefilter_line(coef + x, H, W, line);   /* columns */
    for (size_t y = 0; y < H; y++) spline_prefilter_line(coef + y * W, W, 1, line); /* rows */

    spline_taps(xi, xw, W, OW);
    spline_taps(yi, yw, H, OH);

    /* along rows: tmp[y, ox] = sum_k xw[ox,k] * coef[y, xi[ox,k]] */
    for (size_t y = 0; y < H; y++) {
        const double *crow = coef + y * W;
        double *trow = tmp + y * OW;
        for (size_t ox = 0; ox < OW; ox++) {
            const size_t *ix = xi + 4 * ox;
            const double *wx = xw + 4 * ox;
            trow[ox] = wx[0] * crow[ix[0]] + wx[1] * crow[ix[1]] + wx[2] * crow[ix[2]] +
                       wx[3] * crow[ix[3]];
        }
    }
    /* along columns: out[oy, ox] = sum_k yw[oy,k] * tmp[yi[oy,k], ox] */
    for (size_t oy = 0; oy < OH; oy++) {
        const size_t *iy = yi + 4 * oy;
        const double *wy = yw + 4 * oy;
        const double *r0 = tmp + iy[0] * OW, *r1 = tmp + iy[1] * OW;
        const double *r2 = tmp + iy[2] * OW, *r3 = tmp + iy[3] * OW;
        float *orow = out + oy * OW;
        for (size_t ox = 0; ox < OW; ox++)
            orow[ox] = (float)(wy[0] * r0[ox] + wy[1] * r1[ox] + wy[2] * r2[ox] + wy[3] * r3[ox]);
    }

done:
    free(coef);
    free(tmp);
    free(line);
    free(xi);
    free(xw);
    free(yi);
    free(yw);
    return st;
}
