// CPSN training kernels on the native [T, M] layout (see sjm_common.cuh).
//
// Thread tiling shared by the kernels below: blockIdx.x * blockDim.x + threadIdx.x picks the
// SJM_COLS consecutive columns j0.. of one sample's [C * S] slab, blockIdx.y picks a contiguous
// range of samples n (gridDim.y ranges cover N). The thread walks its columns through all T steps.
//
//   H[t, m] = b[c] + sum_i w[c, i] * X[t - (k-1-i) d, m]          (X = 0 before t = 0)
//
// Weights come expanded per column: wc[i * C*S + j] = w[j / S, i] (and the tap codes likewise),
// so the inner column loops read them contiguously (coalesced on the GPU, vector loads on the
// host) instead of gathering by channel.
//
// Reductions over (t, n, s) are deterministic: each thread writes its own per-column partial
// (no atomics) and a second kernel sums the partials of a channel in a fixed order.
#include "sjm_common.cuh"

// The columns and sample range a thread owns; false if it owns none.
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

// Taps of one time step over a block of FULL ? SJM_VEC : nv columns, accumulated in registers:
//   out[j] = init[j] + sum_i tap(src[r_i, j], w_i[j]),  r_i = t + dir * (k-1-i) d,  0 <= r_i < T
// (dir = -1: the causal charge; dir = +1: the anti-causal correlation of the backward).
template <typename TI, typename A, bool MF, bool FULL>
SJM_INLINE void sjm_taps_block(A* out, const A* init, const TI* src, sjm_i64 M, int t, int T,
                               int dir, const A* __restrict__ wc, const int* __restrict__ cc,
                               sjm_i64 cs, int nv, int k, int d) {
    const int n = FULL ? SJM_VEC : nv;
    A acc[SJM_VEC];
    for (int j = 0; j < n; ++j) acc[j] = init ? init[j] : (A)0;
    for (int i = 0; i < k; ++i) {
        const int r = t + dir * (k - 1 - i) * d;
        if (r < 0 || r >= T) continue;
        const TI* __restrict__ row = src + r * M;
        const A* __restrict__ wr = wc + i * cs;
        const int* __restrict__ cr = MF ? cc + i * cs : cc;
        for (int j = 0; j < n; ++j)
            acc[j] += sjm_tap<MF, A>(sjm_io<TI>::ld(row[j]), wr[j], MF ? cr[j] : 0);
    }
    for (int j = 0; j < n; ++j) out[j] = acc[j];
}

// sjm_taps_block over the tile's nc columns, in blocks of SJM_VEC (a register-sized
// accumulator on the host; a single column on the GPU).
template <typename TI, typename A, bool MF>
SJM_INLINE void sjm_taps(A* out, const A* init, const TI* src, sjm_i64 M, int t, int T, int dir,
                         const A* __restrict__ wc, const int* __restrict__ cc, sjm_i64 cs, int nc,
                         int k, int d) {
    for (int j = 0; j < nc; j += SJM_VEC) {
        const A* in = init ? init + j : init;
        const int* cj = MF ? cc + j : cc;
        if (nc - j >= SJM_VEC) {
            sjm_taps_block<TI, A, MF, true>(out + j, in, src + j, M, t, T, dir, wc + j, cj, cs,
                                            SJM_VEC, k, d);
        } else {
            sjm_taps_block<TI, A, MF, false>(out + j, in, src + j, M, t, T, dir, wc + j, cj, cs,
                                             nc - j, k, d);
        }
    }
}

// Charge of one time step for the tile's columns into h[0..nc). wc, cc: the expanded weights and
// tap codes, offset to the tile's first column; cs: their row stride; bl: the columns' biases.
template <typename TX, bool MF>
SJM_INLINE void sjm_charge_row(
    typename sjm_io<TX>::acc* h, const TX* __restrict__ xc, sjm_i64 M, int t,
    const typename sjm_io<TX>::acc* __restrict__ wc, const int* __restrict__ cc, sjm_i64 cs,
    const typename sjm_io<TX>::acc* bl, int nc, int k, int d) {
    sjm_taps<TX, typename sjm_io<TX>::acc, MF>(h, bl, xc, M, t, t + 1, -1, wc, cc, cs, nc, k, d);
}

