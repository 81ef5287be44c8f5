"""The integer kernel (cupy_kernels/integer_charge.cu) through the host build and, with a GPU,
through CuPy: identical charge and spikes to the torch integer path and to the float64 oracle."""
from __future__ import annotations

import re

import pytest
import torch
from _integer_cases import float64_spikes, full_range_input, pow2_kernel, tie_biases
from spikingjelly.activation_based import functional as sj_functional

from spikingjelly_mulfree.integer import IntegerCPSN, make_plan
from spikingjelly_mulfree.integer.kernel import kernel_name
from spikingjelly_mulfree.kernels import launch_counts
from spikingjelly_mulfree.kernels.cuda import nvrtc_options
from spikingjelly_mulfree.kernels.host import compiler, host_launcher

needs_compiler = pytest.mark.skipif(compiler() is None, reason="no host C++ compiler")

# dtype, k, dilation, T, frac_bits, (exp_lo, exp_hi), trailing dims, accumulator
CASES = [
    (torch.int8, 3, 2, 9, 7, (-24, 8), (2, 3), torch.int64),
    (torch.int8, 16, 1, 20, 5, (-6, 0), (1,), torch.int32),
    (torch.int16, 1, 1, 3, 10, (0, 0), (3,), torch.int32),
    (torch.int16, 4, 3, 11, 12, (-17, 0), (2,), torch.int64),
    (torch.int32, 2, 1, 5, 16, (-3, 3), (), torch.int64),
    (torch.int32, 3, 2, 8, 20, (-8, 0), (2,), torch.int64),
    (torch.int32, 2, 1, 6, 2, (0, 0), (33,), torch.int64),
]


def _modules(case, seed, step_mode="m"):
    dtype, k, d, T, f, (lo, hi), trailing, acc = case
    gen = torch.Generator().manual_seed(seed)
    weight = pow2_kernel(5, k, lo, hi, gen)
    q = full_range_input((T, 3, 5, *trailing), dtype, gen)
    bias = tie_biases(weight, q, f, d, gen)
    plan = make_plan(weight, bias, f, dtype, accumulator=acc)
    build = [IntegerCPSN(plan, d, f, dtype, step_mode=step_mode, backend=b)
             for b in ("torch", "kernel")]
    return q, weight, bias, build


@needs_compiler
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-k{c[1]}-d{c[2]}-{c[7]}")
def test_host_kernel_equals_torch_path_and_oracle(host, case):
    for seed in range(2):
        q, weight, bias, (ref, fast) = _modules(case, seed)
        name = kernel_name(case[0], case[7])
        before = launch_counts[name]
        assert torch.equal(fast.charge(q), ref.charge(q))
        spikes = fast(q)
        assert launch_counts[name] == before + 2
        assert spikes.dtype == case[0] and torch.equal(spikes, ref(q))
        oracle, _ = float64_spikes(q, weight, bias, case[4], case[2])
        assert torch.equal(spikes.bool(), oracle)


@needs_compiler
def test_host_kernel_single_step_window(host):
    q, _, _, (ref, fast) = _modules(CASES[3], 0, step_mode="s")
    name = kernel_name(CASES[3][0], CASES[3][7])
    before = launch_counts[name]
    for _ in range(2):
        got = torch.stack([fast(q[t]) for t in range(q.shape[0])])
        want = torch.stack([ref(q[t]) for t in range(q.shape[0])])
        assert torch.equal(got, want)
        sj_functional.reset_net(fast)
        sj_functional.reset_net(ref)
        assert fast.x_window is None
    assert launch_counts[name] == before + 2 * q.shape[0]


@pytest.mark.parametrize("first_step", [-1, 4, 9, 1.0])  # wrote before row 0 / hung
def test_first_step_outside_the_sequence_is_refused(first_step):
    from spikingjelly_mulfree.integer.kernel import kernel_fire

    q = torch.zeros(4, 1, 2, 1, dtype=torch.int8)
    ones = torch.ones(2, 1, dtype=torch.int32)
    with pytest.raises(ValueError, match=r"first_step: expected an integer in \[0, T-1\]"):
        kernel_fire(q, ones, ones, torch.zeros(2, dtype=torch.int32), 1, torch.int32,
                    first_step=first_step)


def test_int32_inputs_with_an_int32_accumulator_are_refused():
    """The kernel adds each input into the accumulator, which an int32 one cannot hold negated;
    the rule is the plan's (``holds_input``), the message names the accumulator and the fix."""
    from spikingjelly_mulfree.integer.kernel import kernel_fire

    q = torch.zeros(4, 1, 2, 1, dtype=torch.int32)
    zeros = torch.zeros(2, 1, dtype=torch.int32)
    with pytest.raises(ValueError, match=r"int32 inputs need a wider accumulator than "
                                         r"torch.int32 .*accumulator='auto'"):
        kernel_fire(q, zeros, zeros, torch.zeros(2, dtype=torch.int32), 1, torch.int32)


