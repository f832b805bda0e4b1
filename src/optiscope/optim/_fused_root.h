/* The square root the RMSprop, Adagrad, NAdam and RAdam kernels take over a block (included
 * by _fused_rms.c, _fused_nadam.c and _fused_radam.c; _native.py hashes it with them).
 *
 * torch's own square root over an array (MKL's vmsSqrt where torch uses it: on some CPUs it
 * is not the correctly rounded square root), or NULL for the correctly rounded sqrtf.
 *
 * MKL takes a slow path for NaN, infinite and negative inputs (a block with 10% of them took
 * 1.5-2.3x as long on the AMD EPYC), which a diverged config fills its state with. Those
 * elements get sqrtf's value instead: NaN for NaN and negative numbers, +inf for +inf, as
 * vmsSqrt gives (the NaN's sign or payload may differ; every check compares NaN as NaN).
 */
#ifndef OPTISCOPE_FUSED_ROOT_H
#define OPTISCOPE_FUSED_ROOT_H

#include <math.h>
#include <stdint.h>

typedef void (*vsqrt_fn)(int n, const float *a, float *r, int64_t mode);

#define BLOCK 1024

/* (& rather than &&: no branch, so the loops that test it are vectorized) */
static inline int ordinary(float x) { return (x >= 0.0f) & (x < INFINITY); }

static void root(float *buf, int64_t nb, vsqrt_fn vsqrt, int64_t mode)
{
    if (!vsqrt) {
        for (int64_t j = 0; j < nb; j++) buf[j] = sqrtf(buf[j]);
        return;
    }
    int special = 0;
    for (int64_t j = 0; j < nb; j++) special |= !ordinary(buf[j]);
    if (!special) {
        vsqrt((int)nb, buf, buf, mode);
        return;
    }
    float kept[BLOCK];
    for (int64_t j = 0; j < nb; j++) {
        kept[j] = buf[j];
        buf[j] = ordinary(buf[j]) ? buf[j] : 1.0f;
    }
    vsqrt((int)nb, buf, buf, mode);
    for (int64_t j = 0; j < nb; j++) {
        if (!ordinary(kept[j])) buf[j] = sqrtf(kept[j]);
    }
}

#endif
