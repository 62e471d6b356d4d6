"""What every stage of the pipeline is: a named step over typed rows that declares what it needs to
run (NeMo Curator's stage objects are the model). Stages know nothing of Ray; vcurate.engine maps
each onto a Ray Data operator, or runs it in-process."""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Iterable, Iterator, Literal

from vcurate.rows import ClipRow, StageRow


@dataclass(frozen=True)
class Resources:
    """What one worker of a stage reserves, and how many may run at once (None: the engine decides)."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    concurrency: int | None = None


class Stage(ABC):
    """A step of the pipeline. `shape` says how rows pass through it:
    - "fan_out": a video task (vcurate.stages.ingest.VideoTask) in, its video and clip rows out;
    - "map": one row in, one out;
    - "actor": a block of rows (one video's) at a time, in a long-lived worker that `setup()` prepares
      once (a model loaded per worker, not per row)."""

    name: ClassVar[str]
    shape: ClassVar[Literal["fan_out", "map", "actor"]] = "map"

    def resources(self) -> Resources:
        return Resources()

    def setup(self) -> None:
        """Prepare the worker (load a model); called once before its first rows."""

    @abstractmethod
    def process(self, rows: list[StageRow]) -> list[StageRow]:
        """Rows in, rows out, in order: one row for "map", a video's rows for "actor"."""


class ClipStage(Stage):
    """A one-row stage that only looks at clips; video rows pass through untouched."""

    def process(self, rows: list[StageRow]) -> list[StageRow]:
        return [self.process_clip(row) if isinstance(row, ClipRow) else row for row in rows]

    @abstractmethod
    def process_clip(self, row: ClipRow) -> ClipRow:
        """One clip row in, one out."""


def chunked(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of `size` items (the last one shorter), taken lazily."""
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk
