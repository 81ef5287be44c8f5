// Shared definitions for the CPSN kernels: storage types, conversions, taps, surrogates.
//
// Compiled by NVRTC / nvcc for the GPU and by the host C++ compiler through sjm_host_shim.h.
// Layout of every tensor: [T, M] row-major, M = N * C * S, channel of column m = (m / S) % C.
// A thread owns SJM_COLS consecutive columns (1 on the GPU: coalesced; more on the host, where
// they are processed sjm_width<A> at a time in SIMD registers).
//
// Two traversals: the GPU's (a thread owns one column and reads and writes the tensors
// directly) and the host's own, SJM_STAGED (many columns per thread, the rows it reads copied
// into its scratch, or read in place time block by time block; see sjm_tiles.cuh). The host
// shim selects SJM_STAGED unless SJM_GPU_LAYOUT is defined: that build runs the GPU's
// traversal, code paths included, on the CPU (for the tests).
#ifndef SJM_COMMON_CUH
#define SJM_COMMON_CUH

#ifndef SJM_COLS
#define SJM_COLS 1
#endif

#ifndef SJM_HOST
#define SJM_INLINE __device__ __forceinline__
#else
#define SJM_INLINE inline
#endif

#ifndef SJM_EXPORT
#define SJM_EXPORT(name)
#endif

typedef long long sjm_i64;

// Items id < n of a kernel that gives each item to one thread (the per-channel and reduction
// kernels), stepped by the grid's thread count: a GPU launches a thread per item, so each
// thread takes one; the host launches a block per OpenMP thread, each walking many items, since
// dispatching a block costs it more (tens of nanoseconds) than an item's work.
#define SJM_FOR_ITEMS(id, n)                                                                \
    for (sjm_i64 id = (sjm_i64)blockIdx.x * blockDim.x + threadIdx.x; id < (sjm_i64)(n);  \
         id += (sjm_i64)gridDim.x * blockDim.x)

// The channel c of a column and its place s among the channel's S columns, stepped a column at
// a time (a tile's per-column loops walk them instead of dividing each column by S).
struct sjm_channel_walk {
    sjm_i64 c;
    int s, S;
    SJM_INLINE sjm_channel_walk(sjm_i64 j0, int S_) : c(j0 / S_), s((int)(j0 % S_)), S(S_) {}
    SJM_INLINE void next() {
        if (++s == S) {
            s = 0;
            ++c;
        }
    }
};

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

SJM_INLINE unsigned long long sjm_as_ull(double f) {
#ifdef SJM_HOST
    unsigned long long u; memcpy(&u, &f, 8); return u;
#else
    return (unsigned long long)__double_as_longlong(f);
#endif
}

SJM_INLINE double sjm_as_double(unsigned long long u) {
#ifdef SJM_HOST
    double f; memcpy(&f, &u, 8); return f;
#else
    return __longlong_as_double((long long)u);
#endif
}

// Exponent e and normalised mantissa field f of a finite nonzero magnitude (sign bit clear):
// |v| = 2^e (1 + f / 2^23) for a float, 2^e (1 + f / 2^52) for a double; a subnormal's leading
// one is shifted into the implicit bit.
SJM_INLINE int sjm_exponent(unsigned mag, unsigned& f) {
    f = mag & 0x7fffffu;
    if ((mag >> 23) != 0) return (int)(mag >> 23) - 127;
    int e = -126;
    for (; !(f & 0x800000u); f <<= 1) --e;
    f &= 0x7fffffu;
    return e;
}

