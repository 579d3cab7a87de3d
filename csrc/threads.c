/* threads.c — the one thread-count knob for pyvis.
 *
 * Our kernels parallelise with OpenMP `num_threads(pv_get_num_threads())` and call BLAS
 * single-threaded inside those regions, so one number governs everything and the two
 * libraries never oversubscribe the cores. The default is every core OpenMP sees.
 */
#include "pyvis.h"
#include "blas.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static int pv_threads = 0;   /* 0 = not decided yet */

void pv_set_num_threads(int n)
{
    if (n < 1) n = 1;
    pv_threads = n;
    pv_openblas_set_num_threads(1);
}

int pv_get_num_threads(void)
{
    if (pv_threads == 0) {
#ifdef _OPENMP
        pv_set_num_threads(omp_get_num_procs());
#else
        pv_set_num_threads(1);
#endif
    }
    return pv_threads;
}
