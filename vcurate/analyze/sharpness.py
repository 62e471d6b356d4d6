"""Blur and upscaling, from how much fine detail a frame holds relative to its coarser structure.

Both scores compare a fine band (image minus a Gaussian) with the next band (between two
Gaussians): contrast cancels out, so a dim or low-contrast shot is not mistaken for a soft one.
- blur_score: the strongest fine-band responses (99th percentile) over the strongest next-band
  ones. Edges decide, not noise: a defocused or smeared shot has no crisp edge anywhere. Taken on
  the subsampled analysis luma (no prefilter, so native detail folds into its fine band and a crisp
  high-resolution frame keeps a high score) and on the most textured full-resolution tiles, where a
  defocus of 1.5-2.5 output pixels, invisible after 2-3x subsampling, shows; the lower one counts.
- detail_score: native-resolution detail where the frame has texture, from the power spectrum of
  its most textured 64x64 full-resolution tiles (`native_detail`): content upscaled 2-4x from a
  smaller source has next to no energy just above its source's Nyquist frequency, relative to its
  coarse structure. Soft native footage (phone video, optics, strong compression) can be as
  band-limited as a 2x upscale, so the threshold sits below the softest native calibration footage
  and catches mainly 3-4x upscales. Flat tiles (sky, walls, letterbox bars) are left out: they hold
  no detail whatever the resolution.
Scores are computed every `every` frames and aggregated per clip by the median, so a few odd frames
(a flash, a fast pan) do not decide.
"""

from __future__ import annotations

import cv2
import numpy as np

from vcurate.analyze.registry import ClipAnalyzer, Column, StreamFacts, register_analyzer
from vcurate.config import PipelineConfig
from vcurate.media.frames import AnalysisFrame


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


TILE = 64
_RADIUS = np.fft.rfftfreq(TILE)  # cycles/pixel of the axis-profile bins
_WINDOW = np.outer(np.hanning(TILE), np.hanning(TILE)).astype(np.float32)
COARSE_BAND = (4 / TILE, 8 / TILE)  # cycles/pixel: structure every rendition keeps
FINE_BAND = (12 / TILE, 20 / TILE)  # cycles/pixel: just above a 2-3x upscale's source Nyquist (1/6-1/4)
TILE_BLUR_SCALE = 0.46 / 0.30  # full-resolution tile crispness 0.30 counts as analysis crispness 0.46


def textured_tiles(luma: np.ndarray, count: int = 8) -> np.ndarray:
    """The `count` TILE x TILE tiles of a full-resolution luma with the most texture, (count, TILE, TILE)
    float32. Texture is the variance of the tile seen 4x subsampled: structure that survives
    resampling (edges, patterns), not pixel noise or compression artefacts. A tile with a flat
    16x16 part (the edge of a letterbox bar, of the sky) ranks last."""
    rows, cols = luma.shape[0] // TILE, luma.shape[1] // TILE
    if not rows or not cols:
        return np.zeros((0, TILE, TILE), np.float32)
    top, left = (luma.shape[0] - rows * TILE) // 2, (luma.shape[1] - cols * TILE) // 2
    grid = luma[top : top + rows * TILE, left : left + cols * TILE]
    coarse = grid[::4, ::4].astype(np.float32)
    size = (cols * 4, rows * 4)  # 16x16-pixel parts, 4 x 4 per tile: their means and mean squares (area resize is fast)
    mean = cv2.resize(coarse, size, interpolation=cv2.INTER_AREA).reshape(rows, 4, cols, 4)
    square = cv2.resize(coarse * coarse, size, interpolation=cv2.INTER_AREA).reshape(rows, 4, cols, 4)
    texture = square.mean(axis=(1, 3)) - mean.mean(axis=(1, 3)) ** 2
    textured_throughout = (square - mean**2).min(axis=(1, 3)) > 1.0  # no flat part: a bar's edge is no texture
    chosen = np.argsort((texture * textured_throughout).ravel())[::-1][:count]
    r, c = np.divmod(chosen, cols)
    return np.stack([grid[i * TILE : (i + 1) * TILE, j * TILE : (j + 1) * TILE] for i, j in zip(r, c)]).astype(np.float32)


