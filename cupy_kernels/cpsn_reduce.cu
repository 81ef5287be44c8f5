// Per-channel reductions of the training kernels' per-column partials (cpsn_train.cu).
//
// A partial belongs to one grid row y < ny and one column c * S + s of a sample slab; its items
// are numbered u = y * S + s, u < ny * S. Partials of the backward hold k + 1 sums (dW taps
// q < k, db at q = k), tap-major: part[(y * (k+1) + q) * C*S + c * S + s]; those of the moments
// hold (count, mean, M2): part[(y * C*S + c * S + s) * 3 + {0, 1, 2}].
//
// Every sum runs in a fixed order (deterministic, no atomics). When a channel has many items,
// a first stage lets an item per (channel, chunk of R items) reduce a chunk and write it in
// the same layout with S = 1 and ny = the number of chunks, so that the final kernel has few
// items per thread: a GPU then keeps many threads busy instead of a few walking long lists.
#include "sjm_common.cuh"

// Sum of tap q of channel c over items [u0, u1).
template <typename A>
SJM_INLINE A sjm_sum_items(const A* __restrict__ part, int c, int q, sjm_i64 u0, sjm_i64 u1,
                           int C, int S, int k) {
    const sjm_i64 cs = (sjm_i64)C * S;
    A acc = (A)0;
    // items in order, (y, s) stepped without a division per item
    sjm_i64 s = u0 % S;
    const A* p = part + ((u0 / S) * (k + 1) + q) * cs + (sjm_i64)c * S + s;
    for (sjm_i64 u = u0; u < u1; ++u) {
        acc += *p++;
        if (++s == S) {
            s = 0;
            p += (k + 1) * cs - S;
        }
    }
    return acc;
}

// Chan et al.'s pairwise update: merges the (count, mean, M2) partials of channel c over items
// [u0, u1) into (n, mu, m2), in order.
template <typename A>
SJM_INLINE void sjm_merge_items(const A* __restrict__ part, int c, sjm_i64 u0, sjm_i64 u1,
                                int C, int S, A& n, A& mu, A& m2) {
    const sjm_i64 cs = (sjm_i64)C * S;
    sjm_i64 s = u0 % S;  // column of the item p points at, stepped as in sjm_sum_items
    const A* p = part + ((u0 / S) * cs + (sjm_i64)c * S + s) * 3;
    for (sjm_i64 u = u0; u < u1; ++u, p += 3) {
        if (s == S) {
            s = 0;
            p += (cs - S) * 3;
        }
        ++s;
        const A nb = p[0];
        if (nb == (A)0) continue;
        const A tot = n + nb;
        const A delta = p[1] - mu;
        mu += delta * (nb / tot);
        m2 += p[2] + delta * delta * (n * nb / tot);
        n = tot;
    }
}

// Final stage of the dW/db reduction: an item per (c, q), q <= k. With accumulate != 0 the
// dW sums are added to dw (a second gradient of the same weights) instead of stored.
template <typename A>
SJM_INLINE void cpsn_reduce_grad(const A* __restrict__ part, A* __restrict__ dw, A* __restrict__ db,
                                 int ny, int C, int S, int k, int accumulate) {
    SJM_FOR_ITEMS(id, (sjm_i64)C * (k + 1)) {
        const int c = (int)(id / (k + 1));
        const int q = (int)(id % (k + 1));
        const A acc = sjm_sum_items(part, c, q, 0, (sjm_i64)ny * S, C, S, k);
        A* out = q < k ? dw + c * k + q : db ? db + c : (A*)0;
        if (out) *out = accumulate && q < k ? *out + acc : acc;
    }
}

