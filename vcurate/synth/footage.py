"""A labelled archive cut from the user's own footage: `vcurate synth OUT --from-footage DIR`.

Synthetic renders say nothing about compression, soft optics, sensor noise or animation. Here the
pictures are real: shots are cut from clean source videos, joined by hard cuts, and given faults
at known strengths, so every filter can be measured (and calibrated, `vcurate calibrate`) on the
kind of footage it will judge. Faults as real archives carry them:

- shake: hand-held camera path, a slow wander plus 4-10 Hz jitter and a little roll;
- blur: defocus (Gaussian) or linear motion blur;
- lowres: content downscaled 1.5-4x and scaled back up (bilinear, bicubic or Lanczos);
- text: burned-in subtitles, a corner watermark or a ticker (vcurate.synth.text), on any shot;
- static: a still picture, as web video makes them: one source frame frozen, a slideshow of a few
  frames of the stretch, a pan or a zoom over one frame (the "Ken Burns" move); and, labelled so
  without being injected, shots whose source holds its picture (a held animation drawing, a still
  scene before a static camera): a stretch in which almost no pixel of the source changes, or one
  that the footage folder's `stills.json` names (a person saw that only the camera moves there: a
  pan over a document, a title card fading in), as {"file": [[start_s, end_s], ...]}.

Kept clean, because a curation tool must not reject them: smooth pans and zooms (a crop window that
moves or grows, never magnifying the source), re-encoding at CRF 18-40, sensor noise, low light,
letterboxing, and sources larger than the output (the area-downscaled renditions every web video is).

No two shots share a source frame while the footage lasts, so no unlabelled copy arises (beyond, a
shot that shows most of an earlier shot's frames alike is labelled its copy, one that shows only some
of them, or framed or lit otherwise, `overlap_of` it: neither). The labelled copies are the last
videos of the archive: re-uploads (reuploads/...) of clean shots of earlier videos, cropped,
rescaled, brightened and re-encoded (vcurate.synth.copies), the copy labelled `duplicate`; and
reshoots (reshoots/...): another stretch of a clean shot's source (same place and camera, another
moment), clean. Both name their original (TruthShot.copy_of / negative_of).

Sources are never magnified: a video's size is one at which every source it uses fills the frame
(cropped, or letterboxed when its aspect differs) at a scale of at most 1, and a camera move needs
source pixels to spare. Shots come only from stretches of a source between candidate cuts of a
sensitive content detector, and skip flat frames (fades to black, blank title cards) and the stretches
the footage folder's `cuts.json` names ({"file": [[start_s, end_s], ...]}: a person saw a cut there
that the detector misses, such as a jump cut between two takes of one place), so a shot never spans
a cut or shows nothing. Consecutive shots come from different sources, so each cut of
the output is visible. A video plays all its shots at the frame rate of its first source (25 fps
when that is below `min_fps`: a frame rate no archive would keep is not what is measured here), each
shot conformed to it as an editor conforms mixed footage: in real time, source frames repeated or
dropped (a 20 fps hand-held shot played frame for frame at 30 fps would shake 1.5 times faster than
it was filmed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from vcurate.analyze.scenes import SceneAnalyzer
from vcurate.config import VIDEO_EXTENSIONS, SplitConfig
from vcurate.errors import InputError, NotFoundError
from vcurate.media.encode import clip_frames, write_mp4
from vcurate.media.frames import AnalysisFrame, decode_frames, upright
from vcurate.media.probe import MediaError, open_probed
from vcurate.synth.text import OVERLAYS, TextOverlay, plan_overlay
from vcurate.synth.copies import CopyEdit, add_copy_videos
from vcurate.synth.truth import STILL_KINDS, TruthShot, TruthVideo, draw_kind, write_truth

SIZES: tuple[tuple[int, int], ...] = ((1280, 720), (960, 540), (854, 480), (640, 360), (480, 270))


@dataclass(frozen=True)
class FootageSpec:
    """Knobs of the generator: how often each fault and nuisance occurs, and at what strength."""

    sizes: tuple[tuple[int, int], ...] = SIZES  # output sizes a video may take (each must fit every source used)
    shots: tuple[int, int] = (2, 5)
    shot_seconds: tuple[float, float] = (1.6, 4.0)
    p_pan: float = 0.2
    p_zoom: float = 0.08
    p_shake: float = 0.15
    p_blur: float = 0.15
    p_upscaled: float = 0.15
    p_text: float = 0.15  # burned-in subtitle, watermark or ticker, besides any other fault
    p_static: float = 0.2  # of shots with no other fault: a still picture (defect "static")
    static_kinds: tuple[float, float, float, float] = (0.25, 0.2, 0.3, 0.25)  # shares of STILL_KINDS
    held_change: float = 0.05  # percent of a source's pixels changing 0.2 s apart below which it holds its picture
    text_kinds: tuple[float, float, float] = (0.45, 0.35, 0.2)  # shares of OVERLAYS
    shake_rms: tuple[float, float] = (0.015, 0.04)  # jitter, RMS fraction of the short side
    blur_sigma: tuple[float, float] = (1.5, 4.0)  # Gaussian defocus, output pixels
    motion_blur: tuple[int, int] = (9, 25)  # linear motion-blur length, output pixels
    upscale: tuple[float, float] = (1.5, 4.0)  # downscale factor before scaling back up
    pan_margin: tuple[float, float] = (0.1, 0.6)  # share of the frame a pan travels across the shot
    zoom_margin: tuple[float, float] = (0.08, 0.25)  # zoom range across the shot
    crf: tuple[int, int] = (18, 40)  # x264 CRF of the whole video (compression is no fault)
    p_noise: float = 0.2
    noise_sigma: tuple[float, float] = (2.0, 6.0)  # Gaussian sensor noise, 8-bit levels
    p_low_light: float = 0.15
    low_light_gamma: tuple[float, float] = (1.8, 2.6)  # gamma of a low-light shot (only where its source stays non-flat)
    p_letterbox: float = 0.1
    flat_std: float = 6.0  # luma standard deviation below which a frame counts as flat (never used in a shot)
    min_fps: float = 15.0  # a video plays at its first source's rate, or at 25 fps when that is lower than this
    cut_threshold: float = 20.0  # content-detector threshold for cuts inside a source (more sensitive than the pipeline's)
    repeat_frames: bool = False  # let shots share source frames freely (else only when the footage runs out)
    duplicate_videos: float = 0.15  # share of the videos that re-upload clean shots of earlier ones
    hard_negative_videos: float = 0.1  # share that show other stretches of earlier clean shots' sources
    copy_crop: float = 0.05  # a copy loses at most this share of its width and of its height
    copy_gain: tuple[float, float] = (0.9, 1.1)  # brightness factor of a copy
    copy_crf: tuple[int, int] = (23, 35)  # x264 CRF of the re-uploads


@dataclass
class Source:
    """A footage file and the stretches of it a shot may use, as (start, end) source frame indices."""

    path: Path
    name: str  # relative to the footage folder, POSIX separators
    width: int
    height: int
    fps: float
    times: np.ndarray
    segments: list[tuple[int, int]]
    change: np.ndarray  # per frame, percent of the picture changed since about 0.2 s earlier (_SourceStats)
    dim_std: np.ndarray  # per frame, luma standard deviation under the darkest low-light gamma (_SourceStats)
    stills: list[tuple[float, float]] = field(default_factory=list)  # named still (stills.json): s from the first frame

    def holds_picture(self, first: int, n: int, threshold: float) -> bool:
        """Whether the source shows one still picture over frames [first, first + n): the median
        change between frames 0.2 s apart is below `threshold` percent, or most of its frames lie
        in a stretch named still."""
        if float(np.median(self.change[first : first + n])) < threshold:
            return True
        times = self.times[first : first + n] - self.times[0]  # from the first frame, as a player counts
        named = sum(((times >= start) & (times <= end)).sum() for start, end in self.stills)
        return named * 2 > len(times)

    def scale_to_cover(self, size: tuple[int, int]) -> float:
        return max(size[0] / self.width, size[1] / self.height)

    def scale_to_fit(self, size: tuple[int, int]) -> float:
        return min(size[0] / self.width, size[1] / self.height)

    def fills(self, size: tuple[int, int]) -> bool:
        """Shown at `size` without magnifying it, cropped or letterboxed."""
        return self.scale_to_fit(size) <= 1.0


class _SourceStats:
    """Per frame of a source: the standard deviation of its small luma (flat frames show nothing worth
    judging), the same under gamma `dim_gamma` (a dark frame made darker still turns black), and the
    percent of its pixels that changed by more than `levels` grey levels since the frame `lag` earlier
    (a source that holds its picture changes by its codec's noise only)."""

    levels = 12.0

    def __init__(self, lag: int, dim_gamma: float):
        self.lag = lag
        self.dim = (255.0 * (np.arange(256) / 255.0) ** dim_gamma).astype(np.float32)
        self.std, self.dim_std, self.change, self._recent = [], [], [], []

    def process(self, index: int, frame: AnalysisFrame) -> None:
        self.std.append(float(frame.luma().std()))
        self.dim_std.append(float(self.dim[frame.luma()].std()))
        luma = cv2.GaussianBlur(frame.luma().astype(np.float32), (0, 0), 1.0)  # codec noise averaged a little
        self._recent.append(luma)
        earlier = self._recent.pop(0) if len(self._recent) > self.lag else self._recent[0]
        self.change.append(100.0 * float((np.abs(luma - earlier) > self.levels).mean()))

    def finish(self, num_frames: int) -> None:
        pass


def scan_source(path: Path, name: str, spec: FootageSpec, named_cuts: list[tuple[float, float]] = ()) -> Source | None:
    """One decode of a source: its facts, candidate cuts and flat frames; None when nothing is usable.
    `named_cuts`: stretches (s from the first frame) a person saw hold a cut the scan misses (cuts.json)."""
    with open_probed(path) as (container, info):
        fps = info.frame_rate
        scenes = SceneAnalyzer(SplitConfig(detector="content", threshold=spec.cut_threshold, min_scene_frames=4), fps)
        stats = _SourceStats(lag=max(1, round(0.2 * fps)), dim_gamma=spec.low_light_gamma[1])
        decoded = decode_frames(container, [scenes, stats], short_side=144, fps_hint=fps)
    min_frames = int(np.ceil(spec.shot_seconds[0] * fps))
    width, height = (decoded.width, decoded.height) if decoded.rotation % 180 == 0 else (decoded.height, decoded.width)
    margin = 3  # frames kept away from each candidate cut: dissolves and fades spread over a few
    bounds = [0, *scenes.cuts, decoded.num_frames]
    times = decoded.times - decoded.times[0]  # from the first frame, as a player counts
    named = np.zeros(decoded.num_frames, bool)
    for start_s, end_s in named_cuts:
        inside = np.flatnonzero((times >= start_s) & (times <= end_s))
        if len(inside):
            named[max(0, inside[0] - margin) : inside[-1] + margin + 1] = True
    segments = []
    for start, end in zip(bounds, bounds[1:]):
        start, end = start + (margin if start else 0), end - (margin if end < decoded.num_frames else 0)
        run_start = None
        for i in range(start, end + 1):
            usable = i < end and stats.std[i] >= spec.flat_std and not named[i]
            if usable and run_start is None:
                run_start = i
            elif not usable and run_start is not None:
                if i - run_start >= min_frames:
                    segments.append((run_start, i))
                run_start = None
    if not segments:
        return None
    return Source(path, name, width, height, fps, decoded.times, segments, np.asarray(stats.change), np.asarray(stats.dim_std))


STILLS_FILE = "stills.json"  # stretches where only the camera moves over a still picture: shots from them are static
CUTS_FILE = "cuts.json"  # stretches holding a cut the scan misses (a jump cut between takes of one place)


def read_stretches(folder: Path, file_name: str, names: list[str]) -> dict[str, list[tuple[float, float]]]:
    """`folder`/`file_name` (stills.json, cuts.json), when there: per video (its path under the folder), the
    stretches in seconds from its first frame that a person named. One InputError line for anything malformed."""
    path = folder / file_name
    if not path.is_file():
        return {}
    try:
        named = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not readable JSON: {exc}") from exc
    if not isinstance(named, dict):
        raise InputError(f"{path}: expected an object of video name -> [[start_s, end_s], ...]")
    stretches = {}
    for name, pairs in named.items():
        if name not in names:
            raise InputError(f"{path}: no video {name!r} under {folder}")
        try:
            pairs = [(float(start), float(end)) for start, end in pairs]
        except (TypeError, ValueError) as exc:
            raise InputError(f"{path}: {name}: expected [[start_s, end_s], ...]") from exc
        if any(not 0 <= start < end for start, end in pairs):
            raise InputError(f"{path}: {name}: each stretch needs 0 <= start_s < end_s")
        stretches[name] = pairs
    return stretches


def footage_files(folder: str | Path) -> list[Path]:
    """The video files under `folder`, sorted; one clear error when there is no such folder or no video in it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotFoundError(f"footage folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower().lstrip(".") in VIDEO_EXTENSIONS)
    if not files:
        raise NotFoundError(f"no videos under {folder} (looked for .{', .'.join(VIDEO_EXTENSIONS)})")
    return files


def find_sources(folder: str | Path, spec: FootageSpec, warn=print) -> list[Source]:
    folder = Path(folder)
    files = footage_files(folder)
    names = [p.relative_to(folder).as_posix() for p in files]
    stills, cuts = read_stretches(folder, STILLS_FILE, names), read_stretches(folder, CUTS_FILE, names)
    sources = []
    for path, name in zip(files, names):
        try:
            source = scan_source(path, name, spec, cuts.get(name, []))
        except (MediaError, av.FFmpegError, OSError, ValueError) as exc:
            warn(f"skipped {name}: {exc}")
            continue
        if source is None:
            warn(f"skipped {name}: no stretch of {spec.shot_seconds[0]:g} s without a cut or a flat frame")
            continue
        source.stills = stills.get(name, [])
        sources.append(source)
    if not sources:
        raise InputError(f"none of the {len(files)} videos under {folder} has a usable stretch")
    return sources


@dataclass
class FootageShot:
    """One shot: where its frames come from, how the camera moves, what fault it carries."""

    source: Source
    start: int  # first source frame
    num_frames: int  # output frames
    size: tuple[int, int]
    step: float = 1.0  # source frames per output frame (source fps / video fps): the shot plays in real time
    camera: str = "static"  # static | pan | zoom | shake
    margin: float = 0.0  # source pixels to spare around the output window, as a share of it
    pan: tuple[float, float] = (0.0, 0.0)  # unit direction of travel
    zoom_in: bool = True
    shake: np.ndarray | None = None  # (n, 3): dx, dy (output pixels), roll (degrees)
    defect: str | None = None  # shake | blur | lowres
    details: dict = field(default_factory=dict)
    letterbox: bool = False
    noise_sigma: float = 0.0
    gamma: float = 1.0
    overlay: TextOverlay | None = None
    still: str | None = None  # STILL_KINDS, or "held" (the source holds its picture): defect "static"
    hold_frames: int = 0  # a slideshow's frames per still
    render_state: dict | None = None  # the generator's state when the shot was rendered (to render it again)
    repeat_of: "FootageShot | None" = None  # an earlier shot whose source frames this one shows again
    repeat_share: float = 0.0  # share of the shorter of the two shots' frames they both show
    ref: str | None = None  # VIDEO#SHOT once written

    def source_frame(self, i: int) -> int:
        """The source frame (counted from `start`) that output frame i shows: the nearest in time."""
        return int(i * self.step + 0.5)

    @property
    def source_frames(self) -> int:
        """Source frames the shot spans."""
        return self.source_frame(self.num_frames - 1) + 1

    @property
    def defects(self) -> list[str]:
        text = "text" if self.overlay and self.overlay.shows() else None  # a mark the picture hides is no fault
        return [d for d in (self.defect, text, "static" if self.still else None) if d]

    def label_held(self, threshold: float) -> bool:
        """Label the shot static ("held") where its source holds its picture; whether it did."""
        if self.source.holds_picture(self.start, self.source_frames, threshold):
            self.still = "held"
        return self.still == "held"

    @property
    def repeats_as_copy(self) -> bool:
        """Whether this shot shows its `repeat_of`'s pictures as a copy does: most of them (2/3 of the
        shorter shot's frames or more), both through a still camera, letterboxed and lit alike. Else the
        two share some frames but are neither copies nor distinct shots (TruthShot.overlap_of)."""
        treated = lambda shot: {n for n in shot.nuisances if n in ("letterbox", "low_light")}  # noqa: E731
        return (self.repeat_of is not None and self.repeat_share >= 2 / 3 and self.camera == self.repeat_of.camera == "static"
                and treated(self) == treated(self.repeat_of))

    @property
    def nuisances(self) -> list[str]:
        fitted = self.source.scale_to_cover(self.size) > 1.0
        return [n for n, on in (("letterbox", self.letterbox or fitted), ("noise", self.noise_sigma > 0),
                                ("low_light", self.gamma > 1), ("downscaled_source", self.base_scale < 1.0)) if on]

    @property
    def base_scale(self) -> float:
        """Scale of the source when the window is widest: it must stay <= 1 (no magnification)."""
        cover = self.source.scale_to_cover(self.size)
        return cover * (1 + self.margin) if cover <= 1.0 else self.source.scale_to_fit(self.size)


def hand_held_path(rng: np.random.Generator, n: int, fps: float, rms: float, short: int) -> np.ndarray:
    """(n, 3) camera offsets: jitter of 4-10 Hz with the given RMS (fraction of `short`), a slow
    wander of 0.5-2 Hz, and roll of a fraction of a degree, as a hand holds a camera."""
    t = np.arange(n) / fps

    def tones(low: float, high: float, count: int) -> np.ndarray:
        freqs = rng.uniform(low, high, (count, 3))
        phases = rng.uniform(0, 2 * np.pi, (count, 3))
        return np.sin(2 * np.pi * freqs[None] * t[:, None, None] + phases[None]).sum(axis=1)

    jitter = tones(4.0, min(10.0, 0.45 * fps), 3) + 0.5 * rng.normal(size=(n, 3))
    jitter -= jitter.mean(axis=0)
    jitter[:, :2] *= rms * short / np.sqrt((jitter[:, :2] ** 2).sum(axis=1).mean())
    jitter[:, 2] *= rng.uniform(0.2, 0.8) / (jitter[:, 2].std() + 1e-9)
    wander = tones(0.5, 2.0, 2)
    wander[:, :2] *= rng.uniform(0.5, 1.5) * rms * short / (np.abs(wander[:, :2]).max() + 1e-9)
    wander[:, 2] *= rng.uniform(0.2, 0.6) / (np.abs(wander[:, 2]).max() + 1e-9)
    return jitter + wander


def conformed_frames(source_frames: int, step: float) -> int:
    """Output frames that show `source_frames` source frames in real time, `step` source frames apart."""
    return max(1, int((source_frames - 0.5) / step + 0.5))


def shake_margin(path: np.ndarray, size: tuple[int, int]) -> float:
    """Source pixels the window needs to spare (share of its size) so no border shows when shaken."""
    w, h = size
    roll = np.radians(np.abs(path[:, 2]).max())
    reach = np.abs(path[:, :2]).max() + 0.5 * np.hypot(w, h) * np.sin(roll)
    return float(2 * reach / min(w, h)) + 0.01


class FootagePlanner:
    """Draws every shot's source stretch, camera, fault and nuisances from one seeded generator."""

    def __init__(self, sources: list[Source], spec: FootageSpec, rng: np.random.Generator):
        self.sources, self.spec, self.rng = sources, spec, rng
        self.used: dict[str, list[list]] = {}  # source -> [first, end, shot] of the frame ranges shots took
        self.repeats = 0  # shots that had to reuse frames of an earlier shot (footage too short)
        self.last_repeat: FootageShot | None = None  # the shot the last stretch reused frames of
        self.last_share = 0.0  # share of the shorter of the two that both show

    def _free(self, source: Source, first: int, n: int) -> bool:
        return self.spec.repeat_frames or all(first + n <= a or b <= first for a, b, _ in self.used.get(source.name, ()))

    def stretch(self, source: Source, want: int, tries: int = 20, exclusive: bool = True) -> tuple[int, int] | None:
        """(first frame, frames) of a stretch of `source`, up to `want` frames, that no earlier shot used;
        None when none is found in `tries` draws, unless not `exclusive`: then the last draw."""
        r = self.rng
        for attempt in range(tries):
            start, end = source.segments[int(r.integers(len(source.segments)))]
            n = min(want, end - start)
            first = start + int(r.integers(0, end - start - n + 1))
            free = self._free(source, first, n)
            if free or (not exclusive and attempt == tries - 1):
                used = self.used.setdefault(source.name, [])
                overlap = [(min(b, first + n) - max(a, first), min(n, b - a), shot) for a, b, shot in used]
                most = max(overlap, key=lambda o: o[0]) if overlap else (0, 1, None)
                self.last_repeat = None if free else most[2]
                self.last_share = 0.0 if free else most[0] / most[1]
                used.append([first, first + n, None])
                self.repeats += not free
                return first, n
        return None

    def take(self, source: Source, first: int, spanned: int, size: tuple[int, int], step: float, **labels) -> FootageShot:
        """The shot that plays source frames [first, first + spanned) in real time, `step` source frames an output
        frame, recorded as the taker of the stretch `stretch` drew last (later repeats of it name this shot)."""
        shot = FootageShot(source, first, conformed_frames(spanned, step), size, step=step, **labels)
        self.used[source.name][-1][2] = shot
        return shot

    def _range(self, bounds) -> float:
        return float(self.rng.uniform(*bounds))

    def video_sources(self) -> list[Source]:
        """Sources of one video's shots; no two consecutive shots share one."""
        n = int(self.rng.integers(self.spec.shots[0], self.spec.shots[1] + 1))
        chosen: list[Source] = []
        for _ in range(n):
            options = [s for s in self.sources if not chosen or s is not chosen[-1]] or self.sources
            chosen.append(options[int(self.rng.integers(len(options)))])
        return chosen

    def video_size(self, sources: list[Source]) -> tuple[int, int] | None:
        feasible = [size for size in self.spec.sizes if all(s.fills(size) for s in sources)]
        return tuple(feasible[int(self.rng.integers(len(feasible)))]) if feasible else None

    def shot(self, source: Source, size: tuple[int, int], fps: float) -> FootageShot:
        s, r = self.spec, self.rng
        want = int(round(self._range(s.shot_seconds) * source.fps))
        first, spanned = self.stretch(source, want, exclusive=False)
        shot = self.take(source, first, spanned, size, source.fps / fps, repeat_of=self.last_repeat, repeat_share=self.last_share)
        n = shot.num_frames
        spare = 1.0 / source.scale_to_cover(size) - 1.0  # how much wider than the output the source is
        draw = r.random()
        if draw < s.p_shake:
            path = hand_held_path(r, n, fps, self._range(s.shake_rms), min(size))
            if shake_margin(path, size) <= spare:
                shot.camera, shot.defect, shot.shake, shot.margin = "shake", "shake", path, shake_margin(path, size)
                shot.details = {"jitter_rms_percent": round(100 * float(np.sqrt((
                    (path[:, :2] - path[:, :2].mean(0)) ** 2).sum(1).mean())) / min(size), 3)}
        elif draw < s.p_shake + s.p_pan:
            margin = min(self._range(s.pan_margin), spare)
            if margin >= 0.05:
                angle = r.uniform(0, 2 * np.pi)
                shot.camera, shot.margin, shot.pan = "pan", margin, (float(np.cos(angle)), float(np.sin(angle)))
        elif draw < s.p_shake + s.p_pan + s.p_zoom:
            margin = min(self._range(s.zoom_margin), spare)
            if margin >= 0.05:
                shot.camera, shot.margin, shot.zoom_in = "zoom", margin, bool(r.random() < 0.5)
        if shot.defect is None:
            draw = r.random()
            if draw < s.p_blur:
                shot.defect = "blur"
                if r.random() < 0.5:
                    shot.details = {"kind": "gaussian", "sigma": round(self._range(s.blur_sigma), 3)}
                else:
                    shot.details = {"kind": "motion", "length": int(r.integers(s.motion_blur[0], s.motion_blur[1] + 1)),
                                    "angle": round(float(r.uniform(0, 180)), 1)}
            elif draw < s.p_blur + s.p_upscaled:
                shot.defect = "lowres"
                shot.details = {"factor": round(self._range(s.upscale), 3),
                                "kernel": str(r.choice(["bilinear", "bicubic", "lanczos"]))}
        shot.letterbox = shot.camera != "shake" and r.random() < s.p_letterbox
        if r.random() < s.p_low_light:
            gamma = self._range(s.low_light_gamma)
            # not where the darkest low light would flatten a frame: it would show nothing (and be labelled clean)
            if source.dim_std[first : first + spanned].min() >= s.flat_std:
                shot.gamma = gamma
        if r.random() < s.p_noise:
            shot.noise_sigma = self._range(s.noise_sigma)
        return shot


_KERNELS = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}