SJM_INLINE int sjm_exponent(unsigned long long mag, unsigned long long& f) {
    const unsigned long long lead = 1ull << 52;
    f = mag & (lead - 1);
    if ((mag >> 52) != 0) return (int)(mag >> 52) - 1023;
    int e = -1022;
    for (; !(f & lead); f <<= 1) --e;
    f &= lead - 1;
    return e;
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

// The bfloat16 bits (low 16) of float bits u, one value or a host vector of them: a NaN quieted,
// any other value rounded to nearest, ties to even. Both results are formed and one selected:
// without a branch the host compiler vectorises it (a branch per value cost a bfloat16 forward
// 3x its float32 time).
template <typename U>
SJM_INLINE U sjm_bf16_bits(U u) {
    const U nan = (u >> 16) | 0x40u;
    const U rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (u & 0x7fffffffu) > 0x7f800000u ? nan : rounded;
}

template <> struct sjm_io<sjm_bf16> {
    typedef float acc;
    static SJM_INLINE float ld(sjm_bf16 v) { return sjm_as_float((unsigned)v.bits << 16); }
    static SJM_INLINE sjm_bf16 st(float a) {
        sjm_bf16 r;
        r.bits = (unsigned short)sjm_bf16_bits(sjm_as_uint(a));
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

// A power-of-two tap as a shift: 0 for a zero weight, -1 for a NaN one (the tap gives NaN, as a
// multiply would), otherwise code = ((e + 2048) << 1) | negative for the weight
// (-1)^negative * 2^e (every e of a float or a double gives a positive code). sjm_code reads
// it off the weight's bits: the sign bit, and e (sjm_exponent, subnormal weights included).
// The weight must be 0, NaN or a signed power of two.
SJM_INLINE int sjm_code(float w) {
    const unsigned u = sjm_as_uint(w), mag = u & 0x7fffffffu;
    if (mag == 0) return 0;
    if (mag > 0x7f800000u) return -1;
    unsigned f;
    return ((sjm_exponent(mag, f) + 2048) << 1) | (int)(u >> 31);
}

SJM_INLINE int sjm_code(double w) {
    const unsigned long long u = sjm_as_ull(w), mag = u & 0x7fffffffffffffffull;
    if (mag == 0) return 0;
    if (mag > 0x7ff0000000000000ull) return -1;
    unsigned long long f;
    return ((sjm_exponent(mag, f) + 2048) << 1) | (int)(u >> 63);
}

SJM_INLINE float sjm_shift(float v, int code) {
    if (code <= 0) return code == 0 ? 0.0f : sjm_as_float(0x7fc00000u);
    const int e = (code >> 1) - 2048;
    const unsigned u = sjm_as_uint(v) ^ ((unsigned)(code & 1) << 31);
    const int ex = (int)((u >> 23) & 0xffu);
    const int ne = ex + e;
    if (ex > 0 && ex < 255 && ne > 0 && ne < 255) {
        return sjm_as_float(u + ((unsigned)e << 23));  // exponent add
    }
    return ldexpf(sjm_as_float(u), e);  // zero, subnormal, inf/nan, or leaving the normal range
}

SJM_INLINE double sjm_shift(double v, int code) {
    if (code <= 0) return code == 0 ? 0.0 : sjm_as_double(0x7ff8000000000000ull);
    return ldexp((code & 1) ? -v : v, (code >> 1) - 2048);
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

// g'(h) on a value or on lanes V (ATan and Rational are plain arithmetic; Sigmoid goes lane by
// lane through exp).
template <typename A>
SJM_INLINE A sjm_sigmoid_grad(A h, A alpha) {
    const A s = (A)1 / ((A)1 + exp(-alpha * h));
    return alpha * s * ((A)1 - s);
}

template <typename V, typename A>
SJM_INLINE V sjm_surrogate_grad(int mode, V h, A alpha) {
    if (mode == SJM_ATAN) {
        const V z = ((A)1.5707963267948966 * alpha) * h;
        return (alpha / (A)2) / ((A)1 + z * z);
    }
    return (A)1 / ((A)1 + alpha * h * h);
}

// Lanes per accumulator type: one SIMD register of the build's widest vector unit in the host's
// staged traversal (SJM_VEC_BYTES: 64 with AVX-512, 32 with AVX / AVX2, else 16), one column on
// the GPU (and in the host build of the GPU layout). A vector wider than the registers would be
// split by the compiler into several, and a time block's accumulators then no longer fit in
// registers: on an AVX2 CPU (16 registers of 32 bytes) 64-byte groups made the sequential-CIFAR
// training step 3x slower.
#ifdef SJM_HOST
#if defined(__AVX512F__)
#define SJM_VEC_BYTES 64
#elif defined(__AVX__)
#define SJM_VEC_BYTES 32
#else
#define SJM_VEC_BYTES 16
#endif
#endif
#ifdef SJM_STAGED
template <typename A> struct sjm_width { enum { value = SJM_VEC_BYTES / sizeof(A) }; };
#else
template <typename A> struct sjm_width { enum { value = 1 }; };
#endif
#ifdef SJM_HOST
// Bytes of a lane group of this build (for the launcher and the tests).
extern "C" SJM_API int sjm_lane_bytes() { return sjm_width<unsigned char>::value; }
#define SJM_UNROLL _Pragma("GCC unroll 16")
#else
#define SJM_UNROLL _Pragma("unroll")
#endif

// Lanes: L neighbouring columns handled together. On the GPU L = 1 (a thread owns a column); on
// the host V is a GCC vector of SJM_VEC_BYTES, so the arithmetic below compiles to SIMD
// instructions.
// ld / st read / write L values of storage type TS (converting to / from A).
template <typename TS, typename A, int L> struct sjm_lanes;

template <typename TS, typename A> struct sjm_lanes<TS, A, 1> {
    typedef A V;
    static SJM_INLINE V ld(const TS* p) { return sjm_io<TS>::ld(*p); }
    static SJM_INLINE void st(TS* p, V v) { *p = sjm_io<TS>::st(v); }
    static SJM_INLINE A get(const V& v, int) { return v; }
    static SJM_INLINE void set(V& v, int, A a) { v = a; }
    static SJM_INLINE V splat(A a) { return a; }
    static SJM_INLINE V heaviside(V v) { return v >= (A)0 ? (A)1 : (A)0; }
};

// One tap on L lanes: exponent add (MF, codes of the L columns) or multiply.
template <bool MF, typename TS, typename A, int L>
SJM_INLINE typename sjm_lanes<TS, A, L>::V sjm_tap_lanes(typename sjm_lanes<TS, A, L>::V v,
                                                         typename sjm_lanes<TS, A, L>::V w,
                                                         const int* codes) {
    typedef sjm_lanes<TS, A, L> LN;
    if (!MF) return v * w;
    typename LN::V r = v;
    for (int l = 0; l < L; ++l) LN::set(r, l, sjm_shift(LN::get(v, l), codes[l]));
    return r;
}

#ifdef SJM_HOST
#include <type_traits>
#if defined(__AVX512F__) || defined(__F16C__)
#include <immintrin.h>
#define SJM_HALF_SIMD 1

// A lane group of float16 values <-> floats (SJM_VEC_BYTES at v) with the CPU's conversion
// instructions, rounding to nearest even: 16 with AVX-512, 8 with F16C.
inline void sjm_half_group_ld(const sjm_half* p, void* v) {
#if SJM_VEC_BYTES == 64
    const __m512 f = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p));
#else
    const __m256 f = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p));
#endif
    memcpy(v, &f, sizeof(f));
}

