"""Camera shake: the high-frequency part of the global motion, separated from the smooth camera path.

Global inter-frame translation comes from phase correlation on the four quarters of a small luma
frame: the camera moves all four the same way, a moving subject only the quarters it is in. The step
is the median of the four shifts, and it counts only where at least three quarters agree on it
(within `ShakeAnalyzer.agreement` of the short side, plus a fifth of the step); one correlation over
the whole frame follows whatever dominates it, so on a static camera a walking person or a large
animated object read as shake (a flat animation's static shots scored 2-5 against 0.3 now). Per
clip, the deliberate move is the running median of the camera's steps (`median_seconds`): a pan
that starts or stops, a scroll or zoom that eases in and out, changes speed monotonically and
passes a median unchanged, while jitter, which turns back every frame or two, does not. What the
median leaves is integrated into a path, its slow drift (a Gaussian-smoothed copy, `smooth_seconds`)
taken away, and the score is the RMS of the rest in percent of the frame's short side, so it does
not depend on resolution; a steady or eased camera move scores near zero.

Each step's departure from the deliberate move counts in proportion to its fit confidence
(`step_confidence`: the squared ratio of its correlation peak to the clip's typical one). A subject
filling most of a close-up is what every quarter follows when it moves, and its jerks would read as
the camera's; but a subject moving against its background splits and flattens the peak, while the
camera moving the whole picture keeps it whole.

Single-frame glitches of the estimate (a missed cut inside the clip, phase correlation locking onto
the wrong period of a repetitive texture) would read as one violent jolt, so steps with a weak
correlation peak, without agreeing quarters, or far from their neighbours (a Hampel filter) are
replaced by the local median before the path is built. Shake is coherent jitter on every frame and
survives that cleaning.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np

from vcurate.analyze.registry import ClipAnalyzer, Column, StreamFacts, register_analyzer
from vcurate.config import PipelineConfig, ShakeFilter
from vcurate.media.frames import AnalysisFrame


def smooth_path(path: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 with point-symmetric padding, so a straight line (a steady
    pan) stays exactly straight up to the clip's ends."""
    radius = max(1, int(3 * sigma))
    if len(path) < 2:
        return path.copy()
    pad = min(radius, len(path) - 1)
    padded = np.pad(path, ((pad, pad), (0, 0)), mode="reflect", reflect_type="odd")
    kernel = np.exp(-0.5 * (np.arange(-pad, pad + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    return np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(path.shape[1])], axis=1)


def reject_glitches(steps: np.ndarray, reliable: np.ndarray, half_window: int = 3, floor: float = 0.02) -> np.ndarray:
    """Replace unreliable steps, and steps further than max(3 robust sigmas, `floor`) from the local
    median, by that median (Hampel filter over a window of 2*half_window+1 reliable steps)."""
    masked = np.where(reliable[:, None], steps, np.nan)
    padded = np.pad(masked, ((half_window, half_window), (0, 0)), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half_window + 1, axis=0)  # (n, 2, w)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: no reliable neighbour
        median = np.nanmedian(windows, axis=2)
        spread = 3 * 1.4826 * np.nanmedian(np.abs(windows - median[..., None]), axis=2)
    median = np.nan_to_num(median)
    outlier = ~reliable | (np.abs(steps - median) > np.maximum(np.nan_to_num(spread), floor)).any(axis=1)
    return np.where(outlier[:, None], median, steps)


def running_median(steps: np.ndarray, width: int) -> np.ndarray:
    """Median of each `width`-step window (odd; edges padded with the end steps), along axis 0."""
    half = width // 2
    padded = np.pad(steps, ((half, half), (0, 0)), mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, width, axis=0), axis=-1)


def step_confidence(heights: np.ndarray, reliable: np.ndarray) -> np.ndarray:
    """Per step, the squared ratio of its tiles' median correlation peak (heights (n, tiles)) to the
    clip's typical one (the median over its reliable steps), at most 1. The camera moving the whole
    picture keeps every tile's peak whole; a subject moving against its background, which the tiles
    follow when it fills most of the frame, splits and flattens it (peaks 0.4-0.8 against 1 in a
    close-up whose subject jerks)."""
    peak = np.median(heights, axis=1)
    if not reliable.any():
        return np.ones(len(peak))
    return np.clip(peak / max(float(np.median(peak[reliable])), 1e-6), 0.0, 1.0) ** 2


