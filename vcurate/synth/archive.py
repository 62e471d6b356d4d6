"""A synthetic captioned video archive whose every fault is known.

Real archives carry no labels, so every accuracy figure of the project is measured here. Each video
is a few shots joined by hard cuts; a shot is a textured background (striped, checkered, cloudy or
dotted, in its own palette) seen by a static, panning or shaking camera, with one coloured shape
moving in one direction. Faults are injected per shot with their labels: camera shake, Gaussian
blur, low resolution (whole video small, or content upscaled from a small render), caption
mismatch and burned-in text (subtitles, corner watermarks, tickers: vcurate.synth.text). Shots may
also carry text that is no fault (nuisances): signs on the background of a panning shot, and fine
stroke patterns; both move with the camera. Still pictures (defect `static`): a frozen frame, a
slideshow (the subject jumping between held positions), a pan or a zoom over a still; beside them,
as hard negatives left clean, a zoom over a moving subject and a slow subject. Captions come the ways real archives carry them: sidecar .txt/.json, a captions.csv
manifest, or timed .srt/.vtt cues (one per shot).

The last videos of an archive are near-duplicates and their hard negatives: re-uploads
(reuploads/...) of clean shots of earlier videos, each shot once, cropped, rescaled, brightened and
re-encoded (vcurate.synth.copies), the copy labelled `duplicate` and the original left clean; and
reshoots (reshoots/...): an earlier clean shot's background, palette and subject with the subject
moving another way under a camera of its own (panning where the scene has signs), labelled clean. Both name their original shot
(TruthShot.copy_of / negative_of). Input order puts the originals first.
"""

from __future__ import annotations

import csv
import json
import itertools
from collections import Counter
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vcurate.media.encode import write_mp4
from vcurate.synth.text import OVERLAYS, TextOverlay, paint_scene_text, paint_stroke_pattern, plan_overlay
from vcurate.synth.copies import CopyEdit, add_copy_videos
from vcurate.synth.truth import STILL_KINDS, TruthShot, TruthVideo, draw_kind, write_truth

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 30, 30),
    "green": (30, 185, 50),
    "blue": (35, 70, 230),
    "yellow": (240, 220, 30),
    "purple": (150, 40, 200),
    "orange": (250, 135, 20),
}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS: dict[str, tuple[int, int]] = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
BACKGROUNDS = ("striped", "checkered", "cloudy", "dotted")
CAPTION_SOURCES = ("txt", "json", "manifest", "srt", "vtt")


def caption_for(colour: str, shape: str, direction: str, background: str) -> str:
    return f"a {colour} {shape} moving {direction} over a {background} background"


@dataclass(frozen=True)
class SynthSpec:
    """Knobs of the generator; tests shrink them, the CLI uses the defaults."""

    sizes: tuple[tuple[int, int], ...] = ((640, 360), (640, 360), (480, 360), (854, 480), (360, 640), (960, 540))
    lowres_sizes: tuple[tuple[int, int], ...] = ((256, 144), (192, 108), (224, 168))
    frame_rates: tuple[Fraction, ...] = (Fraction(24), Fraction(25), Fraction(30), Fraction(30000, 1001))
    shots: tuple[int, int] = (2, 5)
    shot_seconds: tuple[float, float] = (1.6, 4.0)
    long_shot_seconds: tuple[float, float] = (11.0, 14.0)
    p_long_shot: float = 0.04
    p_lowres_video: float = 0.1
    p_uncaptioned: float = 0.05
    p_pan: float = 0.25
    p_shake: float = 0.15
    p_blur: float = 0.15
    p_upscaled: float = 0.1
    p_mismatch: float = 0.15
    p_text: float = 0.15  # burned-in subtitle, watermark or ticker (defect "text")
    text_kinds: tuple[float, float, float] = (0.45, 0.35, 0.2)  # shares of OVERLAYS
    p_scene_text: float = 0.5  # of panning shots: signs on the background (no fault)
    p_stroke_pattern: float = 0.12  # fine stripes, dots or grids on the background (no fault)
    p_static: float = 0.2  # of shots with no other fault: a still picture (defect "static")
    static_kinds: tuple[float, float, float, float] = (0.25, 0.2, 0.3, 0.25)  # shares of STILL_KINDS
    p_zoom: float = 0.08  # of the other fault-free shots: the camera zooms over the moving subject (no fault)
    p_slow_subject: float = 0.1  # of the rest: the subject moves a third as fast (no fault)
    crf: int = 18
    duplicate_videos: float = 0.15  # share of the videos that re-upload clean shots of earlier ones
    hard_negative_videos: float = 0.1  # share that reshoot an earlier clean shot's scene with other motion
    copy_crop: float = 0.05  # a copy loses at most this share of its width and of its height
    copy_gain: tuple[float, float] = (0.9, 1.1)  # brightness factor of a copy
    copy_crf: tuple[int, int] = (23, 32)  # x264 CRF of the re-uploads
    # Every colour, shape, direction and background on about as many clean shots (ArchivePlanner.subject).
    # Off, each is drawn on its own, as every seed of the figures in README was made: 60 videos of seed 7
    # gave 68 purple shots of 183 and 18 yellow.
    balanced_subjects: bool = False


