/* gemm_small.c — the small matrix products of Winograd's transform domain, without packing.
 *
 * Winograd runs 36 products per chunk of tiles, each small (a few dozen rows): OpenBLAS copies
 * ("packs") both operands on every call, which costs as much as the arithmetic at these sizes.
 * Here the right-hand operand (the transformed kernel) is stored once, panel-major: panel p holds
 * columns [32p, 32p + 32) of a (K, N) matrix as K contiguous rows of 32 floats, zero-padded past
 * N. An AVX-512 register block of 8 rows x 32 columns (16 accumulators) streams each panel from
 * memory exactly once while every 8-row block of A reuses it from L2. Products with the
 * transposed kernel need no second copy of it: either 32x32 blocks of the storage are transposed
 * in registers on the way (pv_gemm_panels_t), or, when the other operand has only a few rows,
 * the storage is read one panel at a time as a left-hand operand (pv_gemm_kblocked).
 * Without AVX-512 (or with PYVIS_DISABLE_AVX512 set) a portable loop does the same arithmetic.
 * What this file does not do: large GEMMs (OpenBLAS is the right tool there).
 */
#include "pyvis.h"

#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define PV_HAVE_AVX512_KERNEL 1
#endif

#define MR 8
#define NR PV_PANEL

size_t pv_panels(size_t N)
{
    return (N + NR - 1) / NR;
}

/* portable C[m x nvalid] (+)= A[m x K] panel[K x NR] */
static void panel_portable(size_t M, size_t K, const float *A, size_t lda, const float *B, float *C,
                           size_t ldc, size_t nvalid, int accumulate)
{
    for (size_t i = 0; i < M; i++) {
        float acc[NR] = {0};
        if (accumulate) memcpy(acc, C + i * ldc, nvalid * sizeof(float));
        for (size_t k = 0; k < K; k++) {
            float a = A[i * lda + k];
            const float *b = B + k * NR;
            for (size_t j = 0; j < NR; j++) acc[j] += a * b[j];
        }
        memcpy(C + i * ldc, acc, nvalid * sizeof(float));
    }
}

#ifdef PV_HAVE_AVX512_KERNEL

static int use_avx512 = 0;   /* set once by pv_gemm_small_init, before any thread runs */

int pv_use_avx512(void)
{
    return use_avx512;
}

/* C[MR x nvalid] (+)= A[MR x K] B[K x NR] (masks k0, k1 select the valid columns): 16
 * accumulators in registers, one broadcast of A and two contiguous loads of B per pair of FMAs. */
__attribute__((target("avx512f"))) static void block_full(size_t K, const float *A, size_t lda, const float *B,
                                                           float *C, size_t ldc, __mmask16 k0, __mmask16 k1,
                                                           int accumulate)
{
    __m512 c[MR][2];
    for (int i = 0; i < MR; i++) {
        c[i][0] = accumulate ? _mm512_maskz_loadu_ps(k0, C + (size_t)i * ldc) : _mm512_setzero_ps();
        c[i][1] = accumulate ? _mm512_maskz_loadu_ps(k1, C + (size_t)i * ldc + 16) : _mm512_setzero_ps();
    }
    for (size_t k = 0; k < K; k++) {
        __m512 b0 = _mm512_loadu_ps(B + k * NR);
        __m512 b1 = _mm512_loadu_ps(B + k * NR + 16);
        for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_set1_ps(A[(size_t)i * lda + k]);
            c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
            c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
        }
    }
    for (int i = 0; i < MR; i++) {
        _mm512_mask_storeu_ps(C + (size_t)i * ldc, k0, c[i][0]);
        _mm512_mask_storeu_ps(C + (size_t)i * ldc + 16, k1, c[i][1]);
    }
}

/* C[16 x nvalid<=16] (+)= A[16 x K] B[K x 16]: for products whose N is a single short panel (a
 * few tiles at batch 1), where the 8 x 32 block would compute half its columns for nothing. */
