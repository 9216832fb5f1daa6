"""Model tab handlers: versions, the evaluation table in its stored shapes, alpha."""

from __future__ import annotations

import numpy as np
import pytest

from m3tr.app.ui.handlers.models import (
    active_model,
    bank_versions,
    evaluation_table,
    excitation_matrix,
    model_versions,
)
from tests.unit.ui.factories import add_model, add_video, live_bank_of, make_services


def test_evaluation_table_from_rows_mapping_and_flat():
    rows = {"evaluation": [
        {"method": "m3tr", "nMSE": 0.41234567, "SRC": 0.8, "PLCC": 0.79, "MAE": 1.1},
        {"method": "hawkes only", "nMSE": 0.7, "SRC": 0.6, "PLCC": 0.55, "MAE": 1.6},
    ]}  # fmt: skip
    t = evaluation_table(rows)
    assert t.columns[:5].tolist() == ["method", "nMSE", "SRC", "PLCC", "MAE"]
    assert t["method"].tolist() == ["m3tr", "hawkes only"] and t.loc[0, "nMSE"] == 0.4123
    mapping = {"methods": {"m3tr": {"SRC": 0.8}, "no retrieval": {"SRC": 0.5}}}
    assert evaluation_table(mapping)["SRC"].tolist() == [0.8, 0.5]
    flat = evaluation_table({"nMSE": 0.5, "MAE": 2.0, "epochs": 3})
    assert flat.loc[0, "method"] == "m3tr" and flat.loc[0, "MAE"] == 2.0
    assert evaluation_table(None).empty


def test_versions_active_model_and_alpha(tmp_path):
    services, _ = make_services(tmp_path / "home")
    assert active_model(services) is None and excitation_matrix(None) is None
    alpha = [[0.5, 0.1], [0.2, 0.3]]
    add_model(services, "m3tr-a", metrics={"SRC": 0.7, "alpha": alpha},
              config={"event_types": ["like", "comment"]})  # fmt: skip
    model = active_model(services)
    assert model.name == "m3tr-a"
    a, types = excitation_matrix(model)
    assert np.allclose(a, alpha) and types == ["like", "comment"]
    table = model_versions(services)
    assert table.loc[0, "name"] == "m3tr-a" and table.loc[0, "SRC"] == 0.7
    ids = [add_video(services, f"v{i}") for i in range(2)]
    live_bank_of(services, {i: np.ones(3) + i for i in ids}, {i: np.ones(2) for i in ids})
    banks = bank_versions(services)
    assert banks.loc[0, "videos"] == 2 and banks.loc[0, "live"] == "yes"


def test_bad_alpha_shape_is_ignored(tmp_path):
    services, _ = make_services(tmp_path / "home")
    add_model(services, "m", metrics={"alpha": [1.0, 2.0]})
    assert excitation_matrix(active_model(services)) is None


@pytest.mark.parametrize("key", ["metrics", "config"])
def test_alpha_under_mhp_block(tmp_path, key):
    services, _ = make_services(tmp_path / "home")
    add_model(services, "m", **{key: {"mhp": {"alpha": np.eye(3).tolist()}}})
    a, types = excitation_matrix(active_model(services))
    assert a.shape == (3, 3) and types == ["type 0", "type 1", "type 2"]


def test_evaluation_table_from_an_evaluation_report():
    report = {
        "dataset": "demo",
        "methods": {
            "m3tr": {"nmse": 0.31, "src": 0.82, "plcc": 0.8, "mae": 0.5, "coverage": 0.79,
                     "std": {"nmse": 0.01}, "per_type": {"like": {"nmse": 0.3}}},
            "hawkes": {"nmse": 0.52, "src": 0.7, "plcc": 0.66, "mae": 0.8, "coverage": 0.7,
                       "std": {"nmse": 0.02}, "per_type": {}},
            "content only": {"nmse": 0.9, "src": 0.3, "plcc": 0.31, "mae": 1.2, "coverage": 0.6,
                             "std": {}, "per_type": {}},
        },
    }  # fmt: skip
    t = evaluation_table({"evaluation_report": report})
    assert t.columns.tolist()[:6] == ["method", "nMSE", "SRC", "PLCC", "MAE", "coverage"]
    assert t["method"].tolist() == ["m3tr", "hawkes", "content only"]
    assert "std" not in t.columns and "per_type" not in t.columns


def test_alpha_from_an_mhp_checkpoint(tmp_path):
    import torch

    from m3tr.app.ui.handlers.models import temporal_model
    from m3tr.core.temporal import MHP, MHPConfig, save_mhp

    services, _ = make_services(tmp_path / "home")
    mhp = MHP(MHPConfig(n_types=2, type_names=("like", "share"), d_model=8, d_state=2))
    with torch.no_grad():
        mhp.hawkes.alpha_raw.copy_(torch.tensor([[0.1, 0.2], [0.3, 0.4]]))
    save_mhp(mhp, tmp_path / "mhp-1")
    add_model(services, "mhp-1", kind="mhp", checkpoint_path=str(tmp_path / "mhp-1"))
    model = temporal_model(services)
    a, types = excitation_matrix(model)
    assert types == ["like", "share"]
    assert np.allclose(a, mhp.hawkes.alpha.detach().numpy())


def test_evaluation_table_from_m3tr_train_validation_scores():
    t = evaluation_table({"val": {"nmse": 0.58, "src": 0.51, "plcc": 0.67, "mae": 0.29}})
    assert t.loc[0, "method"] == "m3tr (validation)" and t.loc[0, "nMSE"] == 0.58


def test_model_panel_shows_fused_evaluation_and_mhp_alpha(tmp_path):
    from m3tr.app.ui.model_tab import model_panel

    services, _ = make_services(tmp_path / "home")
    add_model(services, "mhp-a", kind="mhp", metrics={"alpha": [[0.2, 0.1], [0.0, 0.3]]})
    rows = [{"method": "M3TR", "nmse": 0.3}, {"method": "mean", "nmse": 1.0}]
    from m3tr.core.db.models import ModelVersion
    from m3tr.core.db.session import transaction

    with transaction(services.sessions) as s:
        s.add(ModelVersion(name="fused-a", kind="m3tr", is_active=False,
                           metrics={"evaluation": rows, "evaluation_note": "demo validation"}))  # fmt: skip
    models, banks, header, evaluation, fig = model_panel(services)
    assert "`fused-a` (not active)" in header and "`mhp-a` (active)" in header
    assert evaluation["method"].tolist() == ["M3TR", "mean"]
    assert [t.get_text() for t in fig.axes[0].texts][:2] == ["0.20", "0.10"]
    assert set(models["name"]) == {"mhp-a", "fused-a"} and banks.empty
