"""The Gradio Blocks of the app: one tab per module under ``app/ui``."""

from __future__ import annotations

import gradio as gr

from m3tr.app.services import Services
from m3tr.app.ui.ingestion_tab import build_ingestion_tab
from m3tr.app.ui.lookalikes_tab import build_lookalikes_tab
from m3tr.app.ui.model_tab import build_model_tab
from m3tr.app.ui.predict_tab import build_predict_tab

CSS = """
.m3tr-error { color: #a40000; background: #fdecea; border: 1px solid #f5c2c0;
              padding: 8px 12px; border-radius: 6px; }
.m3tr-status { padding: 8px 12px; border-radius: 6px; background: #eef3fb; }
.m3tr-done { background: #e8f6ec; }
"""


def build_demo(services: Services) -> gr.Blocks:
    """All four tabs (Predict, Lookalikes, Ingestion, Model) in one Blocks."""
    with gr.Blocks(title="m3tr: engagement forecasts") as demo:
        gr.Markdown(
            "## m3tr: how will engagement on this video grow, and why?\n"
            "Mamba-Hawkes point process over the video's own events + neighbours retrieved by "
            "content **and** popularity trajectory (M3TR)."
        )
        with gr.Tabs():
            build_predict_tab(services)
            build_lookalikes_tab(services)
            build_ingestion_tab(services)
            build_model_tab(services)
    return demo
