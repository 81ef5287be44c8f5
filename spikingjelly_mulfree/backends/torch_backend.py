"""The PyTorch backend: runs anywhere torch runs (CPU, CUDA); the reference fast path."""
from __future__ import annotations

import torch

from ..functional.charge import charge_torch
from ..functional.threshold import moments


class TorchBackend:
    """Plain PyTorch ops; autograd provides the backward."""

    name = "torch"

    def unavailable_reason(self, x: torch.Tensor) -> str | None:
        return None

    def charge_fire(self, x, weight, bias, dilation, surrogate_function, mul_free=False):
        h = charge_torch(x.to(weight.dtype), weight, bias, dilation)
        return surrogate_function(h).to(x.dtype)

    def conv_moments(self, x, weight, dilation):
        return moments(charge_torch(x.to(weight.dtype), weight, None, dilation))
