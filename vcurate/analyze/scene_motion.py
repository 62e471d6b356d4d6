"""Scene motion: what moves in the picture once the camera's own motion is taken away.

Peers filter on raw optical-flow magnitude, which a pan or a zoom over a still picture scores high.
Here two small frames are aligned: the camera's motion between them is fitted as a similarity
transform (translation, zoom, roll) by an inverse-compositional Lucas-Kanade fit on the luma, with
the picture's gain and offset (flicker, fades), each pixel weighed by its inverse squared gradient so
that a small high-contrast subject does not outweigh a faint background. What the camera does not explain is the scene's own
motion. A pixel moves when, in luma or in either chroma plane (a subject of the background's
brightness still differs in colour), what is left exceeds all of
- `floor` grey levels,
- `noise_factor` times that plane's robust noise level in the pair (1.4826 x its median absolute
  residual: compression and sensor noise, resampling), capped at `cap` levels so that a picture
  moving everywhere (water, a crowd) is not taken for noise,
- plus `edge_tolerance` pixels of misregistration: that many times the plane's gradient there
  (sharp edges are resampled a little differently in every frame of a zoom),
and it lies in a 2 x 2 patch of such pixels. Only the picture counts: what a pan brings in at the
border, and letterbox or pillarbox bars (which stay put while the camera moves the picture between
them), are left out. A pair's score is the percentage of that picture that moves.

Pairs come in two lengths (SceneMotionAnalyzer): quarter-second steps, which show when a picture
holds still, and one-second spans, over which slow motion (a globe turning, a face talking) adds up
past the noise and misregistration allowances. A frozen frame, a pan or zoom over a still score 0;
a slideshow's switches are jumps, not motion; a static camera over people walking scores the share
of the picture they cover. `camera_motion` is the median speed of the fitted steps: the RMS
displacement of the picture's pixels, in percent of the short side per second.

By design a camera turning over a scene in which nothing moves (a city at night, too far for its
parallax to show at this size) is static too, and one graphic sliding over a flat ground is taken
for the camera: nothing else in view tells them apart.

Cheap by design: planes box-filtered to about `short_side` pixels (OpenCV's whole-factor area filter
reading every few rows) and smoothed; four frames a second.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from vcurate.analyze.registry import ClipAnalyzer, Column, StreamFacts, register_analyzer
from vcurate.config import PipelineConfig
from vcurate.media.frames import AnalysisFrame


def box_factor(short: int, target: int) -> int:
    """The whole factor that brings a short side near `target`; from 8 on a multiple of 4, so the
    chroma planes' box filter can skip rows (vcurate.media.frames.prefiltered_luma)."""
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
    box = frame.box_luma().astype(np.float32)  # the shake analyzer's view, already box-filtered
    h, w = min(box.shape[0], luma.shape[0] // factor), min(box.shape[1], luma.shape[1] // factor)
    y = box if box.shape == (h, w) else cv2.resize(box, (w, h), interpolation=cv2.INTER_AREA)
    planes = np.full((*y.shape, 3), 128, np.float32)
    planes[..., 0] = y
    if frame.planar:
        for plane in (1, 2):
            # Two rows a box: half the reading, and chroma, half-resolution and smooth, barely aliases.
            planes[..., plane] = frame.box_chroma(plane, factor, y.shape, rows_per_box=2)
    return cv2.GaussianBlur(planes, (0, 0), smoothing) if smoothing else planes


def gradients(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d/dx and d/dy of each plane, grey levels per pixel (Sobel)."""
    return (cv2.Sobel(planes, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8),
            cv2.Sobel(planes, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8))


class _Grid:
    """What every template of one frame size shares: its inner pixels (homogeneous, and centred in
    half short sides, where zoom and roll keep the fit well conditioned)."""

    def __init__(self, shape: tuple[int, int], margin: int):
        h, w = shape
        self.inner = (slice(margin, h - margin), slice(margin, w - margin))
        self.scale = min(h, w) / 2
        ys, xs = np.mgrid[margin : h - margin, margin : w - margin].astype(np.float32)
        self.pixels = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size, np.float32)]).astype(np.float64)
        self.centred = ((xs.ravel() - (w - 1) / 2) / self.scale, (ys.ravel() - (h - 1) / 2) / self.scale)


@functools.cache
def _grid(shape: tuple[int, int], margin: int) -> _Grid:
    return _Grid(shape, margin)


@functools.lru_cache(maxsize=64)
def _kept_pixels(shape: tuple[int, int], margin: int, box: tuple[float, float, float, float]):
    """The inner pixels inside `box` (a mask, or None for all of them), their homogeneous positions,
    the corners of their extent and their centred, scaled coordinates: the same for every frame of a
    video whose bars stay put."""
    grid = _grid(shape, margin)
    kept = _inside(grid.pixels[0], grid.pixels[1], box)
    kept = None if kept.all() else kept
    pixels = grid.pixels if kept is None else grid.pixels[:, kept]
    (left, top), (right, bottom) = pixels[:2].min(axis=1), pixels[:2].max(axis=1)
    corners = ((left, top), (right, top), (right, bottom), (left, bottom))
    x, y = (c if kept is None else c[kept] for c in grid.centred)
    return kept, pixels, tuple((float(a), float(b)) for a, b in corners), x, y


class AlignmentTemplate:
    """A luma prepared as the reference of the fit: its steepest-descent images for the similarity
    warp (zoom, roll, shift x, shift y) and for gain and offset, and their least-squares solver, over
    the inner pixels inside `box` (`kept`; a bar's static edges would hold the fit still). `gx`, `gy`:
    the luma's gradients."""

    def __init__(self, luma: np.ndarray, gx: np.ndarray, gy: np.ndarray, margin: int,
                 box: tuple[float, float, float, float]):
        self.image = luma
        grid = _grid(luma.shape, margin)
        self.inner, self.scale, self.margin = grid.inner, grid.scale, margin
        self.centre = ((luma.shape[1] - 1) / 2, (luma.shape[0] - 1) / 2)
        self.inner_shape = (luma.shape[0] - 2 * margin, luma.shape[1] - 2 * margin)
        # None: every inner pixel (no copy)
        self.kept, self.pixels, self.corners, x, y = _kept_pixels(luma.shape, margin, box)
        gx, gy = self.keep(gx[self.inner]), self.keep(gy[self.inner])
        self.values = self.keep(luma[self.inner])
        # (6, n), one row per parameter: contiguous rows make the products below 2-3x faster than columns.
        basis = np.stack([gx * x + gy * y, gy * x - gx * y, gx, gy, self.values, np.ones_like(x)])
        # Each pixel weighs 1 / (its squared gradient + a floor's): a high-contrast subject's edges
        # would otherwise outweigh a faint background and pull the fit along with the subject.
        self.weighted = basis / (gx * gx + gy * gy + _GRADIENT_FLOOR**2)
        normal = (basis @ self.weighted.T).astype(np.float64)
        invertible, self.normal_inverse = cv2.invert(normal, flags=cv2.DECOMP_LU)  # 6 x 6: OpenCV's is 10x NumPy's
        if not invertible:  # a flat picture: no gradient to fit by
            self.normal_inverse = np.linalg.pinv(normal)

    def solve(self, error: np.ndarray) -> np.ndarray:
        """The weighted least-squares update (zoom, roll, shift x, shift y, gain, offset) that explains `error`."""
        return self.normal_inverse @ (self.weighted @ error)

    def pixel_affine(self, warp: np.ndarray) -> tuple[float, float, float, float, float, float]:
        """A centred warp in pixel coordinates, (a, b, c, d, e, f): x' = a x + b y + c, y' = d x + e y + f
        (plain floats: NumPy's per-call overhead outweighs 3 x 3 products)."""
        (a, b, tx), (d, e, ty) = warp[:2].tolist()
        cx, cy = self.centre
        return a, b, tx + cx - a * cx - b * cy, d, e, ty + cy - d * cx - e * cy

    def sample(self, image: np.ndarray, warp: np.ndarray) -> np.ndarray:
        """`image` (h, w) or (h, w, c) where `warp` takes the template's kept pixels, as (n,) or (n, c)."""
        # Warped straight onto the inner pixels: the output grid starts `margin` pixels in.
        a, b, c, d, e, f = self.pixel_affine(warp)
        m = self.margin
        matrix = np.array([[a, b, c + (a + b) * m], [d, e, f + (d + e) * m]], np.float32)
        out = cv2.warpAffine(image, matrix, self.inner_shape[::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REPLICATE)
        return self.keep(out)

    def keep(self, inner: np.ndarray) -> np.ndarray:
        """The kept pixels of an (h, w) or (h, w, c) array over the inner pixels, as (n,) or (n, c)."""
        flat = inner.reshape(-1, *inner.shape[2:])
        return flat if self.kept is None else flat[self.kept]

    def inside(self, warp: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
        """Which kept pixels `warp` takes inside `box`; None for all of them (the usual case, told
        from the corners alone: a similarity transform keeps a rectangle convex)."""
        a, b, c, d, e, f = self.pixel_affine(warp)
        top, bottom, left, right = box
        if all(left <= a * x + b * y + c <= right and top <= d * x + e * y + f <= bottom for x, y in self.corners):
            return None
        return _inside(*self.positions(warp), box)

    def positions(self, warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where `warp` takes the kept pixels, (x, y) in pixels: what a pan or zoom brings in at the
        border is no motion."""
        a, b, c, d, e, f = self.pixel_affine(warp)
        x, y = np.array([[a, b, c], [d, e, f]]) @ self.pixels
        return x, y


def starting_points(template: AlignmentTemplate, luma: np.ndarray, guess: np.ndarray | None) -> list[np.ndarray]:
    """Where a fit with nothing better to go by starts: no motion, phase correlation's shift and
    `guess` (e.g. the previous pair's motion). On a periodic texture or beside a large moving subject
    phase correlation alone can lock onto a wrong peak. Points within `_SAME_START` pixels of one
    kept before are left out: a still camera's three would be one fit tried three times."""
    window = _hanning(luma.shape)
    (dx, dy), _ = cv2.phaseCorrelate(cv2.multiply(template.image, window), cv2.multiply(luma, window))
    starts = [_IDENTITY, np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])]
    distinct: list[np.ndarray] = []
    for start in starts if guess is None else [*starts, guess]:
        if all(camera_speed(start @ _similarity_inverse(kept), luma.shape) * min(luma.shape) > _SAME_START
               for kept in distinct):
            distinct.append(start)
    return distinct


_IDENTITY = np.eye(3)
_IDENTITY.setflags(write=False)
_SAME_START = 0.05  # pixels (RMS over the frame) between two starting points that lead to the same fit


def fit_camera(template: AlignmentTemplate, luma: np.ndarray, box: tuple[float, float, float, float],
               starts: list[np.ndarray], iterations: int = 4) -> np.ndarray:
    """The similarity transform (3 x 3, centred pixel coordinates) taking the template's pixels to
    where they are in `luma`, judged on the pixels it takes inside `luma`'s picture `box` (what
    leaves the view, or goes behind a bar, has no counterpart). The fit starts from whichever of
    `starts` fits best."""
    def misfit(warp: np.ndarray) -> tuple[np.ndarray, float]:
        """The error at each pixel (0 where it has no counterpart) and the mean absolute error over
        those that have one; none where most have none."""
        error = template.sample(luma, warp) - template.values
        inside = template.inside(warp, box)
        if inside is None:
            return error, float(np.abs(error).mean())
        error[~inside] = 0.0
        count = int(inside.sum())
        return error, float(np.abs(error).sum()) / count if count >= len(error) / 4 else np.inf

    trials = [misfit(start) for start in starts]
    best = int(np.argmin([cost for _, cost in trials]))
    warp, (error, cost) = starts[best], trials[best]
    for _ in range(iterations):
        zoom, roll, sx, sy, _, _ = template.solve(error)
        zoom, roll = zoom / template.scale, roll / template.scale
        if abs(sx) + abs(sy) < 0.02 and abs(zoom) + abs(roll) < 1e-4:
            break  # converged: what is left to move is below what the fit can tell
        # Least squares lets a moving subject drag the fit along a direction the picture barely
        # constrains (along stripes, say): a step must lower the mean absolute error, else half of
        # it is tried (where it moves the picture a pixel or more: a smaller step that fails is the
        # noise floor), else the fit stops.
        large = abs(sx) + abs(sy) + (abs(zoom) + abs(roll)) * template.scale >= 1.0
        for share in (1.0, 0.5) if large else (1.0,):
            step = np.array([[1 + share * zoom, -share * roll, share * sx], [share * roll, 1 + share * zoom, share * sy],
                             [0.0, 0.0, 1.0]])
            trial = warp @ _similarity_inverse(step)
            trial_error, trial_cost = misfit(trial)
            if trial_cost < cost:
                break
        else:
            break
        warp, error, cost = trial, trial_error, trial_cost
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
    """One sampled frame at working size: its planes, their gradients and the box of its picture
    inside any bars; the steepest-descent images of its luma let it be the earlier frame of a pair."""

    def __init__(self, index: int, planes: np.ndarray, margin: int):
        self.index, self.planes = index, planes
        self.luma = np.ascontiguousarray(planes[..., 0])
        self.box = content_box(self.luma)
        gx, gy = gradients(planes)
        self.template = AlignmentTemplate(self.luma, gx[..., 0], gy[..., 0], margin, self.box)
        self.gradient = np.abs(gx) + np.abs(gy)


def content_box(luma: np.ndarray) -> tuple[float, float, float, float]:
    """(top, bottom, left, right), in pixels, of the picture inside letterbox or pillarbox bars: flat
    border rows and columns left out, and `_BAR_EDGE` more pixels beside a bar (the smoothing spreads
    its edge). Bars stay put while a camera moves the picture between them, so their edges would read
    as motion. The whole frame where no row or column is busy (a flat frame).

    A bar ends in a straight edge: the picture fills the line `_BAR_EDGE` pixels in from it. A flat
    surround that a round or ragged subject only touches (a globe in black space) is no bar but part
    of the scene, and what moves against it counts."""

    def extent(lines: np.ndarray) -> tuple[float, float]:
        """The first and last line of the picture among `lines` (n, length) across the frame."""
        n = len(lines)
        # Scanned in from each end (a frame without bars stops at its first line, 20x cheaper than np.ptp).
        first = next((i for i in range(n) if _busy(lines[i])), None)
        if first is None:
            return 0.0, n - 1.0
        last = next(i for i in range(n - 1, first - 1, -1) if _busy(lines[i]))
        first = first + _BAR_EDGE if first > 0 and _bar_beside(lines[:first], lines[min(first + _BAR_EDGE, n - 1)]) else 0
        last = last - _BAR_EDGE if last < n - 1 and _bar_beside(lines[last + 1 :], lines[max(last - _BAR_EDGE, 0)]) else n - 1
        return (float(first), float(last)) if last > first else (0.0, n - 1.0)

    top, bottom = extent(luma)
    left, right = extent(luma[int(top) : int(bottom) + 1].T)
    return top, bottom, left, right


def _busy(line: np.ndarray) -> bool:
    return float(line.max()) - float(line.min()) > _FLAT_LEVELS


def _bar_beside(bar: np.ndarray, line: np.ndarray) -> bool:
    """Whether `line` inside the flat lines `bar` is picture along most of its length (`_BAR_FILL`):
    more than `_BAR_CONTRAST` grey levels off the bar's own level."""
    return float(np.mean(np.abs(line - np.median(bar)) > _BAR_CONTRAST)) >= _BAR_FILL


_GRADIENT_FLOOR = 4.0  # grey levels per pixel, added in quadrature to each gradient in the fit's weights (about the noise)
_FLAT_LEVELS = 3.0  # grey levels: a border row or column whose luma spans no more is a bar
_BAR_CONTRAST = 8.0  # grey levels between a bar and the picture beside it
_BAR_FILL = 0.75  # share of the line beside a bar that the picture fills
_BAR_EDGE = 4  # pixels: the box filter and the smoothing blend a bar into the picture this far


@dataclass
class Change:
    """What the camera's motion and the picture's gain and offset leave of the change between two
    frames, over the earlier frame's inner pixels that stay in view: `residual` and the larger of the
    two frames' `gradient` there, (n, 3) each, and where those pixels lie (`seen`, a mask over
    the inner pixels, `shape`; None for all of them)."""

    residual: np.ndarray
    gradient: np.ndarray
    seen: np.ndarray | None
    shape: tuple[int, int]


def scene_change(earlier: Picture, later: Picture, warp: np.ndarray) -> Change:
    """The change from `earlier` to `later` that neither the camera's `warp` nor the luma's gain and
    offset (each chroma plane's offset) explain, where both frames show their picture (in view, and
    off any bars)."""
    template = earlier.template
    seen = template.inside(warp, later.box)
    after = template.sample(later.planes, warp)
    gradient = np.maximum(template.keep(earlier.gradient[template.inner]), template.sample(later.gradient, warp))
    before = template.keep(earlier.planes[template.inner])
    if seen is not None:
        after, gradient, before = after[seen], gradient[seen], before[seen]
    residual = after - before
    if len(residual):
        luma_before, luma_after = before[:, 0].copy(), after[:, 0].copy()  # contiguous: 10x faster products
        residual[:, 0] = luma_after - _gain_offset_fit(luma_before, luma_after)
        residual[:, 1:] -= _median(residual[::_MEDIAN_STRIDE, 1:])
    if template.kept is None and seen is None:
        return Change(residual, gradient, None, template.inner_shape)
    where = np.zeros(template.inner_shape, bool)
    flat = where.reshape(-1)
    if template.kept is None:
        flat[seen] = True
    else:
        flat[np.flatnonzero(template.kept) if seen is None else np.flatnonzero(template.kept)[seen]] = True
    return Change(residual, gradient, where, template.inner_shape)


def _inside(x: np.ndarray, y: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    top, bottom, left, right = box
    return (x >= left) & (x <= right) & (y >= top) & (y <= bottom)


def _gain_offset_fit(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """`after`'s least-squares fit by gain x `before` + offset (flicker, fades), in closed form."""
    mean_before, mean_after = before.mean(), after.mean()
    centred = before - mean_before
    spread = float(centred @ centred)
    gain = float(centred @ (after - mean_after)) / spread if spread > 1e-6 else 1.0
    return mean_after + gain * centred


def moving_share(change: Change, floor: float, noise_factor: float, cap: float, edge_tolerance: float) -> float:
    """Percent of the pixels in view that move in any plane: residual above max(`floor`,
    `noise_factor` x the plane's robust noise level, at most `cap`) plus `edge_tolerance` x the
    gradient, in a patch of 2 x 2 such pixels at least. A lone pixel over the threshold is what
    resampling leaves at the sharpest edges of a picture zoomed or panned over a second; anything
    that really moves covers patches."""
    if not len(change.residual):
        return 0.0
    magnitude = np.abs(change.residual)
    noise = 1.4826 * _median(magnitude[::_MEDIAN_STRIDE])
    threshold = np.maximum(floor, np.minimum(noise_factor * noise, cap)) + edge_tolerance * change.gradient
    moving = functools.reduce(np.logical_or, (magnitude > threshold).T)  # any plane (10x .any(axis=1))
    if change.seen is None:
        mask = moving.reshape(change.shape).view(np.uint8)
    else:
        mask = np.zeros(change.shape, np.uint8)
        mask[change.seen] = moving
    patches = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _PATCH)
    return 100.0 * float(patches.sum()) / len(change.residual)


_PATCH = np.ones((2, 2), np.uint8)
_MEDIAN_STRIDE = 3  # robust levels (noise, chroma offset) from every 3rd pixel: as good, a third of the sorting


def _median(values: np.ndarray) -> np.ndarray:
    """The (upper) median of each column, partitioned as contiguous rows (half the time)."""
    middle = len(values) // 2
    return np.partition(np.ascontiguousarray(values.T), middle, axis=1)[:, middle]


def camera_speed(warp: np.ndarray, shape: tuple[int, ...]) -> float:
    """RMS displacement of a frame's pixels under a centred similarity transform, in fractions of
    the short side."""
    h, w = shape[:2]
    (a, b, tx), (c, d, ty) = warp[:2].tolist()  # plain floats: a 3 x 3 is too small for NumPy's overhead
    # The mean over the frame of |L p + t|^2 for centred p, L = the linear part less the identity:
    # |t|^2 plus each column of L times the spread of x or y.
    spread = ((a - 1) ** 2 + c**2) * (w**2 - 1) / 12 + (b**2 + (d - 1) ** 2) * (h**2 - 1) / 12
    return math.sqrt(tx * tx + ty * ty + spread) / min(h, w)


@dataclass
class Pair:
    """Two sampled frames: the share of the picture that moved between them (percent), the camera's
    speed (percent of the short side per second) and whether enough of the picture stayed in view to
    say."""

    first: int
    last: int
    moving: float
    speed: float
    judged: bool


@register_analyzer
class SceneMotionAnalyzer(ClipAnalyzer):
    """A chain of small frames `step_seconds` apart, each aligned to the one before (a step) and,
    every `span_every` steps, to the one `span_steps` steps before (a span, about a second).

    A span sees what a step cannot: motion too slow to pass the noise and misregistration allowance
    in a fifth of a second (a globe turning, a face talking, parallax under a slow camera) adds up
    over a second. But a slideshow also changes over a second; it changes in jumps. So a span whose
    change one of its steps already holds (`jump_share` of it or more) is a jump, and counts as the
    lower quartile of its steps: a slideshow holding each picture half a second or more is still in
    at least half of them, while steady motion moves in most. A span the camera carried mostly out
    of view counts the same way.
    The clip's `motion_score` is the median over its spans (over its steps where it is too short to
    hold one)."""

    short_side = 45  # pixels of the working planes' short side
    smoothing = 1.0  # Gaussian sigma, working pixels (see working_planes)
    step_seconds = 0.25
    span_steps = 4  # a span is about a second
    span_every = 4  # a span starts every second
    jump_share = 0.5  # a span whose largest step moved at least this share of its own motion is a jump
    min_in_view = 0.25  # share of the picture that must stay in view for a pair to count
    margin = 2  # pixels left out at each border (the gradients have no neighbours there)
    floor = 4.0  # grey levels: smaller changes are noise whatever the picture
    noise_factor = 5.0
    cap = 24.0  # grey levels: the noise-relative threshold never rises above this
    edge_tolerance = 0.25  # pixels of misregistration forgiven (times the gradient)

    columns = {
        "motion_score": Column(float, "scene motion once the camera's is undone: median over the clip, one a "
                                      "second, of the share of the picture (percent) whose luma or colour "
                                      "changed over about a second after a similarity alignment and gain/offset "
                                      "match, in patches of 2 x 2 pixels of a 45-pixel-high picture; a change "
                                      "made in a jump (a slideshow's switch) counts as the lower quartile of its "
                                      "quarter seconds' (filters.static)"),
        "camera_motion": Column(float, "camera motion: median speed of the fitted similarity transform (translation, "
                                       "zoom, roll) as the RMS displacement of the picture's pixels, percent of the short "
                                       "side per second"),
    }

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.step = max(1, round(fps * self.step_seconds))
        self.chain: list[Picture] = []  # the last span_steps + 1 sampled frames
        self.warps: list[np.ndarray] = []  # the camera motion of each step of the chain
        self.steps: list[Pair] = []
        self.spans: list[tuple[Pair, float]] = []  # (span, its scene motion)

    @classmethod
    def build(cls, cfg: PipelineConfig, stream: StreamFacts) -> "SceneMotionAnalyzer | None":
        return cls(stream.fps) if cfg.filters.static.enabled else None

    def process(self, index: int, frame: AnalysisFrame) -> None:
        if index % self.step:
            return
        picture = Picture(index, working_planes(frame, self.short_side, self.smoothing), self.margin)
        if self.chain:  # every frame comes in order, so the chain's last picture is one step back
            previous = self.warps[-1] if self.warps else None
            step, warp = self._pair(self.chain[-1], picture, starting_points(self.chain[-1].template, picture.luma, previous))
            self.steps.append(step)
            self.warps.append(warp)
        self.chain = (self.chain + [picture])[-(self.span_steps + 1):]
        self.warps = self.warps[-self.span_steps:]
        if len(self.warps) == self.span_steps and (index // self.step) % self.span_every == 0:
            # The product of the span's fitted steps is close already: the span's fit starts there alone.
            guess = functools.reduce(lambda total, warp: warp @ total, self.warps)
            span, _ = self._pair(self.chain[0], picture, [guess])
            self.spans.append((span, self.span_motion(span, self.steps[-self.span_steps:])))

    def _pair(self, earlier: Picture, later: Picture, starts: list[np.ndarray]) -> tuple[Pair, np.ndarray]:
        warp = fit_camera(earlier.template, later.luma, later.box, starts)
        change = scene_change(earlier, later, warp)
        judged = len(change.residual) >= self.min_in_view * len(earlier.template.values)
        moving = moving_share(change, self.floor, self.noise_factor, self.cap, self.edge_tolerance)
        seconds = (later.index - earlier.index) / self.fps
        speed = camera_speed(warp, later.luma.shape) * 100 / seconds
        return Pair(earlier.index, later.index, moving, speed, judged), warp

    def span_motion(self, span: Pair, steps: list[Pair]) -> float:
        """A span's scene motion: its own, unless one step holds most of it (a jump) or the camera
        took the picture out of view; then the lower quartile of its steps'."""
        if not span.judged or max(step.moving for step in steps) >= self.jump_share * span.moving:
            return float(np.percentile([step.moving for step in steps], 25))
        return span.moving

    def finish(self, num_frames: int) -> None:
        self.chain, self.warps = [], []

    def clip_columns(self, start: int, end: int) -> dict[str, float | None]:
        def inside(pair: Pair) -> bool:
            return start <= pair.first and pair.last < end

        steps = [step for step in self.steps if inside(step)]
        if not steps:
            return {"motion_score": None, "camera_motion": None}
        spans = [motion for span, motion in self.spans if inside(span)]
        moving = np.median(spans) if spans else np.median([step.moving for step in steps if step.judged] or [0.0])
        speed = np.median([step.speed for step in steps])
        return {"motion_score": round(float(moving), 4), "camera_motion": round(float(speed), 4)}
