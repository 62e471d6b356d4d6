"""Blur and upscaling, from how much fine detail a frame holds relative to its coarser structure.

Both scores compare a fine band (image minus a Gaussian) with the next band (between two
Gaussians): contrast cancels out, so a dim or low-contrast shot is not mistaken for a soft one.
- blur_score: the strongest fine-band responses (99th percentile) over the strongest next-band
  ones, on the subsampled analysis luma. Edges decide, not noise: a defocused or smeared shot has
  no crisp edge anywhere. The analysis luma is subsampled without a prefilter, so native detail
  folds into its fine band and a crisp high-resolution frame keeps a high score. Videos smaller
  than about twice the analysis size are seen at native scale and score somewhat lower.
- detail_score: fine-band / next-band RMS energy on a native-resolution centre crop. Content
  upscaled from a smaller source is crisp at the analysis size but has no energy at its own pixel
  scale, everywhere in the frame.
Scores are computed every `every` frames and aggregated per clip by the median, so a few odd frames
(a flash, a fast pan) do not decide.
"""

from __future__ import annotations

import cv2
import numpy as np

from vcurate.media.frames import AnalysisFrame, centre_crop


def _bands(image: np.ndarray, fine_sigma: float, coarse_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    image = image.astype(np.float32, copy=False)
    fine = cv2.GaussianBlur(image, (0, 0), fine_sigma)
    coarse = cv2.GaussianBlur(image, (0, 0), coarse_sigma)
    return image - fine, fine - coarse


def _magnitude_quantile(values: np.ndarray, q: float) -> float:
    """Exact q-quantile of |values| by partial sort (np.percentile's full machinery costs 6x more).
    Partitioning a whole frame still costs more than the blurs, so a strided sample proposes a bound
    just below the quantile and only the values above it are partitioned (about 6x faster)."""
    flat = np.abs(values).ravel()
    k = int(q * (flat.size - 1))
    sample = flat[::8]
    j = int(max(0.0, q - 0.01) * (sample.size - 1))
    candidates = flat[flat >= np.partition(sample, j)[j]]
    rank = k - (flat.size - candidates.size)  # every value left out ranks below every candidate
    if rank < 0:  # the sample put the bound above the quantile: partition everything
        candidates, rank = flat, k
    return float(np.partition(candidates, rank)[rank])


def edge_crispness(image: np.ndarray) -> float:
    """99th-percentile |fine band| (sigma 1) over 99th-percentile |next band| (sigma 1 to 3)."""
    fine, mid = _bands(image, 1.0, 3.0)
    return _magnitude_quantile(fine, 0.99) / (_magnitude_quantile(mid, 0.99) + 1e-3)


def pixel_detail(image: np.ndarray) -> float:
    """RMS of the pixel-scale band (sigma 0.7) over RMS of the next band (sigma 0.7 to 2)."""
    fine, mid = _bands(image, 0.7, 2.0)
    return float(np.sqrt(np.mean(fine**2) / (np.mean(mid**2) + 1e-3)))


class SharpnessAnalyzer:
    def __init__(self, every: int, crop: int = 192):
        self.every, self.crop = max(1, every), crop
        self.frames: list[int] = []
        self.blur: list[float] = []
        self.detail: list[float] = []

    def process(self, index: int, frame: AnalysisFrame) -> None:
        if index % self.every:
            return
        self.frames.append(index)
        self.blur.append(edge_crispness(frame.luma()))
        self.detail.append(pixel_detail(centre_crop(frame.luma_full(), self.crop)))

    def finish(self, num_frames: int) -> None:
        pass

    def clip_scores(self, start: int, end: int) -> tuple[float | None, float | None]:
        """(blur_score, detail_score) medians over the sampled frames in [start, end)."""
        frames = np.asarray(self.frames)
        inside = (frames >= start) & (frames < end)
        if not inside.any():
            return None, None
        return float(np.median(np.asarray(self.blur)[inside])), float(np.median(np.asarray(self.detail)[inside]))
