"""Spiking neuron modules."""
from .cpsn import CPSN

__all__ = ["CPSN"]