def shake_score(steps: np.ndarray, fps: float, settings: ShakeFilter, reliable: np.ndarray | None = None,
                confidence: np.ndarray | None = None) -> float:
    """RMS (percent of short side) of the camera path left once its deliberate move (the running
    median of the steps) and its slow drift are taken away. `steps` holds per-frame translations
    (fractions of the short side), shape (n, 2); each step's departure from the deliberate move
    counts in proportion to its `confidence` (step_confidence), when given."""
    if len(steps) < 3:
        return 0.0
    reliable = np.isfinite(steps).all(axis=1) & (True if reliable is None else reliable)
    steps = reject_glitches(np.nan_to_num(steps), reliable)
    width = max(3, int(round(settings.median_seconds * fps)) | 1)
    departure = steps - running_median(steps, width)
    path = np.cumsum(departure if confidence is None else departure * confidence[:, None], axis=0)
    residual = path - smooth_path(path, max(0.5, settings.smooth_seconds * fps))
    return float(100 * np.sqrt((residual**2).sum(axis=1).mean()))


def quarters(image: np.ndarray) -> list[np.ndarray]:
    """The 2 x 2 tiles of an image (odd last rows/columns dropped), each contiguous for OpenCV's FFT."""
    h, w = image.shape[0] // 2, image.shape[1] // 2
    return [np.ascontiguousarray(image[y : y + h, x : x + w]) for y in (0, h) for x in (0, w)]


def consensus(shifts: np.ndarray, responses: np.ndarray, agreement: float, min_response: float) -> tuple[np.ndarray, np.ndarray]:
    """Per step, the median of the tiles' shifts (n, tiles, 2) and whether at least all tiles but one
    agree with it: a peak of at least `min_response`, within `agreement` (same units as the shifts)
    plus a fifth of the step's length. Rotation moves opposite quarters opposite ways, which the
    median cancels and the fifth allows for."""
    median = np.median(shifts, axis=1)
    length = np.sqrt((median**2).sum(axis=1, keepdims=True))
    deviation = np.sqrt(((shifts - median[:, None]) ** 2).sum(axis=2))
    agrees = (deviation <= agreement + 0.2 * length) & (responses >= min_response)
    return median, agrees.sum(axis=1) >= shifts.shape[1] - 1


_OTHER_QUARTERS = ([1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2])


def _residual(previous: np.ndarray, current: np.ndarray, shift: tuple[float, float], margin: int) -> float:
    """Variance of `current` minus `previous` moved by `shift` (pixels), inside `margin`."""
    matrix = np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float32)
    moved = cv2.warpAffine(previous, matrix, previous.shape[::-1], flags=cv2.INTER_LINEAR)  # the margin hides the border
    _, spread = cv2.meanStdDev(cv2.subtract(moved, current)[margin:-margin, margin:-margin])
    return float(spread[0, 0]) ** 2


def overrule_frozen_tiles(shifts: np.ndarray, previous: list[np.ndarray], current: list[np.ndarray],
                          agreement: float, ratio: float = 0.8) -> np.ndarray:
    """The four tiles' shifts (4, 2; pixels), each one that disagrees with the median of the other
    three replaced by it where its own pixels say so: the tile moved by the others' shift matches its
    next frame (variance of the difference) better than `ratio` times moved by its own peak's.

    A codec freezes flat, dark regions (skip blocks copy the previous frame exactly), so under a
    shaking camera a quarter of plain wall holds perfectly still, and a quarter that is half wall and
    half face peaks at the frozen half: phase correlation whitens the spectrum, so identical faint
    grain outweighs the moving face (a close-up with 4.8 % RMS jitter scored 0.16). A static
    background behind a moving subject fits its own zero shift best and keeps its vote."""
    out = shifts.copy()
    for q, others_of_q in enumerate(_OTHER_QUARTERS):
        rest = shifts[others_of_q]  # median of three: their sum less the smallest and the largest
        others = rest.sum(axis=0) - rest.min(axis=0) - rest.max(axis=0)
        dx, dy = shifts[q] - others
        if (dx * dx + dy * dy) ** 0.5 <= agreement + 0.2 * float(np.hypot(*others)):
            continue
        margin = int(np.ceil(max(np.abs(shifts[q]).max(), np.abs(others).max()))) + 1
        if 2 * margin >= min(current[q].shape) - 4:
            continue
        own = _residual(previous[q], current[q], shifts[q], margin)
        if _residual(previous[q], current[q], others, margin) < ratio * own:
            out[q] = others
    return out


