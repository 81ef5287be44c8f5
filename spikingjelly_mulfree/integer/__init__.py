"""Integer inference: fixed-point inputs, shifts, adds and a compare (no multiplications).

:func:`to_integer` turns a trained ``mul_free=True`` CPSN into an :class:`IntegerCPSN` whose
spikes equal the real-arithmetic neuron's for every representable input; the exact reasoning is
in :mod:`spikingjelly_mulfree.integer.plan`.
"""
from .charge import integer_charge, integer_step_charge
from .fixed_point import INPUT_DTYPES, dequantize, quantize_input
from .module import IntegerCPSN, to_integer
from .plan import IntegerPlan, make_plan, pow2_decompose

__all__ = [
    "INPUT_DTYPES", "IntegerCPSN", "IntegerPlan", "dequantize", "integer_charge",
    "integer_step_charge", "make_plan", "pow2_decompose", "quantize_input", "to_integer",
]
