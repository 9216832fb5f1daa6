"""Predict tab handlers: submit an upload, follow its job, render the result. Plain functions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from m3tr.app.services import Services
from m3tr.app.ui import plots
from m3tr.app.ui.handlers.watch import (
    forecast_history,
    history_table,
    neighbour_lines,
    playable_path,
)
from m3tr.app.views.curves import cumulative, time_grid
from m3tr.app.views.jobs import JobView, job_view
from m3tr.app.views.prediction import PredictionView, load_prediction, thumbnail_path
from m3tr.app.views.uploads import Submission, UploadError, ingest_upload


@dataclass
class PredictOutputs:
    """Everything the result area shows, in the order of the tab's output components."""

    forecast_table: pd.DataFrame
    forecast_plot: Figure
    intensity_plot: Figure
    gallery: list[tuple[str, str]]  # (thumbnail path, caption)
    neighbour_table: pd.DataFrame
    neighbour_plot: Figure
    provenance: str
    target_video: str | None = None  # the video itself, playable (workspace media only)
    neighbour_choices: list[tuple[str, int]] = field(default_factory=list)  # (label, video id)
    neighbour_lines: pd.DataFrame | None = None  # video, hours, events (hover names the line)
    history_plot: Figure | None = None
    history_table: pd.DataFrame | None = None

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.forecast_table,
            self.forecast_plot,
            self.intensity_plot,
            self.gallery,
            self.neighbour_table,
            self.neighbour_plot,
            self.provenance,
            self.target_video,
            self.neighbour_choices,
            self.neighbour_lines,
            self.history_plot,
            self.history_table,
        )


def submit_upload(
    services: Services,
    video_file: str | None,
    title: str | None,
    description: str | None,
    events_file: str | None,
) -> Submission:
    """Validate and register an upload from the Predict tab (Gradio temp paths)."""
    if not video_file:
        raise UploadError(
            f"choose a video file first (mp4, webm or mov, at most "
            f"{services.settings.max_upload_mb} MB)"
        )
    media = Path(video_file)
    events = Path(events_file) if events_file else None
    return ingest_upload(
        services,
        media,
        media.name,
        events,
        events.name if events else None,
        title=title,
        description=description,
    )


def render_prediction(services: Services, view: PredictionView) -> PredictOutputs:
    """Figures and tables for a stored prediction."""
    horizon = view.horizon_s
    gallery: list[tuple[str, str]] = []
    captions: list[tuple[str, Any]] = []
    for rank, n in enumerate(view.neighbours, start=1):
        label = ", ".join(f"{k} {v:,}" for k, v in sorted(n.labels.items())) or "no label"
        score = f"{n.combined:.2f}" if n.combined is not None else "?"
        caption = f"#{rank} {n.title[:40]} | SS {score} | {label}"
        thumb = thumbnail_path(services, n.video_id, n.media_path)
        if thumb is not None:
            gallery.append((str(thumb), caption))
        captions.append((f"#{rank} {n.title[:22]}", n.curve))
    grid = time_grid(horizon)
    obs = view.observed_t
    target = None
    if len(obs):
        curve = cumulative(obs, grid[grid <= float(max(obs))], label="target")
        target = (f"this video ({view.title[:30]})", curve)
    history = forecast_history(services, view.video_id)
    return PredictOutputs(
        forecast_table=view.forecast,
        forecast_plot=plots.forecast_figure(
            view.trajectory,
            view.observed_t,
            view.observed_types,
            horizon,
            view.interval,
            title=f"Forecast for {view.title[:60]}",
        ),
        intensity_plot=plots.intensity_figure(view.intensity, horizon),
        gallery=gallery,
        neighbour_table=view.neighbour_table(),
        neighbour_plot=plots.neighbour_grid(view.trajectory, view.observed_t, captions, horizon),
        provenance=view.provenance_markdown(),
        target_video=playable_path(services, view.video_id),
        neighbour_choices=[
            (f"#{rank} {n.title[:40]} (video {n.video_id})", n.video_id)
            for rank, n in enumerate(view.neighbours, start=1)
        ],  # fmt: skip
        neighbour_lines=neighbour_lines(
            target,
            [
                (f"#{r} {n.title[:30]} (video {n.video_id})", n.curve)
                for r, n in enumerate(view.neighbours, start=1)
            ],
        ),  # fmt: skip
        history_plot=plots.history_figure(history, obs, horizon),
        history_table=history_table(history),
    )


def wait_for_job(
    services: Services,
    job_id: int,
    timeout_s: float = 900.0,
    poll_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[JobView]:
    """Yield the job's state whenever it changes, until it is done or failed (or time runs out)."""
    deadline = time.monotonic() + timeout_s
    last: JobView | None = None
    while True:
        view = job_view(services, job_id)
        if view != last:
            yield view
            last = view
        if view.finished:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} is still {view.state} after {timeout_s:.0f} s")
        sleep(poll_s)


def result_for_video(services: Services, video_id: int) -> PredictOutputs | None:
    view = load_prediction(services, video_id)
    return None if view is None else render_prediction(services, view)
