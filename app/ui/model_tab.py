"""Model tab: model and bank versions, the evaluation table, the excitation matrix alpha."""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.services import Services
from app.ui import plots
from app.ui.handlers.models import (
    bank_versions,
    evaluation_table,
    excitation_matrix,
    model_of_kind,
    model_versions,
    temporal_model,
)
from m3tr_core.db.models import ModelVersion


def _describe(model: ModelVersion | None, role: str) -> str:
    if model is None:
        return f"**{role}:** none trained yet"
    state = "active" if model.is_active else "not active"
    return f"**{role}:** `{model.name}` ({state})"


def model_panel(services: Services) -> tuple[Any, ...]:
    """(models table, banks table, header, evaluation table, alpha figure)."""
    fused = model_of_kind(services, "m3tr")
    mhp = temporal_model(services)
    lines = [_describe(fused, "Fused model (M3TR)"), _describe(mhp, "Temporal model (MHP)")]
    if fused is None and mhp is None:
        lines.append("Train with `m3tr train`, or run `m3tr demo` for a demo workspace.")
    note = (fused.metrics or {}).get("evaluation_note") if fused is not None else None
    if note:
        lines.append(f"Evaluation on the {note}.")
    alpha = excitation_matrix(mhp)
    fig = (
        plots.alpha_heatmap(*alpha)
        if alpha is not None
        else plots.message_figure("no trained temporal model yet: no excitation matrix")
    )
    return (
        model_versions(services),
        bank_versions(services),
        "  \n".join(lines),
        evaluation_table(fused.metrics if fused is not None else None),
        fig,
    )


def build_model_tab(services: Services) -> None:
    """Add the Model tab to the enclosing Blocks."""
    with gr.Tab("Model", id="model", elem_id="tab-model") as tab:
        header = gr.Markdown(elem_id="model-header")
        refresh = gr.Button("Refresh", elem_id="model-refresh")
        with gr.Row():
            evaluation = gr.Dataframe(
                label="Evaluation: M3TR against baselines and ablations (log1p total at the horizon)",
                elem_id="model-evaluation",
                scale=3,
            )
            alpha = gr.Plot(label="Learned excitation matrix alpha", elem_id="model-alpha", scale=2)
        models = gr.Dataframe(label="Model versions", elem_id="model-versions")
        banks = gr.Dataframe(label="Bank versions", elem_id="bank-versions")

    outputs = [models, banks, header, evaluation, alpha]
    refresh.click(lambda: model_panel(services), outputs=outputs)
    tab.select(lambda: model_panel(services), outputs=outputs)