// Per-column copy of a per-channel vector (zeros for a null one): dst[j] = v[(j0 + j) / S].
template <typename A>
SJM_INLINE void sjm_per_column(A* dst, const A* __restrict__ v, sjm_i64 j0, int nc, int S) {
    for (int j = 0; j < nc; ++j) dst[j] = v ? v[(j0 + j) / S] : (A)0;
}

// Forward: spikes (H >= 0, in TX) into `spikes`, or the charge H (accumulator type) into
// `charge`; exactly one of the two is non-null. w, codes: expanded [k, C*S]; b: [C] or null.
template <typename TX, bool MF>
SJM_INLINE void cpsn_forward(
    const TX* __restrict__ x, const typename sjm_io<TX>::acc* __restrict__ w,
    const int* __restrict__ codes, const typename sjm_io<TX>::acc* __restrict__ b,
    TX* __restrict__ spikes, typename sjm_io<TX>::acc* __restrict__ charge,
    int T, int N, int C, int S, int k, int d) {
    typedef typename sjm_io<TX>::acc A;
    sjm_tile tl;
    if (!sjm_make_tile(tl, T, N, C, S)) return;
    A h[SJM_COLS], bl[SJM_COLS];
    sjm_per_column<A>(bl, b, tl.j0, tl.nc, S);
    for (int n = tl.n_begin; n < tl.n_end; ++n) {
        const sjm_i64 m0 = n * tl.cs + tl.j0;
        for (int t = 0; t < T; ++t) {
            if (t + SJM_AHEAD < T) sjm_prefetch(x + m0 + (t + SJM_AHEAD) * tl.m_stride, tl.nc);
            sjm_charge_row<TX, MF>(h, x + m0, tl.m_stride, t, w + tl.j0, MF ? codes + tl.j0 : codes,
                                   tl.cs, bl, tl.nc, k, d);
            const sjm_i64 row = t * tl.m_stride + m0;
            if (spikes) {
                for (int j = 0; j < tl.nc; ++j)
                    spikes[row + j] = sjm_io<TX>::st(h[j] >= (A)0 ? (A)1 : (A)0);
            } else {
                for (int j = 0; j < tl.nc; ++j) charge[row + j] = h[j];
            }
        }
    }
}

