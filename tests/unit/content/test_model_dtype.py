"""The paper profile's precision: weights are loaded with ``dtype=`` in the device's precision,
float16 on CUDA and float32 on the CPU (tiny checkpoints built here, the real loading path).
On a GPU, ``tests/gpu/test_content_dtype.py`` checks the CUDA side end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, ViTModel

from m3tr.core.content.hf_encoders import VisualEncoder
from m3tr.core.content.loading import load_component, load_model, model_dtype

from .tiny_checkpoints import make_vit


@pytest.fixture(scope="module")
def vit32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_vit(tmp_path_factory.mktemp("vit32"))


@pytest.fixture(scope="module")
def vit16(vit32: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny ViT saved in float16 (as half-precision hub checkpoints are)."""
    folder = tmp_path_factory.mktemp("vit16")
    ViTModel.from_pretrained(vit32, local_files_only=True).half().save_pretrained(folder)
    shutil.copy(vit32 / "preprocessor_config.json", folder)
    return folder


def _dtypes(model: torch.nn.Module) -> set[torch.dtype]:
    return {p.dtype for p in model.parameters()}


def test_the_choice_is_half_precision_on_cuda_only() -> None:
    assert model_dtype(torch.device("cuda")) is torch.float16
    assert model_dtype(torch.device("cuda", 1)) is torch.float16
    assert model_dtype(torch.device("cpu")) is torch.float32


def test_the_dtype_reaches_from_pretrained(vit32: Path) -> None:
    # what load_model passes on CUDA: the float32 checkpoint is read as float16
    half = load_component("visual", str(vit32), AutoModel, dtype=model_dtype(torch.device("cuda")))
    assert _dtypes(half) == {torch.float16}


def test_a_half_precision_checkpoint_runs_in_float32_on_the_cpu(vit16: Path) -> None:
    assert _dtypes(ViTModel.from_pretrained(vit16, local_files_only=True)) == {torch.float16}
    model = load_model("visual", str(vit16), AutoModel, "cpu")
    assert _dtypes(model) == {torch.float32} and not model.training


def test_the_visual_encoder_on_the_cpu_is_float32_and_gives_float32(vit16: Path) -> None:
    enc = VisualEncoder(str(vit16), torch.device("cpu"))
    assert _dtypes(enc.model) == {torch.float32}
    frames = [torch.randint(0, 255, (2, 32, 32, 3), dtype=torch.uint8).numpy()]
    (out,) = enc.encode(frames)
    assert out.shape == (2, 32) and str(out.dtype) == "float32"
