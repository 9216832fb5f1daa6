import pytest
import torch

from m3tr.core.fusion.batch import FusionBatch, VideoTensors
from m3tr.core.fusion.config import FusionConfig


def make_videos(n: int, cfg: FusionConfig, seed: int = 0, n_w: int = 5, k: int = 3) -> VideoTensors:
    g = torch.Generator().manual_seed(seed)
    L = cfg.max_events
    times = torch.sort(torch.rand(n, L, generator=g) * cfg.obs_window_s, dim=1).values
    return VideoTensors(
        text=torch.randn(n, n_w, cfg.d_text, generator=g),
        text_mask=torch.ones(n, n_w, dtype=torch.bool),
        av=torch.zeros(n, k, cfg.d_av),
        av_mask=torch.zeros(n, k, dtype=torch.bool),
        side=torch.randn(n, cfg.d_side, generator=g),
        profile=torch.randn(n, cfg.d_profile, generator=g),
        times=times,
        types=torch.randint(0, cfg.num_types, (n, L), generator=g),
        ev_mask=torch.rand(n, L, generator=g) > 0.3,
        floor=torch.rand(n, cfg.num_outputs, generator=g) * 3,
    )


def make_batch(cfg: FusionConfig, b: int = 4, seed: int = 0) -> FusionBatch:
    if cfg.top_s == 0:
        return FusionBatch(make_videos(b, cfg, seed))
    g = torch.Generator().manual_seed(seed + 1)
    return FusionBatch(
        target=make_videos(b, cfg, seed),
        neighbours=make_videos(b * cfg.top_s, cfg, seed + 2),
        nb_labels=torch.rand(b, cfg.top_s, cfg.num_outputs, generator=g) * 5,
        nb_mask=torch.rand(b, cfg.top_s, generator=g) > 0.2,
    )


@pytest.fixture
def cfg() -> FusionConfig:
    return FusionConfig(
        num_types=2, d_model=16, d_text=12, d_av=6, d_side=4, d_profile=9, top_s=3, max_events=7
    )


@pytest.fixture(autouse=True)
def _one_thread():
    """Small models run faster on one thread (and do not fight other jobs for cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
