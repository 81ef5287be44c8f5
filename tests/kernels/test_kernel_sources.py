"""Every CPSN training/step kernel variant compiles for sm_80 and sm_90 (NVRTC through CuPy,
no GPU needed; nvcc and ptxas, without register spills, when nvcc is on PATH), and the host
build exports the same kernels."""
from __future__ import annotations

import concurrent.futures
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import cupy_kernels
from spikingjelly_mulfree.kernels.cuda import nvrtc_options, translation_unit

DTYPES = ("f16", "bf16", "f32", "f64")
EXPECTED = sorted(
    [f"cpsn_{kind}_{dt}_{v}" for kind in ("forward", "backward", "step") for dt in DTYPES
     for v in ("mul", "shift")]
    + [f"cpsn_moments_{dt}" for dt in DTYPES]
    + [f"cpsn_reduce_{kind}{stage}_{acc}" for kind in ("grad", "moments")
       for stage in ("", "_chunks") for acc in ("f32", "f64")]
    + [f"cpsn_{kind}_{acc}" for kind in ("fold", "moments_fold", "fold_backward",
                                         "running_stats")
       for acc in ("f32", "f64")]
)


def _entries(ptx: str) -> list[str]:
    return sorted(re.findall(r"\.entry\s+(\w+)\s*\(", ptx))


NVRTC_ARCHS = ("compute_80", "compute_90")
NVCC_ARCHS = ("sm_80", "sm_90")
# Registers a thread may use so that two blocks of the CUDA launcher's threads (16 warps of 256)
# stay resident on an SM of 64K registers: the least the memory-bound passes should run with.
SM_REGISTERS = 65536


