"""Scene motion: what moves in the picture once the camera's own motion is taken away.

Peers filter on raw optical-flow magnitude, which a pan or a zoom over a still picture scores high.
Here two small frames about `SceneMotionAnalyzer.seconds_apart` apart are aligned: the camera's
motion between them is fitted as a similarity transform (translation, zoom, roll) by an
inverse-compositional Lucas-Kanade fit on the luma, with the picture's gain and offset (flicker,
fades). What the camera does not explain is the scene's own motion. A pixel moves when, in luma or
in either chroma plane (a subject of the background's brightness still differs in colour), what is
left exceeds all of
- `floor` grey levels,
- `noise_factor` times that plane's robust noise level in the pair (1.4826 x its median absolute
  residual: compression and sensor noise, resampling), capped at `cap` levels so that a picture
  moving everywhere (water, a crowd) is not taken for noise,
- plus `edge_tolerance` pixels of misregistration: that many times the plane's gradient there
  (sharp edges are resampled a little differently in every frame of a zoom).
The pair's score is the percentage of the picture in view in both frames that moves, and the
clip's `motion_score` is the median over its pairs: a frozen frame scores 0, a slideshow too (its
switches are single pairs), a pan or zoom over a still picture about 0, and a static camera over
people walking the share of the picture they cover. `camera_motion` is the median speed of the
fitted transform: the RMS displacement of the picture's pixels, in percent of the short side per
second.

By design a camera turning over a scene in which nothing moves (a city at night) is static too, and
one graphic sliding over a flat ground is taken for the camera: nothing else in view tells them apart.

Cheap by design: planes box-filtered to about `short_side` pixels (OpenCV's whole-factor area
filter reading every few rows) and smoothed, one pair of frames every half second.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from vcurate.analyze.motion import prefiltered_luma
from vcurate.analyze.registry import ClipAnalyzer, Column, StreamFacts, register_analyzer
from vcurate.config import PipelineConfig
from vcurate.media.frames import AnalysisFrame, plane_array


def box_factor(short: int, target: int) -> int:
    """The whole factor that brings a short side near `target`; from 8 on a multiple of 4, so the
    box filter can read every 4th row of its boxes (vcurate.analyze.motion.prefiltered_luma)."""
    factor = max(1, round(short / target))
    return 4 * round(factor / 4) if factor >= 8 else factor


def working_planes(frame: AnalysisFrame, target: int, smoothing: float) -> np.ndarray:
    """Y, U and V of a frame box-filtered to about `target` pixels on the short side, then smoothed
    (Gaussian, `smoothing` pixels), (h, w, 3) float32; chroma is 128 (no colour) where the decoded
    format carries none as planes. A box filter lets fine texture (foliage, stripes, grain) alias
    into a moire that shifts differently from the picture under a sub-pixel pan: without the
    smoothing, a pan over a still stroke pattern or a compressed photo reads as motion."""
    luma = frame.luma_full()
    factor = box_factor(min(luma.shape), target)
    y = prefiltered_luma(luma, factor)
    planes = np.full((*y.shape, 3), 128, np.float32)
    planes[..., 0] = y
    if frame.planar:
        for k, plane in ((1, 1), (2, 2)):
            chroma = plane_array(frame.frame.planes[plane])
            small = prefiltered_luma(chroma, max(1, round(factor * chroma.shape[1] / luma.shape[1])))
            if small.shape != y.shape:
                small = cv2.resize(small, (y.shape[1], y.shape[0]), interpolation=cv2.INTER_AREA)
            planes[..., k] = small
    return cv2.GaussianBlur(planes, (0, 0), smoothing) if smoothing else planes


def gradient_magnitude(planes: np.ndarray) -> np.ndarray:
    """|d/dx| + |d/dy| of each plane, grey levels per pixel (Sobel)."""
    gx = cv2.Sobel(planes, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
    gy = cv2.Sobel(planes, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    return np.abs(gx) + np.abs(gy)


class _Grid:
    """What every template of one frame size shares: its inner pixels (homogeneous, and centred in
    half short sides, where zoom and roll keep the fit well conditioned) and the centring matrices."""

    def __init__(self, shape: tuple[int, int], margin: int):
        h, w = shape
        self.inner = (slice(margin, h - margin), slice(margin, w - margin))
        self.scale = min(h, w) / 2
        ys, xs = np.mgrid[margin : h - margin, margin : w - margin].astype(np.float32)
        self.pixels = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size, np.float32)]).astype(np.float64)
        self.centred = ((xs.ravel() - (w - 1) / 2) / self.scale, (ys.ravel() - (h - 1) / 2) / self.scale)
        self.to_pixels = np.array([[1, 0, (w - 1) / 2], [0, 1, (h - 1) / 2], [0, 0, 1]])
        self.from_pixels = np.array([[1, 0, -(w - 1) / 2], [0, 1, -(h - 1) / 2], [0, 0, 1]])


@functools.cache
def _grid(shape: tuple[int, int], margin: int) -> _Grid:
    return _Grid(shape, margin)


class AlignmentTemplate:
    """A luma prepared as the reference of the fit: its steepest-descent images for the similarity
    warp (zoom, roll, shift x, shift y) and for gain and offset, and their least-squares solver."""

    def __init__(self, luma: np.ndarray, margin: int):
        self.image = luma
        grid = _grid(luma.shape, margin)
        self.inner, self.scale, self.pixels = grid.inner, grid.scale, grid.pixels
        self.to_pixels, self.from_pixels = grid.to_pixels, grid.from_pixels
        gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)[self.inner].ravel()
        gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)[self.inner].ravel()
        x, y = grid.centred
        self.values = luma[self.inner].ravel()
        self.basis = np.stack([gx * x + gy * y, gy * x - gx * y, gx, gy, self.values, np.ones_like(x)], axis=1)
        self.solver = np.linalg.pinv(self.basis.T @ self.basis) @ self.basis.T

    def pixel_matrix(self, warp: np.ndarray) -> np.ndarray:
        """A centred warp as the 2 x 3 pixel matrix OpenCV takes."""
        return (self.to_pixels @ warp @ self.from_pixels)[:2].astype(np.float32)

    def sample(self, image: np.ndarray, warp: np.ndarray) -> np.ndarray:
        """`image` (h, w) or (h, w, c) where `warp` takes the template's inner pixels, as (n,) or (n, c)."""
        h, w = image.shape[:2]
        out = cv2.warpAffine(image, self.pixel_matrix(warp), (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REPLICATE)[self.inner]
        return out.reshape(-1, *image.shape[2:])

    def in_view(self, warp: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Which inner pixels `warp` takes inside a frame of `shape`: what a pan or zoom brings in at
        the border is no motion."""
        x, y = self.pixel_matrix(warp).astype(np.float64) @ self.pixels
        return (x >= 0) & (x <= shape[1] - 1) & (y >= 0) & (y <= shape[0] - 1)


def fit_camera(template: AlignmentTemplate, luma: np.ndarray, guess: np.ndarray | None = None,
               iterations: int = 4) -> np.ndarray:
    """The similarity transform (3 x 3, centred pixel coordinates) taking the template's pixels to
    where they are in `luma`. The fit starts from whichever of no motion, `guess` (the previous
    pair's motion) and phase correlation's shift fits best: on a periodic texture or beside a large
    moving subject phase correlation alone can lock onto a wrong peak."""
    window = _hanning(luma.shape)
    (dx, dy), _ = cv2.phaseCorrelate(cv2.multiply(template.image, window), cv2.multiply(luma, window))
    starts = [np.eye(3), np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])]
    if guess is not None:
        starts.append(guess)
    errors = [template.sample(luma, start) - template.values for start in starts]
    costs = [float(np.abs(error).mean()) for error in errors]
    best = int(np.argmin(costs))
    warp, error, cost = starts[best], errors[best], costs[best]
    for _ in range(iterations):
        zoom, roll, sx, sy, _, _ = template.solver @ error
        zoom, roll = zoom / template.scale, roll / template.scale
        # Least squares lets a moving subject drag the fit along a direction the picture barely
        # constrains (along stripes, say): a step must lower the mean absolute error, else half of
        # it is tried, else the fit stops.
        for share in (1.0, 0.5):
            step = np.array([[1 + share * zoom, -share * roll, share * sx], [share * roll, 1 + share * zoom, share * sy],
                             [0.0, 0.0, 1.0]])
            trial = warp @ _similarity_inverse(step)
            trial_error = template.sample(luma, trial) - template.values
            trial_cost = float(np.abs(trial_error).mean())
            if trial_cost < cost:
                break
        else:
            break
        warp, error, cost = trial, trial_error, trial_cost
        if abs(sx) + abs(sy) < 0.02 and abs(zoom) + abs(roll) < 1e-4:
            break
    return warp


def _similarity_inverse(m: np.ndarray) -> np.ndarray:
    """The inverse of a 3 x 3 similarity matrix [[a, -b, tx], [b, a, ty], [0, 0, 1]], in closed form."""
    a, b, tx, ty = m[0, 0], m[1, 0], m[0, 2], m[1, 2]
    d = a * a + b * b
    return np.array([[a / d, b / d, -(a * tx + b * ty) / d], [-b / d, a / d, (b * tx - a * ty) / d], [0.0, 0.0, 1.0]])


_WINDOWS: dict[tuple[int, int], np.ndarray] = {}


def _hanning(shape: tuple[int, int]) -> np.ndarray:
    if shape not in _WINDOWS:
        _WINDOWS[shape] = cv2.createHanningWindow((shape[1], shape[0]), cv2.CV_32F)
    return _WINDOWS[shape]


class Picture:
    """One sampled frame at working size: its planes and their gradients; the earlier frame of a pair
    also serves as the fit's template (its luma's steepest-descent images)."""

    def __init__(self, index: int, planes: np.ndarray, margin: int, template: bool):
        self.index, self.planes = index, planes
        self.luma = np.ascontiguousarray(planes[..., 0])
        self.template = AlignmentTemplate(self.luma, margin) if template else None
        self.gradient = gradient_magnitude(planes)


def scene_change(earlier: Picture, later: Picture, warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the camera's `warp` and the luma's gain and offset (each chroma plane's offset) leave
    of the change from `earlier` to `later`, and the larger of the two frames' gradients there;
    (n, 3) each, over the pixels in view in both."""
    template = earlier.template
    seen = template.in_view(warp, later.planes.shape)
    after = template.sample(later.planes, warp)[seen]
    gradient = np.maximum(earlier.gradient[template.inner].reshape(-1, 3)[seen],
                          template.sample(later.gradient, warp)[seen])
    before = earlier.planes[template.inner].reshape(-1, 3)[seen]
    residual = after - before
    residual[:, 0] = after[:, 0] - _gain_offset_fit(before[:, 0], after[:, 0])
    residual[:, 1:] -= np.median(residual[:, 1:], axis=0)
    return residual, gradient


def _gain_offset_fit(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """`after`'s least-squares fit by gain x `before` + offset (flicker, fades), in closed form."""
    mean_before, mean_after = before.mean(), after.mean()
    centred = before - mean_before
    spread = float(centred @ centred)
    gain = float(centred @ (after - mean_after)) / spread if spread > 1e-6 else 1.0
    return mean_after + gain * centred


def moving_share(residual: np.ndarray, gradient: np.ndarray, floor: float, noise_factor: float, cap: float,
                 edge_tolerance: float) -> float:
    """Percent of pixels that move in any plane: residual above max(`floor`, `noise_factor` x the
    plane's robust noise level, at most `cap`) plus `edge_tolerance` x the gradient."""
    if not len(residual):
        return 0.0
    magnitude = np.abs(residual)
    noise = 1.4826 * np.median(magnitude, axis=0)
    threshold = np.maximum(floor, np.minimum(noise_factor * noise, cap)) + edge_tolerance * gradient
    return 100.0 * float((magnitude > threshold).any(axis=1).mean())


def camera_speed(warp: np.ndarray, shape: tuple[int, ...]) -> float:
    """RMS displacement of a frame's pixels under a centred similarity transform, in fractions of
    the short side."""
    h, w = shape[:2]
    linear, shift = warp[:2, :2] - np.eye(2), warp[:2, 2]
    # The mean over the frame of |L p + t|^2 for centred p: |t|^2 plus each column of L times the spread of x or y.
    spread = (linear[:, 0] ** 2).sum() * (w**2 - 1) / 12 + (linear[:, 1] ** 2).sum() * (h**2 - 1) / 12
    return float(np.sqrt((shift**2).sum() + spread)) / min(h, w)


@register_analyzer
class SceneMotionAnalyzer(ClipAnalyzer):
    """Per pair of frames `seconds_apart` apart, one pair every `seconds_between_pairs`: the share of
    the picture that moved once the camera's similarity motion and the picture's gain and offset are
    undone, and the camera's speed."""

    short_side = 45  # pixels of the working planes' short side
    smoothing = 1.0  # Gaussian sigma, working pixels (see working_planes)
    seconds_between_pairs = 0.5  # a still stays still: two pairs a second tell it from motion as well as ten
    seconds_apart = 0.2  # the two frames of a pair
    margin = 2  # pixels left out at each border (the gradients have no neighbours there)
    floor = 4.0  # grey levels: smaller changes are noise whatever the picture
    noise_factor = 5.0
    cap = 24.0  # grey levels: the noise-relative threshold never rises above this
    edge_tolerance = 0.25  # pixels of misregistration forgiven (times the gradient)

    columns = {
        "motion_score": Column(float, "scene motion once the camera's is undone: median over the clip of the share "
                                      "of the picture (percent) whose luma or colour changed between frames about 0.2 s "
                                      "apart after their similarity alignment and gain/offset match (filters.static)"),
        "camera_motion": Column(float, "camera motion: median speed of the fitted similarity transform (translation, "
                                       "zoom, roll) as the RMS displacement of the picture's pixels, percent of the short "
                                       "side per second"),
    }

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.apart = max(1, round(fps * self.seconds_apart))
        self.period = max(self.apart + 1, round(fps * self.seconds_between_pairs))
        self.pairs: list[tuple[int, int, float, float]] = []  # (earlier frame, later frame, moving %, camera speed)
        self._earlier: Picture | None = None
        self._warp: np.ndarray | None = None  # the last pair's camera motion, where the next fit may start

    @classmethod
    def build(cls, cfg: PipelineConfig, stream: StreamFacts) -> "SceneMotionAnalyzer | None":
        return cls(stream.fps) if cfg.filters.static.enabled else None

    def process(self, index: int, frame: AnalysisFrame) -> None:
        phase = index % self.period
        if phase == 0:
            self._earlier = Picture(index, working_planes(frame, self.short_side, self.smoothing), self.margin, template=True)
        elif phase == self.apart and self._earlier is not None:
            earlier, later = self._earlier, Picture(index, working_planes(frame, self.short_side, self.smoothing), self.margin, template=False)
            self._warp = fit_camera(earlier.template, later.luma, self._warp)
            residual, gradient = scene_change(earlier, later, self._warp)
            moving = moving_share(residual, gradient, self.floor, self.noise_factor, self.cap, self.edge_tolerance)
            speed = camera_speed(self._warp, later.planes.shape) * 100 * self.fps / (index - earlier.index)
            self.pairs.append((earlier.index, index, moving, speed))
            self._earlier = None

    def finish(self, num_frames: int) -> None:
        self._earlier = None

    def clip_columns(self, start: int, end: int) -> dict[str, float | None]:
        inside = [(moving, speed) for first, last, moving, speed in self.pairs if start <= first and last < end]
        if not inside:
            return {"motion_score": None, "camera_motion": None}
        moving, speed = np.median(np.array(inside), axis=0)
        return {"motion_score": round(float(moving), 4), "camera_motion": round(float(speed), 4)}
