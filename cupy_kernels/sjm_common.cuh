// Shared definitions for the CPSN kernels: storage types, conversions, taps, surrogates.
//
// Compiled by NVRTC / nvcc for the GPU and by the host C++ compiler through sjm_host_shim.h.
// Layout of every tensor: [T, M] row-major, M = N * C * S, channel of column m = (m / S) % C.
// A thread owns SJM_COLS consecutive columns (1 on the GPU: coalesced; more on the host so the
// compiler can vectorise the inner column loops).
#ifndef SJM_COMMON_CUH
#define SJM_COMMON_CUH

#ifndef SJM_COLS
#define SJM_COLS 1
#endif

// Columns accumulated together in registers inside a thread's columns (a divisor of SJM_COLS).
#ifndef SJM_VEC
#define SJM_VEC 1
#endif

#ifndef SJM_HOST
#define SJM_INLINE __device__ __forceinline__
#else
#define SJM_INLINE inline
#endif

#ifndef SJM_EXPORT
#define SJM_EXPORT(name)
#endif

// Prefetch of the next rows a thread will read (the host needs it: its rows are far apart;
// the GPU hides latency with other warps).
#ifndef SJM_AHEAD
#define SJM_AHEAD 4
#endif
#ifdef SJM_HOST
template <typename T>
inline void sjm_prefetch(const T* p, int n) {
    const char* c = (const char*)p;
    for (int b = 0; b < n * (int)sizeof(T); b += 64) __builtin_prefetch(c + b);
}
#else
template <typename T>
__device__ __forceinline__ void sjm_prefetch(const T*, int) {}
#endif

typedef long long sjm_i64;

// 16-bit storage types: raw bits, converted to float for arithmetic.
struct sjm_half { unsigned short bits; };
struct sjm_bf16 { unsigned short bits; };

SJM_INLINE float sjm_as_float(unsigned u) {
#ifdef SJM_HOST
    float f; memcpy(&f, &u, 4); return f;
#else
    return __uint_as_float(u);
#endif
}

SJM_INLINE unsigned sjm_as_uint(float f) {
#ifdef SJM_HOST
    unsigned u; memcpy(&u, &f, 4); return u;
#else
    return __float_as_uint(f);
#endif
}

// Storage <-> accumulator conversions; `acc` is the accumulation type of a storage type.
template <typename TX> struct sjm_io;

template <> struct sjm_io<float> {
    typedef float acc;
    static SJM_INLINE float ld(float v) { return v; }
    static SJM_INLINE float st(float a) { return a; }
};

template <> struct sjm_io<double> {
    typedef double acc;
    static SJM_INLINE double ld(double v) { return v; }
    static SJM_INLINE double st(double a) { return a; }
};

template <> struct sjm_io<sjm_bf16> {
    typedef float acc;
    static SJM_INLINE float ld(sjm_bf16 v) { return sjm_as_float((unsigned)v.bits << 16); }
    static SJM_INLINE sjm_bf16 st(float a) {
        unsigned u = sjm_as_uint(a);
        sjm_bf16 r;
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            r.bits = (unsigned short)((u >> 16) | 0x40u);  // quiet NaN
        } else {
            u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
            r.bits = (unsigned short)(u >> 16);
        }
        return r;
    }
};

template <> struct sjm_io<sjm_half> {
    typedef float acc;
    static SJM_INLINE float ld(sjm_half v) {
#ifdef SJM_HOST
        _Float16 h; memcpy(&h, &v.bits, 2); return (float)h;
#else
        float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v.bits)); return f;
#endif
    }
    static SJM_INLINE sjm_half st(float a) {
        sjm_half r;
#ifdef SJM_HOST
        _Float16 h = (_Float16)a; memcpy(&r.bits, &h, 2);
#else
        asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r.bits) : "f"(a));
#endif
        return r;
    }
};

// A power-of-two tap, encoded by the launcher: 0 = zero weight, otherwise
// code = ((e + 512) << 1) | negative, the weight being (-1)^negative * 2^e.
SJM_INLINE float sjm_shift(float v, int code) {
    if (code == 0) return 0.0f;
    const int e = (code >> 1) - 512;
    const unsigned u = sjm_as_uint(v) ^ ((unsigned)(code & 1) << 31);
    const int ex = (int)((u >> 23) & 0xffu);
    const int ne = ex + e;
    if (ex > 0 && ex < 255 && ne > 0 && ne < 255) {
        return sjm_as_float(u + ((unsigned)e << 23));  // exponent add
    }
    return ldexpf(sjm_as_float(u), e);  // zero, subnormal, inf/nan, or leaving the normal range
}

SJM_INLINE double sjm_shift(double v, int code) {
    if (code == 0) return 0.0;
    return ldexp((code & 1) ? -v : v, (code >> 1) - 512);
}

// One tap: exponent add (MF) or multiply.
template <bool MF, typename A>
SJM_INLINE A sjm_tap(A v, A w, int code) {
    return MF ? sjm_shift(v, code) : v * w;
}

// Backward modes: how dL/dH is formed from the recomputed charge h.
enum {
    SJM_GIVEN = 0,     // dL/dH read from an accumulator-typed input
    SJM_ATAN = 1,      // SpikingJelly ATan:    (alpha/2) / (1 + (pi/2 alpha h)^2)
    SJM_SIGMOID = 2,   // SpikingJelly Sigmoid: alpha s (1 - s), s = sigmoid(alpha h)
    SJM_RATIONAL = 3,  // Rational:             1 / (1 + alpha h^2)
    SJM_MOMENTS = 4    // batch moments: ca[c] (h - mu[c]) + cb[c]
};

template <typename A>
SJM_INLINE A sjm_surrogate_grad(int mode, A h, A alpha) {
    if (mode == SJM_ATAN) {
        const A z = (A)1.5707963267948966 * alpha * h;
        return alpha / (A)2 / ((A)1 + z * z);
    }
    if (mode == SJM_SIGMOID) {
        const A s = (A)1 / ((A)1 + exp(-alpha * h));
        return alpha * s * ((A)1 - s);
    }
    return (A)1 / ((A)1 + alpha * h * h);
}

#endif  // SJM_COMMON_CUH
