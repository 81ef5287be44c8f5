"""The CPSN module: parameters, state and dispatch; the math lives in ``functional``.

See :mod:`spikingjelly_mulfree.functional.charge` for the charge equation,
:mod:`~spikingjelly_mulfree.functional.quantize` for the power-of-two weights and
:mod:`~spikingjelly_mulfree.functional.threshold` for the BatchNorm threshold.
"""
from __future__ import annotations

import contextlib
import inspect
import math

import torch
from spikingjelly.activation_based import base
from spikingjelly.activation_based import surrogate as sj_surrogate
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

from .. import backends
from ..backends.base import (BNFold, FoldFn, capturing, fold_of, run_layer,
                             running_stats_of)
from ..functional.charge import window_length
from ..functional.quantize import DEFAULT_MAX_EXP, DEFAULT_MIN_EXP
from ..functional.step import push_window, step_charge
from ..functional.threshold import fold_kernel
from ..surrogate import fires_heaviside
from . import checks, tensors
from .tensors import PER_CHANNEL

THRESHOLDS = ("bn", "learnable")
INITS = ("exp", "uniform")


def _in(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t.to(dtype)``, without a dispatch when it is in ``dtype`` already (a training step
    converts a handful of parameters; each no-op ``.to`` costs about a microsecond)."""
    return t if t.dtype == dtype else t.to(dtype)


def _autocast_off(x: torch.Tensor):
    """A context that disables autocast on ``x``'s device (the kernels see the true dtypes),
    or none when autocast is off already."""
    if torch.amp.is_autocast_available(x.device.type) and torch.is_autocast_enabled(
            x.device.type):
        return torch.autocast(device_type=x.device.type, enabled=False)
    return contextlib.nullcontext()


class CPSN(LazyModuleMixin, base.MemoryModule):
    r"""Multiplication-free channel-wise parallel spiking neuron (arXiv 2501.14490).

    ``S = Heaviside(conv(X, Q(W)) + b)``: a causal dilated per-channel convolution across time
    (:mod:`~spikingjelly_mulfree.functional.charge`), power-of-two weights ``Q`` with a
    straight-through gradient, a threshold folded into ``b``, and a surrogate gradient.

    Args:
        channels: ``C``; ``None`` infers it at the first forward (then build the optimizer after
            one dry-run forward, as with PyTorch's lazy modules).
        k: order (number of taps, >= 1). Tap ``k-1`` multiplies the current step.
        dilation: spacing of the taps in steps (>= 1).
        mul_free: quantize the (fused) weights to signed powers of two. ``False`` gives the
            plain channel-wise PSN with float weights.
        threshold: ``'bn'`` (BatchNorm threshold fused into the weights, gamma=1, beta=-1),
            ``'learnable'`` (per-channel ``v_threshold`` parameter, initialised to 1) or a float
            (fixed threshold: bias ``-threshold``).
        surrogate_function: any SpikingJelly surrogate; default a fresh ``surrogate.ATan()``.
        step_mode: ``'m'`` (input ``[T, N, C, *]``) or ``'s'`` (input ``[N, C, *]``).
        backend: compute backend name, see :func:`spikingjelly_mulfree.backends.backend_names`.
            The default ``'auto'`` times every backend that can run on the first input of each
            shape and keeps the fastest (``SPIKINGJELLY_MULFREE_BACKEND=torch`` forces one);
            name a backend (``'torch'``, ``'cpu'``, ``'cupy'``) for bit-reproducible runs.
        init: ``'exp'`` (taps ``..., 1/4, 1/2, 1``: a leaky integrator, already powers of two;
            the default) or ``'uniform'`` (``U(-1/sqrt(k), 1/sqrt(k))``).
        exp_range: ``(min_exp, max_exp)`` of the power-of-two exponents.
        momentum, eps: of the BatchNorm threshold's running statistics.
        detach_reset: accepted for drop-in compatibility with SpikingJelly model factories;
            no effect, the neuron has no reset.
        spikingjelly_options: none is accepted. The options of SpikingJelly's
            membrane-potential neurons (``v_threshold``, ``v_reset``, ``tau``, ...), which a
            model factory passes on when a script swaps its ``LIFNode`` for CPSN, are refused
            with a ``TypeError`` that says what CPSN has instead.

    Shapes:
        ``'m'``: ``[T, N, C, *]`` -> spikes of the same shape and dtype, 0 to 3 trailing dims.
        ``'s'``: ``[N, C, *]`` -> spikes; the last ``R = (k-1)*dilation + 1`` inputs are kept as
        state ``x_window`` ``[R, N, C, *]`` in the compute dtype (float64 for float64 inputs or
        weights, else float32), cleared by ``spikingjelly.activation_based.functional.reset_net``.
        When no gradient is needed (``torch.no_grad()``, or neither the input nor a parameter
        requires grad) and the surrogate fires a Heaviside
        (:func:`~spikingjelly_mulfree.surrogate.fires_heaviside`), each step writes its input
        into slot ``x_window_pos`` of the window in place (a ring buffer, through the backend's
        ``step_fire``; a state handed to ``single_step_functional_forward`` is consumed);
        otherwise, and under ``torch.compile``, the window is rebuilt out of place in time
        order so autograd reaches every past input. The two may alternate within a sequence.

    Example:
        >>> import torch
        >>> from spikingjelly_mulfree import CPSN
        >>> sn = CPSN(channels=8, k=4)
        >>> sn(torch.randn(16, 2, 8)).shape
        torch.Size([16, 2, 8])
    """

    cls_to_become = None

    def __init__(
        self,
        channels: int | None = None,
        k: int = 4,
        dilation: int = 1,
        mul_free: bool = True,
        threshold: str | float = "bn",
        surrogate_function: nn.Module | None = None,
        step_mode: str = "m",
        backend: str = "auto",
        init: str = "exp",
        exp_range: tuple[int, int] = (DEFAULT_MIN_EXP, DEFAULT_MAX_EXP),
        momentum: float = 0.1,
        eps: float = 1e-5,
        detach_reset: bool = False,
        **spikingjelly_options: object,
    ):
        super().__init__()
        checks.no_node_options(spikingjelly_options)
        self._k = checks.positive_int("k", k)
        self.dilation = dilation
        self.mul_free = checks.bool_arg("mul_free", mul_free)
        self.threshold_mode, self.v_threshold_fixed = checks.threshold_arg(threshold)
        if init not in INITS:
            raise ValueError(f"init: expected one of {INITS}, got {init!r}")
        self.init = init
        self.exp_range = checks.exp_range_arg(exp_range)
        self.momentum = checks.momentum_arg(momentum)
        self.eps = checks.eps_arg(eps)
        self.detach_reset = checks.bool_arg("detach_reset", detach_reset)
        self.surrogate_function = (
            sj_surrogate.ATan() if surrogate_function is None
            else checks.surrogate_arg(surrogate_function)
        )
        self.backend = backends.check_backend_name(backend)
        self.step_mode = step_mode
        self.register_memory("x_window", None)
        # Slot of the oldest input in x_window while it is a ring; None while it is in time order.
        self.register_memory("x_window_pos", None)

        if channels is None:
            self.channels = None
            self.weight = UninitializedParameter()
            self._make_threshold(None)
        else:
            self.channels = checks.positive_int("channels", channels)
            self.weight = nn.Parameter(torch.empty(self.channels, self.k))
            self._make_threshold(self.channels)
            self.reset_parameters()
            self._drop_lazy_hooks()

    def _make_threshold(self, C: int | None) -> None:
        def param():
            return UninitializedParameter() if C is None else nn.Parameter(torch.empty(C))

        def buffer():
            return UninitializedBuffer() if C is None else torch.empty(C)

        if self.threshold_mode == "bn":
            self.bn_weight, self.bn_bias = param(), param()
            self.register_buffer("running_mean", buffer())
            self.register_buffer("running_var", buffer())
        elif self.threshold_mode == "learnable":
            self.v_threshold = param()

    # --- lazy initialisation -------------------------------------------------------------
    def initialize_parameters(self, x: torch.Tensor, *args) -> None:
        """Infer ``channels`` from the first input (called by ``LazyModuleMixin``) and initialise
        what is still uninitialised; a partial ``load_state_dict(..., strict=False)`` may have
        set the channels and some tensors already, which are kept. A dry run under
        ``torch.inference_mode()`` makes ordinary tensors, which later training can use."""
        if not self.has_uninitialized_params():
            return
        checks.input_tensor(x, self.step_mode, self.channels)
        self.channels = checks.initial_channels(x, self.step_mode)
        present = tensors.own_tensors(self)
        lazy = (UninitializedParameter, UninitializedBuffer)
        loaded = {n: t for n, t in present.items() if not isinstance(t, lazy)}
        checks.kept_shapes(loaded, self.channels, self.k)
        with torch.inference_mode(False), torch.no_grad():
            kept = {n: t.clone() for n, t in loaded.items()}
            for name, t in present.items():
                if isinstance(t, lazy):
                    t.materialize((self.channels, self.k) if name == "weight" else
                                  (self.channels,))
            self.reset_parameters()
            for name, value in kept.items():
                getattr(self, name).copy_(value)

    def _drop_lazy_hooks(self) -> None:
        """Remove ``LazyModuleMixin``'s hooks once nothing is left to infer, as its own first
        forward does: a module with hooks is refused by ``torch.cuda.make_graphed_callables``,
        so a neuron built with its channels, or loaded, has none."""
        if not self.has_uninitialized_params() and hasattr(self, "_initialize_hook"):
            self._initialize_hook.remove()
            self._load_hook.remove()
            del self._initialize_hook, self._load_hook

    def _replicate_for_data_parallel(self):
        """``nn.DataParallel``'s replica: refused while the channels are still to be inferred
        (``LazyModuleMixin``'s error), else SpikingJelly's, which copies the step state (the
        mixin refuses every replica, initialised or not)."""
        if self.has_uninitialized_params():
            return super()._replicate_for_data_parallel()
        return base.MemoryModule._replicate_for_data_parallel(self)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """Loading into a lazy neuron (``LazyModuleMixin`` materialises the loaded shapes) also
        sets ``channels``, as a dry run would. The loaded weight is checked against ``[C, k]``
        first, so a refused one leaves the neuron as it was (lazy, to be set by a dry run)."""
        if self.channels is None:
            checks.loaded_shapes(state_dict, prefix, self.k, PER_CHANNEL)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if self.channels is None and not isinstance(self.weight, UninitializedParameter):
            self.channels = self.weight.shape[0]
            self._drop_lazy_hooks()

    def _apply(self, fn, *args, **kwargs):
        """``nn.Module._apply`` (``.to()``, ``.half()``, ``.cuda()``, ...) with the step state
        converted as ``[R, N, C*S]`` (device and dtype only): a model-wide ``memory_format``
        conversion applies to every 4-D and 5-D tensor, and ``channels_last`` refuses a 5-D one
        (the ``[R, N, C, H, W]`` state of a 2-D convolution's neuron), ``channels_last_3d`` a
        4-D one; the state's layout is the ring's own (it copies a non-contiguous one)."""
        window = self._memories["x_window"]
        if not isinstance(window, torch.Tensor):
            return super()._apply(fn, *args, **kwargs)
        self._memories["x_window"] = None
        try:
            result = super()._apply(fn, *args, **kwargs)
        finally:
            self._memories["x_window"] = window
        flat = window.flatten(2)
        converted = fn(flat)
        if converted is not flat:  # not in place: a new tensor, not a view (detach_net's detach_)
            self._memories["x_window"] = converted.reshape(window.shape).clone()
        return result

    def reset_parameters(self) -> None:
        """Initialise taps (``init``), the threshold (BN gamma 1, beta -1; ``v_threshold`` 1)
        and the running statistics (mean 0, var 1)."""
        if self.has_uninitialized_params():
            return
        with torch.no_grad():
            if self.init == "exp":
                powers = torch.arange(self.k - 1, -1, -1, dtype=self.weight.dtype,
                                      device=self.weight.device)
                self.weight.copy_(torch.pow(0.5, powers).expand(self.channels, self.k))
            else:
                bound = 1.0 / math.sqrt(self.k)
                nn.init.uniform_(self.weight, -bound, bound)
            if self.threshold_mode == "bn":
                self.bn_weight.fill_(1.0)
                self.bn_bias.fill_(-1.0)
                self.running_mean.zero_()
                self.running_var.fill_(1.0)
            elif self.threshold_mode == "learnable":
                self.v_threshold.fill_(1.0)

    # --- attributes ------------------------------------------------------------------------
    @property
    def k(self) -> int:
        """Order (taps per channel); fixed at construction, as the weight's shape is."""
        return self._k

    @k.setter
    def k(self, value: int) -> None:
        raise AttributeError(
            f"k: fixed at construction (the weight has {self._k} taps per channel); build a "
            f"new CPSN(k={value!r}) instead"
        )

    @property
    def dilation(self) -> int:
        return self._dilation

    @dilation.setter
    def dilation(self, value: int) -> None:
        self._dilation = checks.positive_int("dilation", value)

    @property
    def receptive_field(self) -> int:
        """The number of steps one layer sees, ``(k-1) * dilation + 1``."""
        return window_length(self.k, self.dilation)

    def extra_repr(self) -> str:
        thr = self.v_threshold_fixed if self.threshold_mode == "fixed" else self.threshold_mode
        text = (
            f"channels={self.channels}, k={self.k}, dilation={self.dilation}, "
            f"mul_free={self.mul_free}, threshold={thr!r}, step_mode={self.step_mode}, "
            f"backend={self.backend!r}"
        )
        params = inspect.signature(CPSN.__init__).parameters
        for name in ("init", "exp_range", "momentum", "eps"):  # where not the default
            if getattr(self, name) != params[name].default:
                text += f", {name}={getattr(self, name)!r}"
        return text

    # --- the kernel the neuron applies -----------------------------------------------------
    def _kernel(self, stats: tuple[torch.Tensor, torch.Tensor] | None, dtype: torch.dtype,
                fold: FoldFn = fold_kernel, own: dict[str, torch.Tensor] | None = None):
        """Effective ``(weight, bias)`` in ``dtype`` from the batch ``stats`` (else the running
        ones), through a backend's ``fold`` (:func:`~..functional.threshold.fold_kernel`), of
        the neuron's tensors ``own`` (:func:`~.tensors.own_tensors`, read here when not given:
        a module's own attribute lookup costs a microsecond each)."""
        if own is None:
            own = tensors.own_tensors(self)
        w = _in(own["weight"], dtype)
        exp_range = self.exp_range if self.mul_free else None
        if self.threshold_mode == "bn":
            mean, var = stats if stats is not None else (own["running_mean"], own["running_var"])
            bn = (_in(mean, dtype), _in(var, dtype), _in(own["bn_weight"], dtype),
                  _in(own["bn_bias"], dtype), self.eps)
            return fold(w, bn, exp_range)
        if self.threshold_mode == "learnable":
            b = -_in(own["v_threshold"], dtype)
        else:
            b = torch.full((self.channels,), -self.v_threshold_fixed, dtype=dtype,
                           device=w.device)
        return fold(w, None, exp_range)[0], b

    @torch.no_grad()
    def effective_kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact kernel applied in eval mode.

        Returns:
            ``(weight [C, k], bias [C])`` such that in eval
            ``S = Heaviside(sum_i weight[c, i] * X[t - (k-1-i) d] + bias[c])``. With
            ``mul_free=True`` every weight is 0 or ``+-2**e``, ``e`` in ``exp_range``. Both are
            in the accumulator type the forward folds them in: float64 for a float64 neuron,
            else float32 (a float16 or bfloat16 neuron's kernel is folded in float32; a float64
            input would fold its parameters in float64).

        Example:
            >>> w, b = CPSN(channels=2, k=3).half().eval().effective_kernel()
            >>> w.dtype, b.shape
            (torch.float32, torch.Size([2]))
        """
        checks.initialised(self)
        tensors.check_shapes(self)
        acc = torch.float64 if self.weight.dtype == torch.float64 else torch.float32
        return self._kernel(None, acc)

    def to_integer(self, frac_bits: int, dtype: torch.dtype = torch.int16, **kwargs) -> nn.Module:
        """Integer-input copy for inference: see :func:`spikingjelly_mulfree.integer.to_integer`."""
        from ..integer import to_integer

        return to_integer(self, frac_bits, dtype, **kwargs)

    # --- forward ---------------------------------------------------------------------------
    def _compute_dtype(self, x: torch.Tensor) -> torch.dtype:
        """float64 if the input or the weights are, else float32 (the promotion of both with
        float32, without dispatching ``torch.promote_types``)."""
        return torch.float64 if torch.float64 in (x.dtype, self.weight.dtype) else torch.float32

    def multi_step_functional_forward(self, inputs, states, **kwargs):
        x_seq = inputs[0]
        own = tensors.own_tensors(self)
        checks.input_tensor(x_seq, "m", self.channels)
        checks.same_device(x_seq, own["weight"])
        checks.own_shapes(own, self.channels, self.k)
        if x_seq.numel() == 0:  # an empty batch or sequence: no statistics to take
            return (self._no_spikes(x_seq),), states
        if self.threshold_mode == "bn" and self.training:
            checks.batch_statistics(x_seq, self.channels)
        shape = x_seq.shape
        with _autocast_off(x_seq):
            dtype = self._compute_dtype(x_seq)
            # [T, N, C, S] as it comes, else viewed so (a view of the same shape would
            # still add a node to each backward)
            x = x_seq if x_seq.dim() == 4 else x_seq.reshape(shape[0], shape[1], shape[2], -1)
            if dtype == torch.float64 and x.dtype != dtype:
                # float64 weights: the backends compute in float64 only for a float64 input
                # (their contract), so the input goes up rather than the weights down
                x = x.to(dtype)
            backend = backends.get_backend(self.backend, x)
            need_moments = self.threshold_mode == "bn" and self.training

            def make_kernel(stats, fold):
                return self._kernel(stats, dtype, fold, own)

            make_kernel.reads = tuple(tensors.trained_tensors(self))
            if need_moments:
                make_kernel.bn = BNFold(_in(own["bn_weight"], dtype), _in(own["bn_bias"], dtype),
                                        self.eps, self.exp_range if self.mul_free else None)
            spikes, moments = run_layer(
                backend, x, _in(own["weight"], dtype), self.dilation, make_kernel, need_moments,
                self.surrogate_function, self.mul_free,
            )
            if need_moments:
                running_stats_of(backend)(
                    own["running_mean"], own["running_var"], moments[0].detach(),
                    moments[1].detach(), x.numel() // self.channels, self.momentum,
                )
        if spikes.shape != shape:
            spikes = spikes.reshape(shape)
        return (_in(spikes, x_seq.dtype),), states

    def single_step_functional_forward(self, inputs, states, **kwargs):
        x = inputs[0]
        checks.input_tensor(x, "s", self.channels)
        checks.same_device(x, self.weight)
        tensors.check_shapes(self)
        if self.threshold_mode == "bn" and self.training:
            raise RuntimeError(
                "CPSN(threshold='bn') cannot train in step_mode='s': its threshold needs the "
                "statistics of the whole sequence. Train with step_mode='m' (then step through "
                "sequences in eval mode), or use threshold='learnable' or a float threshold."
            )
        if capturing(x):
            raise RuntimeError(
                "CPSN in step_mode='s' keeps its input window between calls on the host (a "
                "ring slot, or a new window each step), which a captured CUDA graph would "
                "replay unchanged: every replay would see the window of the capture. Run the "
                "steps eagerly, or capture the multi-step forward (step_mode='m') of a whole "
                "sequence"
            )
        window, pos = states
        if window is None and x.numel() == 0:
            return (self._no_spikes(x),), states
        if window is not None and window.shape[1:] != x.shape:
            raise ValueError(
                f"x: expected shape {tuple(window.shape[1:])} like the previous step, got "
                f"{tuple(x.shape)}; call functional.reset_net(net) before a new sequence"
            )
        if window is not None and window.shape[0] != self.receptive_field:
            raise ValueError(
                f"dilation: the receptive field changed to {self.receptive_field} steps within "
                f"a sequence that kept {window.shape[0]}; change dilation between sequences, "
                f"after functional.reset_net(net)"
            )
        with _autocast_off(x):
            dtype = self._compute_dtype(x)
            if self._steps_in_place(x):
                return self._ring_step(x, window, pos, dtype)
            if window is not None and pos:  # a ring: the oldest input is in slot pos
                window = window.roll(-pos, 0)
            if window is not None:  # e.g. float16 after a .half() of the module mid-sequence
                window = _in(window, dtype)
            window = push_window(window, x.to(dtype), self.receptive_field)
            w, b = self._kernel(None, dtype)
            h = step_charge(window, w, b, self.dilation)
            spikes = self.surrogate_function(h)
        return (spikes.to(x.dtype),), (window, None)

    def _no_spikes(self, x: torch.Tensor) -> torch.Tensor:
        """The spikes of an empty input (as SpikingJelly's neurons give them): empty, like
        ``x``, and in the autograd graph of ``x`` and of every trained parameter, whose
        gradients are then zeros, so that data-parallel training with an empty local batch
        still reduces every gradient."""
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        if torch.is_grad_enabled():
            for p in tensors.trained_tensors(self):
                if p.requires_grad:
                    zero = zero + p.sum().to(x.dtype) * 0
        return x * 0 + zero

    def _steps_in_place(self, x: torch.Tensor) -> bool:
        """Whether this step may update a ring buffer in place: no gradient is needed, the
        spikes are ``Heaviside(H)`` and no ``torch.compile`` is tracing (the ring's slot is a
        Python int, on which the compiler would specialise a graph per slot)."""
        if not fires_heaviside(self.surrogate_function) or torch.compiler.is_compiling():
            return False
        return not torch.is_grad_enabled() or not (
            x.requires_grad or any(p.requires_grad for p in tensors.trained_tensors(self)))

    @torch.no_grad()
    def _ring_step(self, x: torch.Tensor, window: torch.Tensor | None, pos: int | None,
                   dtype: torch.dtype):
        R = self.receptive_field
        if window is None:
            window, pos = torch.zeros((R, *x.shape), dtype=dtype, device=x.device), 0
        elif (pos is None or window.dtype != dtype or not window.is_contiguous()
              or (window.is_inference() and not torch.is_inference_mode_enabled())):
            # A time-ordered window may be saved for a backward still to come: write into a copy.
            window = window.to(dtype=dtype, memory_format=torch.contiguous_format, copy=True)
            pos = pos or 0
        backend = backends.get_backend(self.backend, x)
        w, b = self._kernel(None, dtype, fold_of(backend))
        xs, ring = x, window  # as [N, C, S] and [R, N, C, S] (views unless already so)
        if x.dim() != 3:
            xs = x.reshape(x.shape[0], x.shape[1], -1)
            ring = window.view(R, *xs.shape)
        spikes = backend.step_fire(xs, ring, pos, w, b, self.dilation, self.mul_free)
        if spikes.shape != x.shape:
            spikes = spikes.view(x.shape)
        return (spikes,), (window, (pos + 1) % R)