def _source_frames(shot: FootageShot) -> Iterator[np.ndarray]:
    """The shot's frames as upright RGB from its source, reached the way the encoder reaches a clip, one
    per output frame (a source frame repeated or passed over where the rates differ)."""
    source = shot.source
    with av.open(str(source.path)) as container:
        stream = container.streams.video[0]
        count, shown = 0, 0  # source frames decoded, output frames yielded
        for frame in clip_frames(container, stream, float(source.times[shot.start]), float("inf"), source.fps):
            image = None
            while shown < shot.num_frames and shot.source_frame(shown) == count:
                image = upright(frame.to_ndarray(format="rgb24"), frame.rotation) if image is None else image
                shown += 1
                again = shown < shot.num_frames and shot.source_frame(shown) == count
                yield image.copy() if again else image  # what comes after may draw on it in place (text)
            count += 1
            if shown == shot.num_frames:
                return
    raise MediaError(f"{source.name}: {count} of {shot.source_frames} frames decoded from frame {shot.start}")


def _window(image: np.ndarray, size: tuple[int, int], centre: tuple[float, float]) -> np.ndarray:
    """The size-sized crop of `image` around `centre`, on whole pixels (no resampling, no softening)."""
    w, h = size
    x = int(round(min(max(centre[0] - w / 2, 0), image.shape[1] - w)))
    y = int(round(min(max(centre[1] - h / 2, 0), image.shape[0] - h)))
    return image[y : y + h, x : x + w]


