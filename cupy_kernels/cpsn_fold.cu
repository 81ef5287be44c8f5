// The per-channel arithmetic of the BatchNorm threshold, one launch each: the effective kernel
// (the threshold folded into the taps and the bias, then the power-of-two quantizer; the
// equations are in spikingjelly_mulfree/functional/threshold.py and quantize.py), its gradient,
// and the running statistics; cpsn_moments_fold also takes the batch moments' final reduction
// first (a training forward's). One thread per channel c:
//
//   s = gamma[c] / sqrt(var[c] + eps);   wf[c, i] = Q(w[c, i] s);   bf[c] = beta[c] - mean[c] s
//
// With mean == NULL there is no BatchNorm (s = 1, bf untouched); with quant == 0 no quantizer.
// The backward kernel takes dL/dwf and dL/dbf (the quantizer's gradient is the identity) and
// writes the gradients of w, mean, var, gamma and beta; those of the mean and the variance
// divided by mean_div and multiplied by var_scale (1 and 1 for the plain gradients; n and 2 / n
// give the coefficients of the moments' backward over n elements per channel).
//
// Tensors are in the accumulator type A (float or double): w, wf, gwf, gw: [C, k]; the rest [C];
// g4: [4, C] = (d mean, d var, d gamma, d beta).
#include "sjm_common.cuh"

// Smallest mantissa field of a float / double whose significand 1.f exceeds sqrt 2, so that
// round(log2 |v|) = e + (f >= threshold) for v = 2^e * 1.f (sqrt 2 is irrational: no tie).
#define SJM_SQRT2_FRAC_F32 0x3504f4u
#define SJM_SQRT2_FRAC_F64 0x6a09e667f3bcdull

// Q(v) on the bits: the exponent rounded in the log2 domain, clamped to max_exp, 0 below
// min_exp; Q(0) = 0, Q(NaN) = NaN (a diverged weight stays visible) and Q(+-inf) =
// +-2^max_exp, as the torch quantizer gives. A result beyond the type's range is +-inf
// (overflow) or 0 (below the smallest subnormal).
SJM_INLINE float sjm_pow2_round(float v, int min_exp, int max_exp) {
    const unsigned u = sjm_as_uint(v), mag = u & 0x7fffffffu;
    if (mag > 0x7f800000u) return v;
    if (mag == 0) return 0.0f;
    int e = max_exp;
    if (mag < 0x7f800000u) {
        unsigned f;
        e = sjm_exponent(mag, f);
        e += f >= SJM_SQRT2_FRAC_F32;
    }
    if (e < min_exp) return 0.0f;
    if (e > max_exp) e = max_exp;
    unsigned bits = 0x7f800000u;                                   // 2^e >= 2^128: inf
    if (e < -149) bits = 0u;                                        // below 2^-149: 0
    else if (e < -126) bits = 1u << (e + 149);                      // subnormal
    else if (e < 128) bits = (unsigned)(e + 127) << 23;
    return sjm_as_float(bits | (u & 0x80000000u));
}

SJM_INLINE double sjm_pow2_round(double v, int min_exp, int max_exp) {
    const unsigned long long u = sjm_as_ull(v), mag = u & 0x7fffffffffffffffull;
    const unsigned long long inf = 0x7ff0000000000000ull;
    if (mag > inf) return v;
    if (mag == 0) return 0.0;
    int e = max_exp;
    if (mag < inf) {
        unsigned long long f;
        e = sjm_exponent(mag, f);
        e += f >= SJM_SQRT2_FRAC_F64;
    }
    if (e < min_exp) return 0.0;
    if (e > max_exp) e = max_exp;
    unsigned long long bits = inf;
    if (e < -1074) bits = 0ull;
    else if (e < -1022) bits = 1ull << (e + 1074);
    else if (e < 1024) bits = (unsigned long long)(e + 1023) << 52;
    return sjm_as_double(bits | (u & 0x8000000000000000ull));
}

// Channel c's effective taps wf[c, :] (and bias bf[c] with a BatchNorm).
template <typename A>
SJM_INLINE void sjm_fold_channel(sjm_i64 c, const A* __restrict__ w, const A* __restrict__ mean,
                                 const A* __restrict__ var, const A* __restrict__ gamma,
                                 const A* __restrict__ beta, A* __restrict__ wf,
                                 A* __restrict__ bf, int k, A eps, int quant, int min_exp,
                                 int max_exp) {
    A s = (A)1;
    if (mean) {
        s = gamma[c] * ((A)1 / sqrt(var[c] + eps));
        bf[c] = beta[c] - mean[c] * s;
    }
    for (int i = 0; i < k; ++i) {
        const A v = mean ? w[c * k + i] * s : w[c * k + i];
        wf[c * k + i] = quant ? sjm_pow2_round(v, min_exp, max_exp) : v;
    }
}

template <typename A>
SJM_INLINE void cpsn_fold(const A* __restrict__ w, const A* __restrict__ mean,
                          const A* __restrict__ var, const A* __restrict__ gamma,
                          const A* __restrict__ beta, A* __restrict__ wf, A* __restrict__ bf,
                          int C, int k, A eps, int quant, int min_exp, int max_exp) {
    SJM_FOR_ITEMS(c, C) {
        sjm_fold_channel(c, w, mean, var, gamma, beta, wf, bf, k, eps, quant, min_exp, max_exp);
    }
}

