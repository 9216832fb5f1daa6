"""Ingestion tab: jobs with state, step, progress and errors; batch upload; bank statistics."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from m3tr.app.services import Services
from m3tr.app.ui.handlers.batch import BATCH_COLUMNS, ingest_batch
from m3tr.app.ui.handlers.exports import export_csv
from m3tr.app.ui.handlers.jobs import bank_statistics, job_counts, list_jobs

STATES = ["all", "queued", "running", "done", "failed"]


def jobs_summary(services: Services) -> str:
    counts = job_counts(services)
    if not counts:
        return "No jobs yet."
    return "Jobs: " + ", ".join(f"**{n}** {state}" for state, n in sorted(counts.items()))


def build_ingestion_tab(services: Services) -> None:
    """Add the Ingestion tab to the enclosing Blocks."""
    with gr.Tab("Ingestion", id="ingestion", elem_id="tab-ingestion"):
        with gr.Row():
            with gr.Column(scale=3):
                summary = gr.Markdown(elem_id="jobs-summary")
                with gr.Row():
                    state = gr.Dropdown(STATES, value="all", label="State", scale=1)
                    refresh = gr.Button("Refresh", scale=1, elem_id="jobs-refresh")
                    auto = gr.Checkbox(value=True, label="Auto-refresh every 3 s", scale=1)
                jobs = gr.Dataframe(
                    value=lambda: list_jobs(services),
                    label="Jobs (newest first)",
                    elem_id="jobs-table",
                )
            with gr.Column(scale=2):
                stats = gr.Dataframe(
                    value=lambda: bank_statistics(services),
                    label="Bank statistics",
                    elem_id="bank-stats",
                )
                with gr.Row():
                    export = gr.Button("Export all forecasts (CSV)", elem_id="export-csv")
                    download = gr.DownloadButton(
                        "Download CSV", visible=False, elem_id="export-download"
                    )
        with gr.Accordion("Batch upload", open=False):
            gr.Markdown(
                "Drop videos (mp4, webm, mov) and, optionally, event logs named like their video "
                "(`clip7.mp4` + `clip7.csv`). Each file is validated on its own. Or add a "
                "**manifest** (CSV or JSON lines with columns `media`, `title`, `description`, "
                "`published_at`, `author`, `events`) naming the files dropped with it: a bad row "
                "is reported with its line and nothing of it is ingested."
            )
            files = gr.File(file_count="multiple", label="Files", elem_id="batch-files")
            send = gr.Button("Ingest all", variant="primary", elem_id="batch-submit")
            report = gr.Dataframe(
                value=pd.DataFrame(columns=BATCH_COLUMNS),
                label="Batch result",
                elem_id="batch-report",
            )
        timer = gr.Timer(3.0, active=True)

    def on_refresh(state_v: str) -> tuple[Any, ...]:
        return (
            jobs_summary(services),
            list_jobs(services, state=None if state_v == "all" else state_v),
            bank_statistics(services),
        )

    def on_batch(paths: list[str] | None, state_v: str) -> tuple[Any, ...]:
        return (ingest_batch(services, paths), *on_refresh(state_v))

    outputs = [summary, jobs, stats]
    refresh.click(on_refresh, inputs=[state], outputs=outputs)
    state.change(on_refresh, inputs=[state], outputs=outputs)
    timer.tick(on_refresh, inputs=[state], outputs=outputs, show_progress="hidden")
    auto.change(lambda on: gr.Timer(active=on), inputs=[auto], outputs=[timer])
    send.click(on_batch, inputs=[files, state], outputs=[report, *outputs])

    def on_export() -> Any:
        path = export_csv(services)
        return gr.DownloadButton(f"Download {path.name}", value=str(path), visible=True)

    export.click(on_export, outputs=[download])
