"""Lookalikes tab: search the bank, pick a video, compare content / trajectory / combined
neighbour lists side by side, with a content-versus-trajectory weight."""

from __future__ import annotations

import html
import logging
import time
from typing import Any

import gradio as gr
import pandas as pd
from matplotlib.figure import Figure

from m3tr.app.services import Services
from m3tr.app.ui import plots
from m3tr.app.ui.handlers.lookalikes import LIST_NAMES, LookalikeView, lookalikes, search_videos
from m3tr.app.ui.handlers.watch import LINE_COLUMNS, neighbour_lines, playable_path
from m3tr.app.views.prediction import NeighbourView

logger = logging.getLogger(__name__)
COLUMNS = ["video", "title", "content", "temporal", "combined", "final label"]


def neighbour_frame(items: list[NeighbourView]) -> pd.DataFrame:
    rows = [
        [
            n.video_id,
            n.title[:32],
            None if n.content is None else round(n.content, 3),
            None if n.temporal is None else round(n.temporal, 3),
            None if n.combined is None else round(n.combined, 3),
            ", ".join(f"{k} {v:,}" for k, v in sorted(n.labels.items())),
        ]
        for n in items
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def watch_outputs(services: Services, view: LookalikeView) -> tuple[Any, ...]:
    """(target video, neighbour dropdown, hover line plot) for a lookalike view."""
    seen: dict[int, NeighbourView] = {}
    for name in LIST_NAMES:
        for n in view.lists.get(name, []):
            seen.setdefault(n.video_id, n)
    choices = [(f"{n.title[:40]} (video {n.video_id})", vid) for vid, n in seen.items()]
    combined = view.lists.get(LIST_NAMES[-1], [])
    lines = neighbour_lines(
        (f"this video ({view.title[:30]})", view.target) if view.target is not None else None,
        [(f"{n.title[:30]} (video {n.video_id})", n.curve) for n in combined],
    )
    return (
        playable_path(services, view.video_id),
        gr.Dropdown(choices=choices, value=None),
        lines,
    )


def render_lookalikes(view: LookalikeView, horizon_s: float) -> tuple[Any, ...]:
    """(header markdown, three tables, the trajectory figure) for a lookalike view."""
    header = f"### {html.escape(view.title)} (video {view.video_id})\n"
    header += (
        f"Bank `{view.collection}`; combined list weighs content {view.weight:.2f} and "
        f"trajectory {1 - view.weight:.2f} (0.50 is Eq. 3)."
    )
    if view.notes:
        header += "\n\n" + "\n".join(f"- {html.escape(n)}" for n in view.notes)
    tables = [neighbour_frame(view.lists.get(name, [])) for name in LIST_NAMES]
    fig: Figure = plots.lookalike_figure(
        view.target,
        {
            name: [(f"{n.video_id}", n.curve) for n in view.lists.get(name, [])]
            for name in LIST_NAMES
        },
        horizon_s,
    )
    return (header, *tables, fig)


def build_lookalikes_tab(services: Services) -> None:
    """Add the Lookalikes tab to the enclosing Blocks."""
    with gr.Tab("Lookalikes", id="lookalikes", elem_id="tab-lookalikes"):
        with gr.Row():
            query = gr.Textbox(label="Search by title or id", scale=3, elem_id="lookalike-query")
            search = gr.Button("Search", scale=1, elem_id="lookalike-search")
        with gr.Row():
            pick = gr.Dropdown(
                label="Video", choices=[], scale=3, elem_id="lookalike-pick", interactive=True
            )
            weight = gr.Slider(
                0.0,
                1.0,
                value=0.5,
                step=0.05,
                label="Combined list: content weight (0 = trajectory only, 1 = content only)",
                scale=2,
                elem_id="lookalike-weight",
            )
        header = gr.Markdown(elem_id="lookalike-header")
        with gr.Row():
            tables = [
                gr.Dataframe(
                    value=pd.DataFrame(columns=COLUMNS),
                    label=name,
                    elem_id=f"lookalike-{name.split()[0]}",
                    wrap=True,
                )
                for name in LIST_NAMES
            ]
        plot = gr.Plot(label="Trajectories of each list", elem_id="lookalike-plot")
        with gr.Row():
            target_video = gr.Video(
                label="This video", interactive=False, elem_id="lookalike-target-video"
            )
            with gr.Column():
                pick_neighbour = gr.Dropdown(
                    label="Watch a neighbour", choices=[], elem_id="lookalike-neighbour-pick"
                )
                neighbour_video = gr.Video(
                    label="Neighbour", interactive=False, elem_id="lookalike-neighbour-video"
                )
        lines = gr.LinePlot(
            value=pd.DataFrame(columns=LINE_COLUMNS),
            x="hours",
            y="events",
            color="video",
            tooltip=["video", "hours", "events"],
            label="Combined list: cumulative events (hover a line to name the video)",
            elem_id="lookalike-lines",
        )

    def on_search(q: str) -> Any:
        choices = search_videos(services, q)
        if not choices:
            return gr.update(choices=[], value=None, label=f"Video (nothing matches {q!r})")
        return gr.update(
            choices=choices, value=choices[0][1], label=f"Video ({len(choices)} found)"
        )

    def on_pick(video_id: int | None, w: float) -> tuple[Any, ...]:
        if video_id is None:
            return (gr.skip(),) * (5 + len(LIST_NAMES))
        t0 = time.perf_counter()
        try:
            view = lookalikes(services, int(video_id), float(w))
        except LookupError as exc:
            msg = f"**Cannot show lookalikes:** {html.escape(str(exc))}"
            return (msg, *(gr.skip() for _ in LIST_NAMES), *(gr.skip(),) * 4)
        t1 = time.perf_counter()
        out = (*render_lookalikes(view, services.settings.horizon_s),
               *watch_outputs(services, view))  # fmt: skip
        logger.info(
            "lookalikes of video %s: neighbours %.3f s, tables and plots %.3f s",
            video_id, t1 - t0, time.perf_counter() - t1,
        )  # fmt: skip
        return out

    outputs = [header, *tables, plot, target_video, pick_neighbour, lines]
    pick_neighbour.change(
        lambda vid: None if vid is None else playable_path(services, int(vid)),
        inputs=[pick_neighbour],
        outputs=[neighbour_video],
    )
    search.click(on_search, inputs=[query], outputs=[pick])
    query.submit(on_search, inputs=[query], outputs=[pick])
    pick.change(on_pick, inputs=[pick, weight], outputs=outputs)
    weight.release(on_pick, inputs=[pick, weight], outputs=outputs)
