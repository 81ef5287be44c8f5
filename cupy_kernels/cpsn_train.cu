// CPSN training kernels on the native [T, M] layout (see sjm_common.cuh).
//
// Thread tiling shared by the kernels below: blockIdx.x * blockDim.x + threadIdx.x picks the
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
// scratch (sjm_stage) and writes outputs there before copying them out; the GPU reads and writes
// the tensors directly (its caches do that job).
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

// Storage type of the rows a thread reads repeatedly: staged in the accumulator type on the
// host, the tensor's own type on the GPU.
#ifdef SJM_STAGED
template <typename TX> struct sjm_src { typedef typename sjm_io<TX>::acc type; };
#else
template <typename TX> struct sjm_src { typedef TX type; };
#endif

// Taps of one time block of one lane group:
//   acc[a] += sum_i tap(src[r], w_i),  r = t0 + a + dir * (k-1-i) d,  0 <= r < T,  a < SJM_TB
// (dir = -1: the causal charge; dir = +1: the anti-causal correlation of the backward).
// src: the group's rows (row stride ld); wv: its weights (stride wld).
template <typename TS, typename A, int L, bool MF>
SJM_INLINE void sjm_taps_block(typename sjm_lanes<TS, A, L>::V* acc, const TS* src, sjm_i64 ld,
                               int t0, int T, int dir, const A* wv, sjm_i64 wld,
                               int k, int d) {
    typedef sjm_lanes<TS, A, L> LN;
    for (int i = 0; i < k; ++i) {
        const int lag = (k - 1 - i) * d;
        const typename LN::V w = sjm_lanes<A, A, L>::ld(wv + i * wld);
        int c[L];
        for (int l = 0; l < L; ++l) c[l] = MF ? sjm_code(sjm_lanes<A, A, L>::get(w, l)) : 0;
        const int r0 = t0 + dir * lag;
        if (r0 >= 0 && r0 + SJM_TB <= T) {  // the whole block inside: no checks per step
            const TS* row = src + r0 * ld;
            SJM_UNROLL
            for (int a = 0; a < SJM_TB; ++a)
                acc[a] += sjm_tap_lanes<MF, TS, A, L>(LN::ld(row + a * ld), w, c);
            continue;
        }
        SJM_UNROLL
        for (int a = 0; a < SJM_TB; ++a) {
            const int r = r0 + a;
            if (r < 0 || r >= T) continue;
            acc[a] += sjm_tap_lanes<MF, TS, A, L>(LN::ld(src + r * ld), w, c);
        }
    }
}

