"""The curation job, read top to bottom: split → filter → encode → shard.

`curate()` is the whole graph. It runs on a Ray Dataset (the default: local embedded Ray, or the
cluster at $RAY_ADDRESS) or, for debugging and fast tests, on `LocalDataset`, which offers the same
three verbs in-process. Stage code lives in `vcurate.stages` and knows nothing of Ray; this module
only turns records into rows and back.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from dataclasses import asdict
from typing import Callable, Iterable, Iterator

from vcurate.config import PipelineConfig
from vcurate.media.encode import encode_clip
from vcurate.media.probe import MediaError
from vcurate.records import ClipRecord, Reason, VideoRecord
from vcurate.stages.analyze import analyze_video
from vcurate.stages.filter import filter_clip
from vcurate.stages.ingest import VideoTask

Row = dict


def curate(ds, cfg: PipelineConfig):
    """The pipeline graph over rows of video tasks; yields one row per video and per clip."""
    ds = ds.flat_map(split_video, fn_kwargs={"cfg": cfg}, concurrency=cfg.ray.analyze_concurrency)  # one decode: scenes, analyzers → candidate clips
    ds = ds.map(filter_row, fn_kwargs={"cfg": cfg})  # captions, shake, blur, resolution → reasons
    ds = ds.map(encode_row, fn_kwargs={"cfg": cfg})  # encode only the clips still kept
    return ds  # the driver writes shards and manifests (vcurate.run.write_outputs)


# --- stages as row functions (the Ray edge) ---------------------------------------------------------

def _row(kind: str, path: str, record, seconds: float = 0.0, mp4: bytes = b"") -> Row:
    return {"kind": kind, "path": path, "record": record.model_dump_json(), "seconds": seconds, "mp4": mp4}


def split_video(task: Row, cfg: PipelineConfig) -> list[Row]:
    analysis = analyze_video(VideoTask(**task), cfg)
    rows = [_row("video", task["path"], analysis.video, analysis.seconds)]
    rows += [_row("clip", task["path"], clip) for clip in analysis.clips]
    return rows


def _clip_stage(fn: Callable[[ClipRecord, Row, PipelineConfig], Row]):
    """Lift a clip-level stage to rows: video rows pass through untouched."""

    def stage(row: Row, cfg: PipelineConfig) -> Row:
        if row["kind"] != "clip":
            return row
        return fn(ClipRecord.model_validate_json(row["record"]), row, cfg)

    stage.__name__ = fn.__name__
    stage.__doc__ = fn.__doc__
    return stage


@_clip_stage
def filter_row(clip: ClipRecord, row: Row, cfg: PipelineConfig) -> Row:
    return {**row, "record": filter_clip(clip, cfg.filters).model_dump_json()}


@_clip_stage
def encode_row(clip: ClipRecord, row: Row, cfg: PipelineConfig) -> Row:
    if clip.status != "kept":
        return row
    started = time.perf_counter()
    try:
        mp4 = encode_clip(row["path"], clip.start_s, clip.end_s, clip.fps, clip.num_frames, cfg.encode)
    except MediaError:
        clip.reject(Reason.ENCODE_FAILED)
        mp4 = b""
    return _row("clip", row["path"], clip, time.perf_counter() - started, mp4)


# --- engines -----------------------------------------------------------------------------------------

class LocalDataset:
    """The subset of Ray Data's Dataset that `curate` uses, run lazily in this process."""

    def __init__(self, rows: Iterable[Row]):
        self._rows = rows

    def flat_map(self, fn, fn_kwargs=None, **_ray_options) -> "LocalDataset":
        kw = fn_kwargs or {}
        return LocalDataset(itertools.chain.from_iterable(fn(r, **kw) for r in self._rows))

    def map(self, fn, fn_kwargs=None, **_ray_options) -> "LocalDataset":
        kw = fn_kwargs or {}
        return LocalDataset(fn(r, **kw) for r in self._rows)

    def iter_rows(self) -> Iterator[Row]:
        return iter(self._rows)


def init_ray(cfg: PipelineConfig) -> None:
    """Join $RAY_ADDRESS / ray.address when given, else start an embedded local Ray."""
    import ray

    if ray.is_initialized():
        return
    address = cfg.ray.address or os.environ.get("RAY_ADDRESS")
    options = dict(include_dashboard=False, ignore_reinit_error=True, logging_level=logging.WARNING)
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=cfg.ray.num_cpus, **options)


def dataset(tasks: list[VideoTask], cfg: PipelineConfig, engine: str):
    rows = [asdict(t) for t in tasks]
    if engine == "local":
        return LocalDataset(rows)
    if engine != "ray":
        raise ValueError(f"unknown engine {engine!r} (ray or local)")
    import ray

    init_ray(cfg)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # same input, same shards
    ctx.enable_progress_bars = False  # the driver shows one progress bar of its own
    return ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), 1000)))


def rows_for(tasks: list[VideoTask], cfg: PipelineConfig, engine: str = "ray") -> Iterator[Row]:
    if not tasks:
        return iter(())
    return curate(dataset(tasks, cfg, engine), cfg).iter_rows()


def decode_row(row: Row) -> VideoRecord | ClipRecord:
    model = VideoRecord if row["kind"] == "video" else ClipRecord
    return model.model_validate_json(row["record"])
