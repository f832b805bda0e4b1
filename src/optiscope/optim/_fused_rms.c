/* One RMSprop or Adagrad step of K stacked configs in one pass over memory, element for
 * element the float32 operations of the torch calls in _rmsprop.py and _adagrad.py (which
 * equal torch.optim's single-tensor path bit for bit; see _native.py for how this file is
 * built and checked). Per config c, with the flags of `mode[c]`:
 *
 * RMSprop
 *   g  = fma(p, wd, g)                 g.add(p, alpha=wd)                (DECAY)
 *   v  = v * alpha                     v.mul_(alpha)
 *   v  = fma((1 - alpha) * g, g, v)    v.addcmul_(g, g, value=1 - alpha)
 *   ga = fma(w, g - ga, ga)            ga.lerp_(g, w), w = 1 - alpha, |w| < 0.5
 *   ga = fma(w - 1, g - ga, g)         ga.lerp_(g, w), otherwise         (every config, where
 *                                      any is centered: the torch calls update every slice)
 *   x  = fma(-ga, ga, v)               v.addcmul(ga, ga, value=-1)       (CENTERED)
 *   x  = v                             (otherwise)
 *   d  = sqrt(x) + eps                 .sqrt_().add_(eps)
 *   b  = b * mu + g / d                b.mul_(mu).addcdiv_(g, d)         (every config, where
 *                                      any has momentum)
 *   p  = fma(b, -lr, p)                p.add_(b, alpha=-lr)              (MOMENTUM)
 *   p  = p + (-lr * g) / d             p.addcdiv_(g, d, value=-lr)       (otherwise)
 *
 * Adagrad
 *   g  = fma(p, wd, g)                 g.add(p, alpha=wd)                (DECAY)
 *   s  = fma(g, g, s)                  s.addcmul_(g, g, value=1)
 *   d  = sqrt(s) + eps                 s.sqrt().add_(eps)
 *   p  = p + (-clr * g) / d            p.addcdiv_(g, d, value=-clr)
 *
 * Every FMA is an explicit fmaf() and the file is compiled with -ffp-contract=off, so no
 * other product is fused (which torch ops fuse is checked against torch by the tests).
 * Per-config scalars are float32 values rounded once from Python doubles, as torch rounds
 * its scalars; -lr and -clr are read per step (a schedule, lr_decay).
 *
 * Elements are handled in blocks that stay in the L1 cache, so the two passes around the
 * square root read memory once.
 */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "_fused_root.h"

enum { DECAY = 1, CENTERED = 2, MOMENTUM = 4 };

typedef struct {
    int64_t k, n, stride;    /* configs; elements per config; distance between configs */
    float *p, *v;            /* (K, stride) each, updated in place: params, square_avg */
    float *ga;               /* (K, stride) grad_avg, or NULL: no config is centered */
    float *b;                /* (K, stride) momentum buffer, or NULL: no config has momentum */
    const float *g;
    const int32_t *mode;     /* (K,) DECAY | CENTERED | MOMENTUM */
    const float *wd;         /* (K,) */
    const float *alpha;      /* (K,) */
    const float *w;          /* (K,) 1 - alpha */
    const float *eps;        /* (K,) */
    const float *mu;         /* (K,) momentum */
    const float *neg_lr;     /* (K,) -lr, this step */
    int64_t clamp;           /* 1: sqrt(x) as sqrt(FLT_MIN) where 0 <= x < FLT_MIN (exact:
                                the caller proved sqrt(FLT_MIN) + eps == eps for every config) */
    vsqrt_fn vsqrt;
    int64_t vsqrt_mode;
} rmsprop_args;

typedef struct {
    int64_t k, n, stride;
    float *p, *s;            /* (K, stride) each, updated in place: params, sum */
    const float *g;
    const int32_t *mode;     /* (K,) DECAY */
    const float *wd;         /* (K,) */
    const float *eps;        /* (K,) */
    const float *neg_clr;    /* (K,) -lr / (1 + (t - 1) * lr_decay), this step */
    int64_t clamp;           /* as for RMSprop */
    vsqrt_fn vsqrt;
    int64_t vsqrt_mode;
} adagrad_args;

/* The square root's argument, clamped where that is exact (a NaN or a negative number
 * fails the first comparison and keeps its NaN square root). */
static inline float clamped(float x, int64_t clamp)
{
    return (clamp && x >= 0.0f && x < FLT_MIN) ? FLT_MIN : x;
}

/* The first pass over a block of one config: gradient (with decay), square_avg, grad_avg
 * and the square root's argument. The flags are constants at each call below, so the
 * compiler makes a vectorized loop for each case (one loop that tests them does not vectorize). */
