/* pyvis.h — the one internal header of the native core.
 *
 * What lives here: the dimension letters, the op / activation / modifier enums, the node and
 * graph structs, the status codes and every kernel prototype. Nothing here knows about Python;
 * module.c is the only file that includes Python.h.
 *
 * Dimension letters (used in every shape comment):
 *   N  batch            H, W   input height / width     C   input channels
 *   OH, OW  output height / width    OC  output channels    KH, KW  kernel height / width
 *   P  number of output pixels in a chunk (rows of an im2col matrix)
 * Activations are NHWC float32, C-contiguous. Kernels keep Keras's layouts: Conv2D kernel is
 * (KH, KW, C, OC), Dense kernel is (IN, OUT). Gradients carry a `d` prefix and backward kernels
 * ACCUMULATE (+=) into their input gradient, so fan-out needs no special case.
 *
 * Usage sketch (what module.c does):
 *   pv_graph *g = pv_graph_new(n_nodes);   ... fill g->nodes[i] ...
 *   pv_graph_check(g, &err);  pv_graph_prepare(g, &err);     // validate; transform 3x3 kernels
 *   pv_tape *t = pv_tape_new(g);
 *   pv_plan(t, N, input_dims, &err);                          // shapes, arenas (reused if same)
 *   pv_forward(t, inputs, &err);                              // keeps every node's value
 *   pv_backward(t, seeds, n_seeds, wrt, n_wrt, outs, PV_MOD_GUIDED, &err);
 */
#ifndef PYVIS_H
#define PYVIS_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------- */
/* status codes and error messages                                                           */

typedef enum {
    PV_OK = 0,
    PV_ERR_VALUE = 1,    /* bad shapes, bad parameters            -> ValueError  */
    PV_ERR_TYPE = 2,     /* wrong kind of argument                -> TypeError   */
    PV_ERR_NOMEM = 3,    /* allocation failed or would be absurd  -> MemoryError */
    PV_ERR_INDEX = 4,    /* node index out of range               -> IndexError  */
    PV_ERR_INTERNAL = 5  /* a bug in pyvis                        -> RuntimeError */
} pv_status;

typedef struct {
    pv_status code;
    char msg[512];       /* "file.c:123: message" */
} pv_error;

