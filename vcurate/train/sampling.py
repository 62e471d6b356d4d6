"""Generate videos from captions (and given first / last frames) with a trained model, and write them as mp4."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from vcurate.errors import VcurateError
from vcurate.media.encode import write_mp4
from vcurate.train.config import TrainConfig
from vcurate.train.data import tokenize
from vcurate.train.diffusion import frame_mask, sample, to_frames, to_model_input
from vcurate.train.model import FrameCondition, VideoDiT


class FrameImageError(VcurateError, ValueError):
    """A conditioning image that cannot be read, or a run that cannot take one."""


def load_frame(path: str | Path, height: int, width: int) -> np.ndarray:
    """An image file as a uint8 (height, width, 3) RGB frame: its largest centred box of that aspect,
    area-resized, as training windows are cut from their clips (data.aspect crop)."""
    path = Path(path)
    if not path.is_file():
        raise FrameImageError(f"image not found: {path}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameImageError(f"{path}: not a readable image (PNG, JPEG, ...)")
    h, w = image.shape[:2]
    box_w, box_h = (round(h * width / height), h) if w / h > width / height else (w, round(w * height / width))
    left, top = (w - box_w) // 2, (h - box_h) // 2
    box = image[top : top + box_h, left : left + box_w]
    return cv2.cvtColor(cv2.resize(box, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


def _given(first: np.ndarray | None, last: np.ndarray | None, count: int, frames: int,
           device: torch.device) -> FrameCondition | None:
    """The FrameCondition of `count` videos from uint8 (count, H, W, 3) first and/or last frames."""
    if first is None and last is None:
        return None
    some = first if first is not None else last
    video = torch.zeros(count, frames, *some.shape[1:], dtype=torch.uint8)
    if last is not None:
        video[:, -1] = torch.from_numpy(np.ascontiguousarray(last))
    if first is not None:
        video[:, 0] = torch.from_numpy(np.ascontiguousarray(first))
    mask = frame_mask(torch.full((count,), first is not None, device=device),
                      torch.full((count,), last is not None, device=device), frames)
    return FrameCondition(mask, to_model_input(video.to(device)) * mask.view(count, frames, 1, 1, 1))


@torch.no_grad()
def generate(model: VideoDiT, cfg: TrainConfig, prompts: list[str], seed: int = 0, steps: int | None = None,
             guidance: float | None = None, batch_size: int = 16, shape: tuple[int, int] | None = None,
             first: np.ndarray | None = None, last: np.ndarray | None = None, replace: bool = True) -> np.ndarray:
    """uint8 videos (N, T, H, W, 3), one per prompt, size x size or `shape` (height, width), e.g. one of
    the run's aspect buckets; the same seed gives the same videos.

    `first` / `last`: uint8 (N, H, W, 3) frames the videos start / end with (a frame-conditioned run);
    with `replace` (the default) they are held at every sampler step and come out exactly."""
    model.eval()
    if (first is not None or last is not None) and model.frame_embed is None:
        raise FrameImageError("this run was trained without frame conditioning (model.frame_condition: false): "
                              "it cannot start or end at a given image")
    device = next(model.parameters()).device
    steps = steps or cfg.diffusion.sample_steps
    guidance = cfg.diffusion.guidance if guidance is None else guidance
    generator = torch.Generator(device).manual_seed(seed)
    height, width = shape or (cfg.data.size, cfg.data.size)
    for name, given in (("first", first), ("last", last)):
        if given is not None and given.shape != (len(prompts), height, width, 3):
            raise ValueError(f"{name} frames must be ({len(prompts)}, {height}, {width}, 3), not {given.shape}")
    video_shape = (cfg.data.frames, model.channels, height, width)
    videos = []
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i : i + batch_size]
        tokens = tokenize(chunk, cfg.data.max_text_tokens).to(device)
        caption = model.caption_embedding(tokens)
        null = model.null_caption.expand_as(caption)
        part = slice(i, i + len(chunk))
        given = _given(None if first is None else first[part], None if last is None else last[part], len(chunk),
                       cfg.data.frames, device)
        x = sample(model, caption, null, (len(chunk), *video_shape), steps, guidance, generator, given, replace)
        videos.append(to_frames(x).numpy())
    return np.concatenate(videos)


def save_video(path: str | Path, frames: np.ndarray, fps: int = 8, upscale: int = 1) -> Path:
    """Write (T, H, W, 3) uint8 frames as H.264; `upscale` enlarges by pixel repetition for viewing."""
    if upscale > 1:
        frames = frames.repeat(upscale, axis=1).repeat(upscale, axis=2)
    h, w = frames.shape[1:3]
    write_mp4(path, iter(frames), (w, h), fps, crf=12)
    return Path(path)
