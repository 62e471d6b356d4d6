"""Scene cuts from PySceneDetect's detectors or from TransNetV2, fed from the shared decode pass.

A hand-held shot of a textured scene changes its colours from frame to frame as much as a cut does,
so the content score alone cuts shaky shots apart. For every frame whose change could make a cut,
the change is measured once more after undoing the camera's motion between the two decoded frames,
area-averaged to the detector's size (its own subsampled frames alias fine texture into a pattern
no warp undoes): the shift first (phase correlation), and where that leaves too much, the similarity
transform (shift, zoom, roll) that the scene-motion analyzer fits. A shaky step of one shot then
keeps 10-45 % of its change on hand-held test shots, synthetic and real (the shift alone, on the
detector's frames, left 20-85 % of real hand-held steps, which roll), a cut to another shot 85 % or
more. When less than `split.shake_veto` of the change is left, the detector is handed what is left,
so its own rules (threshold, minimum scene length, the adaptive detector's ratio to the neighbours)
see the scene's change, not the camera's.

TransNetV2 (`split.detector: transnetv2`) is a network trained on shot boundaries: it reads every
frame at 48x27 over 100-frame windows, and hand-held motion is part of what it learnt to ignore.
`hybrid` runs both and keeps the network's cuts plus the content cuts it confirms.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from scenedetect.common import FrameTimecode
from scenedetect.detectors import AdaptiveDetector, ContentDetector

from vcurate.analyze.scene_motion import AlignmentTemplate, fit_camera, gradients, starting_points
from vcurate.config import SplitConfig
from vcurate.media.frames import AnalysisFrame
from vcurate.models.transnet import FRAME_SIZE


def _weighted_change(components, weights) -> float:
    """PySceneDetect's content score from the mean absolute change of hue, saturation and value (edges
    unweighted here)."""
    return sum(c * w for c, w in zip((*components, 0.0), weights)) / sum(abs(w) for w in weights)


def _hsv_change(a: np.ndarray, b: np.ndarray, weights) -> float:
    """PySceneDetect's content score between two HSV frames of one size."""
    sums = cv2.sumElems(cv2.absdiff(a, b))[:3]
    pixels = a.shape[0] * a.shape[1]
    return _weighted_change([total / pixels for total in sums], weights)


_FIT_MARGIN = 2  # pixels left out at each border (the fit's gradients have no neighbours there)
_FIT_ITERATIONS = 4  # as scene motion's; 8 separated cuts from shaky steps no better (on the tuning archives)
_FIT_SMOOTHING = 1.0  # Gaussian sigma (pixels) of the values the fit aligns
# The fit judges every pixel, those a step takes out of view too (their counterparts repeat the border):
# telling them apart at every trial warp cost 3x the fit, and moved no share across the veto on the
# tuning archives. The change itself is measured where both frames show the picture.
_FIT_BOX = (-np.inf, np.inf, -np.inf, np.inf)


def camera_compensated_change(previous: np.ndarray, current: np.ndarray, weights) -> float:
    """The content change between two HSV frames once the camera's motion between them is undone:
    `current` sampled where the similarity transform (shift, zoom, roll) fitted on their smoothed
    values takes `previous`'s pixels (vcurate.analyze.scene_motion.fit_camera, started from no motion
    or phase correlation's shift), over the pixels both frames show. No gain / offset match: two unrelated
    pictures of like brightness fit one another's values well enough to lose a third of their change.
    inf where the frame is too small to fit or the camera took most of it out of view."""
    h, w = previous.shape[:2]
    if min(h, w) < 8 * _FIT_MARGIN:
        return float("inf")
    values = [cv2.GaussianBlur(f[..., 2].astype(np.float32), (0, 0), _FIT_SMOOTHING) for f in (previous, current)]
    box = (0.0, h - 1.0, 0.0, w - 1.0)
    template = AlignmentTemplate(values[0], *gradients(values[0]), _FIT_MARGIN, box)
    warp = fit_camera(template, values[1], _FIT_BOX, starting_points(template, values[1], None), _FIT_ITERATIONS)
    after = template.sample(current.astype(np.float32), warp)
    before = template.keep(previous[template.inner]).astype(np.float32)
    seen = template.inside(warp, box)
    if seen is not None:
        if seen.sum() < len(seen) / 4:
            return float("inf")
        after, before = after[seen], before[seen]
    return _weighted_change(np.abs(after - before).mean(axis=0), weights)


