"""Paper-profile models offline: pinned revisions, an unreachable hub fails at once with what to
run, and the profile version follows the resolved models (tiny checkpoints saved to folders)."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest
from transformers import AutoConfig

from m3tr.core.content.config import LITE_PROFILE, PAPER_PROFILE
from m3tr.core.content.errors import EncoderLoadError
from m3tr.core.content.hub import (
    PINNED_REVISIONS,
    HubUnreachableError,
    check_hub,
    model_identity,
    write_manifest,
)
from m3tr.core.content.loading import load_component
from tests.unit.content.tiny_checkpoints import make_vit

VIT = "google/vit-base-patch16-224-in21k"


def _closed_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def unreachable_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", _closed_endpoint())
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)


def test_unreachable_hub_fails_at_once_saying_what_to_run(unreachable_hub: None) -> None:
    start = time.monotonic()
    with pytest.raises(EncoderLoadError) as err:
        load_component("visual", "no-such-org/not-cached-model", AutoConfig)
    assert time.monotonic() - start < 5
    assert "m3tr models pull" in str(err.value) and "M3TR_ENCODER_MODELS" in str(err.value)
    assert "not in the local Hugging Face cache" in str(err.value)


def test_offline_mode_fails_without_trying(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnreachableError, match="HF_HUB_OFFLINE"):
        check_hub()


def test_every_paper_hub_model_has_a_pin_or_is_named_at_main() -> None:
    for name in ("visual_model", "caption_model", "audio_tag_model"):
        model = getattr(PAPER_PROFILE, name)
        assert model_identity(model) == f"{model}@{PINNED_REVISIONS[model]}"
        assert len(PINNED_REVISIONS[model]) == 40  # a commit, not a branch


def test_profile_version_follows_the_resolved_models(tmp_path: Path) -> None:
    vit_a = make_vit(tmp_path / "vit-a")
    vit_b = tmp_path / "vit-b"  # the same architecture with one different weight
    shutil.copytree(vit_a, vit_b)
    (weights,) = vit_b.glob("*.safetensors")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))

    v_a = PAPER_PROFILE.with_overrides(visual_model=str(vit_a)).profile_version
    assert v_a != PAPER_PROFILE.profile_version and v_a.startswith("paper-v1+")
    assert PAPER_PROFILE.with_overrides(visual_model=str(vit_a)).profile_version == v_a
    v_b = PAPER_PROFILE.with_overrides(visual_model=str(vit_b)).profile_version
    assert v_b != v_a

    # a folder pulled at the pinned revision is the same model as the hub id: one bank
    pulled = tmp_path / "pulled"
    shutil.copytree(vit_a, pulled)
    write_manifest(pulled, VIT, PINNED_REVISIONS[VIT])
    via_folder = PAPER_PROFILE.with_overrides(visual_model=str(pulled), audio_model="x/ast")
    via_hub = PAPER_PROFILE.with_overrides(visual_model=VIT, audio_model="x/ast")
    assert via_folder.profile_version == via_hub.profile_version != v_a
    write_manifest(pulled, VIT, "0" * 40)  # another commit: another version
    other = PAPER_PROFILE.with_overrides(visual_model=str(pulled), audio_model="x/ast")
    assert other.profile_version != via_hub.profile_version


def test_settings_that_change_no_model_keep_the_version() -> None:
    assert LITE_PROFILE.with_overrides(batch_size=2).profile_version == LITE_PROFILE.profile_version
    explicit = PAPER_PROFILE.with_overrides(visual_model="a/b", profile_version="mine")
    assert explicit.profile_version == "mine"
