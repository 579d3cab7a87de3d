/* blas.h — the single include of cblas.
 *
 * pyvis links either a system OpenBLAS (found by pkg-config; plain cblas_* names) or the
 * scipy-openblas32 wheel's library, whose symbols carry a `scipy_` prefix. setup.py defines
 * PYVIS_SCIPY_OPENBLAS in the second case. Kernels call pv_sgemm only; BLAS always runs on one
 * thread because our own OpenMP loops split the work (two thread pools on two cores fight).
 */
#ifndef PYVIS_BLAS_H
#define PYVIS_BLAS_H

#include <cblas.h>

#ifdef PYVIS_SCIPY_OPENBLAS
#define pv_cblas_sgemm scipy_cblas_sgemm
#define pv_openblas_set_num_threads scipy_openblas_set_num_threads
#else
#define pv_cblas_sgemm cblas_sgemm
#define pv_openblas_set_num_threads openblas_set_num_threads
void openblas_set_num_threads(int);
#endif

/* Row-major C[M,N] = alpha * op(A) op(B) + beta * C. */
static inline void pv_sgemm(int trans_a, int trans_b, size_t M, size_t N, size_t K, float alpha,
                            const float *A, size_t lda, const float *B, size_t ldb, float beta,
                            float *C, size_t ldc)
{
    pv_cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                   trans_b ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N, (blasint)K, alpha,
                   A, (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
}

#endif
