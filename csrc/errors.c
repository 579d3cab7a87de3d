/* errors.c — status messages and overflow-checked size arithmetic.
 *
 * Kernels never print, exit or abort: they fill a pv_error ("file:line: message") that
 * module.c turns into a Python exception after it has taken the GIL back.
 */
#include "pyvis.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

pv_status pv_fail(pv_error *err, pv_status code, const char *file, int line, const char *fmt, ...)
{
    if (err == NULL) return code;
    const char *base = strrchr(file, '/');
    int k = snprintf(err->msg, sizeof err->msg, "%s:%d: ", base ? base + 1 : file, line);
    if (k < 0 || (size_t)k >= sizeof err->msg) k = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + k, sizeof err->msg - (size_t)k, fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

int pv_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return 1;
    *out = a * b;
    return 0;
}

size_t pv_mul_sat(size_t a, size_t b)
{
    size_t out;
    return pv_mul_size(a, b, &out) ? SIZE_MAX : out;
}

int pv_add_size(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a) return 1;
    *out = a + b;
    return 0;
}
