/* One RAdam step of K stacked configs in one pass over memory, element for element the
 * float32 operations of the torch calls in _radam.py (which equal torch.optim.RAdam's
 * single-tensor path bit for bit; built and checked as _fused_rms.c is, see _native.py).
 * Per config c:
 *
 *   p = p * decay                      p.mul_(1 - lr * wd)         (every config, where any
 *                                      has decoupled decay: 1.0 for the others, as the calls)
 *   g = fma(p, wd, g)                  g.add(p, alpha=wd)          (L2: DECAY in mode[c])
 *   m = fma(w, g - m, m)               m.lerp_(g, w), w = 1 - beta1, |w| < 0.5
 *   m = fma(w - 1, g - m, g)           m.lerp_(g, w), otherwise
 *   v = v * beta2                      v.mul_(beta2)
 *   v = fma((1 - beta2) * g, g, v)     v.addcmul_(g, g, value=1 - beta2)
 *   u = (m / bias1) * lr               m / (1 - beta1**t) * lr
 *   a = (1 / (sqrt(v) + eps)) * sb2    v.sqrt().add_(eps).reciprocal_().mul_(sqrt(1 - beta2**t))
 *   u = (u * a) * rect                 (rectified this step: rect != 0)
 *   p = p - u                          p.add_(u, alpha=-1.0)
 *
 * Every FMA is an explicit fmaf() and the file is compiled with -ffp-contract=off. decay,
 * lr, bias1, sb2 and rect are float32 values rounded once from Python doubles, read per
 * step; rect is 0 for a config not rectified at this step.
 */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "_fused_root.h"

enum { DECAY = 1 };

typedef struct {
    int64_t k, n, stride;    /* configs; elements per config; distance between configs */
    float *p, *m, *v;        /* (K, stride) each, updated in place */
    const float *g;
    const int32_t *mode;     /* (K,) DECAY: L2 weight decay */
    const float *decay;      /* (K,) this step's 1 - lr * wd, or NULL: no decoupled decay */
    const float *wd;         /* (K,) */
    const float *w1;         /* (K,) 1 - beta1 */
    const float *beta2;      /* (K,) */
    const float *c2;         /* (K,) 1 - beta2 */
    const float *eps;        /* (K,) */
    const float *lr;         /* (K,) this step's lr */
    const float *bias1;      /* (K,) this step's 1 - beta1**t */
    const float *sb2;        /* (K,) this step's sqrt(1 - beta2**t) */
    const float *rect;       /* (K,) this step's r_t, or 0: not rectified at this step */
    int64_t clamp;           /* 1: sqrt(x) as sqrt(FLT_MIN) where 0 <= x < FLT_MIN (exact) */
    vsqrt_fn vsqrt;
    int64_t vsqrt_mode;
} radam_args;

/* The first pass over a block of one config; the flags are constants at each call, so
 * the compiler makes a vectorized loop for each case. */
static inline __attribute__((always_inline)) void radam_first(
    int64_t nb, float *restrict p, const float *restrict g, float *restrict m,
    float *restrict v, float *restrict buf, float decay, float wd, float coeff, int small,
    float b2, float c2, int64_t clamp, const int decoupled, const int l2)
{
    for (int64_t j = 0; j < nb; j++) {
        float pj = p[j], gj = g[j];
        if (decoupled) {
            pj = pj * decay;
            p[j] = pj;
        }
        if (l2) gj = fmaf(pj, wd, gj);
        const float mj = m[j];
        m[j] = fmaf(coeff, gj - mj, small ? mj : gj);
        float vj = v[j] * b2;
        vj = fmaf(c2 * gj, gj, vj);
        v[j] = vj;
        buf[j] = (clamp && vj >= 0.0f && vj < FLT_MIN) ? FLT_MIN : vj;
    }
}

void optiscope_radam_step(const radam_args *a)
{
    float buf[BLOCK];
    for (int64_t c = 0; c < a->k; c++) {
        float *restrict p = a->p + c * a->stride;
        float *restrict m = a->m + c * a->stride;
        float *restrict v = a->v + c * a->stride;
        const float *restrict g = a->g + c * a->stride;
        const int l2 = (a->mode[c] & DECAY) != 0;
        const float decay = a->decay ? a->decay[c] : 1.0f, wd = a->wd[c];
        const float w = a->w1[c], b2 = a->beta2[c], c2 = a->c2[c], eps = a->eps[c];
        const float lr = a->lr[c], bias1 = a->bias1[c], sb2 = a->sb2[c], rect = a->rect[c];
        const int small = fabsf(w) < 0.5f; /* torch's is_lerp_weight_small */
        const float coeff = small ? w : w - 1.0f;
        for (int64_t i0 = 0; i0 < a->n; i0 += BLOCK) {
            const int64_t nb = a->n - i0 < BLOCK ? a->n - i0 : BLOCK;
            float *restrict pb = p + i0, *restrict mb = m + i0, *restrict vb = v + i0;
            const float *restrict gb = g + i0;
#define FIRST(D, L) \
    radam_first(nb, pb, gb, mb, vb, buf, decay, wd, coeff, small, b2, c2, a->clamp, D, L)
            if (a->decay) {
                if (l2) FIRST(1, 1); else FIRST(1, 0);
            } else {
                if (l2) FIRST(0, 1); else FIRST(0, 0);
            }
#undef FIRST
            if (rect == 0.0f) { /* not rectified at this step: plain momentum */
                for (int64_t j = 0; j < nb; j++) pb[j] = pb[j] - (mb[j] / bias1) * lr;
                continue;
            }
            root(buf, nb, a->vsqrt, a->vsqrt_mode);
            for (int64_t j = 0; j < nb; j++) {
                const float adaptive = (1.0f / (buf[j] + eps)) * sb2;
                pb[j] = pb[j] - (((mb[j] / bias1) * lr) * adaptive) * rect;
            }
        }
    }
}

/* The square root the step takes, alone: for checking it against torch.sqrt. */
void optiscope_radam_sqrt(const float *in, float *out, int64_t n, vsqrt_fn vsqrt, int64_t mode)
{
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        const int64_t nb = n - i0 < BLOCK ? n - i0 : BLOCK;
        for (int64_t j = 0; j < nb; j++) out[i0 + j] = in[i0 + j];
        root(out + i0, nb, vsqrt, mode);
    }
}
