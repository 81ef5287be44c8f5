// Tiling and tap helpers shared by the training kernels (cpsn_train.cu, cpsn_moments.cu) on the
// native [T, M] layout (see sjm_common.cuh).
//
// Thread tiling: blockIdx.x * blockDim.x + threadIdx.x picks the
// SJM_COLS consecutive columns j0.. of one sample's [C * S] slab, blockIdx.y picks a contiguous
// range of samples n (gridDim.y ranges cover N). The thread walks its columns through all T steps.
//
//   H[t, m] = b[c] + sum_i w[c, i] * X[t - (k-1-i) d, m]          (X = 0 before t = 0)
//
// Weights come per channel, w[c * k + i]: a GPU thread reads its column's row of them (stride 1
// between taps; the threads of one channel read the same addresses), the host's staged
// traversal expands them per column into its scratch (sjm_stage_taps), so that a lane group
// loads them contiguously. The shift variant (MF) reads each power-of-two tap's sign and
// exponent off the weight's bits (sjm_code).
//
// Reductions over (t, n, s) are deterministic: each thread writes its own per-column partial
// (no atomics) and the kernels of cpsn_reduce.cu sum the partials of a channel in a fixed order.
//
// Inside a thread, columns go sjm_width<A> at a time (lanes: SIMD on the host, 1 on the GPU) and
// time in blocks of SJM_TB steps whose charges stay in registers. The host's own traversal
// (SJM_STAGED, see sjm_common.cuh) first copies the rows it reads several times into its private
// scratch (sjm_stage) and writes outputs there before copying them out, except in the forward
// passes of float32 / float64 tensors below order SJM_STAGE_MIN_K, which like the GPU's read and
// write in place with time blocks outermost (sjm_for_blocks); the GPU reads and writes the
// tensors directly (its caches do that job).
#ifndef SJM_TILES_CUH
#define SJM_TILES_CUH

#include "sjm_common.cuh"

// The columns and sample range a thread owns; false if it owns none (no columns: j0 >= cs; or
// columns but no samples: then nc is set).
struct sjm_tile {
    sjm_i64 cs, m_stride, j0;
    int nc, n_begin, n_end;
};

SJM_INLINE bool sjm_make_tile(sjm_tile& tl, int T, int N, int C, int S) {
    tl.cs = (sjm_i64)C * S;
    tl.m_stride = (sjm_i64)N * tl.cs;
    tl.j0 = ((sjm_i64)blockIdx.x * blockDim.x + threadIdx.x) * SJM_COLS;
    if (tl.j0 >= tl.cs) return false;
    const sjm_i64 left = tl.cs - tl.j0;
    tl.nc = SJM_COLS == 1 ? 1 : (int)(left < SJM_COLS ? left : SJM_COLS);
    const int per = (N + (int)gridDim.y - 1) / (int)gridDim.y;
    tl.n_begin = (int)blockIdx.y * per;
    tl.n_end = tl.n_begin + per < N ? tl.n_begin + per : N;
    return tl.n_begin < tl.n_end;
}

// Steps per time block (charges of a block of one lane group are kept in registers).
#ifndef SJM_TB
#define SJM_TB 8
#endif
// Steps per time block of the backward's first phase (recompute H, form dL/dH; cpsn_train.cu).
// The host takes 8 there even with SJM_TB = 4: its tap chains are twice as many then, and on AMD
// Zen 3 (one thread, the old and new libraries on the same launches alternately, fastest of 10)
// the fire backward took 0.61-0.67x the time on the sequential-CIFAR layer at k = 1 and 16,
// 0.87x at k = 4, 0.9x on the SHD layer, 0.68-0.9x for float16, bfloat16 and float64, but
// 1.03-1.08x on a T = 4 layer, so sequences shorter than SJM_TB_GRAD keep SJM_TB. A block's
// results do not depend on its size: every charge adds its taps in the same order.
#ifndef SJM_TB_GRAD
#ifdef SJM_STAGED
#define SJM_TB_GRAD 8
#else
#define SJM_TB_GRAD SJM_TB
#endif
#endif

