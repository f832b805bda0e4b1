/* One Adam/AdamW step of K stacked configs in one pass over memory, element for element the
 * float32 operations torch.optim's single-tensor path runs on the CPU (see _native.py):
 *
 *   p = p * decay                      p.mul_(1 - lr * wd)              (AdamW, wd != 0)
 *   g = fma(p, wd, g)                  g.add(p, alpha=wd): a + alpha*b  (Adam, wd != 0)
 *   m = fma(w, g - m, m)               m.lerp_(g, w), |w| < 0.5
 *   m = fma(w - 1, g - m, g)           m.lerp_(g, w), otherwise
 *   v = v * beta2                      v.mul_(beta2)
 *   v = fma((1 - beta2) * g, g, v)     v.addcmul_(g, g, value=1 - beta2)
 *   d = sqrt(v)                        v.sqrt()     (torch's own sqrt: see `vsqrt` below)
 *   d = d / bias2 + eps                (.. / bias_correction2_sqrt).add_(eps)
 *   p = p + (s * m) / d                p.addcdiv_(m, denom, value=s), s = -lr / bias1
 *
 * torch's CPU kernels for these ops use fused multiply-adds on their vector path and (the
 * compiler contracting them) on the scalar tail too; here every FMA is an explicit fmaf() and
 * the file is compiled with -ffp-contract=off, so no other product is fused. Per-config
 * scalars are float32 values rounded once from Python doubles, as torch rounds its scalars.
 *
 * Elements are handled in blocks small enough to stay in the L1/L2 cache, so the two passes
 * around the square root read memory once.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>

/* A square root over an array: torch's own (MKL's vmsSqrt where torch uses it: on some CPUs
 * it is not the correctly rounded square root) or NULL for the correctly rounded sqrtf. */
typedef void (*vsqrt_fn)(int n, const float *a, float *r, int64_t mode);

#define BLOCK 1024

typedef struct {
    int64_t k, n, stride;    /* configs; elements per config; distance between configs */
    float *p, *m, *v;        /* (K, stride) each, updated in place */
    const float *g;
    const float *decay;      /* (K,) or NULL: no decoupled decay (AdamW with wd == 0, Adam) */
    const float *wd;         /* (K,) or NULL: no L2 term (AdamW; Adam where every wd == 0) */
    const float *w1;         /* (K,) 1 - beta1 */
    const float *beta2;      /* (K,) */
    const float *c2;         /* (K,) 1 - beta2 */
    const float *eps;        /* (K,) */
    const float *bias2;      /* (K,) sqrt(1 - beta2**t), this step */
    const float *step;       /* (K,) -lr / (1 - beta1**t), this step */
    int64_t clamp;           /* 1: sqrt(max(v, FLT_MIN)) (the caller proved it exact) */
    vsqrt_fn vsqrt;
    int64_t vsqrt_mode;
} adam_args;

static void root(float *buf, int64_t nb, const adam_args *a)
{
    if (a->vsqrt) {
        a->vsqrt((int)nb, buf, buf, a->vsqrt_mode);
    } else {
        for (int64_t j = 0; j < nb; j++) buf[j] = sqrtf(buf[j]);
    }
}

void optiscope_adam_step(const adam_args *a)
{
    float buf[BLOCK];
    for (int64_t c = 0; c < a->k; c++) {
        float *restrict p = a->p + c * a->stride;
        float *restrict m = a->m + c * a->stride;
        float *restrict v = a->v + c * a->stride;
        const float *restrict g = a->g + c * a->stride;
        const float decay = a->decay ? a->decay[c] : 1.0f;
        const float wd = a->wd ? a->wd[c] : 0.0f;
        const float w = a->w1[c], b2 = a->beta2[c], c2 = a->c2[c];
        const float bias2 = a->bias2[c], eps = a->eps[c], s = a->step[c];
        const int small = fabsf(w) < 0.5f; /* torch's is_lerp_weight_small */
        const float coeff = small ? w : w - 1.0f;
        for (int64_t i0 = 0; i0 < a->n; i0 += BLOCK) {
            const int64_t nb = a->n - i0 < BLOCK ? a->n - i0 : BLOCK;
            float *restrict pb = p + i0, *restrict mb = m + i0, *restrict vb = v + i0;
            const float *restrict gb = g + i0;
            for (int64_t j = 0; j < nb; j++) {
                float pj = pb[j], gj = gb[j], mj = mb[j], vj = vb[j];
                if (decay != 1.0f) pj = pj * decay; /* torch skips it where wd == 0 */
                if (wd != 0.0f) gj = fmaf(pj, wd, gj);
                mj = fmaf(coeff, gj - mj, small ? mj : gj);
                vj = vj * b2;
                vj = fmaf(c2 * gj, gj, vj);
                pb[j] = pj;
                mb[j] = mj;
                vb[j] = vj;
                /* (a NaN fails the comparison and stays NaN, as in torch.clamp_min) */
                buf[j] = (a->clamp && vj < FLT_MIN) ? FLT_MIN : vj;
            }
            root(buf, nb, a);
            for (int64_t j = 0; j < nb; j++) {
                const float d = buf[j] / bias2 + eps;
                pb[j] = pb[j] + (s * mb[j]) / d;
            }
        }
    }
}

/* The square root the step takes, alone: for checking it against torch.sqrt. */
void optiscope_sqrt(const float *in, float *out, int64_t n, vsqrt_fn vsqrt, int64_t mode)
{
    adam_args a = {0};
    a.vsqrt = vsqrt;
    a.vsqrt_mode = mode;
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        const int64_t nb = n - i0 < BLOCK ? n - i0 : BLOCK;
        for (int64_t j = 0; j < nb; j++) out[i0 + j] = in[i0 + j];
        root(out + i0, nb, &a);
    }
}
