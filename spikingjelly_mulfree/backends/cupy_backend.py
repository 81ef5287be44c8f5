"""The kernel backend: the shift-and-add kernels of ``cupy_kernels/`` behind the backend contract.

:class:`KernelBackend` is the whole Python path — custom ops, autograd, surrogate dispatch —
and is the same for both targets; only the device it accepts differs:

* ``backend='cupy'`` (:class:`CupyBackend`): CUDA tensors, kernels compiled by NVRTC and
  launched by CuPy on PyTorch's current stream; ``backend='cupy-shift'`` the same with
  power-of-two taps applied as exponent adds;
* ``backend='cpu'`` (:class:`~.host_backend.HostBackend`): CPU tensors, the same kernel sources
  built by the host C++ compiler.

ATan, Sigmoid and :class:`~spikingjelly_mulfree.surrogate.Rational` (spiking mode) have their
derivative fused into the backward kernel; any other surrogate runs on the kernel's charge
through its own autograd. A backend asked for by name that cannot run raises; nothing falls
back silently.
"""
from __future__ import annotations

import importlib.util

import torch
from spikingjelly.activation_based import surrogate as sj_surrogate

from ..kernels import fold as kernel_fold
from ..kernels import fused
from ..kernels import ops as kernel_ops
from ..kernels import library  # noqa: F401  (registers the custom ops)
from ..kernels import step as kernel_step
from ..kernels.ops import ATAN, RATIONAL, SIGMOID, SUFFIX, acc_dtype, tracks_grad
from ..surrogate import Rational
from .base import KernelFn

_OPS = torch.ops.spikingjelly_mulfree
_FUSED = {sj_surrogate.ATan: ATAN, sj_surrogate.Sigmoid: SIGMOID, Rational: RATIONAL}


def surrogate_mode(surrogate_function: torch.nn.Module) -> int | None:
    """Kernel mode of a surrogate whose derivative is fused, else ``None`` (generic path).

    Example:
        >>> surrogate_mode(sj_surrogate.ATan()) == ATAN, surrogate_mode(sj_surrogate.Erf())
        (True, None)
    """
    mode = _FUSED.get(type(surrogate_function))
    if mode is None or not getattr(surrogate_function, "spiking", False):
        return None
    return mode


def _spikes(out: torch.Tensor, mode: int | None, surrogate_function: torch.nn.Module,
            x: torch.Tensor) -> torch.Tensor:
    """A kernel op's output as spikes in ``x.dtype``: already spikes when the surrogate's
    derivative is fused (``mode``), else the charge, which the surrogate fires."""
    return out if mode is not None else surrogate_function(out).to(x.dtype)