inline void sjm_half_group_st(sjm_half* p, const void* v) {
    const int nearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
#if SJM_VEC_BYTES == 64
    __m512 f;
    memcpy(&f, v, sizeof(f));
    _mm256_storeu_si256((__m256i*)p, _mm512_cvtps_ph(f, nearest));
#else
    __m256 f;
    memcpy(&f, v, sizeof(f));
    _mm_storeu_si128((__m128i*)p, _mm256_cvtps_ph(f, nearest));
#endif
}
#endif

// The 16-bit storage types convert a whole lane group at once (the same roundings as sjm_io's,
// which the compiler does not vectorise across a vector's elements): float16 with the CPU's
// conversion instructions where the build has them (sjm_half_group_ld / st), bfloat16 as bits
// (a shift, and sjm_bf16_bits).
template <typename E, int L> struct sjm_vec {
    typedef E type __attribute__((vector_size(L * sizeof(E))));
};

template <typename TS, typename A, int L> struct sjm_lanes {
    typedef A V __attribute__((vector_size(L * sizeof(A))));
    typedef typename sjm_vec<unsigned short, L>::type B;
    typedef typename sjm_vec<unsigned, L>::type U;
    static inline V ld(const TS* p) {
        V v;
        if constexpr (std::is_same<TS, A>::value) {
            memcpy(&v, p, sizeof(V));
#ifdef SJM_HALF_SIMD
        } else if constexpr (std::is_same<TS, sjm_half>::value && sizeof(V) == SJM_VEC_BYTES) {
            sjm_half_group_ld(p, &v);
#endif
        } else if constexpr (std::is_same<TS, sjm_bf16>::value && sizeof(A) == 4) {
            B b;
            memcpy(&b, p, sizeof(B));
            const U u = __builtin_convertvector(b, U) << 16;
            memcpy(&v, &u, sizeof(V));
        } else {
            for (int l = 0; l < L; ++l) v[l] = sjm_io<TS>::ld(p[l]);
        }
        return v;
    }
    static inline void st(TS* p, V v) {
        if constexpr (std::is_same<TS, A>::value) {
            memcpy(p, &v, sizeof(V));
#ifdef SJM_HALF_SIMD
        } else if constexpr (std::is_same<TS, sjm_half>::value && sizeof(V) == SJM_VEC_BYTES) {
            sjm_half_group_st(p, &v);
#endif
        } else if constexpr (std::is_same<TS, sjm_bf16>::value && sizeof(A) == 4) {
            U u;
            memcpy(&u, &v, sizeof(U));
            const B b = __builtin_convertvector(sjm_bf16_bits(u), B);
            memcpy(p, &b, sizeof(B));
        } else {
            for (int l = 0; l < L; ++l) p[l] = sjm_io<TS>::st(v[l]);
        }
    }
    static inline A get(const V& v, int l) { return v[l]; }
    static inline void set(V& v, int l, A a) { v[l] = a; }
    static inline V splat(A a) {
        V v;
        for (int l = 0; l < L; ++l) v[l] = a;
        return v;
    }
    static inline V heaviside(V v) { return v >= (A)0 ? splat((A)1) : splat((A)0); }
};

