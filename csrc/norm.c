/* norm.c — the per-channel affine map y = x * scale + shift on the last axis, forward and backward.
 *
 * Every inference-time normalisation Keras applications use is this one map once its constants
 * are folded (in float64, by the Python lowering):
 *   BatchNormalization   scale = gamma / sqrt(var + eps),  shift = beta - mean * scale
 *   Normalization        scale = 1 / max(sqrt(var), eps), shift = -mean * scale
 *   Rescaling            scale, shift = the layer's scale and offset (broadcast to C)
 * so the graph needs a single op and the kernel stays a streaming pass. Backward is
 * dx += dy * scale; it never reads x, so it does not depend on the forward value.
 */
#include "pyvis.h"

void affine_forward(float *out, const float *inp, const float *scale, const float *shift,
                    size_t rows, size_t C, int threads)
{
    /* out, inp are (rows, C); scale, shift are (C,) */
#pragma omp parallel for schedule(static) num_threads(threads) if (PV_WORTH_THREADS(4.0 * (double)rows * (double)C))
    for (long r = 0; r < (long)rows; r++) {
        const float *x = inp + (size_t)r * C;
        float *y = out + (size_t)r * C;
        for (size_t c = 0; c < C; c++) y[c] = x[c] * scale[c] + shift[c];
    }
}

void affine_backward(float *dinp, const float *dout, const float *scale, size_t rows, size_t C,
                     int threads)
{
    /* dinp (accumulated into), dout are (rows, C); scale is (C,) */
#pragma omp parallel for schedule(static) num_threads(threads) if (PV_WORTH_THREADS(4.0 * (double)rows * (double)C))
    for (long r = 0; r < (long)rows; r++) {
        const float *g = dout + (size_t)r * C;
        float *d = dinp + (size_t)r * C;
        for (size_t c = 0; c < C; c++) d[c] += g[c] * scale[c];
    }
}
