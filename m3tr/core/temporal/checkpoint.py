"""Save and load MHP checkpoints: weights via safetensors, config as JSON beside them, and the
trajectory transform (``trajectory.safetensors``) when the model has one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from safetensors.torch import load_file, save_file

from m3tr.core.temporal.config import MHPConfig
from m3tr.core.temporal.mhp import MHP
from m3tr.core.temporal.trajectory import TrajectoryTransform

WEIGHTS = "mhp.safetensors"
CONFIG = "mhp_config.json"


def save_mhp(model: MHP, directory: str | Path) -> Path:
    """Write ``mhp.safetensors`` and ``mhp_config.json`` into ``directory`` atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        save_file(state, os.path.join(tmp, WEIGHTS))
        Path(tmp, CONFIG).write_text(json.dumps(model.config.to_dict(), indent=2))
        os.replace(os.path.join(tmp, WEIGHTS), directory / WEIGHTS)
        os.replace(os.path.join(tmp, CONFIG), directory / CONFIG)
    if model.trajectory_transform is not None:
        model.trajectory_transform.save(directory)
    return directory / WEIGHTS


def load_mhp(directory: str | Path, device: str = "cpu") -> MHP:
    """Rebuild an MHP from a checkpoint directory written by :func:`save_mhp`."""
    directory = Path(directory)
    for name in (WEIGHTS, CONFIG):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"MHP checkpoint {directory}: missing {name}")
    cfg = MHPConfig.from_dict(json.loads((directory / CONFIG).read_text()))
    model = MHP(cfg)
    model.load_state_dict(load_file(str(directory / WEIGHTS), device=device))
    model.trajectory_transform = TrajectoryTransform.load(directory)
    return model.to(device).eval()