// Storage type of the rows a thread reads repeatedly: staged in the accumulator type on the
// host, the tensor's own type on the GPU.
#ifdef SJM_STAGED
template <typename TX> struct sjm_src { typedef typename sjm_io<TX>::acc type; };
#else
template <typename TX> struct sjm_src { typedef TX type; };
#endif

// Row r of src (row stride ld) in the accumulator type, or 0 outside [0, T).
template <typename TS, typename A, int L>
SJM_INLINE typename sjm_lanes<TS, A, L>::V sjm_row_or_zero(const TS* src, sjm_i64 ld, int r,
                                                           int T) {
    return r >= 0 && r < T ? sjm_lanes<TS, A, L>::ld(src + (sjm_i64)r * ld)
                           : sjm_lanes<A, A, L>::splat((A)0);
}

// sjm_taps_block for d = 1 on the GPU's traversal: consecutive taps read rows one apart, so
// the SJM_TB rows of a tap are kept in a ring of registers, slot (r - r0) mod SJM_TB for row r
// (r0: the first row of tap 0), and each tap loads one new row instead of SJM_TB, through an
// offset that moves a row per tap. Taps go SJM_TB at a time so that every slot index is a
// constant. Per value, the taps are added in the same order and the out-of-range ones skipped
// as in the general loop (the same arithmetic; a compiler that contracts multiply-adds may
// still round the two code shapes differently, as GCC does by an ulp). CHECK = false: the
// block reads no row outside [0, T) (no tests at all); otherwise rows outside read as 0 and
// their taps are skipped, except for steps past T (dir = -1 reads no row past its own step),
// which every caller discards.
template <typename TS, typename A, bool MF, bool CHECK>
SJM_INLINE void sjm_taps_ring(A* acc, const TS* src, sjm_i64 ld, int t0, int T, int dir,
                              const A* wv, sjm_i64 wld, int k) {
    const int r0 = t0 + dir * (k - 1);  // tap i reads rows r0 - dir * i + a, a < SJM_TB
    A ring[SJM_TB];
    SJM_UNROLL
    for (int a = 0; a < SJM_TB; ++a)
        ring[a] = CHECK ? sjm_row_or_zero<TS, A, 1>(src, ld, r0 + a, T)
                        : sjm_io<TS>::ld(src[(sjm_i64)(r0 + a) * ld]);
    int rn = dir < 0 ? r0 + SJM_TB : r0 - 1;  // the row the next tap adds, at src[on]
    sjm_i64 on = (sjm_i64)rn * ld;  // an offset: a pointer to a row outside would be UB
    const sjm_i64 step = dir < 0 ? ld : -ld;
    for (int i0 = 0; i0 < k; i0 += SJM_TB) {
        SJM_UNROLL
        for (int q = 0; q < SJM_TB; ++q) {
            const int i = i0 + q;
            if (i >= k) break;
            const A w = wv[i * wld];
            const int c = MF ? sjm_code(w) : 0;
            // steps a with a row in range: a >= lo (rows >= 0), a < hi (rows < T)
            const int rb = r0 - dir * i;
            const int lo = dir < 0 ? -rb : 0, hi = dir < 0 ? SJM_TB : T - rb;
            // row rb + a: slot (q + a) mod SJM_TB for dir = -1, (a - q) mod SJM_TB for +1
            if (!CHECK || (lo <= 0 && hi >= SJM_TB)) {
                SJM_UNROLL
                for (int a = 0; a < SJM_TB; ++a)
                    acc[a] += sjm_tap<MF, A>(ring[(dir < 0 ? q + a : a - q + SJM_TB) % SJM_TB],
                                             w, c);
            } else {
                SJM_UNROLL
                for (int a = 0; a < SJM_TB; ++a) {
                    if (a < lo || a >= hi) continue;
                    acc[a] += sjm_tap<MF, A>(ring[(dir < 0 ? q + a : a - q + SJM_TB) % SJM_TB],
                                             w, c);
                }
            }
            if (i + 1 >= k) break;
            // the row tap i no longer needs makes room for the one tap i + 1 adds
            const A v = !CHECK || (rn >= 0 && rn < T) ? sjm_io<TS>::ld(src[on]) : (A)0;
            ring[dir < 0 ? q : SJM_TB - 1 - q] = v;
            rn -= dir;
            on += step;
        }
    }
}

