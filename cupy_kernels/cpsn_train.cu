// CPSN training kernels on the native [T, M] layout: the charge + fire forward and the
// backward of the charge; thread tiling, weights and time blocks as in sjm_tiles.cuh.
#include "sjm_tiles.cuh"

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
        for (int t0 = 0; t0 < T; t0 += SJM_TB) block<L>(j, t0);
    }

    template <int L>
    SJM_INLINE void block(int j, int t0) {
        typedef sjm_lanes<TS, A, L> LN;
        typename LN::V acc[SJM_TB];
        SJM_UNROLL
        for (int a = 0; a < SJM_TB; ++a) acc[a] = sjm_lanes<A, A, L>::ld(bl + j);
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
    body.wv = sjm_tile_taps<A>(0, tl, w, S, k);
    body.wld = SJM_TAP_LD;
    body.xld = body.os = M;
#ifdef SJM_STAGED
    // 16-bit rows are converted into the scratch, float32 / float64 ones copied there from
    // order SJM_STAGE_MIN_K on; the outputs are written there and copied back
    const bool staged = sjm_stage_rows<TX, A>(k);
    if (staged) body.xld = body.os = SJM_LD;
#endif
    for (int n = tl.n_begin; n < tl.n_end; ++n) {
        const sjm_i64 m0 = n * tl.cs + tl.j0;
#ifdef SJM_STAGED
        if (staged) {
            body.xs = sjm_stage<TX, A>(2, x + m0, M, T, tl.nc);
            body.so = spikes ? sjm_thread_scratch<TX>(3, (sjm_i64)T * SJM_LD) : spikes;
            body.ho = charge ? sjm_thread_scratch<A>(3, (sjm_i64)T * SJM_LD) : charge;
            sjm_for_groups<A>(body, tl.nc);
            if (spikes) sjm_unstage(spikes + m0, M, body.so, T, tl.nc);
            if (charge) sjm_unstage(charge + m0, M, body.ho, T, tl.nc);
            continue;
        }
        if constexpr (!sjm_copies<TX, A>::value)  // in place (16-bit rows are always staged)
#endif
        {
            body.xs = x + m0;
            body.so = spikes ? spikes + m0 : spikes;
            body.ho = charge ? charge + m0 : charge;
            sjm_for_blocks<A>(body, tl.nc, T);
        }
    }
}

// Backward phase 1 of one tile and sample, in time blocks of SJM_TB_GRAD steps (SJM_TB when T
// is shorter): recompute H, form g = dL/dH by `mode` (see sjm_common.cuh) into gc (row stride
// gld), and add sum_t g to the db partials.
template <typename TX, bool MF>
struct sjm_grad_body {
    typedef typename sjm_io<TX>::acc A;
    typedef typename sjm_src<TX>::type TS;
    const TS* xs; sjm_i64 xld;
    const A* wv; sjm_i64 wld;
    const A *bl, *mul, *cal, *cbl;
    const TS* gs; const A* gh_in; sjm_i64 gsld;  // grad_s / grad_h of this sample
    A* gc; sjm_i64 gld;
    A* pt; sjm_i64 pld;  // partials of the tile, tap-major (row stride pld)
    int T, k, d, mode;
    A al;

    template <int L>
    SJM_INLINE void run(int j) {
        if (T >= SJM_TB_GRAD) {
            blocks<L, SJM_TB_GRAD>(j);
        } else {
            blocks<L, SJM_TB>(j);
        }
    }

    template <int L, int TB>
    SJM_INLINE void blocks(int j) {
        typedef sjm_lanes<TS, A, L> LN;
        typedef sjm_lanes<A, A, L> LA;
        const typename LA::V bias = LA::ld(bl + j);
        typename LA::V sum = LA::splat((A)0);
        for (int t0 = 0; t0 < T; t0 += TB) {
            typename LN::V acc[TB];
            SJM_UNROLL
            for (int a = 0; a < TB; ++a) acc[a] = bias;
            if (mode != SJM_GIVEN)
                sjm_taps_block<TS, A, L, MF, TB>(acc, xs + j, xld, t0, T, -1, wv + j, wld, k, d);
            const int na = T - t0 < TB ? T - t0 : TB;
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
        A* db = pt + k * pld + j;
        LA::st(db, LA::ld(db) + sum);
    }
};

// One block of SJM_TB steps t8.. of the d = 1 dW partials on the GPU's traversal:
// s[q] += g[t] X[t - lag0 + q] for the group's nq taps, with X[r] = 0 (skipped) for r < 0.
// The rows of a step are a ring of registers, row r in slot (r + lag0) mod SJM_TB: each step
// loads the one row the next step adds (row rn, at offset on) instead of SJM_TB; go: the
// offset of the step's g in gc.
// Per partial the steps are added in the same order and the same ones skipped as in the
// general loop (up to how a compiler contracts the multiply-adds).
// CHECK = false: every tap of every step reads a row in [0, T) (no tests).
template <typename TS, typename A, bool CHECK>
SJM_INLINE void sjm_dw_ring_block(A* s, A* ring, const TS* xs, sjm_i64& on, int& rn,
                                  const A* gc, sjm_i64& go, sjm_i64 gld, sjm_i64 xld, int t8,
                                  int T, int lag0, int nq) {
    SJM_UNROLL
    for (int u = 0; u < SJM_TB; ++u) {
        const int t = t8 + u;
        if (CHECK && t >= T) break;
        const A g = gc[go];
        go += gld;
        if (!CHECK || (t >= lag0 && nq == SJM_TB)) {
            SJM_UNROLL
            for (int q = 0; q < SJM_TB; ++q) s[q] += g * ring[(u + q) % SJM_TB];
        } else {
            SJM_UNROLL
            for (int q = 0; q < SJM_TB; ++q) {
                if (q >= nq || t - lag0 + q < 0) continue;
                s[q] += g * ring[(u + q) % SJM_TB];
            }
        }
        // row t - lag0 (slot u) is done with; the next step adds row t - lag0 + SJM_TB
        ring[u] = !CHECK || (rn >= 0 && rn < T) ? sjm_io<TS>::ld(xs[on]) : (A)0;
        ++rn;
        on += xld;
    }
}

// Backward phase 2: dW partials sum_t g[t] X[t - (k-1-i) d], SJM_TB taps at a time.
template <typename TX>
struct sjm_dw_body {
    typedef typename sjm_io<TX>::acc A;
    typedef typename sjm_src<TX>::type TS;
    const TS* xs; sjm_i64 xld;
    const A* gc; sjm_i64 gld;
    A* pt; sjm_i64 pld;
    int T, k, d;