// Backward of the charge (and its fused consumers), three phases per column:
//   1. recompute H, form g = dL/dH by `mode` (see sjm_common.cuh), store g in `gh`;
//   2. dW partials: sum_t g[t] X[t - (k-1-i) d]; db partial: sum_t g[t];
//   3. dX[t] = sum_i w_i g[t + (k-1-i) d] (anti-causal correlation), written to `dx`; skipped
//      when dx is null (g is then kept in `gh` for a later call). If g2 is given, the
//      correlation of g2 with the second expanded weights w2 (always multiplied) is added:
//      one pass forms the input gradient of two consumers of X.
// `gh` may alias `dx` when TX is the accumulator type, and so may `g2` (phase 3 reads rows >= t
// before writing row t). A null `gh` (host only) keeps g in the thread's private scratch (row
// stride SJM_COLS: contiguous and cache-resident) instead of a [T, M] buffer. Partials: part[(blockIdx.y * C*S + j) * (k+1) + q], q < k for dW, q = k for db; the
// thread adds to its own slots (zero-initialised by the launcher).
template <typename TX, bool MF>
SJM_INLINE void cpsn_backward(
    const TX* __restrict__ x, const typename sjm_io<TX>::acc* __restrict__ w,
    const int* __restrict__ codes, const typename sjm_io<TX>::acc* __restrict__ b,
    const TX* __restrict__ grad_s, const typename sjm_io<TX>::acc* __restrict__ grad_h,
    const typename sjm_io<TX>::acc* __restrict__ mu,
    const typename sjm_io<TX>::acc* __restrict__ ca,
    const typename sjm_io<TX>::acc* __restrict__ cb,
    typename sjm_io<TX>::acc* gh, TX* dx, const typename sjm_io<TX>::acc* g2,
    const typename sjm_io<TX>::acc* __restrict__ w2, typename sjm_io<TX>::acc* __restrict__ part,
    int T, int N, int C, int S, int k, int d, int mode, float alpha) {
    typedef typename sjm_io<TX>::acc A;
    sjm_tile tl;
    if (!sjm_make_tile(tl, T, N, C, S)) return;
    const sjm_i64 M = tl.m_stride;
    A h[SJM_COLS], s[SJM_COLS], bl[SJM_COLS], mul[SJM_COLS], cal[SJM_COLS], cbl[SJM_COLS];
    sjm_per_column<A>(bl, b, tl.j0, tl.nc, S);
    if (mode == SJM_MOMENTS) {
        sjm_per_column<A>(mul, mu, tl.j0, tl.nc, S);
        sjm_per_column<A>(cal, ca, tl.j0, tl.nc, S);
        sjm_per_column<A>(cbl, cb, tl.j0, tl.nc, S);
    }
    A* __restrict__ pt = part + ((sjm_i64)blockIdx.y * tl.cs + tl.j0) * (k + 1);
    const A al = (A)alpha;
    const A* __restrict__ wc = w + tl.j0;
    const int* __restrict__ cc = MF ? codes + tl.j0 : codes;
#ifdef SJM_HOST
    A* const scratch = gh ? (A*)0 : sjm_thread_scratch<A>((sjm_i64)T * SJM_COLS);
#else
    A* const scratch = (A*)0;
#endif
    const sjm_i64 gM = scratch ? (sjm_i64)SJM_COLS : M;  // row stride of g
    for (int n = tl.n_begin; n < tl.n_end; ++n) {
        const sjm_i64 m0 = n * tl.cs + tl.j0;
        const TX* __restrict__ xc = x + m0;
        A* gc = scratch ? scratch : gh + m0;
        for (int j = 0; j < tl.nc; ++j) s[j] = (A)0;
        for (int t = 0; t < T; ++t) {
            if (t + SJM_AHEAD < T) {
                sjm_prefetch(xc + (t + SJM_AHEAD) * M, tl.nc);
                if (grad_s) sjm_prefetch(grad_s + (t + SJM_AHEAD) * M + m0, tl.nc);
                if (grad_h) sjm_prefetch(grad_h + (t + SJM_AHEAD) * M + m0, tl.nc);
            }
            if (mode != SJM_GIVEN)
                sjm_charge_row<TX, MF>(h, xc, M, t, wc, cc, tl.cs, bl, tl.nc, k, d);
            const sjm_i64 row = t * M;
            if (mode == SJM_GIVEN) {
                for (int j = 0; j < tl.nc; ++j) h[j] = grad_h[row + m0 + j];
            } else if (mode == SJM_MOMENTS) {
                for (int j = 0; j < tl.nc; ++j) h[j] = cal[j] * (h[j] - mul[j]) + cbl[j];
            } else {
                for (int j = 0; j < tl.nc; ++j)
                    h[j] = sjm_io<TX>::ld(grad_s[row + m0 + j]) *
                           sjm_surrogate_grad<A>(mode, h[j], al);
            }
            for (int j = 0; j < tl.nc; ++j) {
                gc[t * gM + j] = h[j];
                s[j] += h[j];
            }
        }
        for (int j = 0; j < tl.nc; ++j) pt[j * (k + 1) + k] += s[j];
        for (int jb = 0; jb < tl.nc; jb += SJM_VEC) {  // blocks of columns: g and X stay cached
            const int nv = tl.nc - jb < SJM_VEC ? tl.nc - jb : SJM_VEC;
            for (int i = 0; i < k; ++i) {
                const int lag = (k - 1 - i) * d;
                for (int j = 0; j < nv; ++j) s[j] = (A)0;
                for (int t = lag; t < T; ++t) {
                    const A* gr = gc + t * gM + jb;
                    const TX* __restrict__ xr = xc + (t - lag) * M + jb;
                    for (int j = 0; j < nv; ++j) s[j] += gr[j] * sjm_io<TX>::ld(xr[j]);
                }
                for (int j = 0; j < nv; ++j) pt[(jb + j) * (k + 1) + i] += s[j];
            }
        }
        if (!dx) continue;
        const A* g2c = g2 ? g2 + m0 : g2;
        for (int t = 0; t < T; ++t) {
            sjm_taps<A, A, MF>(h, (const A*)0, gc, gM, t, T, 1, wc, cc, tl.cs, tl.nc, k, d);
            if (g2c) {
                sjm_taps<A, A, false>(h, h, g2c, M, t, T, 1, w2 + tl.j0, (const int*)0, tl.cs,
                                      tl.nc, k, d);
            }
            TX* dr = dx + t * M + m0;
            for (int j = 0; j < tl.nc; ++j) dr[j] = sjm_io<TX>::st(h[j]);
        }
    }
}

