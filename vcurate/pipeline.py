"""The curation job, read top to bottom: split → filter → score (CLIP) → encode → shard.

`curate()` is the whole graph. It runs on a Ray Dataset (the default: local embedded Ray, or the
cluster at $RAY_ADDRESS) or, for debugging and fast tests, on `LocalDataset`, which offers the same
verbs in-process. Stage code lives in `vcurate.stages` and knows nothing of Ray; this module
only turns records into rows and back.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
import time
from dataclasses import asdict
from typing import Callable, Iterable, Iterator

import numpy as np

from vcurate.config import PipelineConfig
from vcurate.errors import InputError
from vcurate.media.encode import encode_clip
from vcurate.media.probe import MediaError
from vcurate.isolation import IsolatedRunner, IsolationError
from vcurate.records import ClipRecord, Reason, VideoRecord
from vcurate.stages.analyze import VideoAnalysis, analyze_video, failed_analysis
from vcurate.stages.filter import filter_clip
from vcurate.stages.ingest import VideoTask

Row = dict


def curate(ds, cfg: PipelineConfig):
    """The pipeline graph over rows of video tasks; yields one row per video and per clip."""
    ds = ds.flat_map(split_video, fn_kwargs={"cfg": cfg}, concurrency=cfg.ray.analyze_concurrency,
                     num_cpus=cfg.ray.analyze_num_cpus)  # one decode: scenes, analyzers → candidate clips
    ds = ds.map(filter_row, fn_kwargs={"cfg": cfg}, concurrency=cfg.ray.analyze_concurrency,
                num_cpus=cfg.ray.analyze_num_cpus)  # captions, shake, blur, resolution → reasons (the split's options: one task)
    if cfg.align.enabled:  # caption ↔ frames similarity, one model per actor
        ds = ds.map_batches(AlignRows, fn_constructor_kwargs={"cfg": cfg}, batch_size=None,  # a video's rows at a time
                            concurrency=cfg.align.actors, num_gpus=align_gpus(cfg), num_cpus=align_cpus(cfg),
                            batch_format="numpy")
    ds = ds.map(encode_row, fn_kwargs={"cfg": cfg}, num_cpus=cfg.ray.encode_num_cpus)  # encode only the clips still kept
    return ds  # the driver writes shards and manifests (vcurate.job.run_job)


# --- stages as row functions (the Ray edge) ---------------------------------------------------------

def _row(kind: str, path: str, record, seconds: float = 0.0, mp4: bytes = b"", frames: bytes = b"") -> Row:
    return {"kind": kind, "path": path, "record": record.model_dump_json(), "seconds": seconds, "mp4": mp4,
            "frames": frames}


def pack_frames(frames: np.ndarray) -> bytes:
    """Frames travel between stages as .npy bytes (never pickle)."""
    buf = io.BytesIO()
    np.save(buf, frames, allow_pickle=False)
    return buf.getvalue()


def unpack_frames(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def split_video(task: Row, cfg: PipelineConfig) -> list[Row]:
    analysis = analyze_guarded(VideoTask(**task), cfg)
    rows = [_row("video", task["path"], analysis.video, analysis.seconds)]
    frames = analysis.frames or [None] * len(analysis.clips)
    for clip, clip_frames in zip(analysis.clips, frames):
        rows.append(_row("clip", task["path"], clip, frames=b"" if clip_frames is None else pack_frames(clip_frames)))
    return rows


ANALYZE_MODULE = "vcurate.stages.analyze"  # holds analyze_video; the isolation tests swap in their faults
_runners: dict[tuple, IsolatedRunner] = {}


def analyze_guarded(task: VideoTask, cfg: PipelineConfig) -> VideoAnalysis:
    """analyze_video in this worker's isolated child (vcurate.isolation): a hang, a time-out or a crash
    is retried `analysis.retries` times, then the video is failed with the reason."""
    limits = cfg.analysis
    if not limits.isolate:
        return analyze_video(task, cfg)
    key = (limits.stall_s, limits.time_limit_s, ANALYZE_MODULE)
    runner = _runners.get(key) or _runners.setdefault(key, IsolatedRunner(*key))
    started = time.perf_counter()
    for _ in range(limits.retries + 1):
        try:
            return runner.call(f"{runner.preload}:analyze_video", task, cfg)
        except IsolationError as exc:
            error = str(exc)
    return failed_analysis(task, error, time.perf_counter() - started)


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


class AlignRows:
    """Ray actor around ClipAligner: the model loads once per actor, then scores one video's rows at a
    time (a Ray block), in model batches of `align.batch_size` clips. Its output block is the encode
    stage's unit of work: batching clips of several videos here made a few long encode tasks that left
    cores idle while the last of them ran."""

    def __init__(self, cfg: PipelineConfig):
        from vcurate.stages.align import ClipAligner  # torch is imported only where CLIP runs

        self.aligner = ClipAligner(cfg.align)
        self.score_rejected = cfg.align.score_rejected
        self.batch_size = cfg.align.batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
        picked = []
        for row in rows:
            if row["kind"] == "clip" and len(row["frames"]):
                clip = ClipRecord.model_validate_json(row["record"])
                if clip.status == "kept" or self.score_rejected:
                    picked.append((row, clip))
        for chunk in chunked(picked, self.batch_size):
            self.aligner.align([c for _, c in chunk], [unpack_frames(r["frames"]) for r, _ in chunk])
        for row, clip in picked:
            row["record"] = clip.model_dump_json()
        for row in rows:
            row["frames"] = b""  # scored: no need to carry them further
        return {key: np.array([row[key] for row in rows], dtype=object) for key in batch}


def align_gpus(cfg: PipelineConfig) -> float:
    if cfg.align.num_gpus is not None:
        return cfg.align.num_gpus
    from vcurate.models.clip import resolve_device

    return 1.0 if resolve_device(cfg.align.device).type == "cuda" else 0.0


def align_cpus(cfg: PipelineConfig) -> float:
    """A CPU for an actor that feeds a GPU; none for one on the CPU, whose core would otherwise sit
    reserved between batches while videos wait to be decoded."""
    if cfg.align.num_cpus is not None:
        return cfg.align.num_cpus
    return 1.0 if align_gpus(cfg) > 0 else 0.0


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

def chunked(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of `size` items (the last one shorter), taken lazily."""
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


