// Integer inference kernel: fixed-point inputs, left shifts, additions and one compare.
//
//   H[t, m] = sum_{i: sign[c, i] != 0} +-(q[t - (k-1-i) d, m] << shift[c, i])   (q[t < 0] = 0)
//   spikes[t, m] = (H[t, m] >= theta[c])
//
// q, spikes: [T, M] (M = N * C * S, channel of column m = (m / S) % C), int8, int16 or int32;
// shift, sign: int32 [C, k]; theta: [C] in the accumulator type (int32 or int64; int32 inputs
// always need int64, since |q| alone reaches 2^31). The rows t0 <= t < T are computed
// (t0 = T - 1 gives the newest step of a window). The shifts and the accumulator come from
// spikingjelly_mulfree.integer.plan, which proves that no partial sum overflows, so the only
// arithmetic is exact two's-complement shifts, adds and subtracts.
#include "sjm_common.cuh"

template <typename TA> struct sjm_unsigned;
template <> struct sjm_unsigned<int> { typedef unsigned type; };
template <> struct sjm_unsigned<sjm_i64> { typedef unsigned long long type; };

// v << s on the two's-complement bits (well defined for negative v).
template <typename TA>
SJM_INLINE TA sjm_shl(TA v, int s) {
    typedef typename sjm_unsigned<TA>::type U;
    return (TA)((U)v << s);
}

template <typename TQ, typename TA>
SJM_INLINE void integer_fire(
    const TQ* __restrict__ q, const int* __restrict__ shift, const int* __restrict__ sign,
    const TA* __restrict__ theta, TQ* __restrict__ spikes, TA* __restrict__ charge, int T,
    int M, int C, int S, int k, int d, int t0) {
    const sjm_i64 m0 = ((sjm_i64)blockIdx.x * blockDim.x + threadIdx.x) * SJM_COLS;
    if (m0 >= M) return;
    const sjm_i64 left = M - m0;
    const int nc = SJM_COLS == 1 ? 1 : (int)(left < SJM_COLS ? left : SJM_COLS);
    int ch[SJM_COLS];
    for (int j = 0; j < nc; ++j) ch[j] = (int)(((m0 + j) / S) % C);
    for (int t = t0 + (int)blockIdx.y; t < T; t += (int)gridDim.y) {
        TA h[SJM_COLS];
        for (int j = 0; j < nc; ++j) h[j] = 0;
        for (int i = 0; i < k; ++i) {
            const int src = t - (k - 1 - i) * d;
            if (src < 0) continue;
            const TQ* row = q + (sjm_i64)src * M + m0;
            for (int j = 0; j < nc; ++j) {
                // Branch-free: keep = all ones unless the tap is zero, neg = all ones for a
                // negative tap; ((t & keep) ^ neg) - neg is +t, -t or 0.
                const int s = sign[ch[j] * k + i];
                const TA keep = -(TA)(s != 0), neg = -(TA)(s < 0);
                const TA term = sjm_shl<TA>((TA)row[j], shift[ch[j] * k + i]) & keep;
                h[j] += (term ^ neg) - neg;
            }
        }
        const sjm_i64 base = (sjm_i64)t * M + m0;
        for (int j = 0; j < nc; ++j) {
            if (spikes) spikes[base + j] = (TQ)(h[j] >= theta[ch[j]] ? 1 : 0);
            if (charge) charge[base + j] = h[j];
        }
    }
}

#define SJM_DEF_INTEGER(SUF, TQ, TA)                                                            \
    extern "C" __global__ void integer_fire_##SUF(                                              \
        const TQ* q, const int* shift, const int* sign, const TA* theta, TQ* spikes,            \
        TA* charge, int T, int M, int C, int S, int k, int d, int t0) {                          \
        integer_fire<TQ, TA>(q, shift, sign, theta, spikes, charge, T, M, C, S, k, d, t0);      \
    }                                                                                           \
    SJM_EXPORT(integer_fire_##SUF)

SJM_DEF_INTEGER(i8_a32, signed char, int)
SJM_DEF_INTEGER(i8_a64, signed char, sjm_i64)
SJM_DEF_INTEGER(i16_a32, short, int)
SJM_DEF_INTEGER(i16_a64, short, sjm_i64)
SJM_DEF_INTEGER(i32_a64, int, sjm_i64)