pv_status pv_fail(pv_error *err, pv_status code, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
#define PV_FAIL(err, code, ...) pv_fail((err), (code), __FILE__, __LINE__, __VA_ARGS__)

/* Overflow-checked size arithmetic: return 0 on success, 1 on overflow. */
int pv_mul_size(size_t a, size_t b, size_t *out);
int pv_add_size(size_t a, size_t b, size_t *out);
/* a * b, or SIZE_MAX on overflow: for scratch sizes, whose allocation then fails cleanly. */
size_t pv_mul_sat(size_t a, size_t b);

/* ---------------------------------------------------------------------------------------- */
/* enums shared with Python (module.c exports them as _core.OP_*, ACT_*, MOD_*)              */

typedef enum {
    PV_OP_INPUT = 0,
    PV_OP_CONV2D,
    PV_OP_DENSE,
    PV_OP_MAXPOOL2D,
    PV_OP_AVGPOOL2D,
    PV_OP_GLOBAL_AVGPOOL2D,
    PV_OP_GLOBAL_MAXPOOL2D,
    PV_OP_RESHAPE,
    PV_OP_ACTIVATION,
    PV_OP_ADD,
    PV_OP_CONCAT,
    PV_OP_AFFINE,             /* per-channel x*scale + shift: BatchNormalization, Rescaling, Normalization */
    PV_OP_PAD2D,              /* ZeroPadding2D */
    PV_OP_CROP2D,             /* Cropping2D */
    PV_OP_UPSAMPLE2D,         /* UpSampling2D, nearest */
    PV_OP_DEPTHWISE_CONV2D,   /* DepthwiseConv2D (SeparableConv2D = this + a 1x1 Conv2D) */
    PV_OP_MULTIPLY,
    PV_OP_AVERAGE,
    PV_OP_MAXIMUM,
    PV_OP_COUNT
} pv_op;

typedef enum {
    PV_ACT_LINEAR = 0,
    PV_ACT_RELU,
    PV_ACT_SOFTMAX,
    PV_ACT_SIGMOID,
    PV_ACT_TANH,
    PV_ACT_ELU,
    PV_ACT_SELU,
    PV_ACT_SOFTPLUS,
    PV_ACT_SOFTSIGN,
    PV_ACT_SWISH,
    PV_ACT_GELU,
    PV_ACT_HARD_SIGMOID,
    PV_ACT_EXPONENTIAL,
    PV_ACT_RELU6,
    PV_ACT_LEAKY_RELU,
    PV_ACT_RELU_GENERAL,
    PV_ACT_COUNT
} pv_act;

typedef enum { PV_MOD_NONE = 0, PV_MOD_GUIDED = 1, PV_MOD_RECTIFIED = 2 } pv_modifier;

/* Kernels run on one thread below this much work (multiply-adds, or element visits weighted by
 * their cost): waking a sleeping worker takes microseconds on an idle machine but a whole
 * scheduler tick (4 ms) on a busy one, which made small models 100x slower with two threads.
 * Used as `#pragma omp parallel ... if (PV_WORTH_THREADS(work))`. */
#define PV_PARALLEL_MIN_WORK 16e6
#define PV_WORTH_THREADS(work) ((double)(work) >= PV_PARALLEL_MIN_WORK)

/* Loop-heavy kernels are compiled twice, for AVX-512 and for the baseline, and chosen at run time
 * by pv_use_avx512() (gemm_small.c), so PYVIS_DISABLE_AVX512 selects the baseline everywhere and
 * the tests can run it. Write the kernel as `PV_KERNEL_BODY void name_body(params)`, then
 * `PV_TWO_TARGETS(name, (params), (args))` defines `static void name(params)`. */
#define PV_KERNEL_BODY static inline __attribute__((always_inline))
#if defined(__GNUC__) && defined(__x86_64__)
#define PV_TWO_TARGETS(name, params, args)                                                      \
    __attribute__((target("avx512f"))) static void name##_avx512 params { name##_body args; }   \
    static void name##_plain params { name##_body args; }                                         \
    static void name params                                                                       \
    {                                                                                             \
        if (pv_use_avx512()) name##_avx512 args;                                                 \
        else name##_plain args;                                                                   \
    }
#else
#define PV_TWO_TARGETS(name, params, args) \
    static void name params { name##_body args; }
#endif

enum { PV_PAD_VALID = 0, PV_PAD_SAME = 1 };

/* ---------------------------------------------------------------------------------------- */
/* per-op parameters                                                                         */

#define PV_MAX_RANK 8
#define PV_MAX_IPARAMS 16
#define PV_MAX_WEIGHTS 4
#define PV_MAX_MERGE 64          /* inputs of one Add / Concatenate */

typedef struct { int rank; size_t d[PV_MAX_RANK]; } pv_shape;   /* per-sample dims */

typedef struct {            /* resolved window geometry of a conv or pool, one spatial axis each */
    size_t H, W, C;         /* input */
    size_t OH, OW, OC;      /* output */
    size_t KH, KW, SH, SW, DH, DW;
    size_t pad_top, pad_left;
} pv_window;

typedef struct {            /* activation with its parameters (see _core.ACT_* docs in module.c) */
    pv_act act;
    int flag;               /* GELU: 1 = tanh approximation */
    float a, b, c;          /* ELU alpha | LEAKY slope | HARD_SIGMOID slope, offset | RELU_GENERAL max, slope, threshold */
} pv_actparams;

typedef struct {
    pv_op op;
    int n_in;
    int *in;                          /* indices of earlier nodes */
    int n_ip;
    long ip[PV_MAX_IPARAMS];          /* integer params as given by Python */
    double fp[4];
    int n_w;
    const float *w[PV_MAX_WEIGHTS];   /* borrowed: module.c keeps the arrays alive */
    pv_shape wshape[PV_MAX_WEIGHTS];
    /* filled by pv_graph_check */
    pv_actparams act;                 /* fused (conv/dense: LINEAR or RELU) or the activation node's */
    const float *wino_U;              /* Winograd-transformed kernel (shared, see winograd.c) or NULL */
    const float *wino_UT;             /* its transposes, kept for small kernels only, or NULL */
} pv_node;

typedef struct {
    int n;
    pv_node *nodes;
    int n_inputs;
    int *input_nodes;                 /* OP_INPUT nodes in node order */
} pv_graph;

/* One forward run: resolved shapes, the activation arena, the gradient arena, workspaces. */
typedef struct {
    const pv_graph *g;
    size_t N;
    pv_shape *shape;                  /* [g->n] per-sample output shapes */
    size_t *size;                     /* [g->n] per-sample element counts */
    size_t *offset;                   /* [g->n] offsets into acts (whole batch) */
    size_t *goffset;                  /* [g->n] offsets into grads, planned by each backward */
    int *glive;                       /* [g->n] the plan's live list, then the run's "zeroed yet" flags */
    float *acts;  size_t acts_len;
    float *grads; size_t grads_len;   /* grown by backward as its plans need */
    float *work;  size_t work_len;    /* per-thread scratch, work_len floats per thread */
    int work_threads;
    unsigned char *active;            /* [g->n] scratch for backward */
    int planned;
    int exact;                        /* 1: no Winograd in the forward pass (same ReLU decisions as direct) */
} pv_tape;

typedef struct { int node; const float *grad; } pv_seed;   /* grad: (N, *shape[node]) */

/* ---------------------------------------------------------------------------------------- */
/* graph.c                                                                                    */

pv_graph *pv_graph_new(int n_nodes);
void pv_graph_free(pv_graph *g);
pv_status pv_graph_check(pv_graph *g, pv_error *err);     /* validate topology and params once */
/* After a successful check: transform the kernels of Winograd-eligible convolutions (shared
 * between graphs over the same arrays). Call with the GIL held. */
pv_status pv_graph_prepare(pv_graph *g, pv_error *err);

pv_tape *pv_tape_new(const pv_graph *g);
void pv_tape_free(pv_tape *t);
/* inputs[i] is (N, *dims[i]) for the i-th OP_INPUT node. */
pv_status pv_plan(pv_tape *t, size_t N, const pv_shape *input_dims, pv_error *err);
pv_status pv_forward(pv_tape *t, const float *const *inputs, pv_error *err);
/* outs[k] receives d(sum of seeds . values)/d(value of node wrt[k]), shape (N, *shape[wrt[k]]). */
pv_status pv_backward(pv_tape *t, const pv_seed *seeds, int n_seeds, const int *wrt, int n_wrt,
                      float *const *outs, pv_modifier mod, pv_error *err);

/* ---------------------------------------------------------------------------------------- */
/* kernels (one file per family)                                                              */

/* Per-thread scratch handed to kernels: thread t owns buf[t*per_thread, (t+1)*per_thread). */
typedef struct { float *buf; size_t per_thread; int threads; } pv_work;

/* conv2d.c */
pv_status pv_window_resolve(pv_window *win, size_t H, size_t W, size_t C, size_t OC,
                            size_t KH, size_t KW, size_t SH, size_t SW, size_t DH, size_t DW,
                            int padding, pv_error *err);
size_t conv2d_work_floats(const pv_window *win, size_t N, int threads);   /* per thread */
void conv2d_forward(float *out, const float *inp, const float *kernel, const float *bias,
                    const pv_window *win, size_t N, pv_act act, const pv_work *work);
void conv2d_backward_input(float *dinp, const float *dout, const float *kernel,
                           const pv_window *win, size_t N, const pv_work *work);

/* winograd.c: F(4x4, 3x3) for stride-1 undilated 3x3 convolutions with C, OC >= 16 */
int winograd_applies(const pv_window *win);
size_t winograd_work_floats(const pv_window *win, size_t N, int threads);  /* whole buffer */
void winograd_transform_kernel(float *U, float *UT, const float *kernel, size_t C, size_t OC);
const float *winograd_weights_acquire(const float *kernel, size_t C, size_t OC, const float **UT);
void winograd_weights_release(const float *U);
void winograd_forward(float *out, const float *inp, const float *U, const float *bias,
                      const pv_window *win, size_t N, pv_act act, float *work, int threads);
void winograd_backward_input(float *dinp, const float *dout, const float *U, const float *UT,
                             const pv_window *win, size_t N, float *work, int threads);

/* gemm_small.c: unpacked small products for Winograd (AVX-512, else portable loops). A
 * "panel-major" (K, N) matrix is pv_panels(N) panels of K rows of PV_PANEL floats. */
#define PV_PANEL 32
void pv_gemm_small_init(void);    /* decide the kernel once, before any thread runs */
int pv_use_avx512(void);          /* that decision: AVX-512 present and not disabled by PYVIS_DISABLE_AVX512 */
size_t pv_panels(size_t N);
void pv_gemm_panels(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *Bp, float *C,
                    size_t ldc);
void pv_gemm_kblocked(size_t M, size_t N, size_t K, const float *Ab, const float *Bp, float *C, size_t ldc);
void pv_pack_panels_t(float *dst, const float *src, size_t K, size_t N, size_t ld);
size_t pv_gemm_panels_t_work(size_t K);
void pv_gemm_panels_t(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *Bp, float *C,
                      size_t ldc, float *work);

/* gemv.c: batch-1 Dense products, one streaming pass over W (IN, OUT) */
void pv_gemv_rows_axpy(float *y, const float *x, const float *W, size_t rows, size_t OUT);
void pv_gemv_rows_dot(float *dx, const float *W, const float *g, size_t rows, size_t OUT);

/* dense.c */
size_t dense_work_floats(size_t M, size_t OUT, int threads);                /* whole buffer */
void dense_forward(float *out, const float *inp, const float *kernel, const float *bias,
                   size_t M, size_t IN, size_t OUT, pv_act act, const pv_work *work);
void dense_backward_input(float *dinp, const float *dout, const float *kernel,
                          size_t M, size_t IN, size_t OUT, int threads);

/* pool.c */
void maxpool2d_forward(float *out, const float *inp, const pv_window *win, size_t N, int threads);
void maxpool2d_backward(float *dinp, const float *dout, const float *inp, const float *out,
                        const pv_window *win, size_t N, int threads);
void avgpool2d_forward(float *out, const float *inp, const pv_window *win, size_t N, int threads);
void avgpool2d_backward(float *dinp, const float *dout, const pv_window *win, size_t N, int threads);
void global_pool_forward(float *out, const float *inp, size_t N, size_t HW, size_t C, int is_max);
void global_pool_backward(float *dinp, const float *dout, const float *inp, size_t N, size_t HW,
                          size_t C, int is_max);

/* activation.c: y = f(x) on n elements (softmax over rows of length `last`). */
void activation_forward(float *y, const float *x, size_t n, size_t last, const pv_actparams *p);
/* dx += f'(x) * dy, with the modifier applied when p->act is plain ReLU. x may be NULL for
 * RELU and LINEAR (the decision is then read from y, since relu(x) > 0 <=> x > 0). */
void activation_backward(float *dx, const float *dy, const float *x, const float *y, size_t n,
                         size_t last, const pv_actparams *p, pv_modifier mod);
/* In place: g <- f'(.) * g for the fused activations of conv/dense (LINEAR or RELU), from y. */
void fused_activation_backward(float *g, const float *y, size_t n, pv_act act, pv_modifier mod);
/* The epilogue of conv/dense: out[r][c] += bias[c], then ReLU if act is RELU, for c in [c0, c1)
 * of `rows` rows with leading dimension ld. */
void bias_act_rows(float *out, size_t ld, const float *bias, size_t rows, size_t c0, size_t c1, pv_act act);

/* merge.c */
void add_forward(float *out, const float *const *ins, int n_in, size_t n);
void concat_forward(float *out, const float *const *ins, const size_t *inner, int n_in,
                    size_t outer, size_t out_inner);
void concat_backward(float *const *dins, const float *dout, const size_t *inner, int n_in,
                     size_t outer, size_t out_inner);

/* merge.c: element-wise merges of n_in equal-shape inputs; dins[k] NULL = not needed */
void multiply_forward(float *out, const float *const *ins, int n_in, size_t n);
void multiply_backward(float *const *dins, const float *dout, const float *const *ins, int n_in, size_t n);
void average_forward(float *out, const float *const *ins, int n_in, size_t n);
void average_backward(float *const *dins, const float *dout, int n_in, size_t n);
void maximum_forward(float *out, const float *const *ins, int n_in, size_t n);
void maximum_backward(float *const *dins, const float *dout, const float *const *ins, int n_in, size_t n);

/* norm.c: y = x * scale + shift over the last axis (rows of C) */
void affine_forward(float *out, const float *inp, const float *scale, const float *shift,
                    size_t rows, size_t C, int threads);
void affine_backward(float *dinp, const float *dout, const float *scale, size_t rows, size_t C,
                     int threads);

/* spatial.c: output pixel (oh, ow) shows input pixel (oh + off_h, ow + off_w), zero outside
 * (ZeroPadding2D: off = -(top, left); Cropping2D: off = +(top, left)); nearest upsampling */
pv_status spatial_infer_shape(pv_shape *out, const pv_node *nd, const pv_shape *in, int node,
                              pv_error *err);
void shift2d_forward(float *out, const float *inp, size_t N, size_t H, size_t W, size_t C,
                     size_t OH, size_t OW, long off_h, long off_w, int threads);
void shift2d_backward(float *dinp, const float *dout, size_t N, size_t H, size_t W, size_t C,
                      size_t OH, size_t OW, long off_h, long off_w, int threads);
void upsample2d_forward(float *out, const float *inp, size_t N, size_t H, size_t W, size_t C,
                        size_t SH, size_t SW, int threads);
void upsample2d_backward(float *dinp, const float *dout, size_t N, size_t H, size_t W, size_t C,
                         size_t SH, size_t SW, int threads);

/* depthwise.c: iparams (KH, KW, SH, SW, DH, DW, PAD, ACT), kernel (KH, KW, C, DM), bias (C*DM,) */
pv_status depthwise_window(pv_window *win, const pv_node *nd, const pv_shape *in, int node,
                           pv_error *err);
void depthwise_forward(float *out, const float *inp, const float *kernel, const float *bias,
                       const pv_window *win, size_t N, pv_act act, int threads);
void depthwise_backward_input(float *dinp, const float *dout, const float *kernel,
                              const pv_window *win, size_t N, int threads);

/* zoom.c: scipy.ndimage.zoom(order=3) of a 2-D map (Grad-CAM upsampling). */
pv_status zoom_cubic2d(float *out, const float *inp, size_t H, size_t W, size_t OH, size_t OW,
                       pv_error *err);

/* threads.c: one knob for our OpenMP loops and for BLAS. */
void pv_set_num_threads(int n);
int pv_get_num_threads(void);

#endif