@pytest.mark.parametrize("dilation", [2**30, 0])  # (k-1) * d overflowed the kernel's int
def test_dilation_beyond_the_kernels_step_arithmetic_is_refused(dilation):
    from spikingjelly_mulfree.integer.kernel import kernel_fire

    q = torch.zeros(4, 1, 2, 1, dtype=torch.int8)
    ones = torch.ones(2, 3, dtype=torch.int32)
    with pytest.raises(ValueError, match="dilation"):
        kernel_fire(q, ones, ones, torch.zeros(2, dtype=torch.int32), dilation, torch.int32)


def test_a_step_beyond_the_kernels_int_count_is_refused():
    # the kernel takes N*C*S as an int: 2**31 of them failed in the argument packing
    from spikingjelly_mulfree.integer.kernel import kernel_fire

    q = torch.zeros(1, 1, 1, 1, dtype=torch.int8).expand(2, 2**16, 2**15, 1)
    ones = torch.ones(2**15, 2, dtype=torch.int32)
    with pytest.raises(ValueError, match=r"q: 2147483648 elements per step"):
        kernel_fire(q, ones, ones, torch.zeros(2**15, dtype=torch.int32), 1, torch.int32)


@needs_compiler
def test_kernel_backend_non_contiguous_and_spike_dtype(host):
    gen = torch.Generator().manual_seed(7)
    weight = pow2_kernel(4, 3, -4, 2, gen)
    q = full_range_input((6, 8, 4), torch.int16, gen).transpose(0, 1)
    bias = tie_biases(weight, q.contiguous(), 6, 1, gen)
    plan = make_plan(weight, bias, 6, torch.int16)
    fast = IntegerCPSN(plan, 1, 6, torch.int16, backend="kernel", spike_dtype=torch.float32)
    oracle, _ = float64_spikes(q.contiguous(), weight, bias, 6, 1)
    out = fast(q)
    assert out.dtype == torch.float32 and torch.equal(out.bool(), oracle)


@needs_compiler
@pytest.mark.parametrize("want_charge", [True, False])
def test_opcheck_integer_fire(host, want_charge):
    q, _, _, (ref, _) = _modules(CASES[0], 0)
    args = (q.reshape(*q.shape[:3], -1), ref.shift, ref.sign, ref.threshold, CASES[0][2],
            CASES[0][7], 2, want_charge)
    torch.library.opcheck(torch.ops.spikingjelly_mulfree.integer_fire, args)


@needs_compiler
@pytest.mark.parametrize("backend", ["torch", "kernel"])
@pytest.mark.parametrize("step_mode", ["m", "s"])
def test_compiled_integer_module_equals_eager(host, backend, step_mode):
    """Compiled without graph breaks: the integer kernel is a custom op, and the torch path
    applies every tap's masks (it skips the unneeded ones by their values eagerly)."""
    q, _, _, build = _modules(CASES[3], 1, step_mode=step_mode)
    module = build[("torch", "kernel").index(backend)]
    name = kernel_name(CASES[3][0], CASES[3][7])
    compiled = torch.compile(module, fullgraph=True, backend="aot_eager")
    torch._dynamo.reset()
    before = launch_counts[name]
    if step_mode == "m":
        got, want = compiled(q), module(q)
    else:
        got = torch.stack([compiled(q_t) for q_t in q])
        sj_functional.reset_net(module)
        want = torch.stack([module(q_t) for q_t in q])
    assert torch.equal(got, want)
    assert (launch_counts[name] > before) == (backend == "kernel")


VARIANTS = sorted(kernel_name(q, a) for q in (torch.int8, torch.int16, torch.int32)
                  for a in (torch.int32, torch.int64) if (q, a) != (torch.int32, torch.int32))


@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
def test_nvrtc_compiles_every_integer_variant(arch):
    nvrtc = pytest.importorskip("cupy", reason="NVRTC is reached through CuPy").cuda.nvrtc
    prog = nvrtc.createProgram('#include "integer_charge.cu"\n', "integer.cu", [], [])
    try:
        nvrtc.compileProgram(prog, list(nvrtc_options(arch)))
        ptx = nvrtc.getPTX(prog)
    finally:
        nvrtc.destroyProgram(prog)
    ptx = ptx.decode() if isinstance(ptx, bytes) else ptx
    assert sorted(re.findall(r"\.entry\s+(\w+)\s*\(", ptx)) == VARIANTS


@needs_compiler
def test_host_build_exports_every_integer_variant():
    names = host_launcher().kernel_names()
    assert set(VARIANTS) <= set(names)


def test_unknown_backend_is_refused():
    plan = make_plan(torch.ones(2, 1), torch.zeros(2), 0, torch.int8)
    with pytest.raises(ValueError, match="backend"):
        IntegerCPSN(plan, 1, 0, torch.int8, backend="cupy")


@pytest.mark.gpu
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-k{c[1]}-d{c[2]}-{c[7]}")
def test_cuda_kernel_equals_torch_path(case):
    q, weight, bias, (ref, fast) = _modules(case, 0)
    fast = fast.cuda()
    name = kernel_name(case[0], case[7])
    before = launch_counts[name]
    spikes = fast(q.cuda())
    assert launch_counts[name] == before + 1
    assert torch.equal(spikes.cpu(), ref(q))
    assert torch.equal(fast.charge(q.cuda()).cpu(), ref.charge(q))
