"""Leakage rules as code (paper §3.4 "Data leakage prevention"; DESIGN "Data").

- A video never retrieves itself (every purpose).
- Training and evaluation retrieve only from the training bank (``split == "train"``).
- In service, only matured videos (horizon past, label final) may serve as neighbours.

``filter_for(purpose, query_id)`` builds the store filter; ``check_hits`` re-checks what a store
returned, so a backend bug cannot silently leak.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from m3tr.core.retrieval.store import Filter

Purpose = Literal["train", "eval", "service"]
TRAIN_SPLIT = "train"


class LeakageError(RuntimeError):
    """A retrieved neighbour breaks a leakage rule."""


def filter_for(purpose: Purpose, query_id: int | None = None) -> Filter:
    """The filter a retrieval for ``purpose`` must use (``query_id`` is always excluded)."""
    exclude = frozenset() if query_id is None else frozenset({int(query_id)})
    if purpose in ("train", "eval"):
        return Filter(exclude_ids=exclude, splits=(TRAIN_SPLIT,))
    if purpose == "service":
        return Filter(exclude_ids=exclude, matured_only=True)
    raise ValueError(f"unknown retrieval purpose {purpose!r}; use train, eval or service")


def check_hits(
    flt: Filter, hits: Iterable[tuple[int, Mapping[str, Any]]], where: str = "retrieval"
) -> None:
    """Raise ``LeakageError`` if any (video_id, payload) is not accepted by ``flt``."""
    for video_id, payload in hits:
        if not flt.accepts(video_id, payload):
            raise LeakageError(
                f"{where}: video {video_id} (split={payload.get('split')!r}, "
                f"matured={payload.get('matured')!r}) breaks the filter {flt}"
            )