def shift_compensated_change(previous: np.ndarray, current: np.ndarray, weights) -> float:
    """The content change between two HSV frames once `previous` is moved by the global shift phase
    correlation finds between them (sub-pixel, bilinear), over the part both frames show."""
    h, w = current.shape[:2]
    window = cv2.createHanningWindow((w, h), cv2.CV_32F)
    # Windowed by hand: phaseCorrelate's own window argument gives different shifts from call to call.
    (dx, dy), _ = cv2.phaseCorrelate(previous[..., 2].astype(np.float32) * window, current[..., 2].astype(np.float32) * window)
    mx, my = int(np.ceil(abs(dx))) + 1, int(np.ceil(abs(dy))) + 1
    if 2 * mx >= w or 2 * my >= h:
        return float("inf")
    moved = cv2.warpAffine(previous, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), flags=cv2.INTER_LINEAR)
    return _hsv_change(moved[my : h - my, mx : w - mx], current[my : h - my, mx : w - mx], weights)


def camera_share(previous: np.ndarray, current: np.ndarray, weights, enough: float) -> float:
    """The share of the content change between two HSV frames that is left once the camera's motion is
    undone: a shaky step of one shot keeps 10-45 %, a cut to another shot 85 % or more. The shift is
    undone first (a third of the fit's cost); the similarity is fitted (`camera_compensated_change`)
    only where the shift leaves `enough` or more, a step that also rolled or zoomed, or a cut."""
    change = _hsv_change(previous, current, weights)
    if change <= 0:
        return 1.0
    shifted = shift_compensated_change(previous, current, weights) / change
    if shifted < enough:
        return shifted
    return camera_compensated_change(previous, current, weights) / change


class FastContentScore:
    """PySceneDetect's content score — the weighted mean absolute change of hue, saturation and value
    between consecutive frames — in two OpenCV calls instead of a dozen NumPy ones: the same number at
    a quarter of the cost (0.014 ms against 0.054 a 128x72 frame, the largest per-frame cost of scene
    detection after the decode). PySceneDetect's own code scores whenever edges are weighted or a
    stats manager records the components.

    A change that could make a cut (at least `candidate_change`) is judged once more by the share the
    camera's motion leaves of it (`camera_share`): below `shake_veto`, the detector is handed that
    share of it. Fed by DetectorScenes, the share is measured on the two decoded frames area-averaged
    to the detector's size (`frames`): its own frames are subsampled, and on fine texture their
    aliasing leaves 30-50 % of a shaky step whatever the warp, against 10-35 % area-averaged."""

    _previous_hsv: np.ndarray | None = None
    candidate_change: float = float("inf")  # scores at or above this are judged by the camera's share too
    shake_veto: float | None = None
    frames: tuple[AnalysisFrame | None, AnalysisFrame] | None = None  # the decoded pair behind the next frame
    downscale = 1  # the detector's frames are `frame.bgr(downscale)`
    _area: tuple[AnalysisFrame | None, np.ndarray | None] = (None, None)  # the last frame area-averaged, in HSV

    def _calculate_frame_score(self, timecode, frame_img: np.ndarray) -> float:
        weights = getattr(self, "_weights", None)
        if weights is None or weights.delta_edges > 0.0 or self.stats_manager is not None:
            return super()._calculate_frame_score(timecode, frame_img)
        hsv = cv2.cvtColor(frame_img, cv2.COLOR_BGR2HSV)
        previous, self._previous_hsv = self._previous_hsv, hsv
        if previous is None:
            return 0.0
        score = _hsv_change(previous, hsv, weights)
        if self.shake_veto is not None and score >= self.candidate_change:
            left = score * self._camera_share(previous, hsv, weights)
            if left < self.shake_veto * score:
                return left
        return score

    def _camera_share(self, previous: np.ndarray, current: np.ndarray, weights) -> float:
        if self.frames is None or self.frames[0] is None:
            return camera_share(previous, current, weights, self.shake_veto)
        return camera_share(*(self._area_hsv(frame) for frame in self.frames), weights, self.shake_veto)

    def _area_hsv(self, frame: AnalysisFrame) -> np.ndarray:
        """`frame` area-averaged, in HSV; kept for the next pair (in a shaky shot most frames are judged)."""
        if self._area[0] is not frame:
            self._area = (frame, cv2.cvtColor(frame.area_bgr(self.downscale), cv2.COLOR_BGR2HSV))
        return self._area[1]


