"""Scene cuts from PySceneDetect's detectors or from TransNetV2, fed from the shared decode pass.

A hand-held shot of a textured scene changes its colours from frame to frame as much as a cut does,
so the content score alone cuts shaky shots apart. For every frame whose change could make a cut,
the change is measured once more after undoing the global shift between the two frames (phase
correlation at the detector's small size): a shaky step of one shot then loses most of it (on
textured hand-held test shots 60-80 %, the rest is interpolation), a cut to another shot keeps it.
When less than `split.shake_veto` of the change is left, the detector is handed what is left, so
its own rules (threshold, minimum scene length) see the scene's change, not the camera's.

TransNetV2 (`split.detector: transnetv2`) is a network trained on shot boundaries: it reads every
frame at 48x27 over 100-frame windows, and hand-held motion is part of what it learnt to ignore.
"""

from __future__ import annotations

from typing import Any, ClassVar

import cv2
import numpy as np
from scenedetect.common import FrameTimecode
from scenedetect.detectors import AdaptiveDetector, ContentDetector

from vcurate.config import SplitConfig
from vcurate.media.frames import AnalysisFrame
from vcurate.models.transnet import FRAME_SIZE


def _hsv_change(a: np.ndarray, b: np.ndarray, weights) -> float:
    """PySceneDetect's content score between two HSV frames of one size: the weighted mean absolute
    change of hue, saturation and value (edges unweighted here)."""
    sums = cv2.sumElems(cv2.absdiff(a, b))[:3]
    pixels = a.shape[0] * a.shape[1]
    components = (*(total / pixels for total in sums), 0.0)
    return sum(c * w for c, w in zip(components, weights)) / sum(abs(w) for w in weights)


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


class FastContentScore:
    """PySceneDetect's content score — the weighted mean absolute change of hue, saturation and value
    between consecutive frames — in two OpenCV calls instead of a dozen NumPy ones: the same number at
    a quarter of the cost (0.014 ms against 0.054 a 128x72 frame, the largest per-frame cost of scene
    detection after the decode). PySceneDetect's own code scores whenever edges are weighted or a
    stats manager records the components."""

    _previous_hsv: np.ndarray | None = None
    candidate_change: float = float("inf")  # scores at or above this are measured shift-compensated too
    shake_veto: float | None = None

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
            left = shift_compensated_change(previous, hsv, weights)
            if left < self.shake_veto * score:
                return left
        return score


class FastContentDetector(FastContentScore, ContentDetector):
    pass


class FastAdaptiveDetector(FastContentScore, AdaptiveDetector):
    pass


def make_detector(cfg: SplitConfig):
    if cfg.detector == "content":
        detector = FastContentDetector(threshold=cfg.threshold, min_scene_len=cfg.min_scene_frames)
        detector.candidate_change = cfg.threshold
    else:
        detector = FastAdaptiveDetector(adaptive_threshold=cfg.threshold, min_scene_len=cfg.min_scene_frames)
        detector.candidate_change = detector.min_content_val
    detector.shake_veto = cfg.shake_veto
    return detector


class DetectorScenes:
    """Cuts from a PySceneDetect detector (content or adaptive), fed frame by frame."""

    def __init__(self, cfg: SplitConfig, fps: float):
        self.detector = make_detector(cfg)
        self.fps = fps
        self.downscale = cfg.downscale
        self.cuts: list[int] = []

    def _timecode(self, index: int) -> FrameTimecode:
        return FrameTimecode(timecode=index, fps=self.fps)

    def process(self, index: int, frame: AnalysisFrame) -> None:
        found = self.detector.process_frame(self._timecode(index), frame.bgr(self.downscale))
        self.cuts.extend(tc.frame_num for tc in found)

    def finish(self, num_frames: int) -> list[int]:
        found = self.detector.post_process(self._timecode(max(0, num_frames - 1)))
        return self.cuts + [tc.frame_num for tc in found]


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


def check_scene_detector(cfg: SplitConfig) -> None:
    """Fail before any video is read when the TransNetV2 weights are missing, unreadable or do not fit
    the network. (Its device is the analysis worker's, which a driver on another node cannot judge.)"""
    if cfg.detector == "transnetv2":
        import torch

        from vcurate.models.transnet import load_network, weights_path

        load_network(weights_path(cfg.transnet_weights), torch.device("cpu"))


class SceneAnalyzer:
    """Collects the frame indices where a new scene starts, from the detector `split.detector` names."""

    def __init__(self, cfg: SplitConfig, fps: float):
        """`fps`: the resolved rate (> 0), which the detectors' minimum scene length is counted in."""
        self.source = TransNetScenes(cfg) if cfg.detector == "transnetv2" else DetectorScenes(cfg, fps)
        self.cuts: list[int] = []

    def process(self, index: int, frame: AnalysisFrame) -> None:
        self.source.process(index, frame)

    def finish(self, num_frames: int) -> None:
        self.cuts = sorted({c for c in self.source.finish(num_frames) if 0 < c < num_frames})
