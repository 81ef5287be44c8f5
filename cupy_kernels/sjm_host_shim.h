// Host shim: lets the host C++ compiler build the CUDA kernel sources in this folder.
//
// CUDA qualifiers become plain C++, threadIdx / blockIdx / blockDim / gridDim become
// thread-local variables, and every kernel exported with SJM_EXPORT is entered in a table that
// `sjm_launch` runs: OpenMP over blocks, each block's threads one after the other. The kernels
// use no __syncthreads or warp intrinsics, so running a block's threads in sequence is exact.
// By default the kernels take the host's staged traversal (SJM_STAGED: each thread owns
// SJM_COLS columns, processed one SIMD register at a time, see sjm_width); with
// -DSJM_GPU_LAYOUT they take the GPU's (one column per thread, tensors read and written in
// place).
#ifndef SJM_HOST_SHIM_H
#define SJM_HOST_SHIM_H

#define SJM_HOST 1
#ifndef SJM_GPU_LAYOUT
#define SJM_STAGED 1
#endif
#ifndef SJM_COLS
#ifdef SJM_STAGED
#define SJM_COLS 1024
#else
#define SJM_COLS 1
#endif
#endif
// Row stride of a thread's staged rows: not a multiple of 4 KiB (see sjm_stage).
#define SJM_LD (SJM_COLS + 16)
// Steps per time block of the staged traversal (sjm_tiles.cuh; the GPU keeps 8). Measured on one
// CPU thread, forward + moments + backward: 12-19 % faster than 8 steps at T = 4, 5 % at T = 8,
// equal within noise at k = 16 and 32 and for the SHD layer.
#if defined(SJM_STAGED) && !defined(SJM_TB)
#define SJM_TB 4
#endif

#include <math.h>
#include <string.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

// The library's entry points; it is built with -fvisibility=hidden, so nothing else is exported
// and two builds (staged and GPU layout) loaded in one process keep their own tables and
// scratch areas.
#define SJM_API __attribute__((visibility("default")))

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

struct dim3 {
    unsigned x, y, z;
};

inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

namespace sjm_host {

typedef void (*invoker_t)(void*, void**);

struct entry {
    void* fn;
    invoker_t invoke;
};

inline std::map<std::string, entry>& table() {
    static std::map<std::string, entry> t;
    return t;
}

// Calls fn with its arguments read from args[i] (each a pointer to the value, as for
// cuLaunchKernel).
template <typename... A, size_t... I>
void call(void (*fn)(A...), void** args, std::index_sequence<I...>) {
    fn(*static_cast<A*>(args[I])...);
}

template <typename... A>
void invoke(void* fn, void** args) {
    call(reinterpret_cast<void (*)(A...)>(fn), args, std::index_sequence_for<A...>{});
}

struct registrar {
    template <typename... A>
    registrar(const char* name, void (*fn)(A...)) {
        table()[name] = entry{reinterpret_cast<void*>(fn), &invoke<A...>};
    }
};

}  // namespace sjm_host

// Scratch area `slot` (< 8) of at least `n` elements, private to the calling OpenMP thread and
// 64-byte aligned (kept and grown across launches). Kernel threads keep rows of their own
// columns there.
template <typename A>
inline A* sjm_thread_scratch(int slot, long long n) {
    static thread_local std::vector<double> buf[8];
    const size_t words = (size_t)((n * (long long)sizeof(A) + 7) / 8) + 8;
    if (buf[slot].size() < words) buf[slot].resize(words);
    const size_t addr = reinterpret_cast<size_t>(buf[slot].data());
    return reinterpret_cast<A*>((addr + 63) & ~(size_t)63);
}

#define SJM_EXPORT(name) static sjm_host::registrar sjm_registrar_##name(#name, &name);

// Most arguments a kernel takes.
#define SJM_MAX_ARGS 32

// Runs kernel `name` on a grid of blocks, in parallel over blocks when threads > 1. `packed`
// (one buffer packed in one call on the Python side, so that ctypes converts two arguments, not
// ten: ~2 us a launch) starts with eight 32-bit integers, gx, gy, gz, bx, by, bz, threads and
// nargs, followed by the nargs kernel arguments in consecutive 8-byte slots, each value at the
// start of its slot. Returns 0, 1 if no such kernel exists, 2 if nargs is out of range.
extern "C" SJM_API int sjm_launch(const char* name, unsigned char* packed) {
    int head[8];
    memcpy(head, packed, sizeof(head));
    const unsigned gx = (unsigned)head[0], gy = (unsigned)head[1], gz = (unsigned)head[2];
    const unsigned bx = (unsigned)head[3], by = (unsigned)head[4], bz = (unsigned)head[5];
    const int threads = head[6], nargs = head[7];
    packed += sizeof(head);
    const auto it = sjm_host::table().find(name);
    if (it == sjm_host::table().end()) return 1;
    if (nargs < 0 || nargs > SJM_MAX_ARGS) return 2;
    void* slots[SJM_MAX_ARGS];
    for (int i = 0; i < nargs; ++i) slots[i] = packed + 8 * i;
    void** args = slots;
    const sjm_host::entry e = it->second;
    const long long nblocks = (long long)gx * gy * gz;
#ifdef _OPENMP
    if (threads > 1) omp_set_num_threads(threads);
#pragma omp parallel for schedule(static) if (threads > 1 && nblocks > 1)
#endif
    for (long long bi = 0; bi < nblocks; ++bi) {
        gridDim = dim3{gx, gy, gz};
        blockDim = dim3{bx, by, bz};
        blockIdx = dim3{(unsigned)(bi % gx), (unsigned)((bi / gx) % gy),
                        (unsigned)(bi / ((long long)gx * gy))};
        for (unsigned tz = 0; tz < bz; ++tz)
            for (unsigned ty = 0; ty < by; ++ty)
                for (unsigned tx = 0; tx < bx; ++tx) {
                    threadIdx = dim3{tx, ty, tz};
                    e.invoke(e.fn, args);
                }
    }
    return 0;
}

// Columns per thread of this build (the launcher sizes its grids with it).
extern "C" SJM_API int sjm_cols() { return SJM_COLS; }

// Number of kernels in the table, and the i-th name (for listing).
extern "C" SJM_API int sjm_kernel_count() { return (int)sjm_host::table().size(); }

extern "C" SJM_API const char* sjm_kernel_name(int i) {
    auto it = sjm_host::table().begin();
    for (int j = 0; j < i && it != sjm_host::table().end(); ++j) ++it;
    return it == sjm_host::table().end() ? nullptr : it->first.c_str();
}

#endif  // SJM_HOST_SHIM_H