class FastContentDetector(FastContentScore, ContentDetector):
    pass


class FastAdaptiveDetector(FastContentScore, AdaptiveDetector):
    pass


def make_detector(cfg: SplitConfig):
    if cfg.detector in ("content", "hybrid"):
        detector = FastContentDetector(threshold=cfg.threshold, min_scene_len=cfg.min_scene_frames)
        detector.candidate_change = cfg.threshold
    else:
        detector = FastAdaptiveDetector(adaptive_threshold=cfg.adaptive_threshold, min_scene_len=cfg.min_scene_frames)
        detector.candidate_change = detector.min_content_val
    detector.shake_veto, detector.downscale = cfg.shake_veto, cfg.downscale
    return detector


def strongest_apart(cuts: list[int], scores: list[float], min_gap: int) -> list[int]:
    """Of candidate cuts closer than `min_gap` frames to one another (or to the first frame), the one with
    the largest change (`scores[cut]`) stands. PySceneDetect keeps the first instead, so a slideshow's
    switch or a flicker a few frames before a real cut hid the cut (fresh footage seeds 19 and 31)."""
    kept: list[int] = []
    for cut in sorted(cuts, key=lambda c: -scores[c]):
        if cut >= min_gap and all(abs(cut - k) >= min_gap for k in kept):
            kept.append(cut)
    return sorted(kept)


class DetectorScenes:
    """Cuts from a PySceneDetect detector (content or adaptive), fed frame by frame; where candidates
    fall closer than `min_scene_frames`, the strongest stands (`strongest_apart`)."""

    def __init__(self, cfg: SplitConfig, fps: float):
        self.detector = make_detector(cfg.model_copy(update={"min_scene_frames": 1}))  # every candidate
        self.min_scene_frames = cfg.min_scene_frames
        self.fps = fps
        self.downscale = cfg.downscale
        self.cuts: list[int] = []
        self.scores: list[float] = []  # per frame, its content change (after the shake veto)
        self.previous: AnalysisFrame | None = None

    def _timecode(self, index: int) -> FrameTimecode:
        return FrameTimecode(timecode=index, fps=self.fps)

    def process(self, index: int, frame: AnalysisFrame) -> None:
        self.detector.frames = (self.previous, frame)
        found = self.detector.process_frame(self._timecode(index), frame.bgr(self.downscale))
        self.scores.append(self.detector._frame_score or 0.0)
        self.cuts.extend(tc.frame_num for tc in found)
        self.previous = frame

    def finish(self, num_frames: int) -> list[int]:
        found = self.detector.post_process(self._timecode(max(0, num_frames - 1)))
        candidates = [c for c in self.cuts + [tc.frame_num for tc in found] if c < len(self.scores)]
        return strongest_apart(candidates, self.scores, self.min_scene_frames)


def cuts_from_probabilities(probabilities: np.ndarray, threshold: float, min_scene_frames: int) -> list[int]:
    """A run of frames the network scores above `threshold` is one transition; the new scene starts
    on the frame after the run (the network marks the last frame of the outgoing shot, and the whole
    of a gradual transition). No cut closer than `min_scene_frames` to the previous one (or to frame 0)."""
    above = np.concatenate([[False], probabilities > threshold, [False]])
    run_ends = np.flatnonzero(above[1:-1] & ~above[2:]) + 1
    cuts, last = [], 0
    for cut in run_ends.tolist():
        if cut - last >= min_scene_frames:
            cuts.append(cut)
            last = cut
    return cuts


def network_frame(frame: AnalysisFrame) -> np.ndarray:
    """The 48x27 RGB frame TransNetV2 reads, area-averaged from the analysis frame's colours (no second
    decode, no libswscale call): each of its pixels averages some 30 analysis pixels, so texture does
    not alias into flicker."""
    small = cv2.resize(frame.bgr(), FRAME_SIZE, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)


