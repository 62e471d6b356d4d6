"""Blank clips: black or flat frames (a fade held, a leader, a blank card) show nothing to learn from.

Every `every`-th frame, the standard deviation of the analysis luma in 8-bit levels; a clip's
`luma_spread` is the median over its sampled frames. Codec noise on a black frame is under 1 level,
the flattest real footage measured (a low-contrast zebrafish tank) about 5. Without this a blank clip
reaches the blur rule with a crispness of 0 and is rejected for the wrong reason."""

from __future__ import annotations

from vcurate.analyze.registry import ClipAnalyzer, Column, StreamFacts, register_analyzer, sampled_medians
from vcurate.config import PipelineConfig
from vcurate.media.frames import AnalysisFrame


@register_analyzer
class BlankAnalyzer(ClipAnalyzer):
    columns = {
        "luma_spread": Column(float, "standard deviation of the analysis luma, 8-bit levels, median over the clip's "
                                     "sampled frames (filters.blank)"),
    }

    def __init__(self, every: int):
        self.every = max(1, every)
        self.frames: list[int] = []
        self.spread: list[float] = []

    @classmethod
    def build(cls, cfg: PipelineConfig, stream: StreamFacts) -> "BlankAnalyzer | None":
        return cls(cfg.filters.blank.every) if cfg.filters.blank.enabled else None

    def process(self, index: int, frame: AnalysisFrame) -> None:
        if index % self.every:
            return
        self.frames.append(index)
        self.spread.append(float(frame.luma().std()))

    def clip_columns(self, start: int, end: int) -> dict[str, float | None]:
        medians = sampled_medians(self.frames, start, end, self.spread)
        return {"luma_spread": None if medians is None else round(medians[0], 4)}