// The moments' final stage (cpsn_reduce_moments of cpsn_reduce.cu) and the fold in one launch,
// a channel an item: the batch mean and variance, then the effective kernel from them.
template <typename A>
SJM_INLINE void cpsn_moments_fold(const A* __restrict__ part, A* __restrict__ mean,
                                  A* __restrict__ var, int ny, int C, int S,
                                  const A* __restrict__ w, const A* __restrict__ gamma,
                                  const A* __restrict__ beta, A* __restrict__ wf,
                                  A* __restrict__ bf, int k, A eps, int quant, int min_exp,
                                  int max_exp) {
    SJM_FOR_ITEMS(c, C) {
        sjm_channel_moments(part, c, mean, var, ny, C, S);
        sjm_fold_channel(c, w, mean, var, gamma, beta, wf, bf, k, eps, quant, min_exp, max_exp);
    }
}

template <typename A>
SJM_INLINE void cpsn_fold_backward(const A* __restrict__ w, const A* __restrict__ mean,
                                   const A* __restrict__ var, const A* __restrict__ gamma,
                                   const A* __restrict__ gwf, const A* __restrict__ gbf,
                                   A* __restrict__ gw, A* __restrict__ g4, int C, int k, A eps,
                                   A mean_div, A var_scale) {
    SJM_FOR_ITEMS(c, C) {
        const A r = (A)1 / sqrt(var[c] + eps);
        const A s = gamma[c] * r;
        A gs = (A)0;  // dL/ds
        for (int i = 0; i < k; ++i) {
            const A g = gwf[c * k + i];
            gw[c * k + i] = g * s;
            gs += g * w[c * k + i];
        }
        gs -= gbf[c] * mean[c];
        g4[c] = -gbf[c] * s / mean_div;
        g4[C + c] = gs * gamma[c] * ((A)-0.5 * r * r * r) * var_scale;
        g4[2 * C + c] = gs * r;
        g4[3 * C + c] = gbf[c];
    }
}

// A product rounded on its own, which a compiler would otherwise contract with a following add
// into one multiply-add: nvcc does, and so does GCC (-ffp-contract=fast is its default for C++,
// ISO dialects included) once the product sits in a loop it vectorizes; on the host a volatile
// store keeps it apart.
#ifdef SJM_HOST
template <typename A>
SJM_INLINE A sjm_mul_rn(A a, A b) {
    volatile A p = a * b;
    return p;
}
#else
SJM_INLINE float sjm_mul_rn(float a, float b) { return __fmul_rn(a, b); }
SJM_INLINE double sjm_mul_rn(double a, double b) { return __dmul_rn(a, b); }
#endif

// torch's lerp, rounded as torch rounds it on the CPU and the GPU: r + w (v - r) for |w| < 1/2,
// v + (w - 1)(v - r) otherwise, each one fused multiply-add.
template <typename A>
SJM_INLINE A sjm_lerp(A r, A v, A w) {
    const A d = v - r;
    return fabs(w) < (A)0.5 ? fma(w, d, r) : fma(w - (A)1, d, v);
}

// The running statistics, in place, as torch.nn.BatchNorm's exponential average (a lerp with
// weight momentum) of the batch mean and of the batch variance times factor = n / (n - 1),
// which makes it unbiased; the same roundings as the torch version.
template <typename A>
SJM_INLINE void cpsn_running_stats(A* __restrict__ rm, A* __restrict__ rv,
                                   const A* __restrict__ mean, const A* __restrict__ var, int C,
                                   A momentum, A factor) {
    SJM_FOR_ITEMS(c, C) {
        rm[c] = sjm_lerp(rm[c], mean[c], momentum);
        rv[c] = sjm_lerp(rv[c], sjm_mul_rn(var[c], factor), momentum);
    }
}

#define SJM_DEF_FOLD(SUF, A)                                                                    \
    extern "C" __global__ void cpsn_fold_##SUF(const A* w, const A* mean, const A* var,         \
                                               const A* gamma, const A* beta, A* wf, A* bf,     \
                                               int C, int k, A eps, int quant, int min_exp,     \
                                               int max_exp) {                                   \
        cpsn_fold<A>(w, mean, var, gamma, beta, wf, bf, C, k, eps, quant, min_exp, max_exp);    \
    }                                                                                           \
    SJM_EXPORT(cpsn_fold_##SUF)                                                                 \
    extern "C" __global__ void cpsn_moments_fold_##SUF(const A* part, A* mean, A* var, int ny,  \
                                                       int C, int S, const A* w,                \
                                                       const A* gamma, const A* beta, A* wf,    \
                                                       A* bf, int k, A eps, int quant,          \
                                                       int min_exp, int max_exp) {              \
        cpsn_moments_fold<A>(part, mean, var, ny, C, S, w, gamma, beta, wf, bf, k, eps, quant,  \
                             min_exp, max_exp);                                                 \
    }                                                                                           \
    SJM_EXPORT(cpsn_moments_fold_##SUF)                                                         \
    extern "C" __global__ void cpsn_fold_backward_##SUF(const A* w, const A* mean,              \
                                                        const A* var, const A* gamma,           \
                                                        const A* gwf, const A* gbf, A* gw,      \
                                                        A* g4, int C, int k, A eps,             \
                                                        A mean_div, A var_scale) {              \
        cpsn_fold_backward<A>(w, mean, var, gamma, gwf, gbf, gw, g4, C, k, eps, mean_div,       \
                              var_scale);                                                       \
    }                                                                                           \
    SJM_EXPORT(cpsn_fold_backward_##SUF)                                                        \
    extern "C" __global__ void cpsn_running_stats_##SUF(A* rm, A* rv, const A* mean,            \
                                                        const A* var, int C, A momentum,        \
                                                        A factor) {                             \
        cpsn_running_stats<A>(rm, rv, mean, var, C, momentum, factor);                          \
    }                                                                                           \
    SJM_EXPORT(cpsn_running_stats_##SUF)

SJM_DEF_FOLD(f32, float)
SJM_DEF_FOLD(f64, double)
