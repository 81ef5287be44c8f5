"""Argument and input checks for CPSN: each error names the argument, what was expected and
what to do."""
from __future__ import annotations

import math
import numbers
from typing import Callable

import numpy as np
import torch
from torch.nn.parameter import is_lazy

from ..functional.quantize import DEFAULT_MAX_EXP, DEFAULT_MIN_EXP

MAX_SPATIAL_DIMS = 3


def positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    return int(value)


# Options of SpikingJelly's membrane-potential neurons (BaseNode, LIFNode, ...) and what CPSN
# has instead.
NODE_OPTIONS = {
    "v_threshold": "use threshold= ('bn', the default: a BatchNorm threshold; 'learnable'; or a "
                   "float for a fixed one)",
    "v_reset": "CPSN has no membrane potential to reset: it charges from its last k inputs",
    "tau": "CPSN has no fixed leak: its k learned taps weigh the past (init='exp' starts "
           "as a leaky integrator)",
    "decay_input": "CPSN has no fixed leak: its k learned taps weigh the past",
    "store_v_seq": "CPSN keeps no membrane potential: its charge H is "
                   "spikingjelly_mulfree.functional.charge_torch(x, *sn.effective_kernel(), "
                   "sn.dilation) for x [T, N, C, S]",
}


def no_node_options(options: dict[str, object]) -> None:
    """Refuse keyword arguments CPSN does not take, saying what it has for SpikingJelly's."""
    if options:
        hints = "; ".join(f"{name}: {NODE_OPTIONS.get(name, 'not an argument of CPSN')}"
                          for name in options)
        raise TypeError(
            f"CPSN got unexpected keyword argument(s) {', '.join(map(repr, options))} ({hints}); "
            "see help(spikingjelly_mulfree.CPSN) for its arguments"
        )


def bool_arg(name: str, value: object) -> bool:
    """A flag: ``True`` or ``False`` (numpy's too); a string or a number is refused, since
    ``bool('False')`` is true."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def threshold_arg(threshold: object) -> tuple[str, float | None]:
    """``'bn'`` / ``'learnable'`` / a real number -> ``(mode, fixed value or None)``."""
    if isinstance(threshold, str):
        if threshold in ("bn", "learnable"):
            return threshold, None
    elif _real(threshold) and math.isfinite(threshold):
        return "fixed", float(threshold)
    raise ValueError(
        f"threshold: expected 'bn', 'learnable' or a finite float (fixed threshold), got "
        f"{threshold!r}"
    )


def momentum_arg(momentum: object) -> float:
    """The running statistics' momentum, in [0, 1]."""
    if not _real(momentum) or not 0.0 <= momentum <= 1.0:
        raise ValueError(
            f"momentum: expected a float in [0, 1] (the weight of each batch in the running "
            f"statistics; nn.BatchNorm's None, a cumulative average, is not supported), got "
            f"{momentum!r}"
        )
    return float(momentum)


def eps_arg(eps: object) -> float:
    """The BatchNorm threshold's eps: finite and > 0 (it keeps 1/sqrt(var + eps) finite)."""
    if not _real(eps) or not (0.0 < eps < math.inf):
        raise ValueError(f"eps: expected a finite float > 0 (e.g. 1e-5), got {eps!r}")
    return float(eps)


# Exponents of float32 (the compute dtype of every input but float64): 2**-149 .. 2**127.
FLOAT32_EXP_RANGE = (-149, 127)


def exp_range_arg(exp_range: object) -> tuple[int, int]:
    """``(min_exp, max_exp)``: integers, ``min_exp <= max_exp``, within float32's exponents."""
    lo, hi = FLOAT32_EXP_RANGE
    ok = (isinstance(exp_range, (tuple, list)) and len(exp_range) == 2
          and all(isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in exp_range)
          and lo <= exp_range[0] <= exp_range[1] <= hi)
    if not ok:
        raise ValueError(
            f"exp_range: expected a pair of integers (min_exp, max_exp) with {lo} <= min_exp <= "
            f"max_exp <= {hi} (the powers of two a float32 holds), got {exp_range!r}; the "
            f"default is {(DEFAULT_MIN_EXP, DEFAULT_MAX_EXP)}"
        )
    return int(exp_range[0]), int(exp_range[1])


def surrogate_arg(surrogate_function: object) -> object:
    """``surrogate_function`` if it can be called on the charge: an instance (a SpikingJelly
    surrogate, or any function of a tensor), not a class or a name.

    Example:
        >>> from spikingjelly.activation_based import surrogate
        >>> surrogate_arg(surrogate.ATan)
        Traceback (most recent call last):
        ...
        TypeError: surrogate_function: expected a surrogate instance, got the class ATan; ...
    """
    if isinstance(surrogate_function, type):
        name = surrogate_function.__name__
        raise TypeError(f"surrogate_function: expected a surrogate instance, got the class "
                        f"{name}; pass {name}()")
    if not callable(surrogate_function):
        raise TypeError(
            f"surrogate_function: expected a surrogate such as "
            f"spikingjelly.activation_based.surrogate.ATan() (a function of the charge), got "
            f"{surrogate_function!r} ({type(surrogate_function).__name__})")
    return surrogate_function


def channel_dim(step_mode: str) -> int:
    return 2 if step_mode == "m" else 1


