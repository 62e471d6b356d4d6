"""How the labelled archives make a near-duplicate of a shot: what a re-upload does to footage.

A copy is cropped (at most `max_crop` of the width and of the height in all, split at random between
the two sides), scaled to another frame size, brightened or darkened by a gain, and encoded again at
another CRF by the caller. Both generators (rendered shapes and real footage) use it, so a copy means
the same thing in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np


@dataclass(frozen=True)
class CopyEdit:
    size: tuple[int, int]  # (width, height) of the copy
    crop: tuple[float, float, float, float]  # share of the source cut from the left, top, right, bottom
    gain: float  # brightness factor

    @classmethod
    def draw(cls, rng: np.random.Generator, size: tuple[int, int], max_crop: float,
             gain: tuple[float, float]) -> "CopyEdit":
        crop = []
        for _ in range(2):  # horizontal, then vertical
            total = float(rng.uniform(0, max_crop))
            first = float(rng.uniform(0, total))
            crop.append((first, total - first))
        (left, right), (top, bottom) = crop
        return cls(size, (left, top, right, bottom), float(rng.uniform(*gain)))

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """The copy of one RGB frame."""
        h, w = frame.shape[:2]
        left, top, right, bottom = self.crop
        x0, y0 = int(round(left * w)), int(round(top * h))
        x1, y1 = w - int(round(right * w)), h - int(round(bottom * h))
        shrink = self.size[0] * self.size[1] < (x1 - x0) * (y1 - y0)
        scaled = cv2.resize(frame[y0:y1, x0:x1], self.size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return np.clip(scaled.astype(np.float32) * self.gain, 0, 255).astype(np.uint8)

    def describe(self) -> dict[str, float | int]:
        """The edit as TruthShot.fault records it."""
        left, top, right, bottom = self.crop
        return {"width": self.size[0], "height": self.size[1], "crop_left": round(left, 6), "crop_top": round(top, 6),
                "crop_right": round(right, 6), "crop_bottom": round(bottom, 6), "gain": round(self.gain, 6)}

    @classmethod
    def from_description(cls, fault: dict) -> "CopyEdit":
        return cls((int(fault["width"]), int(fault["height"])),
                   tuple(float(fault[f"crop_{side}"]) for side in ("left", "top", "right", "bottom")), float(fault["gain"]))


def add_copy_videos(truth: list, originals: list, first: int, videos: int, n_copies: int, seed: int,
                    pick: Callable, make: Callable, progress: Callable | None = None) -> None:
    """The archive's last videos, `first` to `videos`: `n_copies` re-uploads, then reshoots (hard
    negatives), appended to `truth`. `pick(rng, originals, taken)` chooses original shots (indices; a
    re-upload never takes a shot copied before); `make(index, reupload, picked, rng)` writes the video
    and returns its truth, or None when it could not. The copies draw from a generator of their own,
    so the originals of an archive stay as they are without copies."""
    rng = np.random.default_rng([seed, 1])
    copied: set[int] = set()
    for index in range(first, videos):
        reupload = index < first + n_copies
        picked = pick(rng, originals, copied if reupload else set())
        if not picked:
            break
        video = make(index, reupload, [originals[i] for i in picked], rng)
        if video is None:
            continue
        truth.append(video)
        copied.update(picked if reupload else ())
        if progress:
            progress(index + 1, videos)