WINDOW, STRIDE = 100, 50  # TransNetV2's inference: 100-frame windows 50 apart, the middle 50 predictions kept
CONTEXT = (WINDOW - STRIDE) // 2


class TransNetScenes:
    """Cuts from TransNetV2 over 48x27 RGB frames taken from the analysis frame as it arrives: the
    windows are batched and run while the video decodes; the video's start and end are padded with
    copies of its first and last frame, as the network's reference inference does."""

    _networks: ClassVar[dict[tuple[str, str], Any]] = {}  # per process: loaded once, not per video

    def __init__(self, cfg: SplitConfig):
        self.network, self.device = self.network_for(cfg)
        self.threshold, self.min_scene_frames, self.batch = cfg.transnet_threshold, cfg.min_scene_frames, cfg.transnet_batch
        self.frames: list[np.ndarray] = []  # frames self.first, self.first + 1, ... still needed by a window
        self.first = 0
        self.windows_taken = 0
        self.pending: list[np.ndarray] = []  # windows waiting for a batch
        self.probabilities: list[np.ndarray] = []  # per window, its middle STRIDE frames' cut probability
        self.frames_seen = 0
        self.cut_probabilities: np.ndarray | None = None  # per frame, once the pass is over

    @classmethod
    def network_for(cls, cfg: SplitConfig):
        import torch

        from vcurate.models.transnet import load_network, network_device, weights_path

        device = network_device(cfg.transnet_device)
        path = weights_path(cfg.transnet_weights)
        key = (str(path), str(device))
        if key not in cls._networks:
            if device.type == "cpu":
                torch.set_num_threads(cfg.transnet_threads)
            cls._networks[key] = load_network(path, device)
        return cls._networks[key], device

    def process(self, index: int, frame: AnalysisFrame) -> None:
        self.add(network_frame(frame))

    def add(self, small: np.ndarray) -> None:
        """The next frame, as `network_frame` gives it; scores every window it completes."""
        self.frames.append(small)
        self.frames_seen += 1
        while (self.windows_taken + 1) * STRIDE + CONTEXT <= self.frames_seen:
            self._take_window(self.frames_seen)
        if len(self.pending) >= self.batch:
            self._run()

    def _take_window(self, available: int) -> None:
        """Window k: frames STRIDE*k - CONTEXT ... + WINDOW, those before the video or after frame
        `available` - 1 repeated from the first / last frame."""
        start = self.windows_taken * STRIDE - CONTEXT
        indices = np.clip(np.arange(start, start + WINDOW), 0, available - 1) - self.first
        self.pending.append(np.stack([self.frames[i] for i in indices]))
        self.windows_taken += 1
        keep_from = max(0, self.windows_taken * STRIDE - CONTEXT)  # the next window's first frame
        del self.frames[: keep_from - self.first]
        self.first = keep_from

    def _run(self) -> None:
        import torch

        with torch.inference_mode():
            batch = torch.from_numpy(np.stack(self.pending)).to(self.device)
            one_hot, _ = self.network(batch)
            middle = torch.sigmoid(one_hot[:, CONTEXT : CONTEXT + STRIDE, 0]).float().cpu().numpy()
        self.probabilities.extend(middle)
        self.pending = []

    def finish(self, num_frames: int) -> list[int]:
        while self.windows_taken * STRIDE < self.frames_seen:
            self._take_window(self.frames_seen)
        if self.pending:
            self._run()
        self.cut_probabilities = np.concatenate(self.probabilities)[: self.frames_seen]
        return cuts_from_probabilities(self.cut_probabilities, self.threshold, self.min_scene_frames)


