"""Model tab: model and bank versions, the evaluation table, the excitation matrix alpha."""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.services import Services
from app.ui import plots
from app.ui.handlers.models import (
    active_model,
    bank_versions,
    evaluation_table,
    excitation_matrix,
    model_versions,
    temporal_model,
)


def model_panel(services: Services) -> tuple[Any, ...]:
    """(models table, banks table, header, evaluation table, alpha figure)."""
    model = active_model(services)
    if model is None:
        header = "No model trained yet (`m3tr train`, or `m3tr demo` for a demo workspace)."
    else:
        header = f"### Active model: `{model.name}` ({model.kind})"
    alpha = excitation_matrix(model)
    mhp = temporal_model(services)
    if alpha is None and mhp is not None:
        alpha = excitation_matrix(mhp)
    if mhp is not None:
        header += f"  \nTemporal model (MHP): `{mhp.name}`{' (active)' if mhp.is_active else ''}"
    fig = (
        plots.alpha_heatmap(*alpha)
        if alpha is not None
        else plots.message_figure("no trained temporal model yet: no excitation matrix")
    )
    return (
        model_versions(services),
        bank_versions(services),
        header,
        evaluation_table(model.metrics if model else None),
        fig,
    )


def build_model_tab(services: Services) -> None:
    """Add the Model tab to the enclosing Blocks."""
    with gr.Tab("Model", id="model", elem_id="tab-model") as tab:
        header = gr.Markdown(elem_id="model-header")
        refresh = gr.Button("Refresh", elem_id="model-refresh")
        with gr.Row():
            evaluation = gr.Dataframe(
                label="Evaluation: M3TR against baselines and ablations (test split)",
                elem_id="model-evaluation",
                scale=3,
            )
            alpha = gr.Plot(label="Learned excitation matrix alpha", elem_id="model-alpha", scale=2)
        models = gr.Dataframe(label="Model versions", elem_id="model-versions")
        banks = gr.Dataframe(label="Bank versions", elem_id="bank-versions")

    outputs = [models, banks, header, evaluation, alpha]
    refresh.click(lambda: model_panel(services), outputs=outputs)
    tab.select(lambda: model_panel(services), outputs=outputs)
