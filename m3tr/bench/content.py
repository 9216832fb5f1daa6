"""``m3tr bench content``: content pipeline speed.

- lite profile (default): videos per minute over the shared clips (decode + encode, the model
  loaded once beforehand), and the share of time spent decoding.
- ``--paper SIZE``: the paper profile's architectures with random weights built from configs
  (``real``: the sizes of ViT-B/16, AST, UAE-Large, BLIP-2 OPT-2.7b, CLAP HTSAT; ``tiny``: a
  smoke run), saved to a temporary folder and loaded through the same code path as hub ids.
  Meant for a GPU (``--device cuda``); ``real`` needs ~10 GB of disk and memory.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd
import typer

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"


def _clips() -> list[Path]:
    return sorted((DATA_DIR / "microlens" / "videos").glob("*.mp4")) + sorted(
        (DATA_DIR / "media").glob("*.mp4")
    )


def _run(profile, clips: list[Path], repeats: int, device: str, workers: int) -> dict:
    from m3tr.core.content.features import VideoInput
    from m3tr.core.content.pipeline import embed_videos, load_profile

    t0 = time.perf_counter()
    pipe = load_profile(profile, device)
    load_s = time.perf_counter() - t0
    items = [
        VideoInput(f"{r}-{p.stem}", p, f"Video {p.stem}", "benchmark clip")
        for r in range(repeats)
        for p in clips
    ]
    embed_videos(items[:1], pipe)  # warm-up (lazy inits), not timed
    pipe.timings.decode_s = pipe.timings.encode_s = 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    embed_videos(items, pipe, decode_workers=workers)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    busy = pipe.timings.decode_s + pipe.timings.encode_s
    return {
        "profile": profile.profile_version,
        "device": device,
        "videos": len(items),
        "wall_s": round(wall, 3),
        "videos_per_min": round(60.0 * len(items) / wall, 2),
        "cpu_s": round(cpu, 3),
        "videos_per_cpu_min": round(60.0 * len(items) / cpu, 2),
        "load_avg_1min": round(__import__("os").getloadavg()[0], 2),
        "decode_s": round(pipe.timings.decode_s, 3),
        "encode_s": round(pipe.timings.encode_s, 3),
        "decode_share": round(pipe.timings.decode_s / busy, 3) if busy else None,
        "model_load_s": round(load_s, 2),
        "decode_workers": workers,
        "batch_size": profile.batch_size,
        "num_frames": profile.decode.num_frames,
    }


def _paper_models(size: str, root: Path) -> dict[str, str]:
    """Random-weight checkpoints of the paper's architectures, saved under ``root``."""
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
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ViTConfig,
        ViTImageProcessor,
        ViTModel,
    )

    from m3tr.core.content.loading import bundled_minilm_path

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(bundled_minilm_path()), local_files_only=True)
    real = size == "real"
    small = {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
    }
    paths = {k: root / k for k in ("vit", "ast", "text", "blip2", "clap")}

    vit_cfg = ViTConfig() if real else ViTConfig(image_size=32, patch_size=8, **small)
    ViTModel(vit_cfg, add_pooling_layer=False).save_pretrained(paths["vit"])
    side = vit_cfg.image_size
    ViTImageProcessor(size={"height": side, "width": side}).save_pretrained(paths["vit"])

    ast_cfg = ASTConfig() if real else ASTConfig(num_mel_bins=32, max_length=64, **small)
    ASTModel(ast_cfg).save_pretrained(paths["ast"])
    ASTFeatureExtractor(
        num_mel_bins=ast_cfg.num_mel_bins, max_length=ast_cfg.max_length
    ).save_pretrained(paths["ast"])

    text_cfg = (
        BertConfig(
            vocab_size=tok.vocab_size,
            hidden_size=1024,
            num_hidden_layers=24,
            num_attention_heads=16,
            intermediate_size=4096,
        )
        if real
        else BertConfig(vocab_size=tok.vocab_size, max_position_embeddings=128, **small)
    )
    BertModel(text_cfg).save_pretrained(paths["text"])
    tok.save_pretrained(paths["text"])

    processor = Blip2Processor(
        image_processor=BlipImageProcessor(
            size={"height": 224 if real else 32, "width": 224 if real else 32}
        ),
        tokenizer=AutoTokenizer.from_pretrained(str(bundled_minilm_path()), local_files_only=True),
        num_query_tokens=32 if real else 4,
    )
    ptok = processor.tokenizer
    opt = {
        "model_type": "opt",
        "vocab_size": len(ptok),
        "bos_token_id": ptok.cls_token_id,
        "eos_token_id": ptok.sep_token_id,
        "pad_token_id": ptok.pad_token_id,
    }
    if real:  # ViT-g/14 vision tower, Q-Former-base, OPT-2.7b
        opt.update(
            hidden_size=2560,
            ffn_dim=10240,
            num_hidden_layers=32,
            num_attention_heads=32,
            word_embed_proj_dim=2560,
            max_position_embeddings=2048,
        )
        blip_cfg = Blip2Config(
            vision_config={
                "hidden_size": 1408,
                "intermediate_size": 6144,
                "num_hidden_layers": 39,
                "num_attention_heads": 16,
                "image_size": 224,
                "patch_size": 14,
            },
            qformer_config={"vocab_size": len(ptok)},
            text_config=opt,
            num_query_tokens=32,
            image_token_index=ptok.convert_tokens_to_ids("<image>"),
        )
    else:
        opt.update(
            hidden_size=32,
            ffn_dim=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            word_embed_proj_dim=32,
            max_position_embeddings=64,
        )
        blip_cfg = Blip2Config(
            vision_config={**small, "image_size": 32, "patch_size": 8},
            qformer_config={**small, "encoder_hidden_size": 32, "vocab_size": len(ptok)},
            text_config=opt,
            num_query_tokens=4,
            image_token_index=ptok.convert_tokens_to_ids("<image>"),
        )
    Blip2ForConditionalGeneration(blip_cfg).save_pretrained(paths["blip2"])
    processor.save_pretrained(paths["blip2"])

    if real:  # HTSAT-unfused + RoBERTa-base text tower
        clap_cfg = ClapConfig(
            text_config={"vocab_size": tok.vocab_size, "pad_token_id": tok.pad_token_id},
            audio_config={"enable_fusion": False},
        )
        extractor = ClapFeatureExtractor()
    else:
        clap_cfg = ClapConfig(
            text_config={
                **small,
                "vocab_size": tok.vocab_size,
                "projection_dim": 16,
                "max_position_embeddings": 130,
                "pad_token_id": tok.pad_token_id,
            },
            audio_config={
                "spec_size": 64,
                "patch_size": 4,
                "num_mel_bins": 16,
                "window_size": 4,
                "depths": [1, 1],
                "num_attention_heads": [1, 2],
                "hidden_size": 64,
                "patch_embeds_hidden_size": 32,
                "projection_dim": 16,
                "enable_fusion": False,
            },
            projection_dim=16,
        )
        extractor = ClapFeatureExtractor(
            feature_size=16, max_length_s=1, fft_window_size=512, hop_length=480
        )
    ClapModel(clap_cfg).save_pretrained(paths["clap"])
    extractor.save_pretrained(paths["clap"])
    tok.save_pretrained(paths["clap"])
    return {k: str(v) for k, v in paths.items()}