@register_analyzer
class ShakeAnalyzer(ClipAnalyzer):
    """Per-frame translation of each quarter of a box-filtered luma at half the analysis size, by
    phase correlation against the same quarter of the previous frame. The prefilter matters: on a
    subsampled frame a sub-stride shift snaps to 0 or 1 pixel, which reads as jitter on a perfectly
    steady pan."""

    # OpenCV 5.0's phaseCorrelate with its window argument gives a different shift on every call with
    # the same frames (0.1-0.8 px apart on 45x80-160x90 tiles: noise that read as shake on static shots);
    # multiplying by the window first and passing none is deterministic and the same computation.
    min_response = 0.1  # phase-correlation peak below which a tile's shift is a guess (cuts score ~0.05)
    agreement = 0.005  # fraction of the short side within which tiles agree (0.5 px at 160x90)

    columns = {"shake_score": Column(float, "camera shake: RMS of the camera path's high-frequency residual, "
                                           "percent of the short side (filters.shake)")}

    def __init__(self, settings: ShakeFilter, fps: float) -> None:
        self.settings, self.fps = settings, fps
        self.shifts: list[np.ndarray] = []  # per frame (4, 2): each quarter's shift from the previous frame
        self.responses: list[np.ndarray] = []  # per frame (4,): each quarter's correlation peak
        self._previous: list[np.ndarray] | None = None  # the previous frame's quarters, windowed
        self._previous_plain: list[np.ndarray] | None = None  # and as they are
        self._window: np.ndarray | None = None

    def process(self, index: int, frame: AnalysisFrame) -> None:
        plain = quarters(frame.box_luma().astype(np.float32))
        shape = plain[0].shape
        if self._window is None or self._window.shape != shape:
            self._window = cv2.createHanningWindow((shape[1], shape[0]), cv2.CV_32F)
            self._previous = None
        tiles = [cv2.multiply(tile, self._window) for tile in plain]  # see the note on OpenCV above
        if self._previous is None:
            self.shifts.append(np.full((4, 2), np.nan))
            self.responses.append(np.zeros(4))
        else:
            found = [cv2.phaseCorrelate(a, b) for a, b in zip(self._previous, tiles)]
            short = 2 * min(shape)
            shifts = np.array([shift for shift, _ in found])
            responses = np.array([response for _, response in found])
            if not consensus(shifts[None] / short, responses[None], self.agreement, self.min_response)[1][0]:
                shifts = overrule_frozen_tiles(shifts, self._previous_plain, plain, self.agreement * short)
            self.shifts.append(shifts / short)
            self.responses.append(responses)
        self._previous, self._previous_plain = tiles, plain

    @classmethod
    def build(cls, cfg: PipelineConfig, stream: StreamFacts) -> "ShakeAnalyzer | None":
        return cls(cfg.filters.shake, stream.fps) if cfg.filters.shake.enabled else None

    def finish(self, num_frames: int) -> None:
        self._previous = None

    def clip_columns(self, start: int, end: int) -> dict[str, float]:
        return {"shake_score": round(self.clip_score(start, end), 5)}

    def clip_score(self, start: int, end: int) -> float:
        """Shake within [start, end): the step into `start` crosses a cut, so it is left out."""
        if end - start < 2:
            return 0.0
        shifts = np.asarray(self.shifts[start + 1 : end], dtype=np.float64)
        responses = np.asarray(self.responses[start + 1 : end], dtype=np.float64)
        steps, reliable = consensus(np.nan_to_num(shifts), responses, self.agreement, self.min_response)
        reliable &= np.isfinite(shifts).all(axis=(1, 2))
        return shake_score(steps, self.fps, self.settings, reliable, step_confidence(responses, reliable))
