"""Model tab: model versions with their evaluation side by side, activate one or roll back,
bank versions, the evaluation table, the excitation matrix alpha."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from m3tr.app.services import Services
from m3tr.app.ui import plots
from m3tr.app.ui.handlers.models import (
    bank_versions,
    evaluation_table,
    excitation_matrix,
    model_of_kind,
    model_versions,
    temporal_model,
)
from m3tr.app.ui.handlers.switch import switch_version, version_choices, versions_side_by_side
from m3tr.core.db.models import ModelVersion
from m3tr.core.db.registry import RegistryError


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
    """Add the Model tab to the enclosing Blocks (every table filled when the page loads)."""
    with gr.Tab("Model", id="model", elem_id="tab-model") as tab:
        header = gr.Markdown(elem_id="model-header")
        refresh = gr.Button("Refresh", elem_id="model-refresh")
        with gr.Row():
            evaluation = gr.Dataframe(
                value=lambda: model_panel(services)[3],
                label="Evaluation: M3TR against baselines and ablations (log1p total at the horizon)",
                elem_id="model-evaluation",
                scale=3,
            )
            alpha = gr.Plot(label="Learned excitation matrix alpha", elem_id="model-alpha", scale=2)
        side = gr.Dataframe(
            value=lambda: versions_side_by_side(services),
            label="Model versions and their evaluation, side by side (newest first)",
            elem_id="model-versions",
        )
        with gr.Row():
            pick = gr.Dropdown(
                label="Model version",
                choices=version_choices(services),
                elem_id="model-pick",
                scale=3,
            )
            activate = gr.Button("Activate", variant="primary", elem_id="model-activate", scale=1)
            back_fused = gr.Button("Roll back fused model", elem_id="model-rollback-m3tr", scale=1)
            back_mhp = gr.Button("Roll back temporal model", elem_id="model-rollback-mhp", scale=1)
        switched = gr.Markdown(elem_id="model-switch-status")
        models = gr.Dataframe(
            value=lambda: model_versions(services),
            label="Model versions: recorded metrics",
            elem_id="model-metrics",
        )
        banks = gr.Dataframe(
            value=lambda: bank_versions(services), label="Bank versions", elem_id="bank-versions"
        )

    outputs = [models, banks, header, evaluation, alpha]

    def panel() -> tuple[Any, ...]:
        return (*model_panel(services), versions_side_by_side(services),
                gr.Dropdown(choices=version_choices(services)))  # fmt: skip

    def on_switch(version_id: int | None, kind: str | None) -> tuple[Any, ...]:
        try:
            text = switch_version(services, None if version_id is None else int(version_id), kind)
        except RegistryError as exc:
            text = f"**Not switched:** {html.escape(str(exc))}"
        return (text, *panel())

    everything = [*outputs, side, pick]
    refresh.click(panel, outputs=everything)
    tab.select(panel, outputs=everything)
    activate.click(lambda v: on_switch(v, None), inputs=[pick], outputs=[switched, *everything])
    back_fused.click(lambda: on_switch(None, "m3tr"), outputs=[switched, *everything])
    back_mhp.click(lambda: on_switch(None, "mhp"), outputs=[switched, *everything])
