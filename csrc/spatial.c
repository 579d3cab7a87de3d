/* spatial.c — ZeroPadding2D, Cropping2D and nearest-neighbour UpSampling2D, forward and backward.
 *
 * Padding and cropping are the same operation seen from two sides: the output pixel (oh, ow)
 * shows the input pixel (oh + off_h, ow + off_w), or zero where that lies outside the input.
 * ZeroPadding2D uses off = -(top, left); Cropping2D uses off = +(top, left). Backward hands each
 * output gradient back to the pixel it showed and drops the padding's share.
 * UpSampling2D repeats every pixel SH x SW times (Keras's default 'nearest'); its backward sums
 * each block. Threads split (batch, row) pairs, and every output row of a backward pass writes
 * one input row only, so no two threads ever write the same input cell.
 */
#include "pyvis.h"

#include <string.h>

static size_t rows_of(size_t N, size_t H) { return N * H; }

void shift2d_forward(float *out, const float *inp, size_t N, size_t H, size_t W, size_t C,
                     size_t OH, size_t OW, long off_h, long off_w, int threads)
{
    /* out is (N, OH, OW, C), inp is (N, H, W, C) */
    const long rows = (long)rows_of(N, OH);
#pragma omp parallel for schedule(static) num_threads(threads) if (PV_WORTH_THREADS(4.0 * (double)rows * (double)OW * (double)C))
    for (long row = 0; row < rows; row++) {
        size_t n = (size_t)row / OH, oh = (size_t)row % OH;
        float *o = out + (size_t)row * OW * C;
        long ih = (long)oh + off_h;
        if (ih < 0 || ih >= (long)H) { memset(o, 0, OW * C * sizeof(float)); continue; }
        const float *x = inp + (n * H + (size_t)ih) * W * C;
        for (size_t ow = 0; ow < OW; ow++) {
            long iw = (long)ow + off_w;
            if (iw < 0 || iw >= (long)W) memset(o + ow * C, 0, C * sizeof(float));
            else memcpy(o + ow * C, x + (size_t)iw * C, C * sizeof(float));
        }
    }
}

void shift2d_backward(float *dinp, const float *dout, size_t N, size_t H, size_t W, size_t C,
                      size_t OH, size_t OW, long off_h, long off_w, int threads)
{
    /* dinp is (N, H, W, C) accumulated into; dout is (N, OH, OW, C). Output row oh feeds input
     * row oh + off_h only, so splitting output rows across threads is race-free. */
    const long rows = (long)rows_of(N, OH);
#pragma omp parallel for schedule(static) num_threads(threads) if (PV_WORTH_THREADS(4.0 * (double)rows * (double)OW * (double)C))
    for (long row = 0; row < rows; row++) {
        size_t n = (size_t)row / OH, oh = (size_t)row % OH;
        long ih = (long)oh + off_h;
        if (ih < 0 || ih >= (long)H) continue;
        const float *g = dout + (size_t)row * OW * C;
        float *d = dinp + (n * H + (size_t)ih) * W * C;
        for (size_t ow = 0; ow < OW; ow++) {
            long iw = (long)ow + off_w;
            if (iw < 0 || iw >= (long)W) continue;
            float *dd = d + (size_t)iw * C;
            const float *gg = g + ow * C;
            for (size_t c = 0; c < C; c++) dd[c] += gg[c];
        }
    }
}

void upsample2d_forward(float *out, const float *inp, size_t N, size_t H, size_t W, size_t C,
                        size_t SH, size_t SW, int threads)
{
    /* out is (N, H*SH, W*SW, C), inp is (N, H, W, C) */
    const size_t OH = H * SH, OW = W * SW;
    const long rows = (long)rows_of(N, OH);
#pragma omp parallel for schedule(static) num_threads(threads) if (PV_WORTH_THREADS(4.0 * (double)rows * (double)OW * (double)C))
    for (long row = 0; row < rows; row++) {
        size_t n = (size_t)row / OH, oh = (size_t)row % OH;
        const float *x = inp + (n * H + oh / SH) * W * C;
        float *o = out + (size_t)row * OW * C;
        for (size_t ow = 0; ow < OW; ow++) memcpy(o + ow * C, x + (ow / SW) * C, C * sizeof(float));
    }
}

void upsample2d_backward(float *dinp, const float *dout, size_t N, size_t H, size_t W, size_t C,
                         size_t SH, size_t SW, int threads)
{
    /* dinp is (N, H, W, C) accumulated into; dout is (N, H*SH, W*SW, C). One task per input
     * row: it sums the SH output rows that repeat it. */
    const size_t OW = W * SW;
    const long rows = (long)rows_of(N, H);
#pragma omp parallel for schedule(static) num_threads(threads) if (PV_WORTH_THREADS(4.0 * (double)rows * (double)OW * (double)C))
    for (long row = 0; row < rows; row++) {
        size_t n = (size_t)row / H, ih = (size_t)row % H;
        float *d = dinp + (size_t)row * W * C;
        for (size_t k = 0; k < SH; k++) {
            const float *g = dout + ((n * H + ih) * SH + k) * OW * C;
            for (size_t ow = 0; ow < OW; ow++) {
                float *dd = d + (ow / SW) * C;
                const float *gg = g + ow * C;
                for (size_t c = 0; c < C; c++) dd[c] += gg[c];
            }
        }
    }
}

/* Output shape of PV_OP_PAD2D / PV_OP_CROP2D (iparams top, bottom, left, right) and
 * PV_OP_UPSAMPLE2D (iparams SH, SW); every size is overflow-checked. */
pv_status spatial_infer_shape(pv_shape *out, const pv_node *nd, const pv_shape *in, int node,
                              pv_error *err)
{
    static const char *const names[3] = {"ZeroPadding2D", "Cropping2D", "UpSampling2D"};
    const char *name = names[nd->op == PV_OP_PAD2D ? 0 : nd->op == PV_OP_CROP2D ? 1 : 2];
    if (in->rank != 3)
        return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): expected a 3-D (H, W, C) input per sample, got rank %d",
                       node, name, in->rank);
    *out = *in;
    for (int axis = 0; axis < 2; axis++) {
        size_t d = in->d[axis];
        if (nd->op == PV_OP_UPSAMPLE2D) {
            if (pv_mul_size(d, (size_t)nd->ip[axis], &out->d[axis]))
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): output size overflows", node, name);
            continue;
        }
        size_t before = (size_t)nd->ip[2 * axis], after = (size_t)nd->ip[2 * axis + 1], both;
        if (pv_add_size(before, after, &both))
            return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): amounts overflow", node, name);
        if (nd->op == PV_OP_PAD2D) {
            if (pv_add_size(d, both, &out->d[axis]))
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): output size overflows", node, name);
        } else {
            if (both >= d)
                return PV_FAIL(err, PV_ERR_VALUE, "node %d (%s): cropping (%zu, %zu) leaves nothing of the input's %s %zu",
                               node, name, before, after, axis ? "width" : "height", d);
            out->d[axis] = d - both;
        }
    }
    return PV_OK;
}