def _scaled(image: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-6:
        return image
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _geometry(shot: FootageShot, image: np.ndarray, i: int) -> np.ndarray:
    """Frame i of the shot at its output size: source scaled (never up), then the camera applied."""
    w, h = shot.size
    cover = shot.source.scale_to_cover(shot.size)
    if cover > 1.0:  # a narrower or wider source: letterboxed or pillarboxed, whole
        small = _scaled(image, shot.source.scale_to_fit(shot.size))
        out = np.zeros((h, w, 3), np.uint8)
        top, left = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
        out[top : top + small.shape[0], left : left + small.shape[1]] = small
        return out
    progress = i / max(1, shot.num_frames - 1)
    if shot.camera == "zoom":
        grow = progress if shot.zoom_in else 1 - progress
        scaled = _scaled(image, cover * (1 + shot.margin * grow))
        return _window(scaled, shot.size, (scaled.shape[1] / 2, scaled.shape[0] / 2))
    scaled = _scaled(image, shot.base_scale)
    centre = np.array([scaled.shape[1] / 2, scaled.shape[0] / 2])
    if shot.camera == "pan":
        slack = np.array([scaled.shape[1] - w, scaled.shape[0] - h], dtype=float)
        reach = np.min(slack / (np.abs(shot.pan) + 1e-9)) / 2
        return _window(scaled, shot.size, centre + (progress - 0.5) * 2 * reach * np.array(shot.pan))
    if shot.camera == "shake":
        dx, dy, roll = shot.shake[i]
        matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(roll), 1.0)
        matrix[:, 2] += [w / 2 - centre[0] + dx, h / 2 - centre[1] + dy]
        return cv2.warpAffine(scaled, matrix, (w, h), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT)
    return _window(scaled, shot.size, centre)


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (length, length), flags=cv2.INTER_LINEAR)
    return kernel / kernel.sum()


