"""Predict tab: upload a video (and its event log so far), follow the job, see the forecast,
the intensity split, how the forecast moved as events came in, and the neighbours it was based
on (each playable, their trajectories named on hover)."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr
import pandas as pd

from m3tr.app.services import Services
from m3tr.app.ui.handlers.jobs import job_line
from m3tr.app.ui.handlers.predict import (
    PredictOutputs,
    result_for_video,
    submit_upload,
    wait_for_job,
)
from m3tr.app.ui.handlers.watch import HISTORY_COLUMNS, LINE_COLUMNS, playable_path
from m3tr.app.views.uploads import UploadError

log = logging.getLogger(__name__)

N_RESULT_OUTPUTS = 12
PICK_INDEX = 8  # the neighbour dropdown among the result outputs
FORECAST_COLUMNS = ["event type", "observed so far", "median at horizon", "p10", "p90"]
NEIGHBOUR_COLUMNS = ["video", "title", "content", "temporal", "combined", "final label"]


def _error(message: str) -> str:
    """An error box; the message is escaped (it may quote a client's file name)."""
    return f"<div class='m3tr-error'>⚠️ <b>Cannot forecast:</b> {html.escape(message)}</div>"


def _status(message: str, done: bool = False) -> str:
    cls = "m3tr-status m3tr-done" if done else "m3tr-status"
    return f"<div class='{cls}'>{html.escape(message)}</div>"


def build_predict_tab(services: Services) -> None:
    """Add the Predict tab to the enclosing Blocks."""
    with gr.Tab("Predict", id="predict", elem_id="tab-predict"):
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                video = gr.File(
                    label="Video (mp4, webm, mov)",
                    file_types=[".mp4", ".webm", ".mov"],
                    elem_id="predict-video",
                )
                title = gr.Textbox(label="Title (optional)", elem_id="predict-title")
                description = gr.Textbox(
                    label="Description (optional)", lines=2, elem_id="predict-description"
                )
                events = gr.File(
                    label="Event log so far (optional: CSV or JSON lines with t, type[, user])",
                    file_types=[".csv", ".jsonl", ".json", ".ndjson"],
                    elem_id="predict-events",
                )
                submit = gr.Button("Forecast", variant="primary", elem_id="predict-submit")
                with gr.Accordion("Or show an existing video's forecast", open=False):
                    existing = gr.Number(label="video id", precision=0, elem_id="predict-video-id")
                    show = gr.Button("Show", elem_id="predict-show")
            with gr.Column(scale=2):
                status = gr.HTML(elem_id="predict-status")
                provenance = gr.Markdown(elem_id="predict-provenance")
                forecast_table = gr.Dataframe(
                    value=pd.DataFrame(columns=FORECAST_COLUMNS),
                    label="Forecast at the horizon, per event type",
                    elem_id="predict-forecast",
                )
                forecast_plot = gr.Plot(label="Cumulative curve", elem_id="predict-forecast-plot")
                intensity_plot = gr.Plot(label="Intensity", elem_id="predict-intensity-plot")
        with gr.Row():
            target_video = gr.Video(
                label="This video", interactive=False, elem_id="predict-target-video", scale=1
            )
            with gr.Column(scale=2):
                history_plot = gr.Plot(
                    label="How the forecast moved as events came in",
                    elem_id="predict-history-plot",
                )
                history = gr.Dataframe(
                    value=pd.DataFrame(columns=HISTORY_COLUMNS),
                    label="Forecast history (every forecast, with the events it was made from)",
                    elem_id="predict-history",
                )
        gallery = gr.Gallery(
            label="Top neighbours", columns=5, height="auto", elem_id="predict-gallery"
        )
        neighbour_table = gr.Dataframe(
            value=pd.DataFrame(columns=NEIGHBOUR_COLUMNS),
            label="Neighbours: score parts (min-max normalised) and final labels",
            elem_id="predict-neighbours",
        )
        with gr.Row():
            with gr.Column(scale=1):
                neighbour_pick = gr.Dropdown(
                    label="Watch a neighbour", choices=[], elem_id="predict-neighbour-pick"
                )
                neighbour_video = gr.Video(
                    label="Neighbour", interactive=False, elem_id="predict-neighbour-video"
                )
            neighbour_lines = gr.LinePlot(
                value=pd.DataFrame(columns=LINE_COLUMNS),
                x="hours",
                y="events",
                color="video",
                tooltip=["video", "hours", "events"],
                label="Cumulative events: this video and its neighbours (hover a line to name it)",
                elem_id="predict-neighbour-lines",
                scale=2,
            )
        neighbour_plot = gr.Plot(label="Trajectories", elem_id="predict-neighbour-plot")

    results = [
        forecast_table,
        forecast_plot,
        intensity_plot,
        gallery,
        neighbour_table,
        neighbour_plot,
        provenance,
        target_video,
        neighbour_pick,
        neighbour_lines,
        history_plot,
        history,
    ]
    keep: tuple[Any, ...] = tuple(gr.skip() for _ in range(N_RESULT_OUTPUTS))

    def cleared() -> tuple[Any, ...]:
        """Empty result area (a new job is running: the previous result must not linger)."""
        return (
            pd.DataFrame(columns=FORECAST_COLUMNS),
            None,
            None,
            [],
            pd.DataFrame(columns=NEIGHBOUR_COLUMNS),
            None,
            "",
            None,
            gr.Dropdown(choices=[], value=None),
            pd.DataFrame(columns=LINE_COLUMNS),
            None,
            pd.DataFrame(columns=HISTORY_COLUMNS),
        )

    def shown(out: PredictOutputs) -> tuple[Any, ...]:
        values = list(out.as_tuple())
        values[PICK_INDEX] = gr.Dropdown(choices=out.neighbour_choices, value=None)
        return tuple(values)

    def on_submit(
        video_file: str | None, title_v: str, description_v: str, events_file: str | None
    ) -> Iterator[tuple[Any, ...]]:
        try:
            sub = submit_upload(services, video_file, title_v, description_v, events_file)
        except UploadError as exc:
            yield (_error(str(exc)), *keep)
            return
        yield (
            _status(
                f"Video {sub.video_id} stored ({sub.n_events} events); job {sub.job_id} queued"
            ),
            *cleared(),
        )
        yield from _follow(sub.job_id, sub.video_id)

    def _follow(job_id: int, video_id: int) -> Iterator[tuple[Any, ...]]:
        try:
            for job in wait_for_job(services, job_id):
                yield (_status(job_line(job)), *keep)
                if job.state == "failed":
                    yield (_error(f"job {job_id} failed: {job.error or 'no reason given'}"), *keep)
                    return
        except TimeoutError as exc:
            yield (_error(str(exc)), *keep)
            return
        out = result_for_video(services, video_id)
        if out is None:
            yield (_error(f"job {job_id} finished but stored no prediction"), *keep)
            return
        yield (_status(f"Forecast ready for video {video_id} (job {job_id}).", True),
               *shown(out))  # fmt: skip

    def on_show(video_id: float | None) -> tuple[Any, ...]:
        if video_id is None:
            return (_error("give a video id"), *keep)
        try:
            out = result_for_video(services, int(video_id))
        except LookupError as exc:
            return (_error(str(exc)), *keep)
        if out is None:
            return (_error(f"video {int(video_id)} has no prediction yet"), *keep)
        return (_status(f"Forecast of video {int(video_id)}.", True), *shown(out))

    submit.click(
        on_submit,
        inputs=[video, title, description, events],
        outputs=[status, *results],
        concurrency_limit=8,
    )
    show.click(on_show, inputs=[existing], outputs=[status, *results])
    neighbour_pick.change(
        lambda vid: None if vid is None else playable_path(services, int(vid)),
        inputs=[neighbour_pick],
        outputs=[neighbour_video],
    )
