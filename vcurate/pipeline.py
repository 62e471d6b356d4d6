"""The curation job, read top to bottom: split → filter → score (CLIP) → encode → shard.

`stages()` is the whole graph; each stage is one import away and knows nothing of Ray. The engine
edge (vcurate.engine) runs them on Ray Data or in-process, and the driver (vcurate.job) writes the
shards and manifests from the rows that come out, in input order.
"""

from __future__ import annotations

from typing import Iterator

from vcurate.config import PipelineConfig
from vcurate.engine import apply, dataset
from vcurate.rows import StageRow, from_row
from vcurate.stages.align import AlignStage
from vcurate.stages.analyze import SplitStage
from vcurate.stages.base import Stage
from vcurate.stages.encode import EncodeStage
from vcurate.stages.filter import FilterStage
from vcurate.stages.ingest import VideoTask


def stages(cfg: PipelineConfig) -> list[Stage]:
    return [
        SplitStage(cfg),  # one decode per video: scenes and every clip analyzer → candidate clips
        FilterStage(cfg),  # captions, resolution, fps and the score rules → reasons
        *([AlignStage(cfg)] if cfg.align.enabled else []),  # caption ↔ frames similarity, a model per worker
        EncodeStage(cfg),  # only the clips still kept
    ]  # shard: the driver writes kept clips into tar shards as rows arrive (vcurate.job)


def curate(ds, cfg: PipelineConfig):
    for stage in stages(cfg):
        ds = apply(ds, stage)
    return ds


def rows_for(tasks: list[VideoTask], cfg: PipelineConfig, engine: str = "ray") -> Iterator[StageRow]:
    """The typed rows of `tasks`, in input order: each video's row, then its clips'."""
    if not tasks:
        return iter(())
    return (from_row(row) for row in curate(dataset(tasks, cfg, engine), cfg).iter_rows())