def tile_crispness(tiles: np.ndarray) -> float:
    """edge_crispness over the textured full-resolution tiles (each banded on its own, borders cut).
    The analysis luma is subsampled 2-3x on large sources, which hides a defocus of sigma 1.5-2.5
    output pixels; at full resolution it shows."""
    if not len(tiles):
        return float("nan")
    fine, mid = zip(*(_bands(tile, 1.0, 3.0) for tile in tiles))
    inner = (slice(None), slice(6, -6), slice(6, -6))
    return _magnitude_quantile(np.stack(fine)[inner], 0.99) / (_magnitude_quantile(np.stack(mid)[inner], 0.99) + 1e-3)


def native_detail(tiles: np.ndarray) -> float:
    """RMS ratio of FINE_BAND over COARSE_BAND in the windowed power spectrum of the textured tiles
    (power by |fx| plus power by |fy|). Upscaling from a 2-3x smaller source empties the fine band
    while the coarse band keeps its energy; native footage, even soft or CRF 35, keeps a tail there.
    On the calibration footage this band pair caught 2-3 times as many 2-3x upscales as a broad
    pixel-band ratio or the steepest spectral drop at no false rejection of native footage."""
    if not len(tiles):
        return float("nan")
    tiles = tiles - tiles.mean(axis=(1, 2), keepdims=True)
    power = np.zeros((TILE, TILE), np.float32)
    for tile in tiles * _WINDOW:  # OpenCV's float32 DFT: a third of numpy's float64 rfft2 on these tiles
        spectrum = cv2.dft(tile, flags=cv2.DFT_COMPLEX_OUTPUT)
        power += spectrum[..., 0] ** 2 + spectrum[..., 1] ** 2
    power = power[:, : TILE // 2 + 1]  # fx >= 0: the half plane, as numpy's rfft2 lays it out
    rows = power.sum(axis=1)  # by fy in FFT order; the half-plane holds each |fy| line as rows fy and -fy
    by_fy = rows[: TILE // 2 + 1].copy()
    by_fy[1 : TILE // 2] += rows[: -TILE // 2 : -1]
    profile = power.sum(axis=0) + by_fy

    def band(low: float, high: float) -> float:
        return float(profile[(_RADIUS >= low) & (_RADIUS < high)].sum())

    return float(np.sqrt(band(*FINE_BAND) / (band(*COARSE_BAND) + 1e-3)))


@register_analyzer
class SharpnessAnalyzer(ClipAnalyzer):
    """Crispness and native detail of every `every`-th frame; one pass serves the blur and the
    upscaled filters."""

    columns = {
        "blur_score": Column(float, "edge crispness, dimensionless: fine-band over next-band magnitude, median "
                                    "over the clip's sampled frames (filters.blur)"),
        "detail_score": Column(float, "native-resolution detail, dimensionless: spectral band ratio of textured "
                                      "full-resolution tiles, median over the clip (filters.upscaled)"),
    }

    def __init__(self, every: int):
        self.every = max(1, every)
        self.frames: list[int] = []
        self.blur: list[float] = []
        self.detail: list[float] = []

    def process(self, index: int, frame: AnalysisFrame) -> None:
        if index % self.every:
            return
        self.frames.append(index)
        tiles = textured_tiles(frame.luma_full())
        self.blur.append(float(np.fmin(edge_crispness(frame.luma()), TILE_BLUR_SCALE * tile_crispness(tiles))))
        self.detail.append(native_detail(tiles))

    @classmethod
    def build(cls, cfg: PipelineConfig, stream: StreamFacts) -> "SharpnessAnalyzer | None":
        filters = cfg.filters
        return cls(filters.blur.every) if filters.blur.enabled or filters.upscaled.enabled else None

    def clip_columns(self, start: int, end: int) -> dict[str, float | None]:
        blur, detail = self.clip_scores(start, end)
        return {"blur_score": None if blur is None else round(blur, 5),
                "detail_score": None if detail is None else round(detail, 5)}

    def clip_scores(self, start: int, end: int) -> tuple[float | None, float | None]:
        """(blur_score, detail_score) medians over the sampled frames in [start, end)."""
        frames = np.asarray(self.frames)
        inside = (frames >= start) & (frames < end)
        if not inside.any():
            return None, None
        return float(np.median(np.asarray(self.blur)[inside])), float(np.median(np.asarray(self.detail)[inside]))
