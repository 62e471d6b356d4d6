"""Generate videos from captions with a trained model, and write them as mp4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vcurate.media.encode import write_mp4
from vcurate.train.config import TrainConfig
from vcurate.train.data import tokenize
from vcurate.train.diffusion import sample, to_frames
from vcurate.train.model import VideoDiT


@torch.no_grad()
def generate(model: VideoDiT, cfg: TrainConfig, prompts: list[str], seed: int = 0, steps: int | None = None,
             guidance: float | None = None, batch_size: int = 16, shape: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 videos (N, T, H, W, 3), one per prompt, size x size or `shape` (height, width), e.g. one of
    the run's aspect buckets; the same seed gives the same videos."""
    model.eval()
    device = next(model.parameters()).device
    steps = steps or cfg.diffusion.sample_steps
    guidance = cfg.diffusion.guidance if guidance is None else guidance
    generator = torch.Generator(device).manual_seed(seed)
    height, width = shape or (cfg.data.size, cfg.data.size)
    video_shape = (cfg.data.frames, model.channels, height, width)
    videos = []
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i : i + batch_size]
        tokens = tokenize(chunk, cfg.data.max_text_tokens).to(device)
        caption = model.caption_embedding(tokens)
        null = model.null_caption.expand_as(caption)
        x = sample(model, caption, null, (len(chunk), *video_shape), steps, guidance, generator)
        videos.append(to_frames(x).numpy())
    return np.concatenate(videos)


def save_video(path: str | Path, frames: np.ndarray, fps: int = 8, upscale: int = 1) -> Path:
    """Write (T, H, W, 3) uint8 frames as H.264; `upscale` enlarges by pixel repetition for viewing."""
    if upscale > 1:
        frames = frames.repeat(upscale, axis=1).repeat(upscale, axis=2)
    h, w = frames.shape[1:3]
    write_mp4(path, iter(frames), (w, h), fps, crf=12)
    return Path(path)
