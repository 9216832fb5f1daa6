"""A stand-in for a GPU on this CPU machine: a mode that fails on any tensor our code makes from
scratch without an explicit ``device=`` (on a GPU such a tensor lands on the CPU beside a CUDA
model). Passed: calls made inside torch itself (e.g. the optimiser's CPU step counter), and
weights made while a module is constructed (``nn.Module.__init__``): models are built on the CPU
and then moved, so CPU and CUDA runs of a seed start from the same weights. The error names the
file and line of the stray call."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

TORCH_DIR = str(Path(torch.__file__).parent)


class FactoriesNeedADevice(TorchFunctionMode):
    """Fails on ``torch.zeros(3)``, passes ``torch.zeros(3, device=x.device)``."""

    FACTORIES = frozenset(
        [torch.zeros, torch.ones, torch.empty, torch.full, torch.arange, torch.rand, torch.randn,
         torch.randint, torch.randperm, torch.linspace, torch.eye, torch.tensor, torch.as_tensor]
    )  # fmt: skip

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        from_tensor = func in (torch.tensor, torch.as_tensor) and isinstance(args[0], torch.Tensor)
        if func in self.FACTORIES and kwargs.get("device") is None and not from_tensor:
            caller = sys._getframe(1)
            if not caller.f_code.co_filename.startswith(TORCH_DIR) and not _in_module_init(caller):
                where = f"{caller.f_code.co_filename}:{caller.f_lineno}"
                raise AssertionError(f"torch.{func.__name__} without a device at {where}")
        return func(*args, **kwargs)


def _in_module_init(frame) -> bool:
    """Whether ``frame`` or one of its callers is the ``__init__`` of a torch module."""
    while frame is not None:
        if frame.f_code.co_name == "__init__" and isinstance(frame.f_locals.get("self"), nn.Module):
            return True
        frame = frame.f_back
    return False
