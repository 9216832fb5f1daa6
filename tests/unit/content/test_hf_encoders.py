"""The paper profile's loading code, exercised on tiny random checkpoints of each real
architecture saved to a folder: shapes, dtypes, batching equals one-by-one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from m3tr.core.content.config import PAPER_PROFILE, DecodeConfig, EncoderProfile
from m3tr.core.content.errors import EncoderLoadError
from m3tr.core.content.features import VideoInput
from m3tr.core.content.hf_encoders import AudioEncoder, AudioTagger, FrameCaptioner, VisualEncoder
from m3tr.core.content.pipeline import embed_videos, load_profile
from m3tr.core.content.text import LanguageRouter, SentenceEncoder, text_language
from tests.unit.content import tiny_checkpoints as tiny
from tests.unit.content.media_factory import write_video

CPU = torch.device("cpu")
TAGS = ("Music", "Speech", "Dog", "Silence")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("tiny_ckpts")
    return {
        "vit": str(tiny.make_vit(root / "vit")),
        "ast": str(tiny.make_ast(root / "ast")),
        "text": str(tiny.make_sentence_encoder(root / "text")),
        "text_zh": str(tiny.make_sentence_encoder(root / "text_zh", seed=1)),
        "blip2": str(tiny.make_blip2(root / "blip2")),
        "clap": str(tiny.make_clap(root / "clap")),
    }


def _rng_frames(n: int, k: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (k, 40, 56, 3), dtype=np.uint8) for _ in range(n)]


def _rng_audio(n: int, k: int, s: int = 8000) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [(0.3 * rng.standard_normal((k, s))).astype(np.float32) for _ in range(n)]


def test_vit_batched_equals_one_by_one(ckpt: dict[str, str]) -> None:
    enc = VisualEncoder(ckpt["vit"], CPU, batch_frames=4)
    videos = _rng_frames(3, 3)
    batched = enc.encode(videos)
    assert [e.shape for e in batched] == [(3, 32)] * 3 and batched[0].dtype == np.float32
    for v, b in zip(videos, batched, strict=True):
        np.testing.assert_allclose(enc.encode([v])[0], b, atol=1e-5)
    assert not np.allclose(batched[0][0], batched[0][1])  # different frames, different rows


def test_ast_batched_equals_one_by_one(ckpt: dict[str, str]) -> None:
    enc = AudioEncoder(ckpt["ast"], CPU, batch_segments=5)
    videos = _rng_audio(3, 2)
    batched = enc.encode(videos, 16_000)
    assert [e.shape for e in batched] == [(2, 32)] * 3 and batched[0].dtype == np.float32
    for v, b in zip(videos, batched, strict=True):
        np.testing.assert_allclose(enc.encode([v], 16_000)[0], b, atol=1e-5)


def test_sentence_encoder_tokens_and_pooled(ckpt: dict[str, str]) -> None:
    enc = SentenceEncoder(ckpt["text"], "cls", 64, CPU, batch_size=2)
    texts = ["a cat on a piano", "stock markets fell sharply today after the news", "hi"]
    tokens, pooled = enc.encode(texts)
    assert pooled.shape == (3, 32) and pooled.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-5)
    assert [t.shape[1] for t in tokens] == [32] * 3
    assert tokens[1].shape[0] > tokens[0].shape[0] > tokens[2].shape[0]  # no padding kept
    for i, text in enumerate(texts):
        t1, p1 = enc.encode([text])
        np.testing.assert_allclose(t1[0], tokens[i], atol=1e-5)
        np.testing.assert_allclose(p1[0], pooled[i], atol=1e-5)


def test_blip2_captions_batched_equal_one_by_one(ckpt: dict[str, str]) -> None:
    cap = FrameCaptioner(ckpt["blip2"], CPU, max_new_tokens=4, batch_images=3)
    images = [f[0] for f in _rng_frames(4, 1)]
    batched = cap.caption(images)
    assert len(batched) == 4 and all(isinstance(c, str) and c for c in batched)
    assert batched == [cap.caption([im])[0] for im in images]


def test_clap_tags(ckpt: dict[str, str]) -> None:
    tagger = AudioTagger(ckpt["clap"], TAGS, CPU, batch_segments=3)
    videos = _rng_audio(2, 2, s=16_000)
    probs = tagger.tag_probabilities(videos, 16_000)
    assert probs.shape == (2, len(TAGS))
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    for v, p in zip(videos, probs, strict=True):
        np.testing.assert_allclose(tagger.tag_probabilities([v], 16_000)[0], p, atol=1e-5)
    phrase = tagger.phrases(videos[:1], 16_000, top=2)[0]
    assert phrase.startswith("sounds of ") and phrase.count(",") == 1


def test_paper_profile_names_the_papers_models() -> None:
    assert PAPER_PROFILE.visual_model == "google/vit-base-patch16-224-in21k"
    assert PAPER_PROFILE.audio_model == "MIT/ast-finetuned-audioset-10-10-0.4593"
    assert PAPER_PROFILE.text_model == "WhereIsAI/UAE-Large-V1"
    # AnglE has no Chinese model: Chinese texts go to BGE large zh (1024-d, CLS, like UAE-Large)
    assert PAPER_PROFILE.text_model_zh == "BAAI/bge-large-zh-v1.5"
    assert PAPER_PROFILE.text_pooling == PAPER_PROFILE.text_pooling_zh == "cls"
    assert PAPER_PROFILE.caption_model == "Salesforce/blip2-opt-2.7b"
    assert PAPER_PROFILE.audio_tag_model == "laion/clap-htsat-unfused"


def test_full_profile_from_local_folders(ckpt: dict[str, str], tmp_path: Path) -> None:
    profile = EncoderProfile(
        name="paper",
        profile_version="tiny-v1",
        text_model=ckpt["text"],
        text_pooling="cls",
        visual_model=ckpt["vit"],
        audio_model=ckpt["ast"],
        caption_model=ckpt["blip2"],
        audio_tag_model=ckpt["clap"],
        audio_tags=TAGS,
        caption_frames=2,
        caption_max_new_tokens=3,
        batch_size=2,
        decode=DecodeConfig(num_frames=4, max_side=64),
    )
    pipe = load_profile(profile, "cpu")
    assert pipe.dims == {"d_v": 32, "d_a": 32, "d_t": 32, "d_r": 32}
    with_audio = write_video(tmp_path / "a.mp4", n_frames=20, fps=10, audio_s=2.0)
    mute = write_video(tmp_path / "b.mp4", n_frames=20, fps=10)
    items = [
        VideoInput("1", with_audio, "A ramp", "grey frames"),
        VideoInput("2", mute, "Mute", ""),
        VideoInput("3", None, "Text only post", "no media"),
    ]
    feats = embed_videos(items, pipe)
    a, b, c = feats
    assert a.E_v.shape == (4, 32) and a.E_a.shape == (4, 32) and a.R.shape == (32,)
    assert a.has_video and a.has_audio and "sounds of" in a.captions
    assert b.has_video and not b.has_audio and not b.E_a.any() and "silent" in b.captions
    assert not c.has_video and not c.E_v.any() and c.captions == ""
    assert all(f.profile_version == "tiny-v1" for f in feats)


def test_missing_local_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty_model").mkdir()
    with pytest.raises(EncoderLoadError, match="visual model"):
        VisualEncoder(str(tmp_path / "empty_model"), CPU)


def test_text_encoder_per_language(ckpt: dict[str, str], tmp_path: Path) -> None:
    """Chinese texts go to ``text_model_zh``, the rest to ``text_model``, order kept."""
    assert text_language("今天北京的天气很好 ok") == "zh" and text_language("A cat # 猫") == "en"
    profile = EncoderProfile(
        name="paper",
        profile_version="tiny-zh-v1",
        text_model=ckpt["text"],
        text_pooling="cls",
        text_model_zh=ckpt["text_zh"],
        text_pooling_zh="cls",
        batch_size=3,
        decode=DecodeConfig(num_frames=2, max_side=64),
    )
    pipe = load_profile(profile, "cpu")
    assert isinstance(pipe.text, LanguageRouter)
    en = SentenceEncoder(ckpt["text"], "cls", 64, CPU)
    zh = SentenceEncoder(ckpt["text_zh"], "cls", 64, CPU)
    texts = ["今天北京的天气很好", "A cat plays the piano", "北京下雨了"]
    tokens, pooled = pipe.text.encode(texts)
    for i, enc in ((0, zh), (1, en), (2, zh)):
        t, p = enc.encode([texts[i]])
        np.testing.assert_allclose(pooled[i], p[0], atol=1e-5)
        np.testing.assert_allclose(tokens[i], t[0], atol=1e-5)
    _, en_only = en.encode([texts[0]])
    assert not np.allclose(pooled[0], en_only[0], atol=1e-3)  # another model read it
    items = [VideoInput("zh", None, "北京下雨了", ""), VideoInput("en", None, "A cat", "")]
    feats = embed_videos(items, pipe)
    np.testing.assert_allclose(feats[0].R, zh.encode(["北京下雨了"])[1][0], atol=1e-5)


def test_text_encoders_of_different_sizes_are_refused(ckpt: dict[str, str], tmp_path: Path) -> None:
    import torch as _torch
    from transformers import BertConfig, BertModel

    _torch.manual_seed(0)
    big = tmp_path / "big"
    BertModel(
        BertConfig(
            vocab_size=30522,
            hidden_size=48,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
        )
    ).save_pretrained(big)
    tiny._tokenizer().save_pretrained(big)
    profile = EncoderProfile(
        name="paper", profile_version="x-v1", text_model=ckpt["text"], text_model_zh=str(big)
    )
    with pytest.raises(EncoderLoadError, match="one size"):
        load_profile(profile, "cpu")