def input_tensor(x: object, step_mode: str, channels: int | None) -> None:
    """Check rank, dtype and channel count of a CPSN input."""
    layout = "[T, N, C, *]" if step_mode == "m" else "[N, C, *]"
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor {layout}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"x: expected a floating-point tensor (float16/bfloat16/float32/float64), got "
            f"{x.dtype}; convert it with x.float()"
        )
    lead = channel_dim(step_mode) + 1
    if not lead <= x.dim() <= lead + MAX_SPATIAL_DIMS:
        raise ValueError(
            f"x: expected {layout} with 0 to {MAX_SPATIAL_DIMS} trailing dims for "
            f"step_mode={step_mode!r} ({lead} to {lead + MAX_SPATIAL_DIMS} dims), got shape "
            f"{tuple(x.shape)}; for one step use step_mode='s', for a sequence step_mode='m'"
        )
    if channels is not None and x.shape[lead - 1] != channels:
        raise ValueError(
            f"x: expected {channels} channels at dim {lead - 1} (the layout is {layout}), got "
            f"shape {tuple(x.shape)}; build CPSN(channels={x.shape[lead - 1]}) or "
            "CPSN(channels=None) to infer it"
        )


def same_device(x: torch.Tensor, weight: torch.Tensor) -> None:
    """The input on the device of the neuron's parameters."""
    if x.device != weight.device:
        raise RuntimeError(
            f"x: on {x.device}, but the neuron's parameters are on {weight.device}; move the "
            f"model to the input's device (net.to({str(x.device)!r})) or the input to the "
            "model's"
        )


def batch_statistics(x: torch.Tensor, channels: int) -> None:
    """A BatchNorm threshold in training needs more than one value per channel."""
    if x.numel() // channels == 1:
        raise ValueError(
            f"x: CPSN(threshold='bn') in training needs more than one value per channel "
            f"(T * N * spatial), got shape {tuple(x.shape)}; train on longer sequences or "
            "larger batches, or call .eval() to use the running statistics"
        )


def initial_channels(x: torch.Tensor, step_mode: str) -> int:
    """The channel count a lazy CPSN takes from its first input (at least one)."""
    dim = channel_dim(step_mode)
    if x.shape[dim] == 0:
        raise ValueError(
            f"x: a lazy CPSN takes its channel count from dim {dim} of its first input, got "
            f"shape {tuple(x.shape)} with 0 channels; pass an input with channels, or build "
            "CPSN(channels=...)"
        )
    return int(x.shape[dim])


def loaded_shapes(state_dict: dict, prefix: str, k: int, per_channel: tuple[str, ...]) -> None:
    """A state dict's tensors for a lazy CPSN of order ``k``: ``weight`` ``[C, k]`` and each
    of ``per_channel`` ``[C]``, one ``C`` for all (any may be absent)."""
    weight = state_dict.get(prefix + "weight")
    C, source = None, None
    if isinstance(weight, torch.Tensor) and not is_lazy(weight):
        if weight.dim() != 2:
            raise ValueError(
                f"state_dict: expected {prefix}weight [C, k={k}] (channels x taps, as a CPSN "
                f"saves it), got shape {tuple(weight.shape)}; a SpikingJelly PSN's weight does "
                f"not carry over to CPSN"
            )
        if weight.shape[1] != k:
            raise ValueError(
                f"state_dict: its {prefix}weight has {weight.shape[1]} taps per channel, this "
                f"CPSN has k={k}; build CPSN(k={weight.shape[1]}) to load it"
            )
        C, source = weight.shape[0], f"{prefix}weight"
    for name in per_channel:
        t = state_dict.get(prefix + name)
        if not isinstance(t, torch.Tensor) or is_lazy(t):
            continue
        if t.dim() != 1 or (C is not None and t.shape[0] != C):
            expected = f"[{C}] like {source}" if C is not None else "[C], one value per channel"
            raise ValueError(
                f"state_dict: expected {prefix}{name} {expected}, got shape {tuple(t.shape)}; "
                f"load a state dict saved from one CPSN"
            )
        C, source = t.shape[0], f"{prefix}{name}"


def _shapes(tensors: dict[str, torch.Tensor], C: int, k: int,
            message: Callable[[str, tuple[int, ...], tuple[int, ...]], str]) -> None:
    """``weight`` must be ``[C, k]``, the others ``[C]``; else ``ValueError(message(name,
    shape, expected))`` for the first that is not."""
    for name, t in tensors.items():
        want = (C, k) if name == "weight" else (C,)
        if tuple(t.shape) != want:
            raise ValueError(message(name, tuple(t.shape), want))


def kept_shapes(tensors: dict[str, torch.Tensor], C: int, k: int) -> None:
    """Tensors a partial ``load_state_dict`` set before a lazy CPSN's first input showed
    ``C`` channels."""
    _shapes(tensors, C, k, lambda name, got, want: (
        f"{name}: the state dict loaded it as {got}, but the first input has {C} channels "
        f"(expected {want}); load a state dict of a {C}-channel CPSN, or give the input its "
        f"{got[0] if got else 1} channels"))


def own_shapes(tensors: dict[str, torch.Tensor], C: int, k: int) -> None:
    """The neuron's taps and per-channel tensors, which a user may have reassigned since the
    neuron was built (``sn.weight = nn.Parameter(...)``, ``sn.weight.data = ...``)."""
    _shapes(tensors, C, k, lambda name, got, want: (
        f"{name}: expected shape {want} for this CPSN of {C} channels and k={k} taps, got "
        f"{got}; the channels and k are fixed when the neuron is built: assign a tensor of "
        f"shape {want}, or build a new CPSN(channels=..., k=...) for another shape"))


def initialised(module: torch.nn.Module) -> None:
    if module.has_uninitialized_params():
        raise RuntimeError(
            "CPSN(channels=None) has not seen an input yet: run one forward pass (a dry run) "
            "before asking for its kernel or building the optimizer"
        )