@dataclass
class Shot:
    """Everything needed to render one shot and to label it."""

    num_frames: int
    colour: str
    shape: str
    direction: str
    background: str
    palette: tuple[np.ndarray, np.ndarray]
    texture_seed: int
    camera: str = "static"
    pan_velocity: tuple[float, float] = (0.0, 0.0)  # pixels per frame, render scale
    shake_amplitude: float = 0.0  # pixels, render scale
    blur_sigma: float = 0.0  # pixels, output scale
    upscale_factor: float = 1.0  # content rendered this many times smaller, then scaled up
    attached_caption: str | None = None
    defects: list[str] = field(default_factory=list)
    overlay: TextOverlay | None = None
    scene_text: int = 0  # signs painted on the background
    stroke_pattern: bool = False
    nuisances: list[str] = field(default_factory=list)
    hue: float = 0.0  # of the palette
    still: str | None = None  # one of STILL_KINDS: nothing in the scene moves (defect "static")
    zoom: float = 0.0  # zoom range across the shot, positive in, negative out (camera "zoom")
    hold_frames: int = 0  # a slideshow's frames per still
    subject_pace: float = 1.0  # the subject's speed against the usual
    render_state: dict | None = None  # the generator's state when the shot was rendered (to render it again)

    @property
    def caption(self) -> str:
        return caption_for(self.colour, self.shape, self.direction, self.background)


def _palette(rng: np.random.Generator, hue: float) -> tuple[np.ndarray, np.ndarray]:
    """Two muted colours of one hue (dark and light) so the saturated object stands out."""
    sat = rng.uniform(0.25, 0.55)
    dark, light = rng.uniform(0.15, 0.35), rng.uniform(0.6, 0.85)

    def hsv(v: float) -> np.ndarray:
        pixel = np.uint8([[[hue / 2, sat * 255, v * 255]]])
        return cv2.cvtColor(pixel, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)

    return hsv(dark), hsv(light)


