/* activation.c — every elementwise activation, forward and backward, and the backprop modifiers.
 *
 * Formulas follow Keras (softmax over the last axis; SELU constants; ELU alpha; hard_sigmoid as
 * clip(a*x + b, 0, 1) with a, b chosen by the caller for Keras 2 or Keras 3; the ReLU layer's
 * max_value / negative_slope / threshold). Backward computes f'(x) from the forward input x, and
 * accumulates dx += f'(x) * dy. The modifiers touch plain ReLU only, as keras-vis overrides the
 * gradient of TF's Relu op only:
 *   none       g * [x > 0]
 *   guided     g * [x > 0] * [g > 0]
 *   rectified  g * [g > 0]
 */
#include "pyvis.h"

#include <math.h>

#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946
#define SQRT_2_OVER_PI 0.7978845608028654
#define GELU_CUBIC 0.044715

static double sigmoid(double x)
{
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static double relu_general(double x, const pv_actparams *p)
{
    double pos = p->c != 0.0f ? (x > p->c ? x : 0.0) : (x > 0 ? x : 0.0);
    if (!isinf(p->a) && pos > p->a) pos = p->a;
    double neg = (p->b != 0.0f && p->c - x > 0) ? p->b * (p->c - x) : 0.0;
    return pos - neg;
}

static double relu_general_grad(double x, const pv_actparams *p)
{
    int pos_on = p->c != 0.0f ? x > p->c : x > 0;
    if (!isinf(p->a) && x >= p->a) pos_on = 0;
    double d = pos_on ? 1.0 : 0.0;
    if (p->b != 0.0f && x < p->c) d += p->b;
    return d;
}

/* f(x) for every activation but softmax */
static float act_value(float xf, const pv_actparams *p)
{
    double x = xf;
    switch (p->act) {
    case PV_ACT_LINEAR: return xf;
    case PV_ACT_RELU: return xf > 0.0f ? xf : 0.0f;
    case PV_ACT_SIGMOID: return (float)sigmoid(x);
    case PV_ACT_TANH: return (float)tanh(x);
    case PV_ACT_ELU: return (float)(x > 0 ? x : p->a * expm1(x));
    case PV_ACT_SELU: return (float)(x > 0 ? SELU_SCALE * x : SELU_SCALE * SELU_ALPHA * expm1(x));
    case PV_ACT_SOFTPLUS: return (float)(x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)));
    case PV_ACT_SOFTSIGN: return (float)(x / (1.0 + fabs(x)));
    case PV_ACT_SWISH: return (float)(x * sigmoid(x));
    case PV_ACT_GELU:
        if (p->flag) return (float)(0.5 * x * (1.0 + tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x))));
        return (float)(0.5 * x * (1.0 + erf(x / sqrt(2.0))));
    case PV_ACT_HARD_SIGMOID: {
        double y = p->a * x + p->b;
        return (float)(y < 0 ? 0 : (y > 1 ? 1 : y));
    }
    case PV_ACT_EXPONENTIAL: return (float)exp(x);
    case PV_ACT_RELU6: return (float)(x < 0 ? 0 : (x > 6 ? 6 : x));
    case PV_ACT_LEAKY_RELU: return (float)(x > 0 ? x : p->a * x);
    case PV_ACT_RELU_GENERAL: return (float)relu_general(x, p);
    default: return NAN;
    }
}

/* f'(x) for every activation but softmax and relu */
static double act_grad(float xf, const pv_actparams *p)
{
    double x = xf;
    switch (p->act) {
    case PV_ACT_LINEAR: return 1.0;
    case PV_ACT_SIGMOID: { double s = sigmoid(x); return s * (1.0 - s); }
    case PV_ACT_TANH: { double t = tanh(x); return 1.0 - t * t; }
    case PV_ACT_ELU: return x > 0 ? 1.0 : p->a * exp(x);
    case PV_ACT_SELU: return x > 0 ? SELU_SCALE : SELU_SCALE * SELU_ALPHA * exp(x);
    case PV_ACT_SOFTPLUS: return sigmoid(x);
    case PV_ACT_SOFTSIGN: { double d = 1.0 + fabs(x); return 1.0 / (d * d); }
    case PV_ACT_SWISH: { double s = sigmoid(x); return s + x * s * (1.0 - s); }
    case PV_ACT_GELU:
        if (p->flag) {
            double u = SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x);
            double t = tanh(u);
            return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
        }
        return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
    case PV_ACT_HARD_SIGMOID: { double y = p->a * x + p->b; return (y > 0 && y < 1) ? p->a : 0.0; }
    case PV_ACT_EXPONENTIAL: return exp(x);
    case PV_ACT_RELU6: return (x > 0 && x < 6) ? 1.0 : 0.0;
    case PV_ACT_LEAKY_RELU: return x > 0 ? 1.0 : p->a;
    case PV_ACT_RELU_GENERAL: return relu_general_grad(x, p);
    default: return NAN;
    }
}

