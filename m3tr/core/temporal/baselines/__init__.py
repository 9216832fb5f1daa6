"""Baselines with the MHP's interface: Poisson, classical Hawkes, pad-and-mask signatures.

The neural-Hawkes baseline is :class:`m3tr.core.temporal.mhp.MHP` with ``context="gru"``.
"""

from m3tr.core.temporal.baselines.classical_hawkes import ClassicalHawkes
from m3tr.core.temporal.baselines.pad_mask import PadMaskSignature
from m3tr.core.temporal.baselines.poisson import HomogeneousPoisson

__all__ = ["ClassicalHawkes", "HomogeneousPoisson", "PadMaskSignature"]