static inline __attribute__((always_inline)) void rms_first(
    int64_t nb, const float *restrict p, const float *restrict g, float *restrict v,
    float *restrict ga, float *restrict grad, float *restrict buf, float wd, float alpha,
    float w, float coeff, int small, int64_t clamp, const int decay, const int average,
    const int centered)
{
    for (int64_t j = 0; j < nb; j++) {
        float gj = g[j];
        if (decay) gj = fmaf(p[j], wd, gj);
        float vj = v[j] * alpha;
        vj = fmaf(w * gj, gj, vj);
        v[j] = vj;
        float x = vj;
        if (average) {
            const float gaj = ga[j];
            const float next = fmaf(coeff, gj - gaj, small ? gaj : gj);
            ga[j] = next;
            if (centered) x = fmaf(-next, next, vj);
        }
        grad[j] = gj;
        buf[j] = clamped(x, clamp);
    }
}

void optiscope_rmsprop_step(const rmsprop_args *a)
{
    float buf[BLOCK], grad[BLOCK];
    for (int64_t c = 0; c < a->k; c++) {
        float *restrict p = a->p + c * a->stride;
        float *restrict v = a->v + c * a->stride;
        float *restrict ga = a->ga ? a->ga + c * a->stride : NULL;
        float *restrict b = a->b ? a->b + c * a->stride : NULL;
        const float *restrict g = a->g + c * a->stride;
        const int32_t mode = a->mode[c];
        const int decay = (mode & DECAY) != 0, centered = (mode & CENTERED) != 0;
        const float wd = a->wd[c], alpha = a->alpha[c], w = a->w[c], eps = a->eps[c];
        const float mu = a->mu[c], neg_lr = a->neg_lr[c];
        const int small = fabsf(w) < 0.5f; /* torch's is_lerp_weight_small */
        const float coeff = small ? w : w - 1.0f;
        for (int64_t i0 = 0; i0 < a->n; i0 += BLOCK) {
            const int64_t nb = a->n - i0 < BLOCK ? a->n - i0 : BLOCK;
            float *restrict pb = p + i0, *restrict vb = v + i0;
            float *restrict gab = ga ? ga + i0 : NULL;
            const float *restrict gb = g + i0;
#define FIRST(D, A, C) \
    rms_first(nb, pb, gb, vb, gab, grad, buf, wd, alpha, w, coeff, small, a->clamp, D, A, C)
            if (!ga) {
                if (decay) FIRST(1, 0, 0); else FIRST(0, 0, 0);
            } else if (centered) {
                if (decay) FIRST(1, 1, 1); else FIRST(0, 1, 1);
            } else {
                if (decay) FIRST(1, 1, 0); else FIRST(0, 1, 0);
            }
#undef FIRST
            root(buf, nb, a->vsqrt, a->vsqrt_mode);
            if (!b) {
                for (int64_t j = 0; j < nb; j++) {
                    pb[j] = pb[j] + (neg_lr * grad[j]) / (buf[j] + eps);
                }
                continue;
            }
            float *restrict bb = b + i0;
            if (mode & MOMENTUM) {
                for (int64_t j = 0; j < nb; j++) {
                    const float bj = bb[j] * mu + grad[j] / (buf[j] + eps);
                    bb[j] = bj;
                    pb[j] = fmaf(bj, neg_lr, pb[j]);
                }
            } else { /* (the buffer as the torch calls leave it; torch never reads it) */
                for (int64_t j = 0; j < nb; j++) {
                    const float d = buf[j] + eps;
                    bb[j] = bb[j] * mu + grad[j] / d;
                    pb[j] = pb[j] + (neg_lr * grad[j]) / d;
                }
            }
        }
    }
}

void optiscope_adagrad_step(const adagrad_args *a)
{
    float buf[BLOCK], grad[BLOCK];
    for (int64_t c = 0; c < a->k; c++) {
        float *restrict p = a->p + c * a->stride;
        float *restrict s = a->s + c * a->stride;
        const float *restrict g = a->g + c * a->stride;
        const int32_t mode = a->mode[c];
        const float wd = a->wd[c], eps = a->eps[c], neg_clr = a->neg_clr[c];
        for (int64_t i0 = 0; i0 < a->n; i0 += BLOCK) {
            const int64_t nb = a->n - i0 < BLOCK ? a->n - i0 : BLOCK;
            for (int64_t j = 0; j < nb; j++) {
                const int64_t i = i0 + j;
                float gj = g[i];
                if (mode & DECAY) gj = fmaf(p[i], wd, gj);
                const float sj = fmaf(gj, gj, s[i]);
                s[i] = sj;
                grad[j] = gj;
                buf[j] = clamped(sj, a->clamp);
            }
            root(buf, nb, a->vsqrt, a->vsqrt_mode);
            for (int64_t j = 0; j < nb; j++) {
                const int64_t i = i0 + j;
                p[i] = p[i] + (neg_clr * grad[j]) / (buf[j] + eps);
            }
        }
    }
}

/* The square root the steps take, alone: for checking it against torch.sqrt. */
void optiscope_rms_sqrt(const float *in, float *out, int64_t n, vsqrt_fn vsqrt, int64_t mode)
{
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        const int64_t nb = n - i0 < BLOCK ? n - i0 : BLOCK;
        for (int64_t j = 0; j < nb; j++) out[i0 + j] = in[i0 + j];
        root(out + i0, nb, vsqrt, mode);
    }
}
