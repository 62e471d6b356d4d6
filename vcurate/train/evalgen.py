"""Does a generated video follow its caption? An analytic detector for the synthetic vocabulary.

The synthetic world draws one saturated object (a vocabulary colour) over a muted background, so
the object is found by its chroma alone: its dominant colour is the nearest vocabulary colour of its
pixels, its direction is the sign of the larger slope of its centroid track, and the track's residual
around a straight line is a temporal-jitter figure (generated objects that flicker or hop score high).
The same detector is run on real training windows, which gives its ceiling.

With a frame-conditioned run, `evaluate_first_frames` takes windows of held-out shards (another seed's
clips) and generates each caption with and without the window's first frame: caption following of
both, and the PSNR of every generated frame against the real window (frame 0: fidelity to the given
frame; later frames: how close the continuation stays to what really happened).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vcurate.synth.archive import BACKGROUNDS, COLOURS, DIRECTIONS, SHAPES, caption_for
from vcurate.train.config import DataConfig
from vcurate.train.data import ShardWindows, resolve_shards, shard_captions
from vcurate.train.sampling import generate, save_video
from vcurate.train.trainer import load_ema

_NAMES = list(COLOURS)
# OpenCV hue (0-179) of each vocabulary colour: hue survives the blending of an object's edge pixels
# with the background and the darkening of compression, where RGB distance does not.
_HUES = cv2.cvtColor(np.uint8([[COLOURS[c] for c in _NAMES]]), cv2.COLOR_RGB2HSV)[0, :, 0].astype(np.int16)
_CAPTION = re.compile(
    rf"\b({'|'.join(COLOURS)})\s+({'|'.join(SHAPES)})\s+moving\s+({'|'.join(DIRECTIONS)})\b", re.IGNORECASE
)
# Chroma (max - min of R, G, B): every vocabulary colour has >= 155, the muted background palettes
# <= 120 (saturation <= 0.55 at value <= 0.85), and the largest same-colour blob wins over stray
# pixels. Chroma, unlike HSV saturation, stays low on dark
# pixels whose few levels of compression noise make their saturation jump.
MIN_CHROMA = 110


def parse_caption(caption: str) -> tuple[str, str, str] | None:
    """(colour, shape, direction) of a caption in the synthetic vocabulary, else None."""
    m = _CAPTION.search(caption)
    return (m.group(1).lower(), m.group(2).lower(), m.group(3).lower()) if m else None


@dataclass
class Detection:
    colour: str | None
    direction: str | None
    jitter: float | None  # RMS distance of the centroid from its straight-line fit, % of the frame side
    frames_seen: int


def detect(frames: np.ndarray) -> Detection:
    """Colour, direction and jitter of the moving object in uint8 (T, H, W, 3) RGB frames."""
    t, h, w, _ = frames.shape
    hsv = cv2.cvtColor(frames.reshape(t * h, w, 3), cv2.COLOR_RGB2HSV).reshape(t, h, w, 3)
    saturated = (frames.max(axis=-1).astype(np.int16) - frames.min(axis=-1)) >= MIN_CHROMA
    if not saturated.any():
        return Detection(None, None, None, 0)
    gap = np.abs(hsv[..., 0][saturated].astype(np.int16)[:, None] - _HUES[None])
    nearest = np.argmin(np.minimum(gap, 180 - gap), axis=1)
    dominant = int(np.bincount(nearest, minlength=len(_NAMES)).argmax())
    labels = np.full(saturated.shape, -1, dtype=np.int64)
    labels[saturated] = nearest
    track = []
    for i in range(t):
        mask = (labels[i] == dominant).astype(np.uint8)
        count, comp, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if count > 1:
            largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            track.append((i, *centroids[largest]))
    colour = _NAMES[dominant]
    if len(track) < max(2, t // 2):
        return Detection(colour, None, None, len(track))
    idx, xs, ys = (np.array(v, dtype=np.float64) for v in zip(*track))
    slope_x, fit_x = _line(idx, xs)
    slope_y, fit_y = _line(idx, ys)
    if abs(slope_x) >= abs(slope_y):
        direction = "right" if slope_x > 0 else "left"
    else:
        direction = "down" if slope_y > 0 else "up"
    residual = np.sqrt(np.mean((xs - fit_x) ** 2 + (ys - fit_y) ** 2))
    return Detection(colour, direction, float(100 * residual / max(h, w)), len(track))


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), slope * x + intercept


def prompt_grid(seen: set[tuple[str, str, str]] | None = None) -> list[tuple[str, tuple[str, str, str], bool]]:
    """Every colour × shape × direction of the synthetic vocabulary as a caption (backgrounds cycle),
    with whether that triple never occurs in the training captions `seen`."""
    grid = []
    for i, (colour, shape, direction) in enumerate(itertools.product(COLOURS, SHAPES, DIRECTIONS)):
        caption = caption_for(colour, shape, direction, BACKGROUNDS[i % len(BACKGROUNDS)])
        grid.append((caption, (colour, shape, direction), seen is not None and (colour, shape, direction) not in seen))
    return grid


def score(videos: np.ndarray, targets: list[tuple[str, str, str]]) -> dict:
    """Caption-following accuracy (colour, direction, both) and mean jitter of videos vs their targets."""
    detections = [detect(v) for v in videos]
    colour_ok = [d.colour == t[0] for d, t in zip(detections, targets)]
    direction_ok = [d.direction == t[2] for d, t in zip(detections, targets)]
    jitters = [d.jitter for d in detections if d.jitter is not None]
    n = max(1, len(detections))
    return {
        "videos": len(detections),
        "colour_accuracy": sum(colour_ok) / n,
        "direction_accuracy": sum(direction_ok) / n,
        "both_accuracy": sum(c and d for c, d in zip(colour_ok, direction_ok)) / n,
        "tracked": sum(d.direction is not None for d in detections) / n,
        "jitter_percent": float(np.mean(jitters)) if jitters else None,
        "detected_colours": dict(Counter(d.colour or "none" for d in detections)),
    }


def real_windows(shards: list[str], cfg: DataConfig, limit: int) -> tuple[np.ndarray, list[str]]:
    """Up to `limit` training windows (one per clip) with their captions, as the model saw them; square
    like the generated videos when the run trained on aspect buckets."""
    aspect = "crop" if cfg.aspect == "bucket" else cfg.aspect
    dataset = ShardWindows(shards, cfg.model_copy(update={"windows_per_clip": 1, "shuffle_buffer": 1, "aspect": aspect}),
                           epochs=1, batch_size=1)
    frames, captions = [], []
    for window, _, caption in dataset:
        frames.append(window[0].numpy())
        captions.append(caption[0])
        if len(frames) >= limit:
            break
    return np.stack(frames), captions


def _scored(videos: np.ndarray, captions: list[str]) -> dict:
    parsed = [(v, p) for v, p in zip(videos, map(parse_caption, captions)) if p is not None]
    if not parsed:
        return {"videos": 0}
    return score(np.stack([v for v, _ in parsed]), [p for _, p in parsed])


def evaluate_generation(run: str | Path, samples_per_prompt: int = 1, seed: int = 1234, steps: int | None = None,
                        guidance: float | None = None, reference_windows: int = 200, videos_out: Path | None = None) -> dict:
    """Generate every vocabulary prompt and score caption following; the detector's score on real
    training windows of the run's shards is reported beside it as the ceiling."""
    model, cfg = load_ema(run)
    shards = resolve_shards(cfg.data.shards) if cfg.data.shards else []
    reference = {}
    seen: set[tuple[str, str, str]] | None = None
    if shards:
        windows, captions = real_windows(shards, cfg.data, reference_windows)
        reference = _scored(windows, captions)
        seen = {p for p in map(parse_caption, shard_captions(shards)) if p is not None}
    grid = prompt_grid(seen) * samples_per_prompt
    prompts = [caption for caption, _, _ in grid]
    videos = generate(model, cfg, prompts, seed=seed, steps=steps, guidance=guidance)
    targets = [target for _, target, _ in grid]
    result = {"prompts": len(set(prompts)), "samples_per_prompt": samples_per_prompt, "all": score(videos, targets)}
    unseen = [i for i, (_, _, is_unseen) in enumerate(grid) if is_unseen]
    if unseen:
        result["unseen_combinations"] = score(videos[unseen], [targets[i] for i in unseen])
    result["real_windows_reference"] = reference
    result["settings"] = {"steps": steps or cfg.diffusion.sample_steps,
                          "guidance": cfg.diffusion.guidance if guidance is None else guidance, "seed": seed}
    if videos_out is not None:
        for i, (video, prompt) in enumerate(zip(videos[: len(set(prompts))], prompts)):
            save_video(videos_out / f"{i:03d}-{_slug(prompt)}.mp4", video, upscale=4)
    return result