    template <int L>
    SJM_INLINE void run(int j) {
        typedef sjm_lanes<TS, A, L> LN;
        typedef sjm_lanes<A, A, L> LA;
        for (int i0 = 0; i0 < k; i0 += SJM_TB) {
            typename LA::V s[SJM_TB];
            SJM_UNROLL
            for (int q = 0; q < SJM_TB; ++q) s[q] = LA::splat((A)0);
            const int lag0 = (k - 1 - i0) * d;
            const int nq = k - i0 < SJM_TB ? k - i0 : SJM_TB;
#ifndef SJM_STAGED
            if (d == 1) {
                ring_partials(s, j, lag0, nq);
                add_partials(s, j, i0, nq);
                continue;
            }
#endif
            // From step `safe` on, every tap of a full block reads a row >= 0: no checks.
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
            add_partials(s, j, i0, nq);
        }
    }

    template <typename V>
    SJM_INLINE void add_partials(const V* s, int j, int i0, int nq) {
        typedef sjm_lanes<A, A, sizeof(V) / sizeof(A)> LA;
        for (int q = 0; q < nq; ++q) {
            A* dw = pt + (i0 + q) * pld + j;
            LA::st(dw, LA::ld(dw) + s[q]);
        }
    }

#ifndef SJM_STAGED
    // d = 1 on the GPU's traversal (one column: L = 1): the register ring of sjm_dw_ring_block.
    SJM_INLINE void ring_partials(A* s, int j, int lag0, int nq) {
        A ring[SJM_TB];
        SJM_UNROLL
        for (int q = 0; q < SJM_TB; ++q)
            ring[q] = sjm_row_or_zero<TS, A, 1>(xs + j, xld, q - lag0, T);
        int rn = SJM_TB - lag0;
        sjm_i64 on = (sjm_i64)rn * xld;  // an offset: a pointer to a row outside would be UB
        sjm_i64 go = 0;  // g's offset, advanced a row per step by the blocks
        for (int t8 = 0; t8 < T; t8 += SJM_TB) {
            // the block's steps are t8 .. t8 + SJM_TB - 1; its taps read rows from t8 - lag0
            // and its ring loads rows up to t8 + 2 SJM_TB - 1 - lag0
            if (t8 >= lag0 && nq == SJM_TB && t8 + SJM_TB <= T && t8 + 2 * SJM_TB - lag0 <= T) {
                sjm_dw_ring_block<TS, A, false>(s, ring, xs + j, on, rn, gc + j, go, gld, xld,
                                                t8, T, lag0, nq);
            } else {
                sjm_dw_ring_block<TS, A, true>(s, ring, xs + j, on, rn, gc + j, go, gld, xld,
                                               t8, T, lag0, nq);
            }
        }
    }
#endif
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
// when TX is the accumulator type (rows >= t are read before row t is written). Partials,
// tap-major so that a thread adds whole lane groups (and neighbouring GPU threads write
// neighbouring slots): part[(blockIdx.y * (k+1) + q) * C*S + j], q < k for dW, q = k for db;
// the thread adds to its own slots (it zeroes them first).
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
    A* pt = part + (sjm_i64)blockIdx.y * (k + 1) * tl.cs + tl.j0;
    for (int q = 0; q <= k; ++q)
        for (int j = 0; j < tl.nc; ++j) pt[q * tl.cs + j] = (A)0;
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
    p1.pt = p2.pt = pt;
    p1.pld = p2.pld = tl.cs;
    p1.T = T; p1.k = k; p1.d = d; p1.mode = mode; p1.al = (A)alpha;
    p2.T = T; p2.k = k; p2.d = d;
    p3.T = T; p3.k = k; p3.d = d;
    p1.wv = p3.wv = sjm_tile_taps<A>(0, tl, w, S, k);
    p3.w2v = g2 ? sjm_tile_taps<A>(4, tl, w2, S, k) : w2;
    p1.wld = p3.wld = SJM_TAP_LD;
#ifdef SJM_STAGED
    p1.xld = p2.xld = SJM_LD;
    p1.gc = sjm_thread_scratch<A>(5, (sjm_i64)T * SJM_LD);
    p1.gld = SJM_LD;
    p3.g2ld = SJM_LD;
    p3.os = SJM_LD;
#else
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

SJM_DEF_TRAIN(f16_mul, sjm_half, false)
SJM_DEF_TRAIN(f16_shift, sjm_half, true)
SJM_DEF_TRAIN(bf16_mul, sjm_bf16, false)
SJM_DEF_TRAIN(bf16_shift, sjm_bf16, true)
SJM_DEF_TRAIN(f32_mul, float, false)
SJM_DEF_TRAIN(f32_shift, float, true)
SJM_DEF_TRAIN(f64_mul, double, false)
SJM_DEF_TRAIN(f64_shift, double, true)