__attribute__((target("avx512f"))) static void block_narrow(size_t K, const float *A, size_t lda, const float *B,
                                                             float *C, size_t ldc, __mmask16 k0, int accumulate)
{
    __m512 c[16];
    for (int i = 0; i < 16; i++)
        c[i] = accumulate ? _mm512_maskz_loadu_ps(k0, C + (size_t)i * ldc) : _mm512_setzero_ps();
    for (size_t k = 0; k < K; k++) {
        __m512 b = _mm512_loadu_ps(B + k * NR);
        for (int i = 0; i < 16; i++) c[i] = _mm512_fmadd_ps(_mm512_set1_ps(A[(size_t)i * lda + k]), b, c[i]);
    }
    for (int i = 0; i < 16; i++) _mm512_mask_storeu_ps(C + (size_t)i * ldc, k0, c[i]);
}

/* the last m < MR rows, one at a time (a few rows per product) */
__attribute__((target("avx512f"))) static void block_rows(size_t m, size_t K, const float *A, size_t lda,
                                                           const float *B, float *C, size_t ldc,
                                                           __mmask16 k0, __mmask16 k1, int accumulate)
{
    for (size_t i = 0; i < m; i++) {
        __m512 c0 = accumulate ? _mm512_maskz_loadu_ps(k0, C + i * ldc) : _mm512_setzero_ps();
        __m512 c1 = accumulate ? _mm512_maskz_loadu_ps(k1, C + i * ldc + 16) : _mm512_setzero_ps();
        for (size_t k = 0; k < K; k++) {
            __m512 a = _mm512_set1_ps(A[i * lda + k]);
            c0 = _mm512_fmadd_ps(a, _mm512_loadu_ps(B + k * NR), c0);
            c1 = _mm512_fmadd_ps(a, _mm512_loadu_ps(B + k * NR + 16), c1);
        }
        _mm512_mask_storeu_ps(C + i * ldc, k0, c0);
        _mm512_mask_storeu_ps(C + i * ldc + 16, k1, c1);
    }
}

__attribute__((target("avx512f"))) static void panel_avx512(size_t M, size_t K, const float *A, size_t lda,
                                                             const float *B, float *C, size_t ldc, size_t nvalid,
                                                             int accumulate)
{
    __mmask16 k0 = nvalid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nvalid) - 1);
    __mmask16 k1 = nvalid >= 32 ? (__mmask16)0xFFFF : nvalid > 16 ? (__mmask16)((1u << (nvalid - 16)) - 1) : 0;
    size_t m0 = 0;
    if (nvalid <= 16)
        for (; m0 + 16 <= M; m0 += 16) block_narrow(K, A + m0 * lda, lda, B, C + m0 * ldc, ldc, k0, accumulate);
    for (; m0 + MR <= M; m0 += MR) block_full(K, A + m0 * lda, lda, B, C + m0 * ldc, ldc, k0, k1, accumulate);
    if (m0 < M) block_rows(M - m0, K, A + m0 * lda, lda, B, C + m0 * ldc, ldc, k0, k1, accumulate);
}

/* dst[j][i] = src[i][j] for a 16 x 16 block (four rounds of in-register shuffles) */
__attribute__((target("avx512f"))) static void transpose16(const float *src, size_t ls, float *dst, size_t ld)
{
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (size_t)i * ls);
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + (size_t)i * ld, r[i]);
}

#endif

/* dst[j][i] = src[i][j] for a full NR x NR block (row strides NR) */
static void transpose_block(const float *src, float *dst)
{
#ifdef PV_HAVE_AVX512_KERNEL
    if (pv_use_avx512()) {
        for (size_t i = 0; i < NR; i += 16)
            for (size_t j = 0; j < NR; j += 16) transpose16(src + i * NR + j, NR, dst + j * NR + i, NR);
        return;
    }
#endif
    for (size_t i = 0; i < NR; i++)
        for (size_t j = 0; j < NR; j++) dst[j * NR + i] = src[i * NR + j];
}

#ifndef PV_HAVE_AVX512_KERNEL
int pv_use_avx512(void)
{
    return 0;
}
#endif

void pv_gemm_small_init(void)
{
#ifdef PV_HAVE_AVX512_KERNEL
    __builtin_cpu_init();
    use_avx512 = __builtin_cpu_supports("avx512f") && !getenv("PYVIS_DISABLE_AVX512");
#endif
}