def render_footage_shot(shot: FootageShot, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield the shot's RGB frames at its output size, fault and nuisances applied."""
    w, h = shot.size
    kernel = _motion_kernel(shot.details["length"], shot.details["angle"]) if shot.details.get("kind") == "motion" else None
    held = None
    for i, image in enumerate(_source_frames(shot)):
        if shot.still in STILL_KINDS and (held is None or (shot.still == "slideshow" and i % shot.hold_frames == 0)):
            held = image  # the still the camera shows (a slideshow: the next one)
        frame = _geometry(shot, held if held is not None else image, i)
        if shot.defect == "lowres":
            f = shot.details["factor"]
            small = cv2.resize(frame, (max(2, round(w / f)), max(2, round(h / f))), interpolation=cv2.INTER_AREA)
            frame = cv2.resize(small, (w, h), interpolation=_KERNELS[shot.details["kernel"]])
        elif shot.defect == "blur":
            frame = (cv2.GaussianBlur(frame, (0, 0), shot.details["sigma"]) if kernel is None
                     else cv2.filter2D(frame, -1, kernel, borderType=cv2.BORDER_REFLECT))
        if shot.letterbox:
            bar = int(round(h * 0.12))
            frame = frame.copy()
            frame[:bar], frame[h - bar :] = 0, 0
        if shot.gamma > 1 or shot.noise_sigma > 0:
            f = frame.astype(np.float32)
            if shot.gamma > 1:
                f = 255.0 * (f / 255.0) ** shot.gamma
            if shot.noise_sigma > 0:
                f += rng.normal(0, shot.noise_sigma, f.shape).astype(np.float32)
            frame = np.clip(f, 0, 255).astype(np.uint8)
        if shot.overlay is not None:  # burned in after the camera and the edit, before the encode
            frame = shot.overlay.apply(np.ascontiguousarray(frame), i)
        yield np.ascontiguousarray(frame)


def add_overlay(shot: FootageShot, spec: FootageSpec, rng: np.random.Generator, fps: float) -> None:
    """Burned-in text on the shot, drawn from its own generator (so the planner's draws, and every
    other label of a seed, stay as they were)."""
    if rng.random() < spec.p_text and shot.defect not in ("blur", "lowres"):  # crisp text would read as detail
        kind = draw_kind(rng, OVERLAYS, spec.text_kinds)
        shot.overlay = plan_overlay(rng, kind, shot.size[0], shot.size[1], shot.num_frames, fps)


def add_still(shot: FootageShot, spec: FootageSpec, rng: np.random.Generator, fps: float) -> None:
    """Label the shot static where its source holds its picture, whatever the camera does (a shaky
    camera over a held drawing shows no more of a scene than a still one); else, on a steady shot with
    no other fault, maybe make it a still picture. Drawn from the shot's own generator (every other
    label of a seed stays as it was)."""
    if shot.label_held(spec.held_change) or shot.camera == "shake":
        return
    if shot.defects or rng.random() >= spec.p_static:
        return
    kind = draw_kind(rng, STILL_KINDS, spec.static_kinds)
    spare = 1.0 / shot.source.scale_to_cover(shot.size) - 1.0
    if kind in ("pan", "zoom") and shot.camera != kind:
        margin = min(float(rng.uniform(*(spec.pan_margin if kind == "pan" else spec.zoom_margin))), spare)
        if margin < 0.05:  # no source pixels to move over: a frozen frame instead
            kind = "frozen"
        else:
            angle = rng.uniform(0, 2 * np.pi)
            shot.camera, shot.margin = kind, margin
            shot.pan, shot.zoom_in = (float(np.cos(angle)), float(np.sin(angle))), bool(rng.random() < 0.5)
    if kind in ("frozen", "slideshow"):
        shot.camera, shot.margin = "static", 0.0
    if kind == "slideshow":
        shot.hold_frames = max(2, int(round(fps * rng.uniform(0.6, 1.2))))
    shot.still = kind


def make_footage_archive(
    out: str | Path, footage: str | Path, videos: int, seed: int, spec: FootageSpec = FootageSpec(), progress=None, warn=print,
) -> list[TruthVideo]:
    """Write OUT/raw/*.mp4 with .txt captions and OUT/ground_truth.jsonl from the videos under `footage`;
    the last videos are re-uploads and reshoots of earlier shots."""
    out = Path(out)
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    sources = find_sources(footage, spec, warn)
    rng = np.random.default_rng(seed)
    planner = FootagePlanner(sources, spec, rng)
    truth: list[TruthVideo] = []
    originals: list[tuple[TruthVideo, int, FootageShot]] = []  # clean shots a re-upload or reshoot may take
    n_copies, n_negatives = round(videos * spec.duplicate_videos), round(videos * spec.hard_negative_videos)
    n_originals = max(1, videos - n_copies - n_negatives)
    attempts = 0
    while len(truth) < n_originals:
        attempts += 1
        if attempts > 20 * videos:
            raise InputError(f"no output size in {list(spec.sizes)} fits the footage without magnifying it")
        chosen = planner.video_sources()
        size = planner.video_size(chosen)
        if size is None:
            continue
        fps = Fraction(chosen[0].fps if chosen[0].fps >= spec.min_fps else 25).limit_denominator(1001)
        shots = [planner.shot(source, size, float(fps)) for source in chosen]
        for index, shot in enumerate(shots):
            add_overlay(shot, spec, np.random.default_rng([seed, len(truth), index, 22]), float(fps))
            add_still(shot, spec, np.random.default_rng([seed, len(truth), index, 21]), float(fps))
        crf = int(rng.integers(spec.crf[0], spec.crf[1] + 1))

        def frames():
            for shot in shots:
                shot.render_state = rng.bit_generator.state  # to render the shot again for a re-upload
                yield from render_footage_shot(shot, rng)

        video = _write_footage_video(raw, Path(f"footage_{seed}_{len(truth):04d}.mp4"), shots, size, fps, crf, frames())
        truth.append(video)
        originals += [(video, i, shot) for i, shot in enumerate(shots) if not shot.defects]
        if progress:
            progress(len(truth), videos)

    def copy_video(index: int, reupload: bool, picked: list, extra: np.random.Generator) -> TruthVideo | None:
        name = Path("reuploads" if reupload else "reshoots") / f"footage_{seed}_{index:04d}.mp4"
        return (_footage_reupload if reupload else _footage_reshoot)(raw, name, picked, spec, planner, extra)

    add_copy_videos(truth, originals, n_originals, videos, n_copies, seed, _pick_footage_shots, copy_video, progress)
    if planner.repeats and not spec.repeat_frames:
        warn(f"the footage is too short for {videos} videos: {planner.repeats} shots show frames of an earlier shot "
             "(labelled duplicate, copy_of that shot, where they show most of its frames alike; else overlap_of it)")
    write_truth(out / "ground_truth.jsonl", truth)
    (out / "sources.json").write_text(json.dumps(
        [{"source": s.name, "width": s.width, "height": s.height, "fps": round(s.fps, 3),
          "usable_frames": sum(e - b for b, e in s.segments)} for s in sources], indent=1), encoding="utf-8")
    return truth


def _write_footage_video(raw: Path, rel: Path, shots: list[FootageShot], size, fps, crf: int, frames,
                         origins: list[dict] | None = None) -> TruthVideo:
    """Encode the frames and caption the video (.txt); `origins`: per shot, the TruthShot fields naming
    its original (and the copy's edit)."""
    num_frames = write_mp4(raw / rel, frames, size, fps, crf)
    caption = "footage from " + ", ".join(dict.fromkeys(Path(shot.source.name).stem for shot in shots))
    truth_shots, start = [], 0
    for i, shot in enumerate(shots):
        extra = origins[i] if origins else {}
        if origins is None:
            shot.ref = f"{rel.as_posix()}#{i}"
        if shot.repeat_of is not None and origins is None:  # footage ran out: it shows an earlier shot's frames
            extra = ({"defects": [*shot.defects, "duplicate"], "copy_of": shot.repeat_of.ref} if shot.repeats_as_copy
                     else {"overlap_of": shot.repeat_of.ref})
        truth_shots.append(TruthShot(
            start_frame=start, end_frame=start + shot.num_frames, true_caption=f"a shot from {shot.source.name}",
            attached_caption=caption, defects=extra.pop("defects", shot.defects),
            camera=shot.camera, source=shot.source.name, source_start_frame=shot.start, nuisances=shot.nuisances,
            fault=extra.pop("fault", {**shot.details, **(shot.overlay.details() if shot.overlay else {}),
                                      **({"still": shot.still} if shot.still else {})}), **extra,
        ))
        start += shot.num_frames
    if start != num_frames:
        raise MediaError(f"{rel}: encoder wrote {num_frames} frames for {start}")
    (raw / rel).with_suffix(".txt").write_text(caption + "\n", encoding="utf-8")
    return TruthVideo(video=rel.as_posix(), fps=float(fps), num_frames=num_frames, width=size[0], height=size[1],
                      caption_source="txt", crf=crf, shots=truth_shots)


def _pick_footage_shots(rng: np.random.Generator, originals: list, taken: set[int]) -> list[int]:
    """1-3 clean original shots for one video: not in `taken`, of one frame size and rate, no two in a
    row from one source (every cut shows)."""
    free = [i for i in range(len(originals)) if i not in taken]
    if not free:
        return []
    first = free[int(rng.integers(len(free)))]
    video = originals[first][0]
    picked = [first]
    for _ in range(int(rng.integers(0, 3))):
        options = [i for i in free if i not in picked and originals[i][0].fps == video.fps
                   and (originals[i][0].width, originals[i][0].height) == (video.width, video.height)
                   and originals[i][2].source is not originals[picked[-1]][2].source]
        if not options:
            break
        picked.append(options[int(rng.integers(len(options)))])
    return picked


def _footage_reupload(raw: Path, rel: Path, picked: list, spec: FootageSpec, planner: "FootagePlanner",
                      rng: np.random.Generator) -> TruthVideo:
    """Copies of the picked shots: rendered again as they were (same frames, camera, noise), each
    cropped, scaled to another size no more than 1.2x wider and brightened or darkened, re-encoded."""
    first = picked[0][0]
    sizes = [s for s in spec.sizes if s != (first.width, first.height) and s[0] <= 1.2 * first.width] or [(first.width, first.height)]
    size = tuple(sizes[int(rng.integers(len(sizes)))])
    edits = [CopyEdit.draw(rng, size, spec.copy_crop, spec.copy_gain) for _ in picked]

    def frames():
        for (_, _, shot), edit in zip(picked, edits):
            again = np.random.Generator(np.random.PCG64())
            again.bit_generator.state = shot.render_state
            yield from (edit.apply(frame) for frame in render_footage_shot(shot, again))

    origins = [{"defects": ["duplicate"], "fault": edit.describe(), "copy_of": f"{video.video}#{i}"}
               for (video, i, _), edit in zip(picked, edits)]
    crf = int(rng.integers(spec.copy_crf[0], spec.copy_crf[1] + 1))
    return _write_footage_video(raw, rel, [shot for _, _, shot in picked], size, Fraction(first.fps).limit_denominator(1001),
                                crf, frames(), origins)


def _footage_reshoot(raw: Path, rel: Path, picked: list, spec: FootageSpec, planner: "FootagePlanner",
                     rng: np.random.Generator) -> TruthVideo | None:
    """Other stretches of the picked shots' sources, framed as the originals were (the same place and
    camera at another moment), static, clean; None when every source is used up."""
    first = picked[0][0]
    shots, origins = [], []
    for video, i, base in picked:
        found = planner.stretch(base.source, base.source_frames)
        if found is None:
            continue
        shots.append(planner.take(base.source, *found, base.size, base.step))
        shots[-1].label_held(spec.held_change)  # clean, unless its source holds its picture
        origins.append({"negative_of": f"{video.video}#{i}"})
    if not shots:
        return None
    frames = (frame for shot in shots for frame in render_footage_shot(shot, rng))
    crf = int(rng.integers(spec.crf[0], spec.crf[1] + 1))
    return _write_footage_video(raw, rel, shots, (first.width, first.height), Fraction(first.fps).limit_denominator(1001),
                                crf, frames, origins)
