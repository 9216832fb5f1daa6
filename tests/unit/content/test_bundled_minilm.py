"""The bundled MiniLM is checked against the checksums m3tr was tested with."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from m3tr.core.content.errors import EncoderLoadError
from m3tr.core.content.loading import (
    BUNDLED_MINILM_SHA256,
    bundled_minilm_path,
    verify_minilm,
)


def test_installed_package_matches() -> None:
    path = bundled_minilm_path()
    assert all((path / name).is_file() for name in BUNDLED_MINILM_SHA256)


def _copy(tmp_path: Path) -> Path:
    src = bundled_minilm_path()
    dst = tmp_path / "minilm"
    dst.mkdir()
    for name in BUNDLED_MINILM_SHA256:
        shutil.copyfile(src / name, dst / name)
    return dst


def test_a_changed_weight_file_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(data))
    with pytest.raises(EncoderLoadError, match="model.safetensors has sha256"):
        verify_minilm(folder)


def test_a_missing_tokenizer_file_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "vocab.txt").unlink()
    with pytest.raises(EncoderLoadError, match="lacks vocab.txt"):
        verify_minilm(folder)