def _texture(rng: np.random.Generator, kind: str, height: int, width: int, scale: float) -> np.ndarray:
    """A [0, 1] texture of the given kind; `scale` is the frame's short side at render size."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == "striped":
        angle = rng.uniform(0, np.pi)
        period = scale * rng.uniform(0.12, 0.25)
        wave = np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period)
        base = 0.5 + 0.5 * np.tanh(3 * wave)
    elif kind == "checkered":
        cell = max(2, int(scale * rng.uniform(0.1, 0.18)))
        base = ((x // cell + y // cell) % 2).astype(np.float32)
    elif kind == "cloudy":
        cell = max(2, int(scale * rng.uniform(0.06, 0.12)))
        small = rng.random((height // cell + 2, width // cell + 2)).astype(np.float32)
        base = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        base = np.clip((base - base.min()) / (np.ptp(base) + 1e-6), 0, 1)
    elif kind == "dotted":
        period = scale * rng.uniform(0.1, 0.16)
        base = ((np.sin(2 * np.pi * x / period) * np.sin(2 * np.pi * y / period)) > 0.35).astype(np.float32)
    else:
        raise ValueError(f"unknown background {kind!r}")
    # Fine grain, fixed to the scene like real surface detail, so sharpness is measurable.
    grain = rng.normal(0, rng.uniform(0.05, 0.1), (height, width)).astype(np.float32)
    return np.clip(base * 0.85 + 0.075 + grain, 0, 1)


def _shape_alpha(shape: str, radius: int) -> np.ndarray:
    """Anti-aliased alpha mask of side 2*radius+1."""
    size = 2 * radius + 1
    supersample = 4
    y, x = (np.mgrid[0 : size * supersample, 0 : size * supersample] + 0.5) / supersample - radius - 0.5
    if shape == "circle":
        inside = x**2 + y**2 <= radius**2
    elif shape == "square":
        half = radius * 0.85
        inside = (np.abs(x) <= half) & (np.abs(y) <= half)
    elif shape == "triangle":
        inside = (y <= radius * 0.8) & (y >= -radius + 2 * np.abs(x) * 0.95)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return inside.reshape(size, supersample, size, supersample).mean(axis=(1, 3)).astype(np.float32)


def _shake_path(rng: np.random.Generator, n: int, amplitude: float) -> np.ndarray:
    """Hand-held jitter: white noise plus a few 3-8 Hz-like oscillations, zero mean, shape (n, 2)."""
    t = np.arange(n, dtype=np.float32)
    path = rng.normal(0, amplitude * 0.7, (n, 2))
    for _ in range(2):
        freq = rng.uniform(0.12, 0.3)  # cycles per frame (about 3-8 Hz at 25 fps)
        phase = rng.uniform(0, 2 * np.pi, 2)
        path += amplitude * 0.7 * np.sin(2 * np.pi * freq * t[:, None] + phase)
    return path - path.mean(axis=0)


def render_shot(shot: Shot, width: int, height: int, rng: np.random.Generator):
    """Yield the shot's RGB frames at (width, height)."""
    f = shot.upscale_factor
    rw, rh = max(16, int(width / f)), max(16, int(height / f))
    short = min(rw, rh)
    n = shot.num_frames
    vx, vy = shot.pan_velocity
    pad = int(np.ceil(shot.shake_amplitude * 3.5)) + 2
    reach = 1 + abs(shot.zoom)  # a zoom sees this many times the frame at its widest: rendered wide, never magnified
    ww, wh = int(np.ceil(rw * reach)), int(np.ceil(rh * reach))  # the window cut from the canvas
    travel_x, travel_y = int(np.ceil(abs(vx) * n)), int(np.ceil(abs(vy) * n))
    canvas_h, canvas_w = wh + 2 * pad + travel_y, ww + 2 * pad + travel_x
    tex_rng = np.random.default_rng(shot.texture_seed)
    tex = _texture(tex_rng, shot.background, canvas_h, canvas_w, short)
    c0, c1 = shot.palette
    canvas = np.clip(c0 + tex[..., None] * (c1 - c0), 0, 255).astype(np.uint8)
    paint_rng = text_rng(shot, 1)
    if shot.stroke_pattern:
        paint_stroke_pattern(paint_rng, canvas, short)
    if shot.scene_text:
        paint_scene_text(paint_rng, canvas, short, shot.scene_text)

    t = np.arange(n, dtype=np.float32)
    jitter = _shake_path(rng, n, shot.shake_amplitude) if shot.shake_amplitude > 0 else np.zeros((n, 2))
    jitter = np.clip(np.round(jitter), -pad + 1, pad - 1).astype(int)

    radius = max(3, int(short * rng.uniform(0.09, 0.14)))
    alpha = _shape_alpha(shot.shape, radius)[..., None]
    colour = np.float32(COLOURS[shot.colour])
    dx, dy = DIRECTIONS[shot.direction]
    extent = rw if dx else rh
    speed = shot.subject_pace * min(short * rng.uniform(0.008, 0.014), 0.6 * extent / n)  # stay in view the whole shot
    centre = np.array([ww / 2 + rng.uniform(-0.1, 0.1) * rw, wh / 2 + rng.uniform(-0.1, 0.1) * rh])
    start = centre - np.array([dx, dy]) * speed * n / 2
    if not shot.still and np.hypot(dx * speed + vx, dy * speed + vy) < 0.5 * speed:
        vx, vy = -vx, -vy  # a camera panning with the subject would show it still against the background: pan the other way
    cam_x = np.round(pad + (travel_x if vx < 0 else 0) + vx * t).astype(int)
    cam_y = np.round(pad + (travel_y if vy < 0 else 0) + vy * t).astype(int)
    on_canvas = shot.still in ("pan", "zoom")  # the subject is part of the still picture the camera moves over

    for i in range(n):
        ox, oy = cam_x[i] + jitter[i, 0], cam_y[i] + jitter[i, 1]
        frame = canvas[oy : oy + wh, ox : ox + ww].copy()
        k = _subject_instant(shot, i)
        px = int(round(start[0] + dx * speed * k)) - jitter[i, 0] - (cam_x[i] - cam_x[0] if on_canvas else 0)
        py = int(round(start[1] + dy * speed * k)) - jitter[i, 1] - (cam_y[i] - cam_y[0] if on_canvas else 0)
        _blend(frame, alpha, colour, px - radius, py - radius)
        if shot.zoom:
            frame = _zoomed(frame, (rw, rh), reach, i / max(1, n - 1) if shot.zoom > 0 else 1 - i / max(1, n - 1))
        if f > 1:
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
        if shot.blur_sigma > 0:
            frame = cv2.GaussianBlur(frame, (0, 0), shot.blur_sigma)
        if shot.overlay is not None:
            frame = shot.overlay.apply(frame, i)
        yield frame


