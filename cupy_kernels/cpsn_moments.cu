// Batch moments of the un-biased charge of the BatchNorm threshold, one pass over X that
// writes no charge; thread tiling, weights and time blocks as in sjm_tiles.cuh, the
// per-channel merge in cpsn_reduce.cu.
#include "sjm_tiles.cuh"

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
        for (int t0 = 0; t0 < T; t0 += SJM_TB) block<L>(j, t0);
    }

    // One time block; the column's shift and sums wait in pilot, s1 and s2 between blocks.
    template <int L>
    SJM_INLINE void block(int j, int t0) {
        typedef sjm_lanes<A, A, L> LA;
        typename LA::V p = LA::ld(pilot + j), a1 = LA::ld(s1 + j), a2 = LA::ld(s2 + j);
        typename LA::V acc[SJM_TB];
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
    body.wv = sjm_tile_taps<A>(0, tl, w, S, k);
    body.wld = SJM_TAP_LD;
    body.xld = M;
#ifdef SJM_STAGED
    const bool staged = sjm_stage_rows<TX, A>(k);
    if (staged) body.xld = SJM_LD;
#endif
    for (int n = tl.n_begin; n < tl.n_end; ++n) {
        const sjm_i64 m0 = n * tl.cs + tl.j0;
        body.first = n == tl.n_begin;
#ifdef SJM_STAGED
        if (staged) {  // rows converted (16-bit) or copied (large k) into the scratch
            body.xs = sjm_stage<TX, A>(2, x + m0, M, T, tl.nc);
            sjm_for_groups<A>(body, tl.nc);
        } else if constexpr (!sjm_copies<TX, A>::value)
#endif
        {
            body.xs = x + m0;
            sjm_for_blocks<A>(body, tl.nc, T);
        }
    }
    const A cnt = (A)T * (A)(tl.n_end - tl.n_begin);
    for (int j = 0; j < tl.nc; ++j) {
        pt[j * 3 + 0] = cnt;
        pt[j * 3 + 1] = pilot[j] + s1[j] / cnt;
        pt[j * 3 + 2] = s2[j] - s1[j] * s1[j] / cnt;
    }
}

#define SJM_DEF_STATS(SUF, TX)                                                                  \
    extern "C" __global__ void cpsn_moments_##SUF(const TX* x, const sjm_io<TX>::acc* w,        \
                                                  sjm_io<TX>::acc* part, int T, int N, int C,   \
                                                  int S, int k, int d) {                        \
        cpsn_moments<TX>(x, w, part, T, N, C, S, k, d);                                         \
    }                                                                                           \
    SJM_EXPORT(cpsn_moments_##SUF)

SJM_DEF_STATS(f16, sjm_half)
SJM_DEF_STATS(bf16, sjm_bf16)
SJM_DEF_STATS(f32, float)
SJM_DEF_STATS(f64, double)