// Batch moments of the un-biased charge H0: per column, shifted sums over its samples and steps
// (shift = the column's first H0 value), stored as (count, mean, M2) in
// part[(blockIdx.y * C*S + j) * 3 + {0, 1, 2}].
template <typename TX>
SJM_INLINE void cpsn_moments(
    const TX* __restrict__ x, const typename sjm_io<TX>::acc* __restrict__ w,
    typename sjm_io<TX>::acc* __restrict__ part, int T, int N, int C, int S, int k, int d) {
    typedef typename sjm_io<TX>::acc A;
    sjm_tile tl;
    if (!sjm_make_tile(tl, T, N, C, S)) return;
    A h[SJM_COLS], zero[SJM_COLS], pilot[SJM_COLS], s1[SJM_COLS], s2[SJM_COLS];
    for (int j = 0; j < tl.nc; ++j) zero[j] = s1[j] = s2[j] = (A)0;
    for (int n = tl.n_begin; n < tl.n_end; ++n) {
        const sjm_i64 m0 = n * tl.cs + tl.j0;
        for (int t = 0; t < T; ++t) {
            if (t + SJM_AHEAD < T) sjm_prefetch(x + m0 + (t + SJM_AHEAD) * tl.m_stride, tl.nc);
            sjm_charge_row<TX, false>(h, x + m0, tl.m_stride, t, w + tl.j0, 0, tl.cs, zero,
                                      tl.nc, k, d);
            if (n == tl.n_begin && t == 0) {
                for (int j = 0; j < tl.nc; ++j) pilot[j] = h[j];
            }
            for (int j = 0; j < tl.nc; ++j) {
                const A v = h[j] - pilot[j];
                s1[j] += v;
                s2[j] += v * v;
            }
        }
    }
    const A cnt = (A)T * (A)(tl.n_end - tl.n_begin);
    A* pt = part + ((sjm_i64)blockIdx.y * tl.cs + tl.j0) * 3;
    for (int j = 0; j < tl.nc; ++j) {
        pt[j * 3 + 0] = cnt;
        pt[j * 3 + 1] = pilot[j] + s1[j] / cnt;
        pt[j * 3 + 2] = s2[j] - s1[j] * s1[j] / cnt;
    }
}

