// CPSN single-step kernel: push the current input into a ring buffer of the last
// R = (k-1) d + 1 inputs (in place) and fire on the charge of the newest step.
//
//   win[pos] <- x;   H = b[c] + sum_i w[c, i] * win[(pos - (k-1-i) d) mod R];   S = (H >= 0)
//
// x, spikes: [M] (M = N * C * S, channel (m / S) % C); win: [R, M] in the accumulator type,
// zero before the first step. The caller advances pos = (pos + 1) mod R after each step.
#include "sjm_common.cuh"

template <typename TX, bool MF>
SJM_INLINE void cpsn_step(
    const TX* __restrict__ x, typename sjm_io<TX>::acc* __restrict__ win,
    const typename sjm_io<TX>::acc* __restrict__ w,
    const typename sjm_io<TX>::acc* __restrict__ b, TX* __restrict__ spikes,
    typename sjm_io<TX>::acc* __restrict__ charge, int M, int C, int S, int k, int d, int pos) {
    typedef typename sjm_io<TX>::acc A;
    const sjm_i64 m0 = ((sjm_i64)blockIdx.x * blockDim.x + threadIdx.x) * SJM_COLS;
    if (m0 >= M) return;
    const sjm_i64 left = M - m0;
    const int nc = SJM_COLS == 1 ? 1 : (int)(left < SJM_COLS ? left : SJM_COLS);
    const int R = (k - 1) * d + 1;
    // The thread's columns come in runs of one channel (S columns; the first and the last run
    // may be cut): a tap's weight is constant over a run, so the inner loops are plain
    // multiply-adds over contiguous columns (SIMD on the host).
    const int c0 = (int)((m0 / S) % C);
    const int n0 = S - (int)(m0 % S) < nc ? S - (int)(m0 % S) : nc;
    A* cur = win + (sjm_i64)pos * M + m0;
    for (int j = 0; j < nc; ++j) cur[j] = sjm_io<TX>::ld(x[m0 + j]);
    A h[SJM_COLS];
    int slot = pos + 1 == R ? 0 : pos + 1;  // tap 0: the input R - 1 = (k-1) d steps back
    for (int i = 0; i < k; ++i) {
        const A* wr = win + (sjm_i64)slot * M + m0;
        for (int j = 0, c = c0, n = n0; j < nc;) {
            const int wi = c * k + i;
            const A wv = w[wi];
            const int code = MF ? sjm_code(wv) : 0;
            if (i == 0) {
                const A bv = b ? b[c] : (A)0;
                for (int q = j; q < j + n; ++q) h[q] = bv + sjm_tap<MF, A>(wr[q], wv, code);
            } else {
                for (int q = j; q < j + n; ++q) h[q] += sjm_tap<MF, A>(wr[q], wv, code);
            }
            j += n;
            c = c + 1 == C ? 0 : c + 1;
            n = S < nc - j ? S : nc - j;
        }
        slot = slot + d >= R ? slot + d - R : slot + d;
    }
    for (int j = 0; j < nc; ++j) {
        if (spikes) spikes[m0 + j] = sjm_io<TX>::st(h[j] >= (A)0 ? (A)1 : (A)0);
        if (charge) charge[m0 + j] = h[j];
    }
}

#define SJM_DEF_STEP(SUF, TX, MF)                                                               \
    extern "C" __global__ void cpsn_step_##SUF(                                                 \
        const TX* x, sjm_io<TX>::acc* win, const sjm_io<TX>::acc* w,                            \
        const sjm_io<TX>::acc* b, TX* spikes, sjm_io<TX>::acc* charge, int M, int C, int S,     \
        int k, int d, int pos) {                                                                \
        cpsn_step<TX, MF>(x, win, w, b, spikes, charge, M, C, S, k, d, pos);                    \
    }                                                                                           \
    SJM_EXPORT(cpsn_step_##SUF)

SJM_DEF_STEP(f16_mul, sjm_half, false)
SJM_DEF_STEP(f16_shift, sjm_half, true)
SJM_DEF_STEP(bf16_mul, sjm_bf16, false)
SJM_DEF_STEP(bf16_shift, sjm_bf16, true)
SJM_DEF_STEP(f32_mul, float, false)
SJM_DEF_STEP(f32_shift, float, true)
SJM_DEF_STEP(f64_mul, double, false)
SJM_DEF_STEP(f64_shift, double, true)
