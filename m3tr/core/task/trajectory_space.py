"""The space trajectory vectors live in: which MHP signed the event logs, and which transform
made its signatures vectors. The temporal half of Eq. 3 compares two vectors only within one
space, so a fused model records the space its training neighbours were retrieved in, a bank
has the space of the temporal model that built it, and serving compares the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STANDIN_TRANSFORM = "eventbins"  # the log-binned event-count stand-in (no temporal model)
VERSION_TRANSFORM = "the version's trajectory transform"  # saved beside an MHP version's weights
# L: rows of X^s (h(t) on L times over the observation window) behind a bank's MHP vectors
BANK_SIGNATURE_LENGTH = 32


@dataclass(frozen=True)
class TrajectorySpace:
    """mhp: the MHP that signs event logs (``"model version 7"``, ``"the fused model's own"``,
    ``"none"`` for the stand-in); transform: how signatures become retrieval vectors."""

    mhp: str
    transform: str

    @classmethod
    def of_bank(cls, mhp_version_id: int | None) -> TrajectorySpace:
        """The space of a bank built by MHP version ``mhp_version_id`` (None: the stand-in)."""
        if mhp_version_id is None:
            return cls("none", STANDIN_TRANSFORM)
        return cls(f"model version {int(mhp_version_id)}", VERSION_TRANSFORM)

    def to_dict(self) -> dict[str, str]:
        return {"mhp": self.mhp, "transform": self.transform}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> TrajectorySpace | None:
        """The space recorded in a checkpoint, or None when it records none."""
        return None if not d else cls(str(d["mhp"]), str(d["transform"]))

    def __str__(self) -> str:
        return f"MHP {self.mhp}, {self.transform}"
