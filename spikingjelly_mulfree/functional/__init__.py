"""Pure functions: tensors in, tensors out. Modules call these."""
from .charge import charge_reference, charge_torch, receptive_field, toeplitz
from .quantize import pow2_exponent, quantize_pow2
from .step import push_window, ring_charge, step_charge
from .threshold import fold_kernel, fuse_bn, moments, update_running_stats

__all__ = [
    "charge_reference", "charge_torch", "receptive_field", "toeplitz", "pow2_exponent",
    "quantize_pow2", "push_window", "ring_charge", "step_charge", "fold_kernel", "fuse_bn",
    "moments", "update_running_stats",
]