// Per-column copy of a per-channel vector (zeros for a null one): dst[j] = v[(j0 + j) / S].
template <typename A>
SJM_INLINE void sjm_per_column(A* dst, const A* __restrict__ v, sjm_i64 j0, int nc, int S) {
    for (int j = 0; j < nc; ++j) dst[j] = v ? v[(j0 + j) / S] : (A)0;
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

// Forward of one tile and sample: spikes (H >= 0) into so, or the charge into ho (row stride os).
template <typename TX, bool MF>
struct sjm_forward_body {
    typedef typename sjm_io<TX>::acc A;
    typedef typename sjm_src<TX>::type TS;
    const TS* xs; sjm_i64 xld;
    const A* wv; sjm_i64 wld;
    const A* bl; TX* so; A* ho; sjm_i64 os;
    int T, k, d;

    template <int L>
    SJM_INLINE void run(int j) {
        typedef sjm_lanes<TS, A, L> LN;
        const typename LN::V bias = sjm_lanes<A, A, L>::ld(bl + j);
        for (int t0 = 0; t0 < T; t0 += SJM_TB) {
            typename LN::V acc[SJM_TB];
            SJM_UNROLL
            for (int a = 0; a < SJM_TB; ++a) acc[a] = bias;
            sjm_taps_block<TS, A, L, MF>(acc, xs + j, xld, t0, T, -1, wv + j, wld, k, d);
            const int na = T - t0 < SJM_TB ? T - t0 : SJM_TB;
            for (int a = 0; a < na; ++a) {
                const sjm_i64 row = (sjm_i64)(t0 + a) * os + j;
                if (so) {
                    sjm_lanes<TX, A, L>::st(so + row, LN::heaviside(acc[a]));
                } else {
                    sjm_lanes<A, A, L>::st(ho + row, acc[a]);
                }
            }
        }
    }
};

// Forward: spikes (H >= 0, in TX) into `spikes`, or the charge H (accumulator type) into
// `charge`; exactly one of the two is non-null. w: [C, k]; b: [C] or null.
template <typename TX, bool MF>
SJM_INLINE void cpsn_forward(
    const TX* __restrict__ x, const typename sjm_io<TX>::acc* __restrict__ w,
    const typename sjm_io<TX>::acc* __restrict__ b,
    TX* __restrict__ spikes, typename sjm_io<TX>::acc* __restrict__ charge,
    int T, int N, int C, int S, int k, int d) {
    typedef typename sjm_io<TX>::acc A;
    sjm_tile tl;
    if (!sjm_make_tile(tl, T, N, C, S)) return;
    const sjm_i64 M = tl.m_stride;
    A bl[SJM_COLS];
    sjm_per_column<A>(bl, b, tl.j0, tl.nc, S);
    sjm_forward_body<TX, MF> body;
    body.bl = bl;
    body.T = T; body.k = k; body.d = d;
#ifdef SJM_STAGED
    body.wv = sjm_stage_taps<A>(0, w, tl.j0, tl.nc, S, k);
    body.wld = SJM_LD;
    body.xld = SJM_LD;
    body.os = SJM_LD;
#else
    body.wv = w + tl.j0 / S * k;
    body.wld = 1;
    body.xld = M;
    body.os = M;
#endif
    for (int n = tl.n_begin; n < tl.n_end; ++n) {
        const sjm_i64 m0 = n * tl.cs + tl.j0;
#ifdef SJM_STAGED
        body.xs = sjm_stage<TX, A>(2, x + m0, M, T, tl.nc);
        body.so = spikes ? sjm_thread_scratch<TX>(3, (sjm_i64)T * SJM_LD) : spikes;
        body.ho = charge ? sjm_thread_scratch<A>(3, (sjm_i64)T * SJM_LD) : charge;
#else
        body.xs = x + m0;
        body.so = spikes ? spikes + m0 : spikes;
        body.ho = charge ? charge + m0 : charge;
#endif
        sjm_for_groups<A>(body, tl.nc);
#ifdef SJM_STAGED
        if (spikes) sjm_unstage(spikes + m0, M, body.so, T, tl.nc);
        if (charge) sjm_unstage(charge + m0, M, body.ho, T, tl.nc);
#endif
    }
}

// Backward phase 1 of one tile and sample: recompute H, form g = dL/dH by `mode` (see
// sjm_common.cuh) into gc (row stride gld), and add sum_t g to the db partials.
template <typename TX, bool MF>
struct sjm_grad_body {
    typedef typename sjm_io<TX>::acc A;
    typedef typename sjm_src<TX>::type TS;
    const TS* xs; sjm_i64 xld;
    const A* wv; sjm_i64 wld;
    const A *bl, *mul, *cal, *cbl;
    const TS* gs; const A* gh_in; sjm_i64 gsld;  // grad_s / grad_h of this sample
    A* gc; sjm_i64 gld;
    A* pt;
    int T, k, d, mode;
    A al;

    template <int L>
    SJM_INLINE void run(int j) {
        typedef sjm_lanes<TS, A, L> LN;
        typedef sjm_lanes<A, A, L> LA;
        const typename LA::V bias = LA::ld(bl + j);
        typename LA::V sum = LA::splat((A)0);
        for (int t0 = 0; t0 < T; t0 += SJM_TB) {
            typename LN::V acc[SJM_TB];
            SJM_UNROLL
            for (int a = 0; a < SJM_TB; ++a) acc[a] = bias;
            if (mode != SJM_GIVEN)
                sjm_taps_block<TS, A, L, MF>(acc, xs + j, xld, t0, T, -1, wv + j, wld, k, d);
            const int na = T - t0 < SJM_TB ? T - t0 : SJM_TB;
            for (int a = 0; a < na; ++a) {
                const int t = t0 + a;
                typename LA::V g;
                if (mode == SJM_GIVEN) {
                    g = LA::ld(gh_in + t * gsld + j);
                } else if (mode == SJM_MOMENTS) {
                    g = LA::ld(cal + j) * (acc[a] - LA::ld(mul + j)) + LA::ld(cbl + j);
                } else if (mode == SJM_SIGMOID) {
                    g = LN::ld(gs + t * gsld + j);
                    for (int l = 0; l < L; ++l)
                        LA::set(g, l, LA::get(g, l) * sjm_sigmoid_grad<A>(LA::get(acc[a], l), al));
                } else {
                    g = LN::ld(gs + t * gsld + j) *
                        sjm_surrogate_grad<typename LA::V, A>(mode, acc[a], al);
                }
                LA::st(gc + t * gld + j, g);
                sum += g;
            }
        }
        for (int l = 0; l < L; ++l) pt[(j + l) * (k + 1) + k] += LA::get(sum, l);
    }
};

// Backward phase 2: dW partials sum_t g[t] X[t - (k-1-i) d], SJM_TB taps at a time.
template <typename TX>
struct sjm_dw_body {
    typedef typename sjm_io<TX>::acc A;
    typedef typename sjm_src<TX>::type TS;
    const TS* xs; sjm_i64 xld;
    const A* gc; sjm_i64 gld;
    A* pt;
    int T, k, d;

    template <int L>
    SJM_INLINE void run(int j) {
        typedef sjm_lanes<TS, A, L> LN;
        typedef sjm_lanes<A, A, L> LA;
        for (int i0 = 0; i0 < k; i0 += SJM_TB) {
            typename LA::V s[SJM_TB];
            SJM_UNROLL
            for (int q = 0; q < SJM_TB; ++q) s[q] = LA::splat((A)0);
            // From step `safe` on, every tap of a full block reads a row >= 0: no checks.
            const int lag0 = (k - 1 - i0) * d;
            const int safe = i0 + SJM_TB <= k ? (lag0 < T ? lag0 : T) : T;
            for (int t = 0; t < safe; ++t) {
                const typename LA::V g = LA::ld(gc + t * gld + j);
                SJM_UNROLL
                for (int q = 0; q < SJM_TB; ++q) {
                    const int r = t - (k - 1 - (i0 + q)) * d;
                    if (i0 + q >= k || r < 0) continue;
                    s[q] += g * LN::ld(xs + r * xld + j);
                }
            }
            for (int t = safe; t < T; ++t) {
                const typename LA::V g = LA::ld(gc + t * gld + j);
                const TS* row = xs + (t - lag0) * xld + j;
                SJM_UNROLL
                for (int q = 0; q < SJM_TB; ++q) s[q] += g * LN::ld(row + q * d * xld);
            }
            const int nq = k - i0 < SJM_TB ? k - i0 : SJM_TB;
            for (int q = 0; q < nq; ++q)
                for (int l = 0; l < L; ++l) pt[(j + l) * (k + 1) + i0 + q] += LA::get(s[q], l);
        }
    }
};

// Backward phase 3: dX[t] = sum_i w_i g[t + (k-1-i) d] (+ the same with g2 and w2), into dxo
// (row stride os).
template <typename TX, bool MF>
struct sjm_dx_body {
    typedef typename sjm_io<TX>::acc A;
    const A* gc; sjm_i64 gld;
    const A* g2c; sjm_i64 g2ld;
    const A* wv; const A* w2v; sjm_i64 wld;
    TX* dxo; sjm_i64 os;
    int T, k, d;

    template <int L>
    SJM_INLINE void run(int j) {
        typedef sjm_lanes<A, A, L> LA;
        for (int t0 = 0; t0 < T; t0 += SJM_TB) {
            typename LA::V acc[SJM_TB];
            SJM_UNROLL
            for (int a = 0; a < SJM_TB; ++a) acc[a] = LA::splat((A)0);
            sjm_taps_block<A, A, L, MF>(acc, gc + j, gld, t0, T, 1, wv + j, wld, k, d);
            if (g2c)
                sjm_taps_block<A, A, L, false>(acc, g2c + j, g2ld, t0, T, 1, w2v + j, wld, k, d);
            const int na = T - t0 < SJM_TB ? T - t0 : SJM_TB;
            for (int a = 0; a < na; ++a)
                sjm_lanes<TX, A, L>::st(dxo + (sjm_i64)(t0 + a) * os + j, acc[a]);
        }
    }
};

// Backward of the charge (and its fused consumers), three phases per tile and sample:
//   1. recompute H, form g = dL/dH by `mode` (see sjm_common.cuh); db partial: sum_t g[t];
//   2. dW partials: sum_t g[t] X[t - (k-1-i) d];
//   3. dX[t] = sum_i w_i g[t + (k-1-i) d] (anti-causal correlation), written to `dx`; skipped
//      when dx is null. If g2 is given, the correlation of g2 with the second weights
//      w2 (always multiplied) is added: one pass forms the input gradient of two consumers of X.
// g is kept in `gh` ([T, M], accumulator type) when gh is non-null; the host may pass a null gh
// and then keeps g in the thread's scratch only (the GPU needs gh). `gh` and `g2` may alias `dx`
// when TX is the accumulator type (rows >= t are read before row t is written). Partials:
// part[(blockIdx.y * C*S + j) * (k+1) + q], q < k for dW, q = k for db; the thread adds to its
// own slots (it zeroes them first).
template <typename TX, bool MF>
SJM_INLINE void cpsn_backward(
    const TX* __restrict__ x, const typename sjm_io<TX>::acc* __restrict__ w,
    const typename sjm_io<TX>::acc* __restrict__ b,
    const TX* __restrict__ grad_s, const typename sjm_io<TX>::acc* __restrict__ grad_h,
    const typename sjm_io<TX>::acc* __restrict__ mu,
    const typename sjm_io<TX>::acc* __restrict__ ca,
    const typename sjm_io<TX>::acc* __restrict__ cb,
    typename sjm_io<TX>::acc* gh, TX* dx, const typename sjm_io<TX>::acc* g2,
    const typename sjm_io<TX>::acc* __restrict__ w2, typename sjm_io<TX>::acc* __restrict__ part,
    int T, int N, int C, int S, int k, int d, int mode, float alpha) {
    typedef typename sjm_io<TX>::acc A;
    sjm_tile tl;
    const bool busy = sjm_make_tile(tl, T, N, C, S);
    if (tl.j0 >= tl.cs) return;
    A* pt = part + ((sjm_i64)blockIdx.y * tl.cs + tl.j0) * (k + 1);
    for (sjm_i64 q = 0; q < (sjm_i64)tl.nc * (k + 1); ++q) pt[q] = (A)0;
    if (!busy) return;
    const sjm_i64 M = tl.m_stride;
    A bl[SJM_COLS], mul[SJM_COLS], cal[SJM_COLS], cbl[SJM_COLS];
    sjm_per_column<A>(bl, b, tl.j0, tl.nc, S);
    sjm_per_column<A>(mul, mode == SJM_MOMENTS ? mu : (const A*)0, tl.j0, tl.nc, S);
    sjm_per_column<A>(cal, mode == SJM_MOMENTS ? ca : (const A*)0, tl.j0, tl.nc, S);
    sjm_per_column<A>(cbl, mode == SJM_MOMENTS ? cb : (const A*)0, tl.j0, tl.nc, S);

    sjm_grad_body<TX, MF> p1;
    sjm_dw_body<TX> p2;
    sjm_dx_body<TX, MF> p3;
    p1.bl = bl; p1.mul = mul; p1.cal = cal; p1.cbl = cbl;
    p1.pt = pt; p1.T = T; p1.k = k; p1.d = d; p1.mode = mode; p1.al = (A)alpha;
    p2.pt = pt; p2.T = T; p2.k = k; p2.d = d;
    p3.T = T; p3.k = k; p3.d = d;
#ifdef SJM_STAGED
    p1.wv = p3.wv = sjm_stage_taps<A>(0, w, tl.j0, tl.nc, S, k);
    p3.w2v = g2 ? sjm_stage_taps<A>(4, w2, tl.j0, tl.nc, S, k) : w2;
    p1.wld = p3.wld = SJM_LD;
    p1.xld = p2.xld = SJM_LD;
    p1.gc = sjm_thread_scratch<A>(5, (sjm_i64)T * SJM_LD);
    p1.gld = SJM_LD;
    p3.g2ld = SJM_LD;
    p3.os = SJM_LD;
#else
    p1.wv = p3.wv = w + tl.j0 / S * k;
    p3.w2v = g2 ? w2 + tl.j0 / S * k : w2;
    p1.wld = p3.wld = 1;
    p1.xld = p2.xld = M;
    p1.gld = M;
    p3.g2ld = M;
    p3.os = M;
#endif
    p2.gld = p3.gld = p1.gld;
    for (int n = tl.n_begin; n < tl.n_end; ++n) {
        const sjm_i64 m0 = n * tl.cs + tl.j0;
#ifdef SJM_STAGED
        p1.xs = p2.xs = sjm_stage<TX, A>(2, x + m0, M, T, tl.nc);
        p1.gs = grad_s ? sjm_stage<TX, A>(7, grad_s + m0, M, T, tl.nc) : (const A*)0;
        p1.gh_in = grad_h ? sjm_stage<A, A>(7, grad_h + m0, M, T, tl.nc) : grad_h;
        p1.gsld = SJM_LD;
#else
        p1.xs = p2.xs = x + m0;
        p1.gs = grad_s ? grad_s + m0 : grad_s;
        p1.gh_in = grad_h ? grad_h + m0 : grad_h;
        p1.gsld = M;
        p1.gc = gh + m0;
#endif
        p2.gc = p3.gc = p1.gc;
        sjm_for_groups<A>(p1, tl.nc);
#ifdef SJM_STAGED
        if (gh) sjm_unstage(gh + m0, M, p1.gc, T, tl.nc);
#endif
        sjm_for_groups<A>(p2, tl.nc);
        if (!dx) continue;
#ifdef SJM_STAGED
        p3.g2c = g2 ? sjm_stage<A, A>(6, g2 + m0, M, T, tl.nc) : g2;
        p3.dxo = sjm_thread_scratch<TX>(3, (sjm_i64)T * SJM_LD);
#else
        p3.g2c = g2 ? g2 + m0 : g2;
        p3.dxo = dx + m0;
#endif
        sjm_for_groups<A>(p3, tl.nc);
#ifdef SJM_STAGED
        sjm_unstage(dx + m0, M, p3.dxo, T, tl.nc);
#endif
    }
}

// Batch moments of one tile and sample: shifted sums of the un-biased charge per column (shift
// = the column's first value, taken at the tile's first sample).
template <typename TX>
struct sjm_moments_body {
    typedef typename sjm_io<TX>::acc A;
    typedef typename sjm_src<TX>::type TS;
    const TS* xs; sjm_i64 xld;
    const A* wv; sjm_i64 wld;
    A *pilot, *s1, *s2;
    bool first;
    int T, k, d;

    template <int L>
    SJM_INLINE void run(int j) {
        typedef sjm_lanes<TS, A, L> LN;
        typedef sjm_lanes<A, A, L> LA;
        typename LA::V p = LA::ld(pilot + j), a1 = LA::ld(s1 + j), a2 = LA::ld(s2 + j);
        for (int t0 = 0; t0 < T; t0 += SJM_TB) {
            typename LN::V acc[SJM_TB];
            SJM_UNROLL
            for (int a = 0; a < SJM_TB; ++a) acc[a] = LA::splat((A)0);
            sjm_taps_block<TS, A, L, false>(acc, xs + j, xld, t0, T, -1, wv + j, wld, k, d);
            if (first && t0 == 0) p = acc[0];
            const int na = T - t0 < SJM_TB ? T - t0 : SJM_TB;
            for (int a = 0; a < na; ++a) {
                const typename LA::V v = acc[a] - p;
                a1 += v;
                a2 += v * v;
            }
        }
        LA::st(pilot + j, p);
        LA::st(s1 + j, a1);
        LA::st(s2 + j, a2);
    }
};

// Batch moments of the un-biased charge H0: per column, shifted sums over its samples and steps
// (shift = the column's first H0 value), stored as (count, mean, M2) in
// part[(blockIdx.y * C*S + j) * 3 + {0, 1, 2}].
template <typename TX>
SJM_INLINE void cpsn_moments(
    const TX* __restrict__ x, const typename sjm_io<TX>::acc* __restrict__ w,
    typename sjm_io<TX>::acc* __restrict__ part, int T, int N, int C, int S, int k, int d) {
    typedef typename sjm_io<TX>::acc A;
    sjm_tile tl;
    const bool busy = sjm_make_tile(tl, T, N, C, S);
    if (tl.j0 >= tl.cs) return;
    A* pt = part + ((sjm_i64)blockIdx.y * tl.cs + tl.j0) * 3;
    if (!busy) {  // a grid row without samples: empty partials
        for (int q = 0; q < tl.nc * 3; ++q) pt[q] = (A)0;
        return;
    }
    const sjm_i64 M = tl.m_stride;
    A pilot[SJM_COLS], s1[SJM_COLS], s2[SJM_COLS];
    for (int j = 0; j < tl.nc; ++j) pilot[j] = s1[j] = s2[j] = (A)0;
    sjm_moments_body<TX> body;
    body.pilot = pilot; body.s1 = s1; body.s2 = s2;
    body.T = T; body.k = k; body.d = d;
#ifdef SJM_STAGED
    body.wv = sjm_stage_taps<A>(0, w, tl.j0, tl.nc, S, k);
    body.wld = SJM_LD;
    body.xld = SJM_LD;
#else
    body.wv = w + tl.j0 / S * k;
    body.wld = 1;
    body.xld = M;
#endif
    for (int n = tl.n_begin; n < tl.n_end; ++n) {
        const sjm_i64 m0 = n * tl.cs + tl.j0;
#ifdef SJM_STAGED
        body.xs = sjm_stage<TX, A>(2, x + m0, M, T, tl.nc);
#else
        body.xs = x + m0;
#endif
        body.first = n == tl.n_begin;
        sjm_for_groups<A>(body, tl.nc);
    }
    const A cnt = (A)T * (A)(tl.n_end - tl.n_begin);
    for (int j = 0; j < tl.nc; ++j) {
        pt[j * 3 + 0] = cnt;
        pt[j * 3 + 1] = pilot[j] + s1[j] / cnt;
        pt[j * 3 + 2] = s2[j] - s1[j] * s1[j] / cnt;
    }
}

#define SJM_DEF_TRAIN(SUF, TX, MF)                                                              \
    extern "C" __global__ void cpsn_forward_##SUF(                                              \
        const TX* x, const sjm_io<TX>::acc* w, const sjm_io<TX>::acc* b,                        \
        TX* spikes, sjm_io<TX>::acc* charge, int T, int N, int C, int S, int k, int d) {        \
        cpsn_forward<TX, MF>(x, w, b, spikes, charge, T, N, C, S, k, d);                        \
    }                                                                                           \
    SJM_EXPORT(cpsn_forward_##SUF)                                                              \
    extern "C" __global__ void cpsn_backward_##SUF(                                             \
        const TX* x, const sjm_io<TX>::acc* w, const sjm_io<TX>::acc* b,                        \
        const TX* grad_s, const sjm_io<TX>::acc* grad_h, const sjm_io<TX>::acc* mu,             \
        const sjm_io<TX>::acc* ca, const sjm_io<TX>::acc* cb, sjm_io<TX>::acc* gh, TX* dx,      \
        const sjm_io<TX>::acc* g2, const sjm_io<TX>::acc* w2, sjm_io<TX>::acc* part, int T,     \
        int N, int C, int S, int k, int d, int mode, float alpha) {                             \
        cpsn_backward<TX, MF>(x, w, b, grad_s, grad_h, mu, ca, cb, gh, dx, g2, w2, part,        \
                              T, N, C, S, k, d, mode, alpha);                                   \
    }                                                                                           \
    SJM_EXPORT(cpsn_backward_##SUF)

#define SJM_DEF_STATS(SUF, TX)                                                                  \
    extern "C" __global__ void cpsn_moments_##SUF(const TX* x, const sjm_io<TX>::acc* w,        \
                                                  sjm_io<TX>::acc* part, int T, int N, int C,   \
                                                  int S, int k, int d) {                        \
        cpsn_moments<TX>(x, w, part, T, N, C, S, k, d);                                         \
    }                                                                                           \
    SJM_EXPORT(cpsn_moments_##SUF)

SJM_DEF_TRAIN(f16_mul, sjm_half, false)
SJM_DEF_TRAIN(f16_shift, sjm_half, true)
SJM_DEF_TRAIN(bf16_mul, sjm_bf16, false)
SJM_DEF_TRAIN(bf16_shift, sjm_bf16, true)
SJM_DEF_TRAIN(f32_mul, float, false)
SJM_DEF_TRAIN(f32_shift, float, true)
SJM_DEF_TRAIN(f64_mul, double, false)
SJM_DEF_TRAIN(f64_shift, double, true)
SJM_DEF_STATS(f16, sjm_half)
SJM_DEF_STATS(bf16, sjm_bf16)
SJM_DEF_STATS(f32, float)
SJM_DEF_STATS(f64, double)
