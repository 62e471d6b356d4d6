"""`vcurate clip-fit`: train a small open_clip model on a captioned archive's own frames.

Hub weights are not always reachable, and a general web CLIP knows little of a narrow domain. This
fits one of open_clip's model classes (a bundled small config by default) with open_clip's
contrastive `ClipLoss` on (frame, caption) pairs taken from the archive through the same decode
pass and caption pairing as the pipeline. A held-out share of the videos calibrates the
low_alignment threshold: true captions against captions of other clips. The checkpoint stores the
model name, the state dict and that threshold (`align.min_score: auto` uses it).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import open_clip
import torch

from vcurate import __version__
from vcurate.config import PipelineConfig, with_settings
from vcurate.errors import InputError
from vcurate.models.clip import LoadedClip, model_config, resolve_device, wrap_model
from vcurate.stages.analyze import analyze_video
from vcurate.stages.ingest import iter_tasks


@dataclass
class Pair:
    video: str
    caption: str
    frames: np.ndarray  # (k, S, S, 3) uint8


@dataclass
class FitResult:
    threshold: float
    calibration: dict
    losses: list[float] = field(default_factory=list)


def collect_pairs(input_root: str, model: str, every_s: float = 0.25, progress: Callable | None = None,
                  settings: list[tuple[str, object]] = ()) -> list[Pair]:
    """(frames, caption) per clip of the archive, through the pipeline's own analysis; `settings`
    (dotted pipeline-config paths, e.g. split.threshold) change how the archive is read and split."""
    cfg = PipelineConfig.model_validate({
        "input": {"path": input_root},
        "filters": {"shake": {"enabled": False}, "blur": {"enabled": False}, "upscaled": {"enabled": False}},
        "align": {"model": model, "pretrained": None, "frames": 16, "sample_every_s": every_s},
    })
    cfg = with_settings(cfg, list(settings), "pipeline config")
    tasks = list(iter_tasks(cfg.input))  # the count drives the progress bar; clip-fit archives are small
    pairs = []
    for i, task in enumerate(tasks):
        analysis = analyze_video(task, cfg)
        for clip, frames in zip(analysis.clips, analysis.frames):
            if clip.caption and len(frames) and "too_short" not in clip.reasons:
                pairs.append(Pair(task.video, clip.caption, frames))
        if progress:
            progress(i + 1, len(tasks))
    return pairs


def split_by_video(pairs: list[Pair], held_out: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    videos = sorted({p.video for p in pairs})
    random.Random(seed).shuffle(videos)
    val_videos = set(videos[: max(1, int(len(videos) * held_out))]) if len(videos) > 1 else set()
    return [p for p in pairs if p.video not in val_videos], [p for p in pairs if p.video in val_videos]


def _augment(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random shift (pad and crop) and brightness, same for the whole batch row."""
    n, s = frames.shape[0], frames.shape[1]
    pad = max(1, s // 8)
    padded = np.pad(frames, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    out = np.empty_like(frames)
    for i in range(n):
        y, x = rng.integers(0, 2 * pad + 1, 2)
        out[i] = padded[i, y : y + s, x : x + s]
    gain = rng.uniform(0.8, 1.2, (n, 1, 1, 1))
    return np.clip(out.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def drop_words(caption: str, rate: float, rng: np.random.Generator) -> str:
    """Caption with each word dropped at `rate` (at least one kept): the text tower must ground
    single words ("red", "circle") instead of memorising whole sentences."""
    words = caption.split()
    kept = [w for w in words if rng.random() >= rate]
    return " ".join(kept or [words[rng.integers(len(words))]])


def swapped_word(caption: str, others: list[str], rng: np.random.Generator, tries: int = 8) -> str | None:
    """A hard negative: the caption with one word replaced by the word another caption of the same
    length has in that place ("a red circle" -> "a blue circle"), as NegCLIP does with attributes."""
    words = caption.split()
    for _ in range(tries):
        other = others[rng.integers(len(others))].split()
        differ = [i for i, (a, b) in enumerate(zip(words, other)) if a != b] if len(other) == len(words) else []
        if differ:
            i = differ[rng.integers(len(differ))]
            return " ".join(words[:i] + [other[i]] + words[i + 1 :])
    return None


def _batch(train: list[Pair], size: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """One random frame of up to `size` clips with distinct captions (equal captions in one
    contrastive batch would be false negatives)."""
    by_caption: dict[str, list[Pair]] = {}
    for p in train:
        by_caption.setdefault(p.caption, []).append(p)
    captions = list(by_caption)
    chosen = [captions[i] for i in rng.choice(len(captions), min(size, len(captions)), replace=False)]
    frames = []
    for caption in chosen:
        pair = by_caption[caption][rng.integers(len(by_caption[caption]))]
        frames.append(pair.frames[rng.integers(len(pair.frames))])
    return np.stack(frames), chosen


def pair_scores(clip: LoadedClip, pairs: list[Pair], captions: list[str], frames_per_clip: int = 4) -> np.ndarray:
    """Mean cosine similarity of each pair's frames (evenly spaced) with the given caption."""
    scores = []
    for pair, caption in zip(pairs, captions):
        idx = np.linspace(0, len(pair.frames) - 1, min(frames_per_clip, len(pair.frames))).round().astype(int)
        images = clip.encode_frames(pair.frames[idx])
        scores.append(float((images @ clip.encode_text([caption])[0]).mean()))
    return np.asarray(scores)


def calibrate(true_scores: np.ndarray, wrong_scores: np.ndarray, min_kept: float = 0.97) -> tuple[float, dict]:
    """The threshold that best separates true from wrong captions (max of kept + caught) among those
    keeping at least `min_kept` of the true ones; where a range of thresholds does equally well (a
    gap between the two), its middle, so small shifts of either side do not cross it."""
    candidates = np.unique(np.concatenate([true_scores, wrong_scores]))
    thresholds = np.concatenate([candidates, [candidates[-1] + 1e-6]])
    kept = (true_scores[None, :] >= thresholds[:, None]).mean(axis=1)
    caught = (wrong_scores[None, :] < thresholds[:, None]).mean(axis=1)
    quality = np.where(kept >= min_kept, kept + caught, -1.0)
    best = np.flatnonzero(quality >= quality.max() - 1e-9)
    lo, hi = best[0], best[-1]
    # the best range [thresholds[lo], thresholds[hi]] extends down to just above the next lower score
    below = thresholds[lo - 1] if lo > 0 else thresholds[lo]
    threshold = float((below + thresholds[hi]) / 2) if hi == lo else float((thresholds[lo] + thresholds[hi]) / 2)
    k, c = float((true_scores >= threshold).mean()), float((wrong_scores < threshold).mean())
    return threshold, {
        "true_kept": round(k, 4), "wrong_caught": round(c, 4),
        "true_mean": round(float(true_scores.mean()), 4), "wrong_mean": round(float(wrong_scores.mean()), 4),
        "true_pairs": int(len(true_scores)), "wrong_pairs": int(len(wrong_scores)),
    }


def other_captions(caption: str, captions: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """Up to `n` random captions of other clips that differ from `caption` in at least two words:
    a caption that describes something else, not a one-word paraphrase of the right one."""
    words = set(caption.split())
    others = [c for c in captions if len(words - set(c.split())) >= 2]
    return [others[i] for i in rng.choice(len(others), min(n, len(others)), replace=False)] if others else []


def calibrate_clip(clip: LoadedClip, check: list[Pair], captions: list[str], seed: int = 0,
                   min_kept: float = 0.97) -> tuple[float, dict]:
    """Threshold from held-out clips: their true captions against other clips' captions."""
    rng = np.random.default_rng(seed)
    wrong_pairs, wrong = [], []
    for pair in check:
        for caption in other_captions(pair.caption, captions, 3, rng):
            wrong_pairs.append(pair)
            wrong.append(caption)
    true_scores = pair_scores(clip, check, [p.caption for p in check])
    return calibrate(true_scores, pair_scores(clip, wrong_pairs, wrong), min_kept)


def fit_clip(
    pairs: list[Pair],
    model_name: str = "vcurate-small",
    steps: int = 1500,
    batch_size: int = 64,
    lr: float = 1e-3,
    word_dropout: float = 0.2,
    seed: int = 0,
    max_minutes: float | None = None,
    min_kept: float = 0.97,
    device: str = "auto",
    progress: Callable | None = None,
) -> tuple[LoadedClip, FitResult]:
    if len({p.caption for p in pairs}) < 4:
        raise InputError("clip-fit needs captioned clips with at least 4 different captions")
    model_config(model_name)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = resolve_device(device)
    model = open_clip.create_model(model_name, pretrained=None, device=dev)
    clip = wrap_model(model, model_name, dev)
    train, val = split_by_video(pairs, 0.15, seed)
    loss_fn = open_clip.ClipLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))
    )
    result = FitResult(threshold=0.0, calibration={})
    started = time.monotonic()
    model.train()
    for step in range(steps):
        frames, captions = _batch(train, batch_size, rng)
        image_features = torch.nn.functional.normalize(model.encode_image(clip.pixels(_augment(frames, rng))), dim=-1)
        texts = [drop_words(c, word_dropout, rng) for c in captions]
        negatives = [n for n in (swapped_word(c, captions, rng) for c in captions) if n and n not in captions]
        encoded = model.encode_text(clip.tokenizer(texts + negatives).to(dev))
        text_features = torch.nn.functional.normalize(encoded, dim=-1)
        scale = model.logit_scale.exp()
        loss = loss_fn(image_features, text_features[: len(texts)], scale)
        if negatives:  # image -> text again, now also against the one-word-off captions
            logits = scale * image_features @ text_features.T
            loss = loss + torch.nn.functional.cross_entropy(logits, torch.arange(len(texts), device=dev))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        result.losses.append(loss.item())
        if progress:
            progress(step + 1, steps, result.losses[-1])
        if max_minutes and time.monotonic() - started > max_minutes * 60:
            break
    model.eval()
    result.threshold, result.calibration = calibrate_clip(clip, val or train, sorted({p.caption for p in pairs}), seed, min_kept)
    result.calibration["held_out_videos"] = len({p.video for p in val})
    result.calibration["steps"] = len(result.losses)
    clip.threshold = result.threshold
    return clip, result


def save_checkpoint(path: str | Path, clip: LoadedClip, result: FitResult) -> None:
    """A dict of tensors and plain values: loadable with torch.load(weights_only=True)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in clip.model.state_dict().items()}
    payload = {
        "model": clip.name, "state_dict": state, "threshold": result.threshold,
        "calibration": result.calibration, "final_loss": result.losses[-1] if result.losses else None,
        "vcurate": __version__,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