// Second stage of the dW/db reduction: one thread per (c, q), q <= k; sums the partials of the
// channel's columns over blocks y (outer) and spatial positions s (inner), in that fixed order.
template <typename A>
SJM_INLINE void cpsn_reduce_grad(const A* __restrict__ part, A* __restrict__ dw, A* __restrict__ db,
                                 int ny, int C, int S, int k) {
    const sjm_i64 id = (sjm_i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (sjm_i64)C * (k + 1)) return;
    const int c = (int)(id / (k + 1));
    const int q = (int)(id % (k + 1));
    const sjm_i64 cs = (sjm_i64)C * S;
    A acc = (A)0;
    for (int y = 0; y < ny; ++y) {
        const A* p = part + (y * cs + (sjm_i64)c * S) * (k + 1) + q;
        for (int s = 0; s < S; ++s) acc += p[(sjm_i64)s * (k + 1)];
    }
    if (q < k) {
        dw[c * k + q] = acc;
    } else if (db) {
        db[c] = acc;
    }
}

// Second stage of the moments: one thread per channel merges the (count, mean, M2) partials
// (Chan et al.'s pairwise update) in a fixed order; writes mean[c] and biased var[c].
template <typename A>
SJM_INLINE void cpsn_reduce_moments(const A* __restrict__ part, A* __restrict__ mean,
                                    A* __restrict__ var, int ny, int C, int S) {
    const sjm_i64 c = (sjm_i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    const sjm_i64 cs = (sjm_i64)C * S;
    A n = (A)0, mu = (A)0, m2 = (A)0;
    for (int y = 0; y < ny; ++y) {
        const A* p = part + (y * cs + c * S) * 3;
        for (int s = 0; s < S; ++s) {
            const A nb = p[s * 3 + 0];
            if (nb == (A)0) continue;
            const A tot = n + nb;
            const A delta = p[s * 3 + 1] - mu;
            mu += delta * (nb / tot);
            m2 += p[s * 3 + 2] + delta * delta * (n * nb / tot);
            n = tot;
        }
    }
    mean[c] = mu;
    var[c] = m2 / n;
}

#define SJM_DEF_TRAIN(SUF, TX, MF)                                                              \
    extern "C" __global__ void cpsn_forward_##SUF(                                              \
        const TX* x, const sjm_io<TX>::acc* w, const int* codes, const sjm_io<TX>::acc* b,      \
        TX* spikes, sjm_io<TX>::acc* charge, int T, int N, int C, int S, int k, int d) {        \
        cpsn_forward<TX, MF>(x, w, codes, b, spikes, charge, T, N, C, S, k, d);                 \
    }                                                                                           \
    SJM_EXPORT(cpsn_forward_##SUF)                                                              \
    extern "C" __global__ void cpsn_backward_##SUF(                                             \
        const TX* x, const sjm_io<TX>::acc* w, const int* codes, const sjm_io<TX>::acc* b,      \
        const TX* grad_s, const sjm_io<TX>::acc* grad_h, const sjm_io<TX>::acc* mu,             \
        const sjm_io<TX>::acc* ca, const sjm_io<TX>::acc* cb, sjm_io<TX>::acc* gh, TX* dx,      \
        const sjm_io<TX>::acc* g2, const sjm_io<TX>::acc* w2, sjm_io<TX>::acc* part, int T,     \
        int N, int C, int S, int k, int d, int mode, float alpha) {                             \
        cpsn_backward<TX, MF>(x, w, codes, b, grad_s, grad_h, mu, ca, cb, gh, dx, g2, w2, part, \
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

#define SJM_DEF_REDUCE(SUF, A)                                                                  \
    extern "C" __global__ void cpsn_reduce_grad_##SUF(const A* part, A* dw, A* db, int ny,      \
                                                      int C, int S, int k) {                    \
        cpsn_reduce_grad<A>(part, dw, db, ny, C, S, k);                                         \
    }                                                                                           \
    SJM_EXPORT(cpsn_reduce_grad_##SUF)                                                          \
    extern "C" __global__ void cpsn_reduce_moments_##SUF(const A* part, A* mean, A* var,        \
                                                         int ny, int C, int S) {                \
        cpsn_reduce_moments<A>(part, mean, var, ny, C, S);                                      \
    }                                                                                           \
    SJM_EXPORT(cpsn_reduce_moments_##SUF)

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
SJM_DEF_REDUCE(f32, float)
SJM_DEF_REDUCE(f64, double)