class LocalDataset:
    """The subset of Ray Data's Dataset that `curate` uses, run lazily in this process. Rows travel in
    blocks as they do on Ray: one block per input row, then one per flat_map call (a video's rows)."""

    def __init__(self, blocks: Iterable[list[Row]]):
        self._blocks = blocks

    @classmethod
    def from_items(cls, rows: Iterable[Row]) -> "LocalDataset":
        return cls([row] for row in rows)

    def flat_map(self, fn, fn_kwargs=None, **_ray_options) -> "LocalDataset":
        kw = fn_kwargs or {}
        return LocalDataset([out for row in block for out in fn(row, **kw)] for block in self._blocks)

    def map(self, fn, fn_kwargs=None, **_ray_options) -> "LocalDataset":
        kw = fn_kwargs or {}
        return LocalDataset([fn(row, **kw) for row in block] for block in self._blocks)

    def map_batches(self, fn_class, fn_constructor_kwargs=None, batch_size=None, **_ray_options) -> "LocalDataset":
        """One batch per block: Ray's meaning of batch_size=None, the only batching `curate` asks for."""
        if batch_size is not None:
            raise ValueError("LocalDataset batches whole blocks only (batch_size=None)")

        def blocks():
            fn = fn_class(**(fn_constructor_kwargs or {}))
            for block in self._blocks:
                if block:
                    out = fn({key: np.array([r[key] for r in block], dtype=object) for key in block[0]})
                    yield [dict(zip(out, values)) for values in zip(*out.values())]

        return LocalDataset(blocks())

    def iter_rows(self) -> Iterator[Row]:
        return itertools.chain.from_iterable(self._blocks)


def init_ray(cfg: PipelineConfig) -> None:
    """Join $RAY_ADDRESS / ray.address when given, else start an embedded local Ray (never a cluster that
    happens to run on this machine: `address="local"`)."""
    import ray

    if ray.is_initialized():
        return
    address = cfg.ray.address or os.environ.get("RAY_ADDRESS")
    options = dict(include_dashboard=False, ignore_reinit_error=True, logging_level=logging.WARNING)
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(address="local", num_cpus=cfg.ray.num_cpus, **options)


def dataset(tasks: list[VideoTask], cfg: PipelineConfig, engine: str):
    rows = [asdict(t) for t in tasks]
    if engine == "local":
        return LocalDataset.from_items(rows)
    if engine != "ray":
        raise InputError(f"unknown engine {engine!r} (ray or local)")
    import ray

    init_ray(cfg)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # same input, same shards
    ctx.enable_progress_bars = False  # the driver shows one progress bar of its own
    # Per-operator CPU reservations split a small machine between stages that have work at different
    # times (analysis first, encoding later): on 2 cores the job ran at ~1 core. Greedy scheduling,
    # bounded by Ray Data's object-store backpressure, keeps every core busy.
    ctx.op_resource_reservation_enabled = False
    return ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), 1000)))


def rows_for(tasks: list[VideoTask], cfg: PipelineConfig, engine: str = "ray") -> Iterator[Row]:
    if not tasks:
        return iter(())
    return curate(dataset(tasks, cfg, engine), cfg).iter_rows()


def decode_row(row: Row) -> VideoRecord | ClipRecord:
    model = VideoRecord if row["kind"] == "video" else ClipRecord
    return model.model_validate_json(row["record"])
