"""Scene cuts from PySceneDetect's detectors, fed from the shared decode pass."""

from __future__ import annotations

from scenedetect.common import FrameTimecode
from scenedetect.detectors import AdaptiveDetector, ContentDetector

from vcurate.config import SplitConfig
from vcurate.media.frames import AnalysisFrame


def make_detector(cfg: SplitConfig):
    if cfg.detector == "content":
        return ContentDetector(threshold=cfg.threshold, min_scene_len=cfg.min_scene_frames)
    return AdaptiveDetector(adaptive_threshold=cfg.threshold, min_scene_len=cfg.min_scene_frames)


class SceneAnalyzer:
    """Collects the frame indices where a new scene starts."""

    def __init__(self, cfg: SplitConfig, fps: float):
        self.detector = make_detector(cfg)
        self.fps = fps if fps > 0 else 25.0
        self.downscale = cfg.downscale
        self.cuts: list[int] = []

    def _timecode(self, index: int) -> FrameTimecode:
        return FrameTimecode(timecode=index, fps=self.fps)

    def process(self, index: int, frame: AnalysisFrame) -> None:
        found = self.detector.process_frame(self._timecode(index), frame.bgr(self.downscale))
        self.cuts.extend(tc.frame_num for tc in found)

    def finish(self, num_frames: int) -> None:
        found = self.detector.post_process(self._timecode(max(0, num_frames - 1)))
        self.cuts.extend(tc.frame_num for tc in found)
        self.cuts = sorted({c for c in self.cuts if 0 < c < num_frames})