def content(
    json_out: Path = typer.Option(None, "--json", help="Write the results as JSON to this file."),
    repeats: int = typer.Option(4, "--repeats", min=1, help="Passes over the shared clips."),
    workers: int = typer.Option(2, "--workers", min=1, help="Parallel decoding threads."),
    paper: str = typer.Option(None, "--paper", help="Also time the paper profile: tiny | real."),
    device: str = typer.Option("cpu", "--device", help="Device for the paper profile."),
) -> None:
    """Time the content pipeline (lite always; the paper architectures with --paper)."""
    from m3tr.core.content.config import LITE_PROFILE, PAPER_PROFILE, DecodeConfig

    clips = _clips()
    if not clips:
        raise typer.BadParameter(f"no clips under {DATA_DIR}")
    result: dict = {
        "machine": f"{platform.machine()} {platform.system()}, cpu_count={__import__('os').cpu_count()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "clips": [p.name for p in clips],
    }
    from m3tr.core.content.fitting import fit_text_profile
    from m3tr.core.content.store import FeatureStore

    with tempfile.TemporaryDirectory(prefix="m3tr-text-fit-") as tmp:
        # the lite text encoder is fitted on a bank's texts first (not timed): 2,000 real titles
        titles = pd.read_csv(DATA_DIR / "microlens" / "titles.csv")["title"].fillna("")
        lite_profile = fit_text_profile(LITE_PROFILE, titles[:2000].tolist(), FeatureStore(tmp))
        lite = _run(lite_profile, clips, repeats, "cpu", workers)
    result["lite"] = lite
    result["lite_videos_per_min"] = lite["videos_per_min"]
    result["lite_decode_share"] = lite["decode_share"]
    if paper:
        if paper not in ("tiny", "real"):
            raise typer.BadParameter("--paper must be tiny or real")
        with tempfile.TemporaryDirectory(prefix="m3tr-paper-") as tmp:
            models = _paper_models(paper, Path(tmp))
            prof = PAPER_PROFILE.with_overrides(
                profile_version=f"paper-random-{paper}",
                text_model=models["text"],
                visual_model=models["vit"],
                audio_model=models["ast"],
                caption_model=models["blip2"],
                audio_tag_model=models["clap"],
                caption_max_new_tokens=20 if paper == "real" else 3,
                decode=DecodeConfig(
                    num_frames=10,
                    max_side=384 if paper == "real" else 64,
                    decode_threads=2,
                    motion_pair=False,
                ),
            )
            result[f"paper_{paper}"] = _run(prof, clips, 1, device, workers)
            result["paper_videos_per_min"] = result[f"paper_{paper}"]["videos_per_min"]
    text = json.dumps(result, indent=2)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n")
    typer.echo(text)


def register(app: typer.Typer) -> None:
    app.command("content")(content)