template <typename TS, typename A, bool MF>
SJM_INLINE void sjm_taps_block_d1(A* acc, const TS* src, sjm_i64 ld, int t0, int T, int dir,
                                  const A* wv, sjm_i64 wld, int k) {
    // rows the block reads: t0 - (k-1) .. t0 + SJM_TB - 1 (dir -1), t0 .. t0 + k + SJM_TB - 2
    const bool inside = dir < 0 ? t0 - (k - 1) >= 0 && t0 + SJM_TB <= T
                                : t0 + (k - 1) + SJM_TB <= T;
    if (inside) {
        sjm_taps_ring<TS, A, MF, false>(acc, src, ld, t0, T, dir, wv, wld, k);
    } else {
        sjm_taps_ring<TS, A, MF, true>(acc, src, ld, t0, T, dir, wv, wld, k);
    }
}

// Taps of one time block of one lane group:
//   acc[a] += sum_i tap(src[r], w_i),  r = t0 + a + dir * (k-1-i) d,  0 <= r < T,  a < TB
// (dir = -1: the causal charge; dir = +1: the anti-causal correlation of the backward; TB: the
// block's steps, SJM_TB but for the staged backward's first phase, SJM_TB_GRAD).
// src: the group's rows (row stride ld); wv: its weights (stride wld).
template <typename TS, typename A, int L, bool MF, int TB = SJM_TB>
SJM_INLINE void sjm_taps_block(typename sjm_lanes<TS, A, L>::V* acc, const TS* src, sjm_i64 ld,
                               int t0, int T, int dir, const A* wv, sjm_i64 wld,
                               int k, int d) {
    typedef sjm_lanes<TS, A, L> LN;
#ifndef SJM_STAGED
    static_assert(TB == SJM_TB, "the GPU traversal's register ring holds SJM_TB rows");
    if (d == 1 && k >= 1) {  // k = 0: no taps (the ring would preload rows)
        sjm_taps_block_d1<TS, A, MF>(acc, src, ld, t0, T, dir, wv, wld, k);
        return;
    }
#endif
    for (int i = 0; i < k; ++i) {
        const int lag = (k - 1 - i) * d;
        const typename LN::V w = sjm_lanes<A, A, L>::ld(wv + i * wld);
        int c[L];
        for (int l = 0; l < L; ++l) c[l] = MF ? sjm_code(sjm_lanes<A, A, L>::get(w, l)) : 0;
        const int r0 = t0 + dir * lag;
        if (r0 >= 0 && r0 + TB <= T) {  // the whole block inside: no checks per step
            const TS* row = src + r0 * ld;
            SJM_UNROLL
            for (int a = 0; a < TB; ++a)
                acc[a] += sjm_tap_lanes<MF, TS, A, L>(LN::ld(row + a * ld), w, c);
            continue;
        }
        SJM_UNROLL
        for (int a = 0; a < TB; ++a) {
            const int r = r0 + a;
            if (r < 0 || r >= T) continue;
            acc[a] += sjm_tap_lanes<MF, TS, A, L>(LN::ld(src + r * ld), w, c);
        }
    }
}

// The tile's taps in the current traversal: expanded per column into scratch `slot` in the
// staged one (taps SJM_TAP_LD = SJM_LD apart), the row of its channel in w on the GPU (a thread
// owns one column; taps 1 apart).
#ifdef SJM_STAGED
#define SJM_TAP_LD SJM_LD
#else
#define SJM_TAP_LD 1
#endif

