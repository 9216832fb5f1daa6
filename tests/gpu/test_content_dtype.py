"""On CUDA: the paper profile's encoders hold float16 weights, loaded with ``dtype=`` (a tiny
ViT built here), and still return float32 features. Skips without CUDA."""

from __future__ import annotations

import pytest
import torch

from m3tr.core.content.hf_encoders import VisualEncoder
from tests.unit.content.tiny_checkpoints import make_vit

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def test_the_visual_encoder_runs_in_float16_on_cuda(tmp_path):
    enc = VisualEncoder(str(make_vit(tmp_path / "vit")), torch.device("cuda"))
    assert {p.dtype for p in enc.model.parameters()} == {torch.float16}
    assert {p.device.type for p in enc.model.parameters()} == {"cuda"}
    frames = [torch.randint(0, 255, (3, 32, 32, 3), dtype=torch.uint8).numpy()]
    (out,) = enc.encode(frames)
    assert out.shape == (3, 32) and str(out.dtype) == "float32"