def _nvcc_cubin(arch: str, folder: Path) -> subprocess.CompletedProcess:
    """nvcc compiles the kernels for ``arch`` to a cubin, ptxas reporting each kernel's usage."""
    src = folder / f"kernels_{arch}.cu"
    src.write_text(translation_unit())
    opts = [o for o in nvrtc_options() if o.startswith("-I")]
    return subprocess.run(["nvcc", "-cubin", f"-arch={arch}", "-Xptxas", "-v", *opts, str(src),
                           "-o", str(folder / f"kernels_{arch}.cubin")],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Every GPU compile of the module started at once, by architecture (``'nvrtc:compute_80'``
    -> PTX, ``'nvcc:sm_90'`` -> the finished process): each takes 40-70 s of one core and
    NVRTC releases the GIL, so running them side by side halves the module's time on two
    cores. Compilers that are missing get no entry."""
    jobs = {}
    pool = concurrent.futures.ThreadPoolExecutor(len(NVRTC_ARCHS) + len(NVCC_ARCHS))
    try:
        import cupy  # noqa: F401
    except ImportError:
        pass
    else:
        from spikingjelly_mulfree.kernels.cuda import nvrtc_ptx

        jobs.update({f"nvrtc:{a}": pool.submit(nvrtc_ptx, a) for a in NVRTC_ARCHS})
    if shutil.which("nvcc") is not None:
        folder = tmp_path_factory.mktemp("nvcc")
        jobs.update({f"nvcc:{a}": pool.submit(_nvcc_cubin, a, folder) for a in NVCC_ARCHS})
    yield jobs
    pool.shutdown(cancel_futures=True)


@pytest.mark.parametrize("arch", NVRTC_ARCHS)
def test_nvrtc_compiles_every_kernel(compiled, arch):
    pytest.importorskip("cupy", reason="NVRTC is reached through CuPy")
    ptx = compiled[f"nvrtc:{arch}"].result()
    assert f".target sm_{arch[-2:]}" in ptx
    assert set(EXPECTED) <= set(_entries(ptx))


# ptxas's report of one kernel: "Compiling entry function 'name' for 'sm_90'", then its stack
# frame and spills, then the registers it uses.
_PTXAS_ENTRY = re.compile(
    r"Compiling entry function '(\w+)'.*?(\d+) bytes stack frame, (\d+) bytes spill stores, "
    r"(\d+) bytes spill loads.*?Used (\d+) registers", re.S)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
@pytest.mark.parametrize("arch", NVCC_ARCHS)
def test_nvcc_assembles_every_kernel_without_spills(compiled, arch):
    """nvcc compiles and ptxas assembles every kernel for the real architecture; none spills
    registers to local memory or keeps a stack frame (both would turn a pass over the data into
    several), and none needs so many registers that fewer than two blocks fit on an SM."""
    from spikingjelly_mulfree.kernels.cuda import CupyLauncher

    max_registers = SM_REGISTERS // (2 * CupyLauncher.block)
    proc = compiled[f"nvcc:{arch}"].result()
    assert proc.returncode == 0, proc.stderr
    usage = {name: tuple(map(int, nums)) for name, *nums in _PTXAS_ENTRY.findall(proc.stderr)}
    assert set(EXPECTED) <= set(usage), proc.stderr
    spilling = {n: u[:3] for n, u in usage.items() if any(u[:3])}
    assert not spilling, f"stack frame / spill stores / spill loads in bytes: {spilling}"
    heavy = {n: u[3] for n, u in usage.items() if u[3] > max_registers}
    assert not heavy, f"registers per thread over {max_registers}: {heavy}"


def test_host_build_exports_every_kernel(host):
    assert set(EXPECTED) <= set(host.kernel_names())
    if host.layout == "staged":
        assert host.cols > 1 and host.block == 1
    else:
        assert host.cols == 1 and host.block > 1


def test_sources_ship_as_package_data():
    for path in cupy_kernels.all_files():
        assert path.is_file() and path.suffix in (".cu", ".cuh", ".h")


def test_host_cache_dir_env(monkeypatch, tmp_path):
    from spikingjelly_mulfree.kernels import host

    monkeypatch.setenv(host.CACHE_ENV, str(tmp_path))
    assert host.cache_dir() == tmp_path
    monkeypatch.delenv(host.CACHE_ENV)
    assert host.cache_dir().name == "spikingjelly_mulfree"


def test_extra_compiler_flags_env(monkeypatch):
    """$SPIKINGJELLY_MULFREE_CXXFLAGS (make sanitize) reaches the compile line and the cache
    key, so a sanitizer build never replaces the plain one."""
    from spikingjelly_mulfree.kernels import host

    monkeypatch.delenv(host.CXXFLAGS_ENV, raising=False)
    plain = host.build_key("g++", "gpu")
    monkeypatch.setenv(host.CXXFLAGS_ENV, "-g  -fsanitize=address")
    flags = host.build_flags("gpu")
    assert flags[: len(host.FLAGS)] == host.FLAGS
    assert flags[len(host.FLAGS):len(host.FLAGS) + 2] == ("-g", "-fsanitize=address")
    assert host.check_layout("gpu")[-1] == flags[-1]
    assert host.build_key("g++", "gpu") != plain


def _target_vector_bytes() -> int:
    """Width of the widest SIMD registers the host build targets, from the compiler's own
    predefined macros for the build's flags."""
    from spikingjelly_mulfree.kernels import host

    flags = [f for f in host.build_flags() if f.startswith(("-m", "-O"))]
    macros = subprocess.run([host.compiler(), *flags, "-dM", "-E", "-x", "c++", "-"],
                            input="", capture_output=True, text=True, check=True).stdout
    return 64 if "__AVX512F__" in macros else 32 if "__AVX__ " in macros else 16


def test_lane_groups_are_one_register_of_the_build_target(host):
    """A staged lane group is one SIMD register of the build's target: wider, the compiler
    splits it and a time block's accumulators spill to the stack (3x slower on AVX2)."""
    if host.layout == "gpu":
        assert host.lane_bytes == 1
    else:
        assert host.lane_bytes == _target_vector_bytes()
