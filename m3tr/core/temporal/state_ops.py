"""Row-wise operations on simulation states (nested dataclasses, lists and tensors whose first
dimension is the batch): pick rows by a mask, repeat rows. Used to build a state once for an
observed history and hand it to many simulated futures without re-encoding the history."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor

S = TypeVar("S")


def map_rows(fn: Callable[..., Tensor], first: S, *others: S) -> S:
    """Apply ``fn`` to the tensors at the same place in ``first`` and ``others`` (same shape of
    nesting: dataclasses, lists, tuples, tensors, None); other leaves are taken from ``first``."""
    if isinstance(first, Tensor):
        return fn(first, *others)  # type: ignore[return-value]
    if first is None:
        return first
    if isinstance(first, list | tuple):
        out = [map_rows(fn, a, *rest) for a, *rest in zip(first, *others, strict=True)]
        return type(first)(out)  # type: ignore[return-value]
    if dataclasses.is_dataclass(first) and not isinstance(first, type):
        values = {
            f.name: map_rows(fn, getattr(first, f.name), *(getattr(o, f.name) for o in others))
            for f in dataclasses.fields(first)
        }
        return dataclasses.replace(first, **values)  # type: ignore[return-value]
    return first


def where_rows(mask: Tensor, new: S, old: S) -> S:
    """Rows of ``new`` where ``mask`` (B,) is True, of ``old`` elsewhere."""

    def pick(a: Tensor, b: Tensor) -> Tensor:
        return torch.where(mask.view(-1, *([1] * (a.dim() - 1))), a, b)

    return map_rows(pick, new, old)


def repeat_rows_of(state: S, n: int) -> S:
    """Every row ``n`` times in a row (row i -> rows i*n .. i*n+n-1)."""
    return map_rows(lambda t: t.repeat_interleave(n, dim=0), state)