PSNR_CAP = 99.0  # dB reported for identical frames (an infinite PSNR is not JSON)


def psnr_by_frame(videos: np.ndarray, reference: np.ndarray) -> list[float]:
    """PSNR (dB) of each frame index of uint8 (N, T, H, W, 3) videos against the reference videos, from the
    squared error pooled over the N videos; PSNR_CAP where they are identical."""
    error = (videos.astype(np.float64) - reference.astype(np.float64)) ** 2
    mse = error.reshape(*error.shape[:2], -1).mean(axis=(0, 2))
    return [round(float(min(PSNR_CAP, 10 * np.log10(255.0**2 / m))) if m > 0 else PSNR_CAP, 2) for m in mse]


def evaluate_first_frames(run: str | Path, shards: str, windows: int = 72, seed: int = 1234, steps: int | None = None,
                          guidance: float | None = None) -> dict:
    """Caption following and per-frame PSNR of videos generated from the captions of up to `windows`
    windows of `shards` (held-out clips, one window each): from the caption alone ("text_only") and,
    for a frame-conditioned run, also given the window's first frame, held by the sampler
    ("first_frame") and only shown to the model ("first_frame_model": the model's own fidelity); each also
    scored on its frames after the first alone ("generated_frames")."""
    model, cfg = load_ema(run)
    frames, captions = real_windows(resolve_shards(shards), cfg.data, windows)
    keep = [i for i, caption in enumerate(captions) if parse_caption(caption) is not None]
    if not keep:
        return {"windows": 0}
    frames, captions = frames[keep], [captions[i] for i in keep]
    targets = [parse_caption(caption) for caption in captions]
    modes = {"text_only": {}}
    if model.frame_embed is not None:
        modes.update(first_frame={"first": frames[:, 0]}, first_frame_model={"first": frames[:, 0], "replace": False})
    result: dict = {"windows": len(keep), "shards": shards, "real_windows": score(frames, targets)}
    for name, given in modes.items():
        videos = generate(model, cfg, captions, seed=seed, steps=steps, guidance=guidance, **given)
        # "generated_frames": frames 1.. alone, so a given (and held) frame 0 cannot score the colour by itself
        result[name] = {**score(videos, targets), "generated_frames": score(videos[:, 1:], targets),
                        "psnr_by_frame": psnr_by_frame(videos, frames)}
    result["settings"] = {"steps": steps or cfg.diffusion.sample_steps,
                          "guidance": cfg.diffusion.guidance if guidance is None else guidance, "seed": seed}
    return result


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]