template <typename A>
SJM_INLINE const A* sjm_tile_taps(int slot, const sjm_tile& tl, const A* w, int S, int k) {
#ifdef SJM_STAGED
    return sjm_stage_taps<A>(slot, w, tl.j0, tl.nc, S, k);
#else
    return w + tl.j0 / S * k;
#endif
}

// Per-column copy of a per-channel vector (zeros for a null one): dst[j] = v[(j0 + j) / S].
template <typename A>
SJM_INLINE void sjm_per_column(A* dst, const A* __restrict__ v, sjm_i64 j0, int nc, int S) {
    sjm_channel_walk ch(j0, S);
    for (int j = 0; j < nc; ++j, ch.next()) dst[j] = v ? v[ch.c] : (A)0;
}

// Runs body.template run<L>(j) over a tile's nc columns: lane groups of sjm_width<A>, then the
// remaining columns one by one.
template <typename A, typename F>
SJM_INLINE void sjm_for_groups(F& body, int nc) {
    const int W = sjm_width<A>::value;
    int j = 0;
    for (; j + W <= nc; j += W) body.template run<sjm_width<A>::value>(j);
    for (; j < nc; ++j) body.template run<1>(j);
}

// The forward passes read X and write their outputs in place, time blocks outermost
// (sjm_for_blocks); on the host only 16-bit tensors are copied to the scratch, converted on the
// way (sjm_copies), and every tensor's from order SJM_STAGE_MIN_K on. The staged
// traversal copies a tile's rows because its lane groups walk all T steps, the same cache sets
// at every row ([T, M] rows lie a multiple of 4 KiB apart); time blocks outermost, each row is
// read across the tile's columns at once, and the copies are not needed: on one thread of our
// CPU the charge + fire pass of an SHD layer ([100, 64, 256], k = 2) took 2-3x less time, of the
// sequential-CIFAR layer ([32, 32, 128, 32], k = 1 to 16) 1.1-1.25x less.
#ifdef SJM_STAGED
template <typename TX, typename A> struct sjm_copies {
    enum { value = !std::is_same<TX, A>::value };
};

// Whether the forward passes (moments, charge + fire) stage their rows: 16-bit ones always
// (converted on the way), float32 / float64 ones from order SJM_STAGE_MIN_K on, the staged traversal's taps cost less than the in-place one's by
// more than the copies (AMD Zen 3, one thread, sequential-CIFAR layer, both builds on the same
// launches alternately, benchmarks/bench_host_ab.py: charge + fire 0.69-0.74x the time at
// k = 12 and 16, 0.84-0.86x at k = 10, 0.87-1.0x at k = 8, 1.3x at k = 4; the moments pass
// 0.55-0.9x at k = 12 and 16, 0.67-0.8x at k = 10, 0.97-1.06x at k = 8, 1.2-1.5x at k = 4).
#ifndef SJM_STAGE_MIN_K
#define SJM_STAGE_MIN_K 10
#endif
template <typename TX, typename A>
inline bool sjm_stage_rows(int k) {
    return sjm_copies<TX, A>::value || k >= SJM_STAGE_MIN_K;
}
#endif

// The in-place traversal: time blocks outermost, the tile's lane groups inside
// (body.template block<L>(j, t0) for each; per-column state lives in the body's arrays). On the
// GPU a thread's one column takes its blocks in order.
template <typename A, typename F>
SJM_INLINE void sjm_for_blocks(F& body, int nc, int T) {
    const int W = sjm_width<A>::value;
    for (int t0 = 0; t0 < T; t0 += SJM_TB) {
        int j = 0;
        for (; j + W <= nc; j += W) body.template block<sjm_width<A>::value>(j, t0);
        for (; j < nc; ++j) body.template block<1>(j, t0);
    }
}

#endif  // SJM_TILES_CUH