// First stage of the dW/db reduction: an item per (chunk, c, q); out gets the chunk's sum at
// out[(chunk * (k+1) + q) * C + c].
template <typename A>
SJM_INLINE void cpsn_reduce_grad_chunks(const A* __restrict__ part, A* __restrict__ out, int ny,
                                        int C, int S, int k, int R) {
    const sjm_i64 items = (sjm_i64)ny * S;
    const sjm_i64 per = (sjm_i64)C * (k + 1);
    SJM_FOR_ITEMS(id, per * ((items + R - 1) / R)) {
        const sjm_i64 chunk = id / per;
        const int q = (int)(id % per / C);  // c fastest: neighbouring threads write neighbours
        const int c = (int)(id % C);
        const sjm_i64 u0 = chunk * R, u1 = u0 + R < items ? u0 + R : items;
        out[(chunk * (k + 1) + q) * C + c] = sjm_sum_items(part, c, q, u0, u1, C, S, k);
    }
}

// Channel c's mean and biased variance from all its partials, into mean[c] and var[c].
template <typename A>
SJM_INLINE void sjm_channel_moments(const A* __restrict__ part, sjm_i64 c, A* __restrict__ mean,
                                    A* __restrict__ var, int ny, int C, int S) {
    A n = (A)0, mu = (A)0, m2 = (A)0;
    sjm_merge_items(part, (int)c, 0, (sjm_i64)ny * S, C, S, n, mu, m2);
    mean[c] = mu;
    var[c] = m2 / n;
}

// Final stage of the moments: an item per channel; writes mean[c] and biased var[c].
template <typename A>
SJM_INLINE void cpsn_reduce_moments(const A* __restrict__ part, A* __restrict__ mean,
                                    A* __restrict__ var, int ny, int C, int S) {
    SJM_FOR_ITEMS(c, C) sjm_channel_moments(part, c, mean, var, ny, C, S);
}

// First stage of the moments: an item per (chunk, c); out gets the chunk's (count, mean, M2)
// at out[(chunk * C + c) * 3 + {0, 1, 2}].
template <typename A>
SJM_INLINE void cpsn_reduce_moments_chunks(const A* __restrict__ part, A* __restrict__ out,
                                           int ny, int C, int S, int R) {
    const sjm_i64 items = (sjm_i64)ny * S;
    SJM_FOR_ITEMS(id, (sjm_i64)C * ((items + R - 1) / R)) {
        const sjm_i64 chunk = id / C;
        const int c = (int)(id % C);
        const sjm_i64 u0 = chunk * R, u1 = u0 + R < items ? u0 + R : items;
        A n = (A)0, mu = (A)0, m2 = (A)0;
        sjm_merge_items(part, c, u0, u1, C, S, n, mu, m2);
        A* o = out + (chunk * C + c) * 3;
        o[0] = n;
        o[1] = mu;
        o[2] = m2;
    }
}

#define SJM_DEF_REDUCE(SUF, A)                                                                  \
    extern "C" __global__ void cpsn_reduce_grad_##SUF(const A* part, A* dw, A* db, int ny,      \
                                                      int C, int S, int k, int accumulate) {    \
        cpsn_reduce_grad<A>(part, dw, db, ny, C, S, k, accumulate);                             \
    }                                                                                           \
    SJM_EXPORT(cpsn_reduce_grad_##SUF)                                                          \
    extern "C" __global__ void cpsn_reduce_grad_chunks_##SUF(const A* part, A* out, int ny,     \
                                                             int C, int S, int k, int R) {      \
        cpsn_reduce_grad_chunks<A>(part, out, ny, C, S, k, R);                                  \
    }                                                                                           \
    SJM_EXPORT(cpsn_reduce_grad_chunks_##SUF)                                                   \
    extern "C" __global__ void cpsn_reduce_moments_##SUF(const A* part, A* mean, A* var,        \
                                                         int ny, int C, int S) {                \
        cpsn_reduce_moments<A>(part, mean, var, ny, C, S);                                      \
    }                                                                                           \
    SJM_EXPORT(cpsn_reduce_moments_##SUF)                                                       \
    extern "C" __global__ void cpsn_reduce_moments_chunks_##SUF(const A* part, A* out, int ny,  \
                                                                int C, int S, int R) {          \
        cpsn_reduce_moments_chunks<A>(part, out, ny, C, S, R);                                  \
    }                                                                                           \
    SJM_EXPORT(cpsn_reduce_moments_chunks_##SUF)

SJM_DEF_REDUCE(f32, float)
SJM_DEF_REDUCE(f64, double)