/* all rows of A against one panel */
static void panel(size_t M, size_t K, const float *A, size_t lda, const float *B, float *C, size_t ldc,
                  size_t nvalid, int accumulate)
{
#ifdef PV_HAVE_AVX512_KERNEL
    if (pv_use_avx512()) {
        panel_avx512(M, K, A, lda, B, C, ldc, nvalid, accumulate);
        return;
    }
#endif
    panel_portable(M, K, A, lda, B, C, ldc, nvalid, accumulate);
}

void pv_gemm_panels(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *Bp, float *C,
                    size_t ldc)
{
    /* C (M, N) = A (M, K) @ B (K, N), B given as pv_panels(N) panels of (K, NR); C overwritten */
    for (size_t p = 0; p < pv_panels(N); p++) {
        size_t n0 = p * NR;
        panel(M, K, A, lda, Bp + p * K * NR, C + n0, ldc, N - n0 < NR ? N - n0 : NR, 0);
    }
}

void pv_gemm_kblocked(size_t M, size_t N, size_t K, const float *Ab, const float *Bp, float *C, size_t ldc)
{
    /* C (M, N) = A (M, K) @ B (K, N). A given as pv_panels(K) blocks of (M, NR) one after another
     * (the panel-major storage of A^T); B as pv_panels(N) panels of (K, NR). The blocks of A are
     * the outer loop: each streams from memory once, in address order, while C (M x N, small
     * here) stays in cache and accumulates. */
    for (size_t q = 0; q < pv_panels(K); q++) {
        const size_t kk = K - q * NR < NR ? K - q * NR : NR;
        for (size_t p = 0; p < pv_panels(N); p++) {
            size_t n0 = p * NR;
            panel(M, kk, Ab + q * M * NR, NR, Bp + (p * K + q * NR) * NR, C + n0, ldc, N - n0 < NR ? N - n0 : NR,
                  q > 0);
        }
    }
}

size_t pv_gemm_panels_t_work(size_t K)
{
    return pv_panels(K) * NR * NR;
}

void pv_gemm_panels_t(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *Bp, float *C,
                      size_t ldc, float *work)
{
    /* C (M, N) = A (M, K) @ B^T, B (N, K) given as pv_panels(K) panels of (N, NR): panel q holds
     * B[:, 32q : 32q + 32]. Each 32-column panel of B^T is transposed into work (K x NR), one
     * NR x NR block at a time, then multiplied like any panel. */
    const size_t kp = pv_panels(K);
    for (size_t n0 = 0; n0 < N; n0 += NR) {
        const size_t nv = N - n0 < NR ? N - n0 : NR;
        for (size_t q = 0; q < kp; q++) {     /* work[32q + i][j] = B[n0 + j][32q + i] */
            const float *src = Bp + (q * N + n0) * NR;
            float *dst = work + q * NR * NR;
            if (nv == NR) {
                transpose_block(src, dst);
            } else {
                for (size_t i = 0; i < NR; i++)
                    for (size_t j = 0; j < NR; j++) dst[i * NR + j] = j < nv ? src[j * NR + i] : 0.0f;
            }
        }
        panel(M, K, A, lda, work, C + n0, ldc, nv, 0);
    }
}

void pv_pack_panels_t(float *dst, const float *src, size_t K, size_t N, size_t ld)
{
    /* dst: pv_panels(N) panels of (K, NR) holding B = src^T; src: (N, K) row-major with leading
     * dimension ld. Columns past N are zero. */
    for (size_t p = 0; p < pv_panels(N); p++) {
        float *panel_p = dst + p * K * NR;
        size_t nv = N - p * NR < NR ? N - p * NR : NR;
        for (size_t j = 0; j < nv; j++) {
            const float *row = src + (p * NR + j) * ld;
            for (size_t k = 0; k < K; k++) panel_p[k * NR + j] = row[k];
        }
        for (size_t j = nv; j < NR; j++)
            for (size_t k = 0; k < K; k++) panel_p[k * NR + j] = 0.0f;
    }
}