static void softmax_rows(float *y, const float *x, size_t rows, size_t last)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * last;
        float *yr = y + r * last;
        float mx = -INFINITY;
        for (size_t k = 0; k < last; k++) if (xr[k] > mx) mx = xr[k];   /* for stability only */
        double sum = 0.0;
        for (size_t k = 0; k < last; k++) { double e = exp((double)xr[k] - mx); yr[k] = (float)e; sum += e; }
        for (size_t k = 0; k < last; k++) yr[k] = (float)(yr[k] / sum);
    }
}

void activation_forward(float *y, const float *x, size_t n, size_t last, const pv_actparams *p)
{
    if (p->act == PV_ACT_SOFTMAX) {
        if (last) softmax_rows(y, x, n / last, last);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(pv_get_num_threads()) if (PV_WORTH_THREADS(16.0 * (double)n))
    for (long i = 0; i < (long)n; i++) y[i] = act_value(x[i], p);
}

/* out[i] (+)= the gated gradient for the three ReLU gates, with `decide[i] > 0` the forward
 * decision. One loop per gate, without branches: the decisions are data (half of them flip at
 * random), and a branch per element mispredicts so often that guided backprop ran 20% slower
 * than vanilla before the gates became selects the compiler can vectorise. */
/* out may be g itself (in place); element i reads only index i, so no iteration depends on
 * another (ivdep) */
static void relu_gates_block(float *out, const float *g, const float *decide, size_t n, pv_modifier mod,
                             int accumulate)
{
    switch (mod) {
    case PV_MOD_GUIDED:
#pragma GCC ivdep
        for (size_t i = 0; i < n; i++) {
            float v = (decide[i] > 0.0f) & (g[i] > 0.0f) ? g[i] : 0.0f;
            out[i] = accumulate ? out[i] + v : v;
        }
        break;
    case PV_MOD_RECTIFIED:
#pragma GCC ivdep
        for (size_t i = 0; i < n; i++) {
            float v = g[i] > 0.0f ? g[i] : 0.0f;
            out[i] = accumulate ? out[i] + v : v;
        }
        break;
    default:
#pragma GCC ivdep
        for (size_t i = 0; i < n; i++) {
            float gi = g[i];   /* loaded unconditionally, or gcc sees a branch and won't vectorise */
            float v = decide[i] > 0.0f ? gi : 0.0f;
            out[i] = accumulate ? out[i] + v : v;
        }
        break;
    }
}

/* in blocks, on every thread: a conv layer's gradient is megabytes, and one core alone cannot
 * stream it at the memory's rate */
static void relu_gates(float *out, const float *g, const float *decide, size_t n, pv_modifier mod, int accumulate)
{
    const size_t block = 1 << 14;
    const long blocks = (long)((n + block - 1) / block);
#pragma omp parallel for schedule(static) num_threads(pv_get_num_threads()) if (PV_WORTH_THREADS(8.0 * (double)n))
    for (long b = 0; b < blocks; b++) {
        size_t lo = (size_t)b * block, len = n - lo < block ? n - lo : block;
        relu_gates_block(out + lo, g + lo, decide + lo, len, mod, accumulate);
    }
}

void activation_backward(float *dx, const float *dy, const float *x, const float *y, size_t n,
                         size_t last, const pv_actparams *p, pv_modifier mod)
{
    if (p->act == PV_ACT_SOFTMAX) {
        /* y = softmax(x): dx = y * (dy - sum(dy * y)) per row */
        for (size_t r = 0; last && r < n / last; r++) {
            const float *yr = y + r * last, *gr = dy + r * last;
            double dot = 0.0;
            for (size_t k = 0; k < last; k++) dot += (double)gr[k] * yr[k];
            for (size_t k = 0; k < last; k++) dx[r * last + k] += (float)(yr[k] * (gr[k] - dot));
        }
        return;
    }
    if (p->act == PV_ACT_RELU) {
        relu_gates(dx, dy, x ? x : y, n, mod, 1);
        return;
    }
    if (p->act == PV_ACT_LINEAR) {
        for (size_t i = 0; i < n; i++) dx[i] += dy[i];
        return;
    }
#pragma omp parallel for schedule(static) num_threads(pv_get_num_threads()) if (PV_WORTH_THREADS(16.0 * (double)n))
    for (long i = 0; i < (long)n; i++) dx[i] += (float)(act_grad(x[i], p) * dy[i]);
}

void bias_act_rows(float *out, size_t ld, const float *bias, size_t rows, size_t c0, size_t c1, pv_act act)
{
    for (size_t r = 0; r < rows; r++) {
        float *o = out + r * ld;
        if (bias)
            for (size_t k = c0; k < c1; k++) o[k] += bias[k];
        if (act == PV_ACT_RELU)
            for (size_t k = c0; k < c1; k++) o[k] = o[k] > 0.0f ? o[k] : 0.0f;
    }
}

void fused_activation_backward(float *g, const float *y, size_t n, pv_act act, pv_modifier mod)
{
    if (act == PV_ACT_RELU) relu_gates(g, g, y, n, mod, 0);
}
