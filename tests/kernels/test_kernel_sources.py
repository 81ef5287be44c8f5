"""Every CPSN training/step kernel variant compiles for sm_80 and sm_90 (NVRTC through CuPy,
no GPU needed; nvcc -ptx when nvcc is on PATH), and the host build exports the same kernels."""
from __future__ import annotations

import re
import shutil
import subprocess

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
    + [f"cpsn_{kind}_{acc}" for kind in ("fold", "fold_backward", "running_stats")
       for acc in ("f32", "f64")]
)


def _entries(ptx: str) -> list[str]:
    return sorted(re.findall(r"\.entry\s+(\w+)\s*\(", ptx))


@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
def test_nvrtc_compiles_every_kernel(arch):
    pytest.importorskip("cupy", reason="NVRTC is reached through CuPy")
    from spikingjelly_mulfree.kernels.cuda import nvrtc_ptx

    ptx = nvrtc_ptx(arch)
    assert f".target sm_{arch[-2:]}" in ptx
    assert set(EXPECTED) <= set(_entries(ptx))


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_nvcc_ptx_compiles_every_kernel(tmp_path, arch):
    src = tmp_path / "kernels.cu"
    src.write_text(translation_unit())
    out = tmp_path / "kernels.ptx"
    opts = [o for o in nvrtc_options() if o.startswith("-I")]
    proc = subprocess.run(["nvcc", "-ptx", f"-arch={arch}", *opts, str(src), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert set(EXPECTED) <= set(_entries(out.read_text()))


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
