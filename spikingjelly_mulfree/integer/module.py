"""The integer-input CPSN for inference: fixed-point inputs, shifts, adds and a compare.

Build it from a trained neuron with :func:`to_integer` (or ``CPSN.to_integer``); the math is in
:mod:`spikingjelly_mulfree.integer.plan` and :mod:`spikingjelly_mulfree.integer.charge`.
"""
from __future__ import annotations

import torch
from spikingjelly.activation_based import base
from torch.nn.modules.module import _EXTRA_STATE_KEY_SUFFIX

from ..functional.charge import window_length
from ..functional.step import push_window
from ..neuron import checks
from .charge import integer_charge, integer_step_charge
from .fixed_point import check_frac_bits, check_input_dtype
from .kernel import kernel_fire
from .plan import IntegerPlan, channel_bounds, holds_input, input_too_wide, make_plan

BACKENDS = ("torch", "kernel")


class IntegerCPSN(base.MemoryModule):
    """Spikes of a power-of-two CPSN computed exactly from fixed-point integer inputs.

    Args:
        plan: shifts, signs and thresholds from
            :func:`~spikingjelly_mulfree.integer.plan.make_plan`.
        dilation: tap spacing ``d``. frac_bits: fractional bits of the input.
        dtype: input dtype (int8, int16 or int32); inputs of another dtype are refused.
        step_mode: ``'m'`` (``[T, N, C, *]``) or ``'s'`` (``[N, C, *]``, keeping a window of the
            last ``(k-1)d + 1`` integer inputs as state, cleared by
            ``spikingjelly.activation_based.functional.reset_net``).
        spike_dtype: dtype of the returned spikes (0/1); ``None`` means the input dtype.
        backend: ``'torch'`` (torch integer ops, any device) or ``'kernel'`` (one fused kernel of
            ``cupy_kernels/integer_charge.cu``: CuPy on CUDA, the host build on CPU; raises if it
            cannot run). Both give identical results.

    Shapes:
        like :class:`~spikingjelly_mulfree.CPSN`: spikes have the input's shape.

    Example:
        >>> import torch
        >>> from spikingjelly_mulfree import CPSN
        >>> from spikingjelly_mulfree.integer import to_integer, quantize_input
        >>> sn = CPSN(channels=4, k=3, threshold=0.5).eval()
        >>> isn = to_integer(sn, frac_bits=6, dtype=torch.int16)
        >>> isn(quantize_input(torch.rand(8, 2, 4), 6, torch.int16)).shape
        torch.Size([8, 2, 4])
    """

    def __init__(
        self,
        plan: IntegerPlan,
        dilation: int,
        frac_bits: int,
        dtype: torch.dtype,
        step_mode: str = "m",
        spike_dtype: torch.dtype | None = None,
        backend: str = "torch",
    ):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
        self.backend = backend
        self.dilation = checks.positive_int("dilation", dilation)
        self.frac_bits = check_frac_bits(frac_bits)
        self.in_dtype = check_input_dtype(dtype)
        if plan.dtype not in (None, self.in_dtype) or plan.frac_bits not in (None, self.frac_bits):
            raise ValueError(
                f"plan: made for {plan.dtype} inputs with {plan.frac_bits} fractional bits, got "
                f"dtype={self.in_dtype}, frac_bits={self.frac_bits}; build the plan for this "
                f"format: make_plan(weight, bias, {self.frac_bits}, {self.in_dtype})"
            )
        self.accumulator = plan.accumulator
        self.bound = self._checked_bound(plan.shift, plan.sign, plan.threshold, "plan's")
        if spike_dtype is not None and not isinstance(spike_dtype, torch.dtype):
            raise TypeError(
                f"spike_dtype: expected a torch.dtype or None (the input dtype), got "
                f"{spike_dtype!r}; e.g. spike_dtype=torch.float32"
            )
        self.spike_dtype = spike_dtype
        self.channels, self.k = plan.shift.shape
        self.register_buffer("shift", plan.shift.to(plan.accumulator))
        self.register_buffer("sign", plan.sign.to(torch.int8))
        self.register_buffer("threshold", plan.threshold.to(plan.accumulator))
        self.register_buffer("min_exp", plan.min_exp.to(torch.int64))
        self.step_mode = step_mode
        self.register_memory("x_window", None)

    @property
    def receptive_field(self) -> int:
        """The number of steps one layer sees, ``(k-1) * dilation + 1``."""
        return window_length(self.k, self.dilation)

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, k={self.k}, dilation={self.dilation}, "
            f"frac_bits={self.frac_bits}, dtype={self.in_dtype}, accumulator={self.accumulator}, "
            f"bound={self.bound}, step_mode={self.step_mode}, backend={self.backend!r}"
        )

    def get_extra_state(self) -> dict:
        """The input format and dilation the plan is for, saved beside it by ``state_dict()``:
        its shifts and thresholds give the right spikes for that format only."""
        return {"frac_bits": self.frac_bits, "dtype": str(self.in_dtype).removeprefix("torch."),
                "dilation": self.dilation}

    def set_extra_state(self, state: object) -> None:
        """Refuse a saved plan made for another input format or dilation than this module's."""
        saved = self.get_extra_state()
        if not isinstance(state, dict) or set(state) != set(saved):
            raise ValueError(
                f"state_dict: expected its '{_EXTRA_STATE_KEY_SUFFIX}' entry to be a dict with "
                f"keys {sorted(saved)}, as IntegerCPSN.state_dict() saves it, got {state!r}"
            )
        if state != saved:
            raise ValueError(
                f"state_dict: its plan was made for {state['dtype']} inputs with "
                f"{state['frac_bits']} fractional bits and dilation {state['dilation']}, this "
                f"module takes {saved['dtype']} inputs with {saved['frac_bits']} fractional bits "
                f"and dilation {saved['dilation']}; build the receiving module for the saved "
                f"format: to_integer(cpsn, frac_bits={state['frac_bits']}, "
                f"dtype=torch.{state['dtype']}) of a CPSN with dilation={state['dilation']} "
                f"(or IntegerCPSN(plan, dilation={state['dilation']}, frac_bits="
                f"{state['frac_bits']}, dtype=torch.{state['dtype']}) from an IntegerPlan)"
            )

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """Check a loaded plan against this module's input format and accumulator before
        copying it (the accumulator was chosen for the plan this module was built with)."""
        if prefix + _EXTRA_STATE_KEY_SUFFIX in state_dict:
            self.set_extra_state(state_dict[prefix + _EXTRA_STATE_KEY_SUFFIX])
        loaded = {}
        for name in ("shift", "sign", "threshold", "min_exp"):
            t = state_dict.get(prefix + name)
            if isinstance(t, torch.Tensor):
                if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
                    raise TypeError(
                        f"state_dict: expected {prefix}{name} as an integer tensor, as "
                        f"IntegerCPSN.state_dict() saves it, got {t.dtype}; a float one would "
                        f"be truncated on loading (convert the plan with to_integer)"
                    )
                loaded[name] = t
        bound = None
        plan = [loaded.get(n, getattr(self, n)) for n in ("shift", "sign", "threshold")]
        if loaded.keys() & {"shift", "sign", "threshold"} and \
                plan[0].shape == plan[1].shape == self.shift.shape and \
                plan[2].shape == self.threshold.shape:
            bound = self._checked_bound(*plan, "loaded")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if bound is not None:
            self.bound = bound

    def _checked_bound(self, shift: torch.Tensor, sign: torch.Tensor,
                       threshold: torch.Tensor | None, what: str) -> int:
        """The worst-case ``|H_int|`` of ``shift`` and ``sign`` for this module's input dtype,
        after checking that this module's accumulator holds it and ``threshold``."""
        if bool(((sign < -1) | (sign > 1)).any()):
            raise ValueError(f"sign: expected values in {{-1, 0, 1}} in the {what} state, got "
                             f"{sign.tolist()}")
        if bool((shift < 0).any()):
            raise ValueError(f"shift: expected left shifts >= 0 in the {what} state, got "
                             f"{shift.tolist()}")
        bits = torch.iinfo(self.in_dtype).bits
        bound = max(channel_bounds(shift, sign, bits), default=0)
        limit = torch.iinfo(self.accumulator).max
        # compared as Python ints: a tensor compared with the limit converts the limit to its
        # own dtype (int64's max wraps in an int32 tensor)
        reach = (max(int(threshold.max()), -int(threshold.min()))
                 if threshold is not None and threshold.numel() > 0 else 0)
        if reach > limit and bound + 1 <= limit:
            raise OverflowError(
                f"the {what} threshold reaches {reach}, more than this "
                f"module's {self.accumulator} accumulator holds (max {limit}; the shift needs "
                f"only |H_int| <= {bound}); build the module with accumulator=torch.int64 "
                "(to_integer(..., accumulator=torch.int64)), or check the state dict's "
                "threshold"
            )
        if not holds_input(self.accumulator, bits):
            raise OverflowError(input_too_wide(
                self.accumulator, bits, "build the plan with accumulator='auto' or torch.int64"))
        if bound + 1 > limit:
            raise OverflowError(
                f"the {what} shift and threshold need |H_int| <= {bound} for {self.in_dtype} "
                f"inputs, more than this module's {self.accumulator} accumulator holds (max "
                f"{limit}); build the module with accumulator=torch.int64 "
                "(to_integer(..., accumulator=torch.int64))"
            )
        return bound

    def _check(self, q: object, step_mode: str) -> None:
        layout = "[T, N, C, *]" if step_mode == "m" else "[N, C, *]"
        if not isinstance(q, torch.Tensor) or q.dtype != self.in_dtype:
            got = q.dtype if isinstance(q, torch.Tensor) else type(q).__name__
            raise TypeError(
                f"x: expected a {self.in_dtype} tensor {layout} with {self.frac_bits} fractional "
                f"bits, got {got}; convert real inputs with "
                f"spikingjelly_mulfree.integer.quantize_input(x, {self.frac_bits}, {self.in_dtype})"
            )
        cdim = checks.channel_dim(step_mode)
        rank_ok = cdim + 1 <= q.dim() <= cdim + 1 + checks.MAX_SPATIAL_DIMS
        if not rank_ok or q.shape[cdim] != self.channels:
            raise ValueError(
                f"x: expected {layout} with {self.channels} channels at dim {cdim} and 0 to "
                f"{checks.MAX_SPATIAL_DIMS} trailing dims, got shape {tuple(q.shape)}"
            )
        if q.device != self.shift.device:
            raise ValueError(
                f"x: expected a tensor on {self.shift.device}, where this module's shifts and "
                f"thresholds are, got one on {q.device}; move the module with .to('{q.device}')"
            )

    def _no_spikes(self, q: torch.Tensor) -> torch.Tensor:
        return torch.zeros(q.shape, dtype=self.spike_dtype or q.dtype, device=q.device)

    def _fire(self, h: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        view = (1,) * (h.dim() - 2) + (-1, 1)
        return (h >= self.threshold.view(view)).to(self.spike_dtype or dtype)

    def _run(self, q: torch.Tensor, first_step: int, want_charge: bool):
        """``(spikes or None, H_int or None)`` of steps ``first_step..`` of ``q`` [T, N, C, S]."""
        if self.backend == "kernel":
            spikes, h = kernel_fire(q, self.shift, self.sign, self.threshold, self.dilation,
                                    self.accumulator, first_step, want_charge)
            return spikes.to(self.spike_dtype or q.dtype), h
        if first_step == 0:
            h = integer_charge(q, self.shift, self.sign, self.dilation, self.accumulator)
        else:
            h = integer_step_charge(q, self.shift, self.sign, self.dilation,
                                    self.accumulator).unsqueeze(0)
        return (None if want_charge else self._fire(h, q.dtype)), h

    def _sequence(self, q_seq: torch.Tensor, want_charge: bool):
        """``(spikes or None, H_int or None)`` of a whole sequence ``[T, N, C, *]``, shaped
        like it; an empty one (as CPSN takes it) gives empty results."""
        self._check(q_seq, "m")
        s = q_seq.shape
        if q_seq.numel() == 0:
            if want_charge:
                return None, torch.zeros(s, dtype=self.accumulator, device=q_seq.device)
            return self._no_spikes(q_seq), None
        spikes, h = self._run(q_seq.reshape(s[0], s[1], s[2], -1), 0, want_charge)
        return (None if spikes is None else spikes.reshape(s),
                None if h is None else h.reshape(s))

    def charge(self, q_seq: torch.Tensor) -> torch.Tensor:
        """Integer charge ``H_int`` of a sequence ``[T, N, C, *]`` (same shape, accumulator
        dtype); the real charge is ``2**(min_exp[c] - frac_bits) * H_int + bias[c]``."""
        return self._sequence(q_seq, True)[1]

    def multi_step_functional_forward(self, inputs, states, **kwargs):
        return (self._sequence(inputs[0], False)[0],), states

    def single_step_functional_forward(self, inputs, states, **kwargs):
        q = inputs[0]
        self._check(q, "s")
        window = states[0]
        if window is None and q.numel() == 0:
            return (self._no_spikes(q),), states
        if window is not None and window.shape[1:] != q.shape:
            raise ValueError(
                f"x: expected shape {tuple(window.shape[1:])} like the previous step, got "
                f"{tuple(q.shape)}; call functional.reset_net(net) before a new sequence"
            )
        window = push_window(window, q, self.receptive_field)
        flat = window.reshape(window.shape[0], q.shape[0], q.shape[1], -1)
        spikes, _ = self._run(flat, flat.shape[0] - 1, False)
        return (spikes.reshape(q.shape),), (window,)


def to_integer(
    cpsn: torch.nn.Module,
    frac_bits: int,
    dtype: torch.dtype = torch.int16,
    accumulator: str | torch.dtype = "auto",
    step_mode: str | None = None,
    spike_dtype: torch.dtype | None = None,
    backend: str = "torch",
) -> IntegerCPSN:
    """Integer-input copy of a ``mul_free=True`` CPSN's eval-mode neuron.

    Its spikes equal those of the real-arithmetic neuron with kernel
    ``cpsn.effective_kernel()`` on the input ``q * 2**-frac_bits``, for every integer input
    ``q`` of ``dtype`` (ties fire). Later changes to ``cpsn`` are not reflected.

    Args:
        cpsn: a :class:`~spikingjelly_mulfree.CPSN` with ``mul_free=True`` (BN thresholds use
            the running statistics, as in eval).
        frac_bits: fractional bits of the input format.
        dtype: input dtype: ``torch.int8``, ``torch.int16`` or ``torch.int32``.
        accumulator: ``'auto'``, ``torch.int32`` or ``torch.int64``; raises ``OverflowError``
            naming the worst-case bound if it cannot be held.
        step_mode: ``'m'`` or ``'s'``; ``None`` copies ``cpsn.step_mode``.
        spike_dtype: dtype of the spikes; ``None`` returns the input dtype.
        backend: ``'torch'`` or ``'kernel'`` (see :class:`IntegerCPSN`).

    Returns:
        An :class:`IntegerCPSN` on the device of ``cpsn``'s weights.

    Example:
        >>> import torch
        >>> from spikingjelly_mulfree import CPSN
        >>> sn = CPSN(channels=2, k=2, threshold=1.0).eval()
        >>> isn = to_integer(sn, frac_bits=2, dtype=torch.int8)
        >>> q = torch.tensor([[4, 0], [2, 1]], dtype=torch.int8).view(2, 1, 2)
        >>> isn(q).flatten().tolist()
        [1, 0, 1, 0]
    """
    if not hasattr(cpsn, "effective_kernel"):
        raise TypeError(
            f"cpsn: expected a spikingjelly_mulfree.CPSN, got {type(cpsn).__name__}"
        )
    weight, bias = cpsn.effective_kernel()
    plan = make_plan(weight, bias, frac_bits, dtype, accumulator)
    module = IntegerCPSN(
        plan, cpsn.dilation, frac_bits, dtype,
        step_mode=cpsn.step_mode if step_mode is None else step_mode,
        spike_dtype=spike_dtype, backend=backend,
    )
    return module.to(weight.device)
