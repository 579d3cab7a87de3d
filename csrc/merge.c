/* merge.c — Add, Concatenate, Multiply, Average and Maximum, forward and backward.
 *
 * Concatenate views each input as (outer, inner_i) with outer = product of the dims before the
 * axis (batch included) and inner_i = input i's axis length times the dims after it; the output
 * row is the inputs' rows side by side. Add's backward is the identity to each input, which
 * graph.c does with a plain accumulate, so only its forward lives here.
 */
#include "pyvis.h"

#include <string.h>

void add_forward(float *out, const float *const *ins, int n_in, size_t n)
{
    memcpy(out, ins[0], n * sizeof(float));
    for (int k = 1; k < n_in; k++)
        for (size_t i = 0; i < n; i++) out[i] += ins[k][i];
}

void concat_forward(float *out, const float *const *ins, const size_t *inner, int n_in,
                    size_t outer, size_t out_inner)
{
    for (size_t o = 0; o < outer; o++) {
        float *dst = out + o * out_inner;
        for (int k = 0; k < n_in; k++) {
            memcpy(dst, ins[k] + o * inner[k], inner[k] * sizeof(float));
            dst += inner[k];
        }
    }
}

void concat_backward(float *const *dins, const float *dout, const size_t *inner, int n_in,
                     size_t outer, size_t out_inner)
{
    for (size_t o = 0; o < outer; o++) {
        const float *src = dout + o * out_inner;
        for (int k = 0; k < n_in; k++) {
            if (dins[k]) {
                float *d = dins[k] + o * inner[k];
                for (size_t i = 0; i < inner[k]; i++) d[i] += src[i];
            }
            src += inner[k];
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Multiply, Average, Maximum: element-wise over >= 2 inputs of equal shape.                   */

void multiply_forward(float *out, const float *const *ins, int n_in, size_t n)
{
    memcpy(out, ins[0], n * sizeof(float));
    for (int k = 1; k < n_in; k++)
        for (size_t i = 0; i < n; i++) out[i] *= ins[k][i];
}

/* dins[k] += dout * prod_{j != k} ins[j]; the product is formed directly (never out / ins[k],
 * which a zero input would break). dins[k] may be NULL for inputs nobody asked about. */
void multiply_backward(float *const *dins, const float *dout, const float *const *ins, int n_in,
                       size_t n)
{
    for (int k = 0; k < n_in; k++) {
        if (!dins[k]) continue;
        for (size_t i = 0; i < n; i++) {
            float p = dout[i];
            for (int j = 0; j < n_in; j++)
                if (j != k) p *= ins[j][i];
            dins[k][i] += p;
        }
    }
}

void average_forward(float *out, const float *const *ins, int n_in, size_t n)
{
    add_forward(out, ins, n_in, n);
    const float inv = 1.0f / (float)n_in;
    for (size_t i = 0; i < n; i++) out[i] *= inv;
}

void average_backward(float *const *dins, const float *dout, int n_in, size_t n)
{
    const float inv = 1.0f / (float)n_in;
    for (int k = 0; k < n_in; k++)
        if (dins[k])
            for (size_t i = 0; i < n; i++) dins[k][i] += dout[i] * inv;
}

void maximum_forward(float *out, const float *const *ins, int n_in, size_t n)
{
    memcpy(out, ins[0], n * sizeof(float));
    for (int k = 1; k < n_in; k++)
        for (size_t i = 0; i < n; i++)
            if (ins[k][i] > out[i] || ins[k][i] != ins[k][i]) out[i] = ins[k][i];
}

/* The whole gradient goes to the FIRST input holding the maximum (TensorFlow's choice for two
 * inputs, applied left to right), so ties never double-count. */
void maximum_backward(float *const *dins, const float *dout, const float *const *ins, int n_in,
                      size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int best = 0;
        for (int k = 1; k < n_in; k++)
            if (ins[k][i] > ins[best][i]) best = k;
        if (dins[best]) dins[best][i] += dout[i];
    }
}