// Copies nc elements of `rows` rows from src (row stride sld) to dst (row stride dld), up to
// SJM_COPY_ROWS rows at a time, a 64-byte piece of each in turn: copied one after the other, the
// rows (each in its own pages) keep few memory requests in flight, and a training pass's
// copies took about twice the time of the same traffic read in place (a C++ model of the fire
// backward on AMD Zen 3: 7.2-7.9 ms row by row, 3.8-4.2 ms eight rows together, 3.1-3.4 ms in
// place).
#ifndef SJM_COPY_ROWS
#define SJM_COPY_ROWS 8
#endif
// Calls f(r0, nr) for each group of nr <= SJM_COPY_ROWS consecutive rows r0.. of [0, rows).
template <typename F>
inline void sjm_row_groups(int rows, F f) {
    for (int r0 = 0; r0 < rows; r0 += SJM_COPY_ROWS)
        f(r0, rows - r0 < SJM_COPY_ROWS ? rows - r0 : SJM_COPY_ROWS);
}

template <typename E>
inline void sjm_copy_rows(E* dst, sjm_i64 dld, const E* src, sjm_i64 sld, int rows, int nc) {
    const size_t bytes = (size_t)nc * sizeof(E), whole = bytes / 64 * 64;
    sjm_row_groups(rows, [&](int r0, int nr) {
        char* o[SJM_COPY_ROWS];
        const char* s[SJM_COPY_ROWS];
        for (int q = 0; q < nr; ++q) {
            o[q] = reinterpret_cast<char*>(dst + (r0 + q) * dld);
            s[q] = reinterpret_cast<const char*>(src + (r0 + q) * sld);
        }
        for (size_t b = 0; b < whole; b += 64)
            for (int q = 0; q < nr; ++q) memcpy(o[q] + b, s[q] + b, 64);
        for (int q = 0; q < nr; ++q) memcpy(o[q] + whole, s[q] + whole, bytes - whole);
    });
}

// Copies rows [0, rows) of nc columns (row stride M) into the thread's scratch `slot`, converted
// to A, with row stride SJM_LD: the rows of [T, M] lie a multiple of 4 KiB apart, so the k rows a
// step reads would compete for the same cache sets; copied, they stay cached.
template <typename TS, typename A>
inline A* sjm_stage(int slot, const TS* src, sjm_i64 M, int rows, int nc) {
    A* dst = sjm_thread_scratch<A>(slot, (sjm_i64)rows * SJM_LD);
    if constexpr (std::is_same<TS, A>::value) {
        sjm_copy_rows<A>(dst, SJM_LD, src, M, rows, nc);
    } else {  // converted a lane group at a time, rows together as in sjm_copy_rows
        constexpr int W = sjm_width<A>::value;
        sjm_row_groups(rows, [&](int r0, int nr) {
            const TS* s = src + r0 * M;
            A* o = dst + (sjm_i64)r0 * SJM_LD;
            int j = 0;
            for (; j + W <= nc; j += W)
                for (int q = 0; q < nr; ++q)
                    sjm_lanes<A, A, W>::st(o + q * SJM_LD + j,
                                           sjm_lanes<TS, A, W>::ld(s + q * M + j));
            for (; j < nc; ++j)
                for (int q = 0; q < nr; ++q) o[q * SJM_LD + j] = sjm_io<TS>::ld(s[q * M + j]);
        });
    }
    return dst;
}

// Per-column taps of nc columns from a per-channel table src [C, k]: dst[i * SJM_LD + j] =
// src[c * k + i] with c = (j0 + j) / S the channel of column j0 + j of a sample slab, so that a
// lane group loads the taps of its columns contiguously.
template <typename T>
inline T* sjm_stage_taps(int slot, const T* src, sjm_i64 j0, int nc, int S, int k) {
    T* dst = sjm_thread_scratch<T>(slot, (sjm_i64)k * SJM_LD);
    sjm_channel_walk ch(j0, S);
    for (int j = 0; j < nc; ++j, ch.next()) {
        const T* row = src + ch.c * k;
        for (int i = 0; i < k; ++i) dst[(sjm_i64)i * SJM_LD + j] = row[i];
    }
    return dst;
}

// Writes staged rows (stride SJM_LD) back to their place (row stride M).
template <typename TX>
inline void sjm_unstage(TX* dst, sjm_i64 M, const TX* src, int rows, int nc) {
    sjm_copy_rows<TX>(dst, M, src, SJM_LD, rows, nc);
}
#endif

#endif  // SJM_COMMON_CUH
