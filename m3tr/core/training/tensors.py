"""TaskData -> the tensors of :class:`~m3tr.core.fusion.batch.VideoTensors`."""

from __future__ import annotations

import numpy as np
import torch

from m3tr.core.fusion.batch import VideoTensors
from m3tr.core.training.data import TaskData
from m3tr.core.training.features import count_profile, pad_events


def observed_floor(data: TaskData) -> np.ndarray:
    """(N, O) log1p of the counts observed by T_obs (each type, then the total)."""
    obs = data.obs_counts  # (N, K)
    return np.log1p(
        np.concatenate([obs, obs.sum(axis=1, keepdims=True)], axis=1).astype(np.float64)
    )


def video_tensors(
    data: TaskData, max_events: int, drop_absent_av: bool = True, keep: str = "last"
) -> VideoTensors:
    """All rows of ``data`` as tensors (needs ``data.content``).

    With ``drop_absent_av`` and no row having audio-visual content, the AV modality is kept as a
    single masked frame (it is absent either way; this only saves compute).
    """
    if data.content is None:
        raise ValueError(f"{data.source}: content arrays missing (attach with with_content)")
    c = data.content
    spec = data.spec
    av, av_mask = c.av, c.av_mask
    if drop_absent_av and not av_mask.any():
        av, av_mask = av[:, :1], av_mask[:, :1]
    times, types, mask = pad_events(data.event_t, data.event_k, max_events, keep=keep)
    profile = count_profile(data.event_t, data.event_k, spec.num_types, spec.obs_window_s)
    return VideoTensors(
        text=torch.from_numpy(c.text.astype(np.float32)),
        text_mask=torch.from_numpy(c.text_mask),
        av=torch.from_numpy(av.astype(np.float32)),
        av_mask=torch.from_numpy(av_mask),
        side=torch.from_numpy(data.side.astype(np.float32)),
        profile=torch.from_numpy(profile),
        times=torch.from_numpy(times.astype(np.float32)),
        types=torch.from_numpy(types),
        ev_mask=torch.from_numpy(mask),
        floor=torch.from_numpy(observed_floor(data).astype(np.float32)),
    )
