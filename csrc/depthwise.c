/* depthwise.c — DepthwiseConv2D forward and backward-to-input, NHWC, Keras kernel (KH, KW, C, DM).
 *
 * Output channel j = c*DM + m reads input channel c = j / DM through K[kh, kw, c, m], which is
 * K's flat index (kh*KW + kw)*C*DM + j: so every tap is one contiguous multiply-add over j,
 * vectorisable for any depth multiplier. Windows and TF `same` padding come from
 * pv_window_resolve (conv2d.c). Each channel is a tiny convolution, so direct loops beat
 * im2col + GEMM here. Backward gathers, for every input pixel, the output pixels its taps fed
 * (as conv2d.c does), so threads own disjoint input rows and never race.
 * SeparableConv2D is lowered to this op followed by a 1x1 Conv2D; no kernel of its own.
 */
#include "pyvis.h"

pv_status depthwise_window(pv_window *win, const pv_node *nd, const pv_shape *in, int node,
                           pv_error *err)
{
    if (in->rank != 3)
        return PV_FAIL(err, PV_ERR_VALUE, "node %d (DepthwiseConv2D): expected a 3-D (H, W, C) input per sample, got rank %d",
                       node, in->rank);
    if (nd->wshape[0].d[2] != in->d[2])
        return PV_FAIL(err, PV_ERR_VALUE, "node %d (DepthwiseConv2D): kernel expects %zu input channels, input has %zu",
                       node, nd->wshape[0].d[2], in->d[2]);
    size_t oc;
    if (pv_mul_size(nd->wshape[0].d[2], nd->wshape[0].d[3], &oc))
        return PV_FAIL(err, PV_ERR_VALUE, "node %d (DepthwiseConv2D): channels x depth multiplier overflows", node);
    return pv_window_resolve(win, in->d[0], in->d[1], in->d[2], oc, (size_t)nd->ip[0], (size_t)nd->ip[1],
                             (size_t)nd->ip[2], (size_t)nd->ip[3], (size_t)nd->ip[4], (size_t)nd->ip[5],
                             (int)nd->ip[6], err);
}

void depthwise_forward(float *out, const float *inp, const float *kernel, const float *bias,
                       const pv_window *win, size_t N, pv_act act, int threads)
{
    /* out is (N, OH, OW, OC) with OC = C*DM, inp is (N, H, W, C), kernel is (KH, KW, C, DM),
     * bias is (OC,) or NULL */
    const size_t C = win->C, OC = win->OC, DM = OC / C;
    const long rows = (long)(N * win->OH);
#pragma omp parallel for schedule(static) num_threads(threads) if (PV_WORTH_THREADS((double)rows * win->OW * OC * win->KH * win->KW))
    for (long row = 0; row < rows; row++) {
        size_t n = (size_t)row / win->OH, oh = (size_t)row % win->OH;
        for (size_t ow = 0; ow < win->OW; ow++) {
            float *o = out + ((size_t)row * win->OW + ow) * OC;
            for (size_t j = 0; j < OC; j++) o[j] = bias ? bias[j] : 0.0f;
            for (size_t kh = 0; kh < win->KH; kh++) {
                long ih = (long)(oh * win->SH + kh * win->DH) - (long)win->pad_top;
                if (ih < 0 || ih >= (long)win->H) continue;
                for (size_t kw = 0; kw < win->KW; kw++) {
                    long iw = (long)(ow * win->SW + kw * win->DW) - (long)win->pad_left;
                    if (iw < 0 || iw >= (long)win->W) continue;
                    const float *x = inp + ((n * win->H + (size_t)ih) * win->W + (size_t)iw) * C;
                    const float *k = kernel + (kh * win->KW + kw) * OC;
                    if (DM == 1)
                        for (size_t j = 0; j < OC; j++) o[j] += x[j] * k[j];
                    else
                        for (size_t j = 0; j < OC; j++) o[j] += x[j / DM] * k[j];
                }
            }
            if (act == PV_ACT_RELU)
                for (size_t j = 0; j < OC; j++) o[j] = o[j] > 0.0f ? o[j] : 0.0f;
        }
    }
}

void depthwise_backward_input(float *dinp, const float *dout, const float *kernel,
                              const pv_window *win, size_t N, int threads)
{
    /* dinp is (N, H, W, C) accumulated into; dout is (N, OH, OW, OC); kernel is (KH, KW, C, DM) */
    const size_t C = win->C, OC = win->OC, DM = OC / C;
    const long rows = (long)(N * win->H);
#pragma omp parallel for schedule(static) num_threads(threads) if (PV_WORTH_THREADS((double)N * win->OH * win->OW * OC * win->KH * win->KW))
    for (long row = 0; row < rows; row++) {
        size_t n = (size_t)row / win->H, ih = (size_t)row % win->H;
        for (size_t iw = 0; iw < win->W; iw++) {
            float *d = dinp + ((size_t)row * win->W + iw) * C;
            for (size_t kh = 0; kh < win->KH; kh++) {
                long th = (long)(ih + win->pad_top) - (long)(kh * win->DH);
                if (th < 0 || th % (long)win->SH || th / (long)win->SH >= (long)win->OH) continue;
                size_t oh = (size_t)(th / (long)win->SH);
                for (size_t kw = 0; kw < win->KW; kw++) {
                    long tw = (long)(iw + win->pad_left) - (long)(kw * win->DW);
                    if (tw < 0 || tw % (long)win->SW || tw / (long)win->SW >= (long)win->OW) continue;
                    size_t ow = (size_t)(tw / (long)win->SW);
                    const float *g = dout + ((n * win->OH + oh) * win->OW + ow) * OC;
                    const float *k = kernel + (kh * win->KW + kw) * OC;
                    if (DM == 1) {
                        for (size_t c = 0; c < C; c++) d[c] += g[c] * k[c];
                    } else {
                        for (size_t c = 0; c < C; c++) {
                            float s = 0.0f;
                            for (size_t m = 0; m < DM; m++) s += g[c * DM + m] * k[c * DM + m];
                            d[c] += s;
                        }
                    }
                }
            }
        }
    }
}
