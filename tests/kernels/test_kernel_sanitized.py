"""The kernel tests that drive every kernel directly (ops, step, fold, integer), rerun on host
builds with AddressSanitizer and UBSan in a child process: an out-of-bounds access, a use after
free or a signed overflow in any kernel, in either host layout, fails this test with the
sanitizer's report. On x86 the sanitized builds also take the narrowest lane groups (SSE's 16
bytes, ``-mno-avx``), so that the suite runs the staged kernels at two widths: the machine's own
in the other tests, 16 bytes here. ``make sanitize`` runs the wider set (backends and neuron
too) at the machine's width."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from spikingjelly_mulfree.kernels import host

ROOT = Path(__file__).resolve().parents[2]
FILES = ["tests/kernels/test_kernel_ops.py", "tests/kernels/test_kernel_reductions.py",
         "tests/kernels/test_kernel_step.py",
         "tests/kernels/test_kernel_fold.py", "tests/integer/test_integer_kernel.py"]
# -O1 (after the build's -O3): a sanitized build at -O3 compiles for over a minute per layout,
# at -O1 in about 20 s
FLAGS = "-g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
if platform.machine() in ("x86_64", "AMD64"):
    FLAGS += " -mno-avx"


def _runtime(cxx: str, name: str) -> str | None:
    """Path of the compiler's runtime library ``name``, or None if it does not ship one."""
    out = subprocess.run([cxx, f"-print-file-name={name}"], capture_output=True, text=True)
    path = out.stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


def test_kernels_under_address_and_undefined_behaviour_sanitizers():
    cxx = host.compiler()
    if cxx is None:
        pytest.skip("no host C++ compiler")
    libs = [_runtime(cxx, "libasan.so"), _runtime(cxx, "libstdc++.so")]
    if None in libs:
        pytest.skip(f"{cxx} ships no AddressSanitizer runtime (libasan)")
    env = dict(os.environ, SPIKINGJELLY_MULFREE_CXXFLAGS=FLAGS, LD_PRELOAD=" ".join(libs),
               ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="print_stacktrace=1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *FILES],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    report = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, report
    assert " passed" in proc.stdout and "ERROR: AddressSanitizer" not in report, report
