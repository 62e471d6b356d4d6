"""Frames for the CLIP alignment stage, kept from the shared decode pass at the model's input size.

CLIP needs a few frames per clip, not the clip: every `every` frames one frame is resized (short
side to the model's size, area filter) and centre-cropped, as open_clip's own preprocessing does.
After the pass each clip takes `n` of the frames that fall inside it, evenly spaced.
"""

from __future__ import annotations

import math

import av
import numpy as np

from vcurate.media.frames import AnalysisFrame, centre_crop, upright


def square_crop(frame: av.VideoFrame, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB: short side scaled to `size`, centre crop, turned upright."""
    scale = size / min(frame.width, frame.height)
    w, h = max(size, round(frame.width * scale)), max(size, round(frame.height * scale))
    crop = centre_crop(frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray(), size)
    return upright(crop, frame.rotation)


def sampling_step(fps: float, every_s: float, expected_frames: int, max_samples: int) -> int:
    """Frames between samples: `every_s` apart (at the resolved rate `fps`), but never more than
    `max_samples` per video."""
    step = max(1, round(every_s * fps))
    if expected_frames > 0:
        step = max(step, math.ceil(expected_frames / max_samples))
    return step


class ClipFrameSampler:
    def __init__(self, size: int, step: int):
        self.size, self.step = size, step
        self.indices: list[int] = []
        self.frames: list[np.ndarray] = []

    def process(self, index: int, frame: AnalysisFrame) -> None:
        if index % self.step == 0:
            self.indices.append(index)
            self.frames.append(square_crop(frame.frame, self.size))

    def finish(self, num_frames: int) -> None:
        pass

    def for_clip(self, start: int, end: int, n: int) -> np.ndarray:
        """Up to `n` frames inside [start, end), evenly spaced; (k, S, S, 3), k may be 0."""
        inside = [i for i, index in enumerate(self.indices) if start <= index < end]
        if not inside:
            return np.zeros((0, self.size, self.size, 3), np.uint8)
        picks = sorted({inside[int(round(p))] for p in np.linspace(0, len(inside) - 1, min(n, len(inside)))})
        return np.stack([self.frames[i] for i in picks])
