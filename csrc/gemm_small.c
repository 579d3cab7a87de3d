/* gemm_small.c — the small matrix products of Winograd's transform domain, without packing.
 *
 * Winograd runs 36 products per chunk of tiles, each small (a few dozen rows): OpenBLAS copies
 * ("packs") both operands on every call, which costs as much as the arithmetic at these sizes.
 * Here the right-hand operand (the transformed kernel) is stored once, panel-major: panel p holds
 * columns [32p, 32p + 32) of a (K, N) matrix as K contiguous rows of 32 floats, zero-padded past
 * N. An AVX-512 register block of 8 rows x 32 columns (16 accumulators) streams each panel from
 * memory exactly once while every 8-row block of A reuses it from L2. Products with the
 * transpose unpack one 32-column panel of B^T at a time from 32x32 blocks of the same storage.
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

void pv_pack_panels(float *dst, const float *src, size_t K, size_t N, size_t ld)
{
    /* dst: pv_panels(N) panels of (K, NR); src: (K, N) row-major with leading dimension ld */
    for (size_t p = 0; p < pv_panels(N); p++)
        for (size_t k = 0; k < K; k++) {
            float *row = dst + (p * K + k) * NR;
            for (size_t j = 0; j < NR; j++) row[j] = p * NR + j < N ? src[k * ld + p * NR + j] : 0.0f;
        }
}