def hybrid_cuts(content: list[int], probabilities: np.ndarray, cfg: SplitConfig) -> list[int]:
    """TransNetV2's own cuts, and the content detector's cuts that the network half-sees: where its cut
    probability reaches `split.hybrid_confirm` in the 3 frames before. The network alone misses a few
    cuts between two shots of alike texture and layout (whatever their colours); the content detector
    alone cuts where a pan or a shaky step changes the colours, where the network sees nothing at all.
    A transition both find (within 2 frames) is one cut, the earlier."""
    network = cuts_from_probabilities(probabilities, cfg.transnet_threshold, cfg.min_scene_frames)
    confirmed = [c for c in content if 0 < c < len(probabilities)
                 and probabilities[max(0, c - 3) : c + 1].max() >= cfg.hybrid_confirm]
    cuts, last = [], 0
    for cut in sorted(network + confirmed):
        if cuts and cut - cuts[-1] <= 2:
            continue
        if cut - last >= cfg.min_scene_frames:
            cuts.append(cut)
            last = cut
    return cuts


class HybridScenes:
    """The content detector and TransNetV2 on the same frames, their cuts merged by `hybrid_cuts`."""

    def __init__(self, cfg: SplitConfig, fps: float):
        self.cfg = cfg
        self.content, self.network = DetectorScenes(cfg, fps), TransNetScenes(cfg)

    def process(self, index: int, frame: AnalysisFrame) -> None:
        self.content.process(index, frame)
        self.network.process(index, frame)

    def finish(self, num_frames: int) -> list[int]:
        content = self.content.finish(num_frames)
        self.network.finish(num_frames)
        return hybrid_cuts(content, self.network.cut_probabilities, self.cfg)


CPU_DETECTOR = "adaptive"  # what `split.detector: auto` runs without CUDA (benchmarks/scene_detectors.py chose it)


def resolve_detector(cfg: SplitConfig) -> str:
    """The detector `split.detector` names in this process: auto is the hybrid where TransNetV2 would run
    on CUDA here (`transnet_device` auto or cuda, a GPU visible: under Ray, an analysis task that
    reserves one), else CPU_DETECTOR, as accurate on CPU at a fraction of the network's cost there."""
    if cfg.detector != "auto":
        return cfg.detector
    return "hybrid" if cfg.transnet_device != "cpu" and cuda_visible() else CPU_DETECTOR


def cuda_visible() -> bool:
    """Whether this process sees a CUDA device. Where no NVIDIA driver is loaded (no /dev/nvidiactl) or
    CUDA_VISIBLE_DEVICES is empty (Ray's tasks that reserve no GPU), no, without importing torch (1-2 s
    and a few hundred MB in every analysis process, before its first frame)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "" or not Path("/dev/nvidiactl").exists():
        return False
    import torch

    return torch.cuda.is_available()


def check_scene_detector(cfg: SplitConfig, ray_analysis_gpus: bool | None = None) -> None:
    """Fail before any video is read when the TransNetV2 weights are missing, unreadable or do not fit
    the network: for transnetv2 and hybrid, and for auto where the analysis may run the hybrid. On Ray
    (`ray_analysis_gpus`: whether the analysis tasks reserve GPUs) that is said by the config, so the
    driver does not import torch to ask for a device its workers may not share; in-process (None) by
    this machine. (The analysis worker's device itself a driver on another node cannot judge.)"""
    if cfg.detector == "auto":
        network = resolve_detector(cfg) == "hybrid" if ray_analysis_gpus is None else ray_analysis_gpus
    else:
        network = cfg.detector in ("transnetv2", "hybrid")
    if network:
        import torch

        from vcurate.models.transnet import load_network, weights_path

        load_network(weights_path(cfg.transnet_weights), torch.device("cpu"))


class SceneAnalyzer:
    """Collects the frame indices where a new scene starts, from the detector `split.detector` names."""

    def __init__(self, cfg: SplitConfig, fps: float):
        """`fps`: the resolved rate (> 0), which the detectors' minimum scene length is counted in."""
        self.detector = resolve_detector(cfg)  # what runs here (auto resolved), recorded with the video
        cfg = cfg.model_copy(update={"detector": self.detector})
        sources = {"transnetv2": lambda: TransNetScenes(cfg), "hybrid": lambda: HybridScenes(cfg, fps)}
        self.source = sources.get(self.detector, lambda: DetectorScenes(cfg, fps))()
        self.cuts: list[int] = []

    def process(self, index: int, frame: AnalysisFrame) -> None:
        self.source.process(index, frame)

    def finish(self, num_frames: int) -> None:
        self.cuts = sorted({c for c in self.source.finish(num_frames) if 0 < c < num_frames})
