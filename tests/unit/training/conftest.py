"""A tiny synthetic CED-like dataset (TaskData with content arrays), no model download."""

import numpy as np
import pytest

from m3tr.core.task.spec import TaskSpec
from m3tr.core.training.content import ContentArrays
from m3tr.core.training.data import TaskData


def synthetic_task(n: int = 120, seed: int = 0, d_r: int = 8) -> TaskData:
    """Videos whose final count grows with their early rate and a hidden content 'topic'."""
    rng = np.random.default_rng(seed)
    spec = TaskSpec(obs_window_s=3600.0, horizon_s=86400.0, event_types=("repost", "comment"))
    topic = rng.integers(0, 3, n)
    ev_t, ev_k, targets = [], [], []
    for i in range(n):
        rate = rng.uniform(2, 40)  # events per hour in the first hour
        m = rng.poisson(rate)
        t = np.sort(rng.uniform(0, 3600, m))
        k = rng.integers(0, 2, m)
        growth = 1.5 + topic[i] + rng.normal(0, 0.1)
        final = np.array([np.sum(k == 0), np.sum(k == 1)]) * growth + rng.poisson(3, 2)
        ev_t.append(t)
        ev_k.append(k)
        targets.append(np.maximum(final.astype(np.int64), [np.sum(k == 0), np.sum(k == 1)]))
    centres = rng.normal(size=(3, d_r))
    R = centres[topic] + 0.05 * rng.normal(size=(n, d_r))
    R = (R / np.linalg.norm(R, axis=1, keepdims=True)).astype(np.float32)
    text = np.repeat(R[:, None, :], 4, axis=1).astype(np.float32)
    content = ContentArrays(
        R=R,
        text=text,
        text_mask=np.ones((n, 4), dtype=bool),
        av=np.zeros((n, 2, 3), np.float32),
        av_mask=np.zeros((n, 2), dtype=bool),
        profile_version="test",
    )
    return TaskData(
        spec=spec,
        video_ids=np.arange(100, 100 + n, dtype=np.int64),
        keys=[f"v{i}" for i in range(n)],
        texts=[f"topic {topic[i]}" for i in range(n)],
        event_t=ev_t,
        event_k=ev_k,
        targets=np.stack(targets),
        side=rng.normal(size=(n, 2)).astype(np.float32),
        side_names=["a", "b"],
        source="synthetic",
        content=content,
    )


@pytest.fixture
def task() -> TaskData:
    return synthetic_task()


@pytest.fixture(autouse=True)
def _one_thread():
    """Small models run faster on one thread (and do not fight other jobs for cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
