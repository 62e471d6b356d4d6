"""Clip analyzers: plug-ins of the single decode pass.

Each analyzer says how it is built from the pipeline config (or that it is off), looks at every
decoded frame in order, and fills named clip columns. The analysis stage is a loop over the
registered analyzers (PySceneDetect's `SceneManager.add_detector` is the model), clips.parquet gains
their columns, and a rule in `vcurate.rules` over a column turns it into a filter. Adding a filter
is one analyzer, one rule and its test.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from vcurate.config import PipelineConfig
    from vcurate.media.frames import AnalysisFrame


def sampled_medians(frames: list[int], start: int, end: int, *series: list[float]) -> tuple[float, ...] | None:
    """Median of each series (one value per sampled frame, frame indices `frames`) over the sampled frames
    in [start, end); None when none of them falls in the clip."""
    indices = np.asarray(frames)
    inside = (indices >= start) & (indices < end)
    if not inside.any():
        return None
    return tuple(float(np.median(np.asarray(values)[inside])) for values in series)


@dataclass(frozen=True)
class Column:
    """A clip column an analyzer fills: its Python type (float, int, str or bytes; always nullable:
    a clip the analyzer could not judge gets None) and what it means, for the published schema."""

    type: type
    description: str


@dataclass(frozen=True)
class StreamFacts:
    """What an analyzer may know of a video before its frames arrive."""

    fps: float  # resolved frame rate, always > 0 (vcurate.media.probe.resolve_fps)
    width: int
    height: int
    expected_frames: int  # declared frame count, or duration x fps


class ClipAnalyzer(ABC):
    """A per-frame analyzer that scores clips. Subclasses set `columns` and register themselves with
    `@register_analyzer`."""

    columns: ClassVar[dict[str, Column]] = {}

    @classmethod
    @abstractmethod
    def build(cls, cfg: "PipelineConfig", stream: StreamFacts) -> "ClipAnalyzer | None":
        """The analyzer for one video, or None when the config switches it off."""

    @abstractmethod
    def process(self, index: int, frame: "AnalysisFrame") -> None:
        """Look at frame `index` (frames arrive in order, each once)."""

    def finish(self, num_frames: int) -> None:
        """The pass is over; `num_frames` frames were seen."""

    @abstractmethod
    def clip_columns(self, start: int, end: int) -> dict[str, Any]:
        """This analyzer's columns for the clip of frames [start, end)."""


ANALYZERS: list[type[ClipAnalyzer]] = []


def register_analyzer(cls: type[ClipAnalyzer]) -> type[ClipAnalyzer]:
    """Add an analyzer to the decode pass (class decorator). Two analyzers may not fill one column."""
    taken = analyzer_columns()
    clash = sorted(set(cls.columns) & set(taken))
    if clash:
        raise ValueError(f"{cls.__name__} fills columns another analyzer fills: {', '.join(clash)}")
    ANALYZERS.append(cls)
    return cls


def unregister_analyzer(cls: type[ClipAnalyzer]) -> None:
    ANALYZERS.remove(cls)


def analyzer_columns() -> dict[str, Column]:
    """Every registered analyzer's columns, in registration order."""
    return {name: column for cls in ANALYZERS for name, column in cls.columns.items()}


def build_analyzers(cfg: "PipelineConfig", stream: StreamFacts) -> list[ClipAnalyzer]:
    return [a for cls in ANALYZERS if (a := cls.build(cfg, stream)) is not None]