class KernelBackend:
    """Backend contract (:mod:`.base`) on the shift-and-add kernels for one device type.

    Args:
        name: registry name. device_type: ``'cuda'`` or ``'cpu'``.
        use_shift: apply power-of-two taps as exponent adds when the caller says the weights
            are mul-free; ``False`` multiplies (the same results: a product by ``2**e`` is
            exact unless subnormal).

    Example (the host build with exponent adds, which ``backend='cpu'`` does not use):
        >>> from spikingjelly_mulfree.backends import get_backend
        >>> shifting = KernelBackend("cpu-shift", "cpu", use_shift=True)
        >>> x, w, b = torch.randn(6, 2, 3, 4), torch.tensor([[0.5, -2.0]] * 3), torch.zeros(3)
        >>> s = shifting.charge_fire(x, w, b, 1, sj_surrogate.ATan(), mul_free=True)
        >>> torch.equal(s, get_backend("cpu", x).charge_fire(x, w, b, 1, sj_surrogate.ATan()))
        True
        >>> print(shifting.unavailable_reason(x.int()))
        x has dtype torch.int32; the kernels take float16, bfloat16, float32 or float64
    """

    def __init__(self, name: str, device_type: str, use_shift: bool):
        self.name = name
        self.device_type = device_type
        self.use_shift = use_shift

    def _target_reason(self) -> str | None:
        return None

    def unavailable_reason(self, x: torch.Tensor) -> str | None:
        """``None`` if the kernels can run on ``x`` ``[T, N, C, S]`` here (its device type and
        dtype, then the target's own needs), else why not and what to do (see the example)."""
        if x.device.type != self.device_type:
            other = "cupy" if self.device_type == "cpu" else "cpu"
            return (
                f"backend={self.name!r} runs on {self.device_type} tensors, but x is on "
                f"{x.device}: move the model and input, or use backend={other!r} or 'torch'"
            )
        if x.dtype not in SUFFIX:
            return (f"x has dtype {x.dtype}; the kernels take float16, bfloat16, float32 or "
                    f"float64")
        return self._target_reason()

    def run_layer(self, x: torch.Tensor, weight: torch.Tensor, dilation: int,
                  make_kernel: KernelFn, need_moments: bool,
                  surrogate_function: torch.nn.Module, mul_free: bool
                  ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """Moments -> effective kernel -> spikes (see :func:`~.base.run_layer`): ``x``
        ``[T, N, C, S]``, latent ``weight`` ``[C, k]``; returns spikes shaped like ``x`` and
        the moments (each ``[C]``) or ``None``. In eager training with the BN threshold, the
        two consumers of ``x`` share one input-gradient pass, and a ``make_kernel`` that is the
        standard fold (``make_kernel.bn``) runs as one autograd node
        (:mod:`spikingjelly_mulfree.kernels.fused`).

        Example:
            >>> from spikingjelly_mulfree.backends import get_backend
            >>> x = torch.randn(6, 2, 3, 4, requires_grad=True)
            >>> w = torch.rand(3, 2, requires_grad=True)
            >>> def make_kernel(moments, fold):
            ...     return fold(w, (*moments, torch.ones(3), torch.zeros(3), 1e-5), None)
            >>> s, (mean, var) = get_backend("cpu", x).run_layer(
            ...     x, w, 1, make_kernel, True, sj_surrogate.ATan(), False)
            >>> s.sum().backward(); s.shape, mean.shape, x.grad.shape
            (torch.Size([6, 2, 3, 4]), torch.Size([3]), torch.Size([6, 2, 3, 4]))
        """
        fuse = (need_moments and not torch.compiler.is_compiling()
                and tracks_grad(x, weight))
        if not fuse:
            moments = self.conv_moments(x, weight, dilation) if need_moments else None
            w, b = make_kernel(moments, self.fold_kernel)
            return self.charge_fire(x, w, b, dilation, surrogate_function, mul_free), moments
        mode = surrogate_mode(surrogate_function)
        # The moments' backward adds the fire op's input gradient with plain multiplies
        # (bit-identical for power-of-two taps), so the fire op may use either variant.
        shift = bool(mul_free and self.use_shift)
        alpha = float(surrogate_function.alpha) if mode is not None else 0.0
        spec = getattr(make_kernel, "bn", None)
        if spec is not None and weight.dtype == acc_dtype(x.dtype):
            out, mean, var = fused.BNLayer.apply(x, weight, spec.gamma, spec.beta, dilation,
                                                 spec.eps, spec.exp_range, mode, alpha, shift)
            return _spikes(out, mode, surrogate_function, x), (mean, var)
        link = fused.Link()
        mean, var = fused.LinkedMoments.apply(x, weight, dilation, link)
        w, b = make_kernel((mean, var), self.fold_kernel)
        if not fused.depends_on((w, b), mean.grad_fn):
            return self.charge_fire(x, w, b, dilation, surrogate_function, mul_free), (mean, var)
        out = fused.LinkedFire.apply(x, w, b, dilation, mode, alpha, shift, link)
        return _spikes(out, mode, surrogate_function, x), (mean, var)

    # The per-channel work of the BatchNorm threshold, one launch each (torch ops under
    # torch.compile, which fuses them).
    fold_kernel = staticmethod(kernel_fold.fold_kernel)
    update_running_stats = staticmethod(kernel_fold.update_running_stats)

    def charge_fire(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                    dilation: int, surrogate_function: torch.nn.Module,
                    mul_free: bool = False) -> torch.Tensor:
        """Spikes in ``x.dtype``, shaped like ``x`` ``[T, N, C, S]`` (see
        :class:`~.base.Backend` and the class example)."""
        if bias is None:
            bias = weight.new_zeros(weight.shape[0])
        shift = bool(mul_free and self.use_shift)
        mode = surrogate_mode(surrogate_function)
        # Without autograd or compilation, the ops' implementations are called directly (the
        # custom-op dispatch costs ~10 us a call).
        direct = not torch.compiler.is_compiling() and not tracks_grad(x, weight, bias)
        if mode is not None:
            if direct:
                return kernel_ops.charge_fire(x, weight, bias, dilation, shift)
            return _OPS.charge_fire(x, weight, bias, dilation, mode,
                                    float(surrogate_function.alpha), shift)
        charge = kernel_ops.charge if direct else _OPS.charge
        return _spikes(charge(x, weight, bias, dilation, shift), None, surrogate_function, x)

    def conv_moments(self, x: torch.Tensor, weight: torch.Tensor, dilation: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and biased variance (each ``[C]``) of the un-biased charge of
        ``x`` ``[T, N, C, S]`` under ``weight`` ``[C, k]`` (fused kernel).

        Example:
            >>> from spikingjelly_mulfree.backends import get_backend
            >>> x, w = torch.ones(4, 2, 3, 1), torch.ones(3, 2)
            >>> [m.tolist() for m in get_backend("cpu", x).conv_moments(x, w, 1)]
            [[1.75, 1.75, 1.75], [0.1875, 0.1875, 0.1875]]
        """
        return tuple(_OPS.moments(x, weight, dilation))

    def step_fire(self, x: torch.Tensor, ring: torch.Tensor, pos: int, weight: torch.Tensor,
                  bias: torch.Tensor | None, dilation: int, mul_free: bool = False
                  ) -> torch.Tensor:
        """One in-place inference step on the ring-buffer kernel (``cupy_kernels/cpsn_step.cu``,
        see :func:`~spikingjelly_mulfree.kernels.step.step_fire`): ``x`` ``[N, C, S]``,
        ``ring`` ``[R, N, C, S]`` in the accumulator type; spikes ``[N, C, S]`` in ``x.dtype``.

        Example:
            >>> from spikingjelly_mulfree.backends import get_backend
            >>> x, ring = torch.ones(2, 3, 1), torch.zeros(2, 2, 3, 1)
            >>> s = get_backend("cpu", x).step_fire(x, ring, 0, torch.ones(3, 2), -torch.ones(3), 1)
            >>> s.flatten().tolist(), torch.equal(ring[0], x)
            ([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], True)
        """
        # The kernel accumulates in acc_dtype(x.dtype); a float64 ring (float64 weights on a
        # float32 input) takes the float64 kernel on the input cast up.
        xk = x if acc_dtype(x.dtype) == ring.dtype else x.to(ring.dtype)
        state = kernel_step.RingState(ring.view(ring.shape[0], -1), pos)
        shift = bool(mul_free and self.use_shift)
        spikes = kernel_step.step_fire(xk, state, weight, bias, dilation, mul_free=shift)
        return spikes if spikes.dtype == x.dtype else spikes.to(x.dtype)


class CupyBackend(KernelBackend):
    """``backend='cupy'``: the kernels on CUDA tensors through CuPy.

    Power-of-two taps are multiplied, as on the CPU: a product by ``2**e`` is the exponent
    add's bit for bit (only a subnormal product, which a fused multiply-add rounds once and the
    exponent add before the sum, can differ in its last bit), and a GPU runs a multiply-add in
    one instruction where the exact exponent add (range checks, a slow path) takes about four
    times as many and keeps the loads of a step from being issued together
    (``docs/kernels.md``, "Power-of-two taps on a GPU"). ``backend='cupy-shift'``
    (``CupyBackend("cupy-shift", use_shift=True)``) runs the exponent-add kernels when asked
    for by name; ``backend='auto'`` does not time it (``timed_by_auto``), since it is the same
    kernels another way.

    Args:
        name: registry name. use_shift: see :class:`KernelBackend`.

    Example (on a CPU tensor it says why it cannot run and what to use):
        >>> reason = CupyBackend().unavailable_reason(torch.zeros(4, 2, 3, 1))
        >>> reason.startswith("backend='cupy' runs on cuda tensors, but x is on cpu")
        True
        >>> reason.endswith("use backend='cpu' or 'torch'")
        True
        >>> CupyBackend().use_shift, CupyBackend("cupy-shift", use_shift=True).use_shift
        (False, True)
    """

    def __init__(self, name: str = "cupy", use_shift: bool = False):
        super().__init__(name, "cuda", use_shift=use_shift)
        self.timed_by_auto = not use_shift
        self._has_cupy = importlib.util.find_spec("cupy") is not None

    def _target_reason(self) -> str | None:
        if not self._has_cupy:
            from ..kernels.cuda import install_hint

            return install_hint(self.name)
        return None
