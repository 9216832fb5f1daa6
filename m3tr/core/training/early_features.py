"""Rich early features of a video, from what is known by T_obs only (the ``strong_features``
baseline, and the stacking partner of the fusion model).

Every column is computed from the events in ``[0, T_obs]`` (``TaskData`` keeps no later event),
the post's metadata at publication and its text:

- cumulative total count on a log-spaced grid of ``GRID_POINTS`` times from 60 s to T_obs, and
  per type at T_obs (log1p);
- counts in the last 10 and 20 minutes of the window, time since the last event, delay of the
  first event, median and mean inter-event gap (log1p seconds), the share of the window's
  events in its second half;
- distinct acting users (log1p) and their share of the events, the share of events that act
  on another event of the cascade (e.g. reposts of reposts), the share of each event type;
- the author/post side features of ``TaskData.side`` (followers, friends, verified, pictures
  and their missing flags), the local hour of publication (sin, cos; ``local_utc_offset_h``,
  +8 h for Weibo's China Standard Time) and the text length (log1p characters).

Columns the data cannot fill (no user or parent information, unknown publication time) are
zeros with a missing flag, so the same code serves every source.
"""

from __future__ import annotations

import numpy as np

from m3tr.core.training.data import TaskData

GRID_POINTS = 10
GRID_START_S = 60.0


def _grid(obs_window_s: float) -> np.ndarray:
    """(GRID_POINTS,) log-spaced times in (0, T_obs], the last one T_obs."""
    start = min(GRID_START_S, obs_window_s)
    return np.geomspace(start, obs_window_s, GRID_POINTS)


def early_feature_names(data: TaskData) -> list[str]:
    """Names of the columns of :func:`early_features`, in order."""
    spec = data.spec
    events: list[str] = []
    if spec.obs_window_s > 0:
        events = _event_names(spec.event_types, spec.obs_window_s)
    return [
        *events,
        *data.side_names,
        *(f"side_{j}" for j in range(len(data.side_names), data.side.shape[1])),
        "hour_sin",
        "hour_cos",
        "hour_missing",
        "log1p_text_chars",
    ]


def _event_names(event_types: tuple[str, ...], obs_window_s: float) -> list[str]:
    return [
        *(f"log1p_total_at_{g:.0f}s" for g in _grid(obs_window_s)),
        *(f"log1p_{t}_at_T" for t in event_types),
        "log1p_last_10min",
        "log1p_last_20min",
        "log1p_since_last_s",
        "log1p_first_delay_s",
        "log1p_median_gap_s",
        "log1p_mean_gap_s",
        "second_half_share",
        "log1p_distinct_users",
        "distinct_user_share",
        "users_missing",
        "non_root_share",
        "root_missing",
        *(f"{t}_share" for t in event_types),
    ]


def _event_block(data: TaskData) -> np.ndarray:
    """(N, F_e) the event columns of :func:`early_features`."""
    spec = data.spec
    t_obs, k_n = spec.obs_window_s, spec.num_types
    grid = _grid(t_obs)
    n_cols = len(_event_names(spec.event_types, t_obs))
    out = np.zeros((len(data), n_cols), dtype=np.float64)
    for i, (t, k) in enumerate(zip(data.event_t, data.event_k, strict=True)):
        t = np.asarray(t, dtype=np.float64)
        k = np.asarray(k, dtype=np.int64)
        n = t.size
        row: list[float] = list(np.log1p(np.searchsorted(t, grid, side="right")))
        row += list(np.log1p(np.bincount(k, minlength=k_n)[:k_n]))
        row += [
            np.log1p(np.count_nonzero(t > t_obs - 600.0)),
            np.log1p(np.count_nonzero(t > t_obs - 1200.0)),
            np.log1p(t_obs - t[-1]) if n else np.log1p(t_obs),
            np.log1p(t[0]) if n else np.log1p(t_obs),
        ]
        gaps = np.diff(np.concatenate([[0.0], t]))  # (n,) from publication on
        row += [
            np.log1p(float(np.median(gaps))) if n else np.log1p(t_obs),
            np.log1p(float(gaps.mean())) if n else np.log1p(t_obs),
            float(np.count_nonzero(t > t_obs / 2)) / n if n else 0.0,
        ]
        if data.event_user is not None:
            distinct = np.unique(data.event_user[i]).size
            row += [np.log1p(distinct), distinct / n if n else 0.0, 0.0]
        else:
            row += [0.0, 0.0, 1.0]
        if data.event_root is not None:
            root = np.asarray(data.event_root[i], dtype=bool)
            row += [float((~root).mean()) if n else 0.0, 0.0]
        else:
            row += [0.0, 1.0]
        row += list(np.bincount(k, minlength=k_n)[:k_n] / n) if n else [0.0] * k_n
        out[i] = row
    return out


def _post_block(data: TaskData, local_utc_offset_h: float) -> np.ndarray:
    """(N, 4) hour of day (sin, cos, missing) and log1p text length."""
    n = len(data)
    pub = np.full(n, np.nan) if data.published_at is None else np.asarray(data.published_at, float)
    known = np.isfinite(pub)
    hour = ((np.where(known, pub, 0.0) / 3600.0 + local_utc_offset_h) % 24.0) * known  # (N,)
    ang = 2 * np.pi * hour / 24.0
    chars = np.array([len(s) for s in data.texts], dtype=np.float64)
    return np.stack(
        [np.sin(ang) * known, np.cos(ang) * known, (~known).astype(float), np.log1p(chars)],
        axis=1,
    )


def early_features(data: TaskData, local_utc_offset_h: float = 8.0) -> np.ndarray:
    """(N, F) float64 early features (columns named by :func:`early_feature_names`).

    With ``obs_window_s == 0`` (content only) the event columns are absent.
    """
    parts = []
    if data.spec.obs_window_s > 0:
        parts.append(_event_block(data))
    parts += [data.side.astype(np.float64), _post_block(data, local_utc_offset_h)]
    x = np.concatenate(parts, axis=1)
    if not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(
            f"{data.source}: non-finite early feature {early_feature_names(data)[bad[1]]!r} "
            f"for {data.keys[bad[0]]!r}"
        )
    return x