def _subject_instant(shot: Shot, i: int) -> int:
    """Which instant of its path the subject is at in frame i: its own in a moving scene, one held
    instant in a still picture, a slideshow's switching from one held instant to the next."""
    if shot.still == "slideshow":
        hold = shot.hold_frames
        return min(shot.num_frames - 1, (i // hold) * hold + hold // 2)
    return shot.num_frames // 2 if shot.still else i


def _zoomed(window: np.ndarray, size: tuple[int, int], reach: float, progress: float) -> np.ndarray:
    """The centre of `window` at `size`: all of it (`reach` times the frame) at progress 0, the frame's
    own extent at 1, in between on a smooth scale; sub-pixel, so the zoom does not judder."""
    scale = reach ** progress  # from showing reach x the frame to 1 x, a constant rate of zoom
    shrink = scale / reach  # output pixels per window pixel
    h, w = window.shape[:2]
    matrix = np.float32([[shrink, 0, size[0] / 2 - shrink * w / 2], [0, shrink, size[1] / 2 - shrink * h / 2]])
    sigma = 0.6 * np.sqrt(max(0.0, 1 / shrink**2 - 1))  # anti-aliasing, growing smoothly with the shrink
    smooth = cv2.GaussianBlur(window, (0, 0), sigma) if sigma > 0.05 else window
    return cv2.warpAffine(smooth, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _blend(frame: np.ndarray, alpha: np.ndarray, colour: np.ndarray, x0: int, y0: int) -> None:
    """Alpha-blend `colour` through `alpha` at (x0, y0), clipped to the frame, in place."""
    h, w = frame.shape[:2]
    size = alpha.shape[0]
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(w, x0 + size), min(h, y0 + size)
    if fx0 >= fx1 or fy0 >= fy1:
        return
    a = alpha[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    frame[fy0:fy1, fx0:fx1] = (region * (1 - a) + colour * a).astype(np.uint8)


class ArchivePlanner:
    """Draws the content, camera and faults of every shot from one seeded generator."""

    def __init__(self, spec: SynthSpec, rng: np.random.Generator):
        self.spec, self.rng = spec, rng
        self.given: Counter[str] = Counter()  # clean shots of each value so far (the attributes' values differ)

    def subject(self) -> tuple[str, str, str, str]:
        """Colour, shape, direction and background. With `spec.balanced_subjects` each is drawn among the
        values of the fewest clean shots so far (`count`): a video whose one caption covers all its shots
        gives its draw to 2-5 of them, faults then remove shots regardless of their subject, and drawn on
        their own the 60 videos of seed 7 left 40 purple clips of 91 curated (CLIP off) and 6 green."""
        return tuple(self._draw(values) for values in (list(COLOURS), SHAPES, list(DIRECTIONS), BACKGROUNDS))

    def _draw(self, values) -> str:
        if self.spec.balanced_subjects:
            fewest = min(self.given[v] for v in values)
            values = [v for v in values if self.given[v] == fewest]
        return str(self.rng.choice(values))

    def count(self, shot: Shot) -> None:
        """Count a planned shot's subject if the shot is clean and captioned: what a curation keeps and trains on."""
        if not shot.defects and shot.attached_caption is not None:
            self.given.update((shot.colour, shot.shape, shot.direction, shot.background))

    def other_caption(self, colour: str, shape: str) -> str:
        """A caption describing something else: another colour and another shape."""
        r = self.rng
        colour2 = str(r.choice([c for c in COLOURS if c != colour]))
        shape2 = str(r.choice([s for s in SHAPES if s != shape]))
        return caption_for(colour2, shape2, str(r.choice(list(DIRECTIONS))), str(r.choice(BACKGROUNDS)))

    def shot_frames(self, fps: float) -> int:
        s, r = self.spec, self.rng
        seconds = r.uniform(*(s.long_shot_seconds if r.random() < s.p_long_shot else s.shot_seconds))
        return int(round(seconds * fps))

    def camera_and_faults(self, shot: Shot, size: tuple[int, int], video_lowres: bool) -> Shot:
        s, r = self.spec, self.rng
        short = min(size)
        # Blur and upscaling are exclusive: a blurred frame keeps no trace of the resolution it was
        # rendered at, so a "lowres" label under blur could never be observed.
        blurred = r.random() < s.p_blur
        if not video_lowres and not blurred and r.random() < s.p_upscaled:
            shot.upscale_factor = float(r.uniform(2.0, 3.0))  # as 480p or 360p shown at 1080p
        render_short = short / shot.upscale_factor
        draw = r.random()
        if draw < s.p_shake:
            shot.camera = "shake"
            shot.shake_amplitude = render_short * r.uniform(0.012, 0.03)
        elif draw < s.p_shake + s.p_pan:
            shot.camera = "pan"
            angle = r.uniform(0, 2 * np.pi)
            speed = render_short * r.uniform(0.004, 0.015)
            shot.pan_velocity = (speed * np.cos(angle), speed * np.sin(angle))
        if blurred:
            shot.blur_sigma = short * r.uniform(0.007, 0.016)
        shot.defects = [
            d
            for d, present in (
                ("shake", shot.camera == "shake"),
                ("blur", shot.blur_sigma > 0),
                ("lowres", video_lowres or shot.upscale_factor > 1),
            )
            if present
        ]
        return shot


def text_rng(shot: Shot, purpose: int) -> np.random.Generator:
    """The shot's own generator for text (0: planning, 1: painting), apart from the archive's, so
    text draws change no other label of a seed."""
    return np.random.default_rng([shot.texture_seed, 22, purpose])


def plan_text(shot: Shot, spec: SynthSpec, size: tuple[int, int], fps: float) -> None:
    """Burned-in text (defect "text") and text-like scenery (nuisances) of one shot."""
    r = text_rng(shot, 0)
    # Not over blur or upscaling: crisp burned-in text would read as detail to blur_score and
    # detail_score, so those filters' figures would measure the text (the text filter rejects such
    # clips in any case).
    if r.random() < spec.p_text and not {"blur", "lowres"} & set(shot.defects):
        kind = draw_kind(r, OVERLAYS, spec.text_kinds)
        shot.overlay = plan_overlay(r, kind, size[0], size[1], shot.num_frames, fps)
        shot.defects.append("text")
    if shot.camera == "pan" and r.random() < spec.p_scene_text:
        shot.scene_text = int(r.integers(1, 4))
        shot.nuisances.append("scene_text")
    if r.random() < spec.p_stroke_pattern:
        shot.stroke_pattern = True
        shot.nuisances.append("stroke_pattern")


def plan_motion(shot: Shot, spec: SynthSpec, size: tuple[int, int], fps: float) -> None:
    """A still picture (defect "static") or, as its hard negatives, a zoom over the moving subject or a
    slow subject, on a shot with no other fault; drawn from the shot's own generator, so every other
    label of a seed stays as it was."""
    r = np.random.default_rng([shot.texture_seed, 21])
    if shot.defects or shot.camera == "shake":
        return
    short = min(size) / shot.upscale_factor
    if r.random() < spec.p_static:
        shot.still = draw_kind(r, STILL_KINDS, spec.static_kinds)
        shot.defects.append("static")
        if shot.still == "pan" and shot.camera != "pan":
            angle, speed = r.uniform(0, 2 * np.pi), short * r.uniform(0.004, 0.015)
            shot.camera, shot.pan_velocity = "pan", (speed * np.cos(angle), speed * np.sin(angle))
        elif shot.still != "pan":
            shot.camera, shot.pan_velocity = "static", (0.0, 0.0)
        if shot.still == "zoom":
            shot.camera, shot.zoom = "zoom", float(r.choice([-1, 1]) * r.uniform(0.1, 0.25))
        if shot.still == "slideshow":
            shot.hold_frames = max(2, int(round(fps * r.uniform(0.6, 1.2))))
    elif r.random() < spec.p_zoom:
        shot.camera, shot.pan_velocity = "zoom", (0.0, 0.0)
        shot.zoom = float(r.choice([-1, 1]) * r.uniform(0.1, 0.25))
    elif r.random() < spec.p_slow_subject:
        shot.subject_pace = 1 / 3
        shot.nuisances.append("slow_subject")


def _distinct_hue(rng: np.random.Generator, previous: float | None) -> float:
    """A hue at least 70 degrees from the previous shot's, so every cut changes colour."""
    while True:
        hue = rng.uniform(0, 360)
        if previous is None or min(abs(hue - previous), 360 - abs(hue - previous)) >= 70:
            return hue


def plan_video(planner: ArchivePlanner, source: str, size: tuple[int, int], fps: float, lowres: bool) -> list[Shot]:
    """Shots of one video. Whole-video captions (txt/json/manifest) keep one subject across shots, so
    the single caption is true of every shot unless the whole video is mismatched."""
    rng, spec = planner.rng, planner.spec
    n_shots = int(rng.integers(spec.shots[0], spec.shots[1] + 1))
    shared = planner.subject()
    whole_video_caption = source in ("txt", "json", "manifest")
    video_mismatch = whole_video_caption and rng.random() < spec.p_mismatch
    wrong_caption = planner.other_caption(shared[0], shared[1]) if video_mismatch else None
    shots, hue = [], None
    for _ in range(n_shots):
        colour, shape, direction, background = shared if whole_video_caption else planner.subject()
        hue = _distinct_hue(rng, hue)
        shot = Shot(
            num_frames=planner.shot_frames(fps),
            colour=colour,
            shape=shape,
            direction=direction,
            background=background,
            palette=_palette(rng, hue),
            texture_seed=int(rng.integers(2**31)),
            hue=hue,
        )
        planner.camera_and_faults(shot, size, lowres)
        if source == "none":
            shot.attached_caption = None
        elif whole_video_caption:
            shot.attached_caption = wrong_caption or caption_for(*shared)
        elif rng.random() < spec.p_mismatch:
            shot.attached_caption = planner.other_caption(colour, shape)
        else:
            shot.attached_caption = shot.caption
        if shot.attached_caption is not None and shot.attached_caption != shot.caption:
            shot.defects.append("mismatch")
        plan_text(shot, spec, size, fps)
        plan_motion(shot, spec, size, fps)
        planner.count(shot)
        shots.append(shot)
    return shots


def _timestamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def timed_captions(kind: str, cues: list[tuple[float, float, str]]) -> str:
    """SRT or WebVTT text with one cue per (start_s, end_s, text)."""
    sep = "," if kind == "srt" else "."
    blocks = []
    for i, (start, end, text) in enumerate(cues, 1):
        head = f"{i}\n" if kind == "srt" else ""
        blocks.append(f"{head}{_timestamp(start, sep)} --> {_timestamp(end, sep)}\n{text}\n")
    return ("WEBVTT\n\n" if kind == "vtt" else "") + "\n".join(blocks)


def make_archive(out: str | Path, videos: int, seed: int, spec: SynthSpec = SynthSpec(), progress=None) -> list[TruthVideo]:
    """Write OUT/raw/... videos with caption sidecars and OUT/ground_truth.jsonl; returns the truth.
    The last videos are re-uploads and reshoots of earlier shots (`spec.duplicate_videos`,
    `spec.hard_negative_videos`)."""
    out = Path(out)
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    planner = ArchivePlanner(spec, rng)
    truth, manifest_rows, originals = [], [], []
    n_copies, n_negatives = round(videos * spec.duplicate_videos), round(videos * spec.hard_negative_videos)
    n_originals = max(1, videos - n_copies - n_negatives)
    folders = ["", "", "city", "nature/day", "nature/night"]
    for index in range(n_originals):
        lowres = rng.random() < spec.p_lowres_video
        sizes = spec.lowres_sizes if lowres else spec.sizes
        size = tuple(sizes[int(rng.integers(len(sizes)))])
        fps = spec.frame_rates[int(rng.integers(len(spec.frame_rates)))]
        source = "none" if rng.random() < spec.p_uncaptioned else CAPTION_SOURCES[index % len(CAPTION_SOURCES)]
        shots = plan_video(planner, source, size, float(fps), lowres)
        rel = Path(folders[int(rng.integers(len(folders)))]) / f"clip_{seed}_{index:04d}.mp4"

        def frames():
            for shot in shots:
                shot.render_state = rng.bit_generator.state  # a copy of the state, to render the shot again
                yield from render_shot(shot, size[0], size[1], rng)

        truth.append(_write_video(raw, rel, shots, size, fps, spec.crf, source, manifest_rows, frames()))
        originals += [(truth[-1], i, shot, fps) for i, shot in enumerate(shots)
                      if not shot.defects and shot.attached_caption is not None and not lowres]
        if progress:
            progress(index + 1, videos)

    def copy_video(index: int, reupload: bool, picked: list, extra: np.random.Generator) -> TruthVideo:
        rel = Path("reuploads" if reupload else "reshoots") / f"clip_{seed}_{index:04d}.mp4"
        return (_reupload if reupload else _reshoot)(raw, rel, picked, spec, extra, manifest_rows)

    add_copy_videos(truth, originals, n_originals, videos, n_copies, seed, _pick_shots, copy_video, progress)
    if manifest_rows:
        with (raw / "captions.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "caption"])
            writer.writerows(manifest_rows)
    write_truth(out / "ground_truth.jsonl", truth)
    return truth


def _write_video(raw: Path, rel: Path, shots: list[Shot], size, fps, crf: int, source: str, manifest_rows: list,
                 frames, origins: list[dict] | None = None) -> TruthVideo:
    """Encode the frames, write the captions, and return the video's truth (`origins`: per shot, the
    TruthShot fields naming its original)."""
    num_frames = write_mp4(raw / rel, frames, size, fps, crf)
    truth_shots, start = [], 0
    for i, shot in enumerate(shots):
        truth_shots.append(TruthShot(
            start_frame=start, end_frame=start + shot.num_frames, true_caption=shot.caption,
            attached_caption=shot.attached_caption,
            defects=[d for d in shot.defects if d != "text" or shot.overlay.shows()], camera=shot.camera, colour=shot.colour,
            shape=shot.shape, direction=shot.direction, background=shot.background, nuisances=shot.nuisances,
            **{"fault": {**(shot.overlay.details() if shot.overlay else {}), **({"still": shot.still} if shot.still else {})},
               **(origins[i] if origins else {})},
        ))
        start += shot.num_frames
    assert start == num_frames, "encoder dropped or added frames"
    _write_captions(raw / rel, rel, source, truth_shots, float(fps), manifest_rows)
    return TruthVideo(video=rel.as_posix(), fps=float(fps), num_frames=num_frames, width=size[0], height=size[1],
                      caption_source=source, crf=crf if origins else None, shots=truth_shots)


def _pick_shots(rng: np.random.Generator, originals: list, taken: set[int]) -> list[int]:
    """1-3 original shots for one video: not in `taken`, of one frame size and rate, each palette
    70 degrees of hue from the one before it (every cut changes colour)."""
    free = [i for i in range(len(originals)) if i not in taken]
    if not free:
        return []
    first = free[int(rng.integers(len(free)))]
    video, _, _, fps = originals[first]
    picked = [first]
    for _ in range(int(rng.integers(0, 3))):
        hue = originals[picked[-1]][2].hue
        options = [i for i in free if i not in picked and originals[i][3] == fps
                   and (originals[i][0].width, originals[i][0].height) == (video.width, video.height)
                   and min(abs(originals[i][2].hue - hue), 360 - abs(originals[i][2].hue - hue)) >= 70]
        if not options:
            break
        picked.append(options[int(rng.integers(len(options)))])
    return picked


def _rendered_again(shot: Shot, width: int, height: int):
    """The original's frames, drawn again from the generator state it was rendered with."""
    again = np.random.Generator(np.random.PCG64())
    again.bit_generator.state = shot.render_state
    return render_shot(shot, width, height, again)


def _reupload(raw: Path, rel: Path, picked: list, spec: SynthSpec, rng: np.random.Generator, manifest_rows: list) -> TruthVideo:
    """A video of copies of the picked shots: each cropped, rescaled to another size of the same shape,
    brightened or darkened, the whole re-encoded at another CRF; captioned per shot (.srt)."""
    first = picked[0][0]
    aspect = first.width / first.height
    sizes = [tuple(s) for s in spec.sizes if abs(s[0] / s[1] - aspect) < 0.02 and tuple(s) != (first.width, first.height)]
    size = sizes[int(rng.integers(len(sizes)))] if sizes else (first.width, first.height)
    edits = [CopyEdit.draw(rng, size, spec.copy_crop, spec.copy_gain) for _ in picked]
    shots = [replace(shot, defects=["duplicate"], attached_caption=shot.caption) for _, _, shot, _ in picked]
    frames = (edit.apply(frame) for (video, _, shot, _), edit in zip(picked, edits)
              for frame in _rendered_again(shot, video.width, video.height))
    origins = [{"copy_of": f"{video.video}#{i}", "fault": edit.describe()} for (video, i, _, _), edit in zip(picked, edits)]
    crf = int(rng.integers(spec.copy_crf[0], spec.copy_crf[1] + 1))
    return _write_video(raw, rel, shots, size, picked[0][3], crf, "srt", manifest_rows, frames, origins)


def _reshoot(raw: Path, rel: Path, picked: list, spec: SynthSpec, rng: np.random.Generator, manifest_rows: list) -> TruthVideo:
    """A video of the picked shots' scenes filmed again: the same background, palette and subject, the
    subject moving another way, its own camera (static or panning) and length; clean, captioned per shot.
    A scene with signs is filmed panning again: its signs are the hard negative of scene text that
    moves with the camera, and a still camera would leave them where a subtitle or a watermark sits
    with nothing to tell them apart (held-out seeds 55, 141: the only false alarms of their kind)."""
    video, fps = picked[0][0], picked[0][3]
    planner = ArchivePlanner(spec, rng)
    shots = []
    for _, _, base, _ in picked:
        shot = replace(base, num_frames=planner.shot_frames(float(fps)), camera="static", pan_velocity=(0.0, 0.0), zoom=0.0,
                       direction=str(rng.choice([d for d in DIRECTIONS if d != base.direction])), defects=[],
                       render_state=None)
        shot.attached_caption = shot.caption
        if rng.random() < spec.p_pan or shot.scene_text:
            angle, speed = rng.uniform(0, 2 * np.pi), min(video.width, video.height) * rng.uniform(0.004, 0.015)
            shot.camera, shot.pan_velocity = "pan", (speed * np.cos(angle), speed * np.sin(angle))
        shots.append(shot)
    frames = itertools.chain.from_iterable(render_shot(shot, video.width, video.height, rng) for shot in shots)
    origins = [{"negative_of": f"{v.video}#{i}"} for v, i, _, _ in picked]
    return _write_video(raw, rel, shots, (video.width, video.height), fps, spec.crf, "srt", manifest_rows, frames, origins)


def _write_captions(path: Path, rel: Path, source: str, shots: list[TruthShot], fps: float, manifest_rows: list) -> None:
    if source == "none":
        return
    whole = shots[0].attached_caption
    if source == "txt":
        path.with_suffix(".txt").write_text(whole + "\n", encoding="utf-8")
    elif source == "json":
        path.with_suffix(".json").write_text(json.dumps({"caption": whole}), encoding="utf-8")
    elif source == "manifest":
        manifest_rows.append([rel.as_posix(), whole])
    else:
        cues = [(s.start_frame / fps, s.end_frame / fps, s.attached_caption) for s in shots]
        path.with_suffix(f".{source}").write_text(timed_captions(source, cues), encoding="utf-8")


def clean_spec() -> SynthSpec:
    """No faults at all: every shot steady, panning or zooming over a moving subject, sharp, full resolution, truly captioned, no
    burned-in text (the text-like scenery that is no fault stays), none a copy."""
    return replace(SynthSpec(), p_lowres_video=0.0, p_uncaptioned=0.0, p_shake=0.0, p_blur=0.0, p_upscaled=0.0,
                   p_mismatch=0.0, p_text=0.0, p_static=0.0, duplicate_videos=0.0, hard_negative_videos=0.0)


def tiny_spec() -> SynthSpec:
    """A fast archive for tests: small frames, short shots, every fault still possible."""
    return replace(
        SynthSpec(),
        sizes=((320, 180), (256, 192)),
        lowres_sizes=((160, 90),),
        frame_rates=(Fraction(24), Fraction(25)),
        shots=(2, 3),
        shot_seconds=(1.4, 2.2),
        long_shot_seconds=(1.4, 2.2),
        duplicate_videos=0.0,
        hard_negative_videos=0.0,
    )
