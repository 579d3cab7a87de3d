/* merge.c — Add and Concatenate, forward and backward.
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
