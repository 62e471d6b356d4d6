"""Blur and upscaling, from how much fine detail a frame holds relative to its coarser structure.

Both scores compare a fine band (image minus a Gaussian) with the next band (between two
Gaussians): contrast cancels out, so a dim or low-contrast shot is not mistaken for a soft one.
- blur_score: edge crispness, the strongest fine-band responses (99th percentile) over the strongest
  next-band ones, measured along four directions (0, 45, 90, 135 degrees) where the frame has
  structure (the 10 % of 16x16 blocks with the most next-band energy), and the softest direction
  counts. Edges decide, not noise, and not flat ground: a frame that is mostly an empty table with
  one crisp coin is crisp; a defocused shot has no crisp edge anywhere, a motion-blurred one none
  across its smear (edges along the smear stay crisp, so one isotropic measure misses it). Taken on
  the subsampled analysis luma (no prefilter, so native detail folds into its fine band and a crisp
  high-resolution frame keeps a high score) and, isotropically, on the most textured
  full-resolution tiles, where a defocus of 1.5-2.5 output pixels, invisible after 2-3x
  subsampling, shows; the lower one counts.
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

from collections.abc import Iterator

import cv2
import numpy as np

from vcurate.analyze.registry import ClipAnalyzer, Column, StreamFacts, register_analyzer, sampled_medians
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


def _crispness(fine: np.ndarray, mid: np.ndarray) -> float:
    return _magnitude_quantile(fine, 0.99) / (_magnitude_quantile(mid, 0.99) + 1e-3)


def edge_crispness(image: np.ndarray) -> float:
    """99th-percentile |fine band| (sigma 1) over 99th-percentile |next band| (sigma 1 to 3)."""
    return _crispness(*_bands(image, 1.0, 3.0))


BLOCK = 16  # pixels of the analysis luma: the unit in which structure is found
STRUCTURE_SHARE = 0.1  # share of the blocks, those with the most next-band energy, that crispness is read on
MARGIN = 8  # pixels left out at each border: the diagonal bands' support reaches past the frame there


def _taps(sigma: float) -> int:
    """Odd 1-D Gaussian kernel length reaching 3 sigma (OpenCV's own choice for float images reaches 4)."""
    return 2 * int(np.ceil(3 * sigma)) + 1


def _antidiagonal_blurs(image: np.ndarray, sigmas: tuple[float, ...]) -> list[np.ndarray]:
    """`image` blurred by 1-D Gaussians along its anti-diagonal (down and to the left): each row r
    is laid r pixels to the right in a zero-padded buffer (one strided copy), so that line becomes a
    column and a vertical blur is a blur along it; a diagonal step is sqrt(2) pixels long. Views in
    image coordinates."""
    h, w = image.shape
    skewed = np.zeros((h, w + h), np.float32)
    strides = ((w + h + 1) * skewed.itemsize, skewed.itemsize)  # one row down and one pixel right
    np.lib.stride_tricks.as_strided(skewed, (h, w), strides)[:] = image
    blurred = (cv2.GaussianBlur(skewed, (1, _taps(s / np.sqrt(2))), sigmaX=1e-6, sigmaY=s / np.sqrt(2)) for s in sigmas)
    return [np.lib.stride_tricks.as_strided(b, (h, w), strides) for b in blurred]


def _directional_bands(image: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per direction (x, y, the anti-diagonal, the diagonal): (picture, picture blurred by a 1-D
    Gaussian of sigma 1 along it, and of sigma 3). The diagonal is read as its mirror image's
    anti-diagonal: crispness does not depend on which way the picture faces."""
    yield image, *(cv2.GaussianBlur(image, (_taps(s), 1), sigmaX=s, sigmaY=1e-6) for s in (1.0, 3.0))
    yield image, *(cv2.GaussianBlur(image, (1, _taps(s)), sigmaX=1e-6, sigmaY=s) for s in (1.0, 3.0))
    for picture in (image, np.ascontiguousarray(image[:, ::-1])):
        yield picture, *_antidiagonal_blurs(picture, (1.0, 3.0))


def structure_crispness(image: np.ndarray) -> float:
    """Crispness of the softest of four directions, read where the frame has structure across it:
    per direction, 99th-percentile |fine band| over 99th-percentile |next band| (1-D sigma 1 and
    1-3 along it) on the STRUCTURE_SHARE of BLOCK x BLOCK blocks with the most next-band energy in
    that direction (a letterbox bar's edge has none along the bar, so it is not read there)."""
    rows, cols = (image.shape[0] - 2 * MARGIN) // BLOCK, (image.shape[1] - 2 * MARGIN) // BLOCK
    if rows < 1 or cols < 1:
        return edge_crispness(image)
    image = image[:, : 2 * MARGIN + cols * BLOCK].astype(np.float32)  # whole blocks: its mirror has the same ones
    window = (slice(MARGIN, MARGIN + rows * BLOCK), slice(MARGIN, MARGIN + cols * BLOCK))
    count = max(4, round(STRUCTURE_SHARE * rows * cols))
    scores = []
    for picture, fine, coarse in _directional_bands(image):
        fine_band, next_band = cv2.subtract(picture[window], fine[window]), cv2.subtract(fine[window], coarse[window])
        energy = cv2.resize(np.abs(next_band), (cols, rows), interpolation=cv2.INTER_AREA)  # block means
        chosen = np.argpartition(energy.ravel(), -count)[-count:]
        r, c = np.divmod(chosen, cols)
        scores.append(_crispness(*(band.reshape(rows, BLOCK, cols, BLOCK)[r, :, c] for band in (fine_band, next_band))))
    return min(scores)


TILE = 64
_RADIUS = np.fft.rfftfreq(TILE)  # cycles/pixel of the axis-profile bins
_WINDOW = np.outer(np.hanning(TILE), np.hanning(TILE)).astype(np.float32)
COARSE_BAND = (4 / TILE, 8 / TILE)  # cycles/pixel: structure every rendition keeps
FINE_BAND = (12 / TILE, 20 / TILE)  # cycles/pixel: just above a 2-3x upscale's source Nyquist (1/6-1/4)
TILE_BLUR_SCALE = 1.53  # full-resolution tiles read softer than the subsampled analysis frame (no detail folded in)


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
    return _crispness(np.stack(fine)[inner], np.stack(mid)[inner])


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
        self.blur.append(float(np.fmin(structure_crispness(frame.luma()), TILE_BLUR_SCALE * tile_crispness(tiles))))
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
        return sampled_medians(self.frames, start, end, self.blur, self.detail) or (None, None)
