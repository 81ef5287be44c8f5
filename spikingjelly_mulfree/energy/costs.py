r"""Operation counts of the parallel spiking neurons and the 45 nm energy of each operation.

Every neuron here computes, per neuron and per step ``t`` of ``T``, a weighted sum of its
input sequence followed by a threshold: ``H[t] = sum_j W[t, j] X[j] + b``. Its inference cost
is therefore one weight product per *(step, input step)* pair it really uses, one addition
to accumulate each product, and one addition for the bias (threshold):

.. math::

    \mathrm{MUL} = P, \qquad \mathrm{ADD} = P + T,

where :math:`P` is the number of products over the sequence. CPSN's power-of-two weights
turn every product into a shift (``SHIFT = P``, ``MUL = 0``).

Products per neuron:

- **PSN** (full ``T x T`` matrix): :math:`P = T^2`.
- **Sliding PSN / CPSN** (``k`` causal taps, dilation ``d``): a tap ``i`` of step ``t`` reads
  ``X[t - (k-1-i) d]``; only taps that land on a real step (index ``>= 0``) cost anything, so
  step ``t`` uses :math:`\min(k, \lfloor t/d \rfloor + 1)` taps and

  .. math::

      P(T, k, d) = \sum_{t=0}^{T-1} \min\left(k, \left\lfloor t/d \right\rfloor + 1\right).

  With ``m = min(T, (k-1) d) = a d + r`` (``0 <= r < d``) the ramp gives
  :math:`d\,a(a+1)/2 + r(a+1)` and the ``T - m`` saturated steps give ``k`` each. For
  ``d = 1`` and ``T >= k`` this is :math:`k(k+1)/2 + (T-k)k = (T + (1-k)/2)\,k`, the
  paper's formula.
- **Masked PSN** (``T x T`` weights times a band mask of width ``k``): with ``lambda >= 1`` the
  mask keeps ``min(t+1, k)`` entries of row ``t``, i.e. ``P(T, k, 1)``; with ``lambda < 1``
  (its training warm-up) every entry of the mask is non-zero and ``P = T^2``.

Streaming (``step_mode='s'``): CPSN runs its whole zero-initialised window every step, so a
step costs ``k`` products however many steps came before; SpikingJelly's sliding and masked
PSN keep a growing queue (or the step index) and cost ``min(t+1, k)`` at step ``t``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

OPS = ("mul", "add", "shift", "mac", "ac")


@dataclass(frozen=True)
class EnergyCosts:
    """Energy per operation in picojoules.

    Defaults are the 45 nm figures (Horowitz, ISSCC 2014) used by the paper's Table 6: FP32
    multiply 3.7 pJ, FP32 add 0.9 pJ, 32-bit fixed-point shift 0.13 pJ, FP32
    multiply-accumulate 4.6 pJ and accumulate 0.9 pJ (the same MAC and AC figures as
    SpikingJelly's ``SimpleEnergyCostConfig.fp32()``).

    Example:
        >>> EnergyCosts().pj(mul=2, add=1)
        8.3
    """

    mul_pj: float = 3.7
    add_pj: float = 0.9
    shift_pj: float = 0.13
    mac_pj: float = 4.6
    ac_pj: float = 0.9

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: expected a finite energy >= 0 pJ, got {value!r}")

    def pj(self, mul: float = 0, add: float = 0, shift: float = 0, mac: float = 0,
           ac: float = 0) -> float:
        """Energy in pJ of the given operation counts."""
        return (mul * self.mul_pj + add * self.add_pj + shift * self.shift_pj
                + mac * self.mac_pj + ac * self.ac_pj)


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    return value


def tap_count(T: int, k: int, dilation: int = 1) -> int:
    """Products one causal ``k``-tap neuron with ``dilation`` makes over ``T`` steps.

    Only taps that read a real step count (the zero padding before the sequence is free).

    Args:
        T: sequence length. k: order (taps). dilation: tap spacing ``d``.

    Returns:
        ``sum_{t<T} min(k, t // d + 1)``; ``(T + (1-k)/2) * k`` when ``d = 1`` and ``T >= k``.

    Example:
        >>> tap_count(32, 16), tap_count(4, 3, dilation=2)
        (392, 6)
    """
    T, k, d = _positive("T", T), _positive("k", k), _positive("dilation", dilation)
    m = min(T, (k - 1) * d)
    a, r = divmod(m, d)
    return d * a * (a + 1) // 2 + r * (a + 1) + k * (T - m)


@dataclass(frozen=True)
class NeuronOps:
    """Inference operations of one neuron (or a layer, after :meth:`scale`).

    Example:
        >>> NeuronOps(add=3, shift=2).scale(4) + NeuronOps(mul=1)
        NeuronOps(mul=1, add=12, shift=8)
    """

    mul: int = 0
    add: int = 0
    shift: int = 0

    def scale(self, n: int) -> NeuronOps:
        """The counts of ``n`` such neurons."""
        return NeuronOps(self.mul * n, self.add * n, self.shift * n)

    def __add__(self, other: NeuronOps) -> NeuronOps:
        return NeuronOps(self.mul + other.mul, self.add + other.add, self.shift + other.shift)


def psn_ops(T: int) -> NeuronOps:
    """PSN: ``T^2`` MUL and ``T^2 + T`` ADD per neuron.

    Example:
        >>> psn_ops(32)
        NeuronOps(mul=1024, add=1056, shift=0)
    """
    T = _positive("T", T)
    return NeuronOps(mul=T * T, add=T * T + T)


def sliding_ops(T: int, k: int, dilation: int = 1, mul_free: bool = False) -> NeuronOps:
    """Sliding PSN (``mul_free=False``) or CPSN (``mul_free=True``: shifts instead of MUL).

    Example:
        >>> sliding_ops(32, 16, mul_free=True)
        NeuronOps(mul=0, add=424, shift=392)
    """
    p = tap_count(T, k, dilation)
    return NeuronOps(shift=p, add=p + T) if mul_free else NeuronOps(mul=p, add=p + T)


def masked_psn_ops(T: int, k: int, lambda_: float = 1.0) -> NeuronOps:
    """Masked PSN: the band of width ``k`` when ``lambda_ >= 1``, else the dense ``T x T``.

    Example:
        >>> masked_psn_ops(32, 16), masked_psn_ops(32, 16, lambda_=0.5)
        (NeuronOps(mul=392, add=424, shift=0), NeuronOps(mul=1024, add=1056, shift=0))
    """
    return sliding_ops(T, k) if lambda_ >= 1.0 else psn_ops(T)


def streaming_step_ops(taps: int, mul_free: bool) -> NeuronOps:
    """One streaming step using ``taps`` products, plus the bias add.

    Example:
        >>> streaming_step_ops(4, mul_free=True)
        NeuronOps(mul=0, add=5, shift=4)
    """
    return NeuronOps(shift=taps, add=taps + 1) if mul_free else NeuronOps(mul=taps, add=taps + 1)