/* portable C[m x nvalid] = A[m x K] panel[K x NR] */
static void panel_portable(size_t M, size_t K, const float *A, size_t lda, const float *B, float *C,
                           size_t ldc, size_t nvalid)
{
    for (size_t i = 0; i < M; i++) {
        float acc[NR] = {0};
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

static int has_avx512(void)
{
    return use_avx512;
}

/* C[MR x nvalid] = A[MR x K] B[K x NR] (masks k0, k1 select the valid columns): 16 accumulators
 * in registers, one broadcast of A and two contiguous loads of B per pair of FMAs. */
__attribute__((target("avx512f"))) static void block_full(size_t K, const float *A, size_t lda, const float *B,
                                                           float *C, size_t ldc, __mmask16 k0, __mmask16 k1)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
           c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    const float *a0 = A, *a1 = A + lda, *a2 = A + 2 * lda, *a3 = A + 3 * lda, *a4 = A + 4 * lda,
                *a5 = A + 5 * lda, *a6 = A + 6 * lda, *a7 = A + 7 * lda;
    for (size_t k = 0; k < K; k++) {
        __m512 b0 = _mm512_loadu_ps(B + k * NR);
        __m512 b1 = _mm512_loadu_ps(B + k * NR + 16);
        __m512 a;
        a = _mm512_set1_ps(a0[k]); c00 = _mm512_fmadd_ps(a, b0, c00); c01 = _mm512_fmadd_ps(a, b1, c01);
        a = _mm512_set1_ps(a1[k]); c10 = _mm512_fmadd_ps(a, b0, c10); c11 = _mm512_fmadd_ps(a, b1, c11);
        a = _mm512_set1_ps(a2[k]); c20 = _mm512_fmadd_ps(a, b0, c20); c21 = _mm512_fmadd_ps(a, b1, c21);
        a = _mm512_set1_ps(a3[k]); c30 = _mm512_fmadd_ps(a, b0, c30); c31 = _mm512_fmadd_ps(a, b1, c31);
        a = _mm512_set1_ps(a4[k]); c40 = _mm512_fmadd_ps(a, b0, c40); c41 = _mm512_fmadd_ps(a, b1, c41);
        a = _mm512_set1_ps(a5[k]); c50 = _mm512_fmadd_ps(a, b0, c50); c51 = _mm512_fmadd_ps(a, b1, c51);
        a = _mm512_set1_ps(a6[k]); c60 = _mm512_fmadd_ps(a, b0, c60); c61 = _mm512_fmadd_ps(a, b1, c61);
        a = _mm512_set1_ps(a7[k]); c70 = _mm512_fmadd_ps(a, b0, c70); c71 = _mm512_fmadd_ps(a, b1, c71);
    }
    _mm512_mask_storeu_ps(C, k0, c00);           _mm512_mask_storeu_ps(C + 16, k1, c01);
    _mm512_mask_storeu_ps(C + ldc, k0, c10);     _mm512_mask_storeu_ps(C + ldc + 16, k1, c11);
    _mm512_mask_storeu_ps(C + 2 * ldc, k0, c20); _mm512_mask_storeu_ps(C + 2 * ldc + 16, k1, c21);
    _mm512_mask_storeu_ps(C + 3 * ldc, k0, c30); _mm512_mask_storeu_ps(C + 3 * ldc + 16, k1, c31);
    _mm512_mask_storeu_ps(C + 4 * ldc, k0, c40); _mm512_mask_storeu_ps(C + 4 * ldc + 16, k1, c41);
    _mm512_mask_storeu_ps(C + 5 * ldc, k0, c50); _mm512_mask_storeu_ps(C + 5 * ldc + 16, k1, c51);
    _mm512_mask_storeu_ps(C + 6 * ldc, k0, c60); _mm512_mask_storeu_ps(C + 6 * ldc + 16, k1, c61);
    _mm512_mask_storeu_ps(C + 7 * ldc, k0, c70); _mm512_mask_storeu_ps(C + 7 * ldc + 16, k1, c71);
}

/* the last m < MR rows, one at a time (a few rows per product) */
__attribute__((target("avx512f"))) static void block_rows(size_t m, size_t K, const float *A, size_t lda,
                                                           const float *B, float *C, size_t ldc,
                                                           __mmask16 k0, __mmask16 k1)
{
    for (size_t i = 0; i < m; i++) {
        __m512 c0 = _mm512_setzero_ps(), c1 = c0;
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
                                                             const float *B, float *C, size_t ldc, size_t nvalid)
{
    __mmask16 k0 = nvalid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nvalid) - 1);
    __mmask16 k1 = nvalid >= 32 ? (__mmask16)0xFFFF : nvalid > 16 ? (__mmask16)((1u << (nvalid - 16)) - 1) : 0;
    size_t m0 = 0;
    for (; m0 + MR <= M; m0 += MR) block_full(K, A + m0 * lda, lda, B, C + m0 * ldc, ldc, k0, k1);
    if (m0 < M) block_rows(M - m0, K, A + m0 * lda, lda, B, C + m0 * ldc, ldc, k0, k1);
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
                  size_t nvalid)
{
#ifdef PV_HAVE_AVX512_KERNEL
    if (has_avx512()) {
        panel_avx512(M, K, A, lda, B, C, ldc, nvalid);
        return;
    }
#endif
    panel_portable(M, K, A, lda, B, C, ldc, nvalid);
}

void pv_gemm_panels(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *Bp, float *C,
                    size_t ldc)
{
    /* C (M, N) = A (M, K) @ B (K, N), B given as pv_panels(N) panels of (K, NR); C overwritten */
    for (size_t p = 0; p < pv_panels(N); p++) {
        size_t n0 = p * NR;
        panel(M, K, A, lda, Bp + p * K * NR, C + n0, ldc, N - n0 < NR ? N - n0 : NR);
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
     * B[:, 32q : 32q + 32]. Each 32-column panel of B^T is unpacked into work (K x NR). */
    const size_t kp = pv_panels(K);
    for (size_t n0 = 0; n0 < N; n0 += NR) {
        size_t nv = N - n0 < NR ? N - n0 : NR;
        for (size_t q = 0; q < kp; q++)                    /* work[32q + i][j] = B[n0 + j][32q + i] */
            for (size_t j = 0; j < NR; j++) {
                const float *src = Bp + (q * N + n0 + j) * NR;
                for (size_t i = 0; i < NR; i++) work[(q * NR + i) * NR + j] = j < nv ? src[i] : 0.0f;
            }
        panel(M, K, A, lda, work, C + n0, ldc, nv);
    }
}
