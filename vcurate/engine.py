"""Where the pipeline's stages meet an engine: Ray Data (the default: local embedded Ray, or the
cluster at $RAY_ADDRESS) or `LocalDataset`, which offers the same verbs in-process for debugging and
fast tests. `apply` maps a stage onto one operator by its shape and declared resources; nothing
outside this module knows Ray Data."""

from __future__ import annotations

import itertools
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from typing import Iterable, Iterator

import numpy as np

from vcurate.config import PipelineConfig
from vcurate.errors import InputError
from vcurate.rows import Row, from_row
from vcurate.stages.base import Stage
from vcurate.stages.ingest import VideoTask
from vcurate.storage import locate


def run_fan_out(task: Row, stage: Stage) -> list[Row]:
    return [row.to_row() for row in stage.process([VideoTask(**task)])]


def run_map(row: Row, stage: Stage) -> Row:
    (out,) = stage.process([from_row(row)])
    return out.to_row()


class StageActor:
    """A long-lived worker of an "actor" stage: set up once, then fed one block (a video's rows) at a
    time, as a batch of numpy columns."""

    def __init__(self, stage: Stage):
        self.stage = stage
        stage.setup()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [from_row(dict(zip(batch, values))) for values in zip(*batch.values())]
        out = [row.to_row() for row in self.stage.process(rows)]
        return {key: np.array([row[key] for row in out], dtype=object) for key in batch}


def apply(ds, stage: Stage):
    """`ds` with `stage` applied, as the operator its shape calls for, with its resources."""
    res = stage.resources()
    options = dict(concurrency=res.concurrency, num_cpus=res.num_cpus, num_gpus=res.num_gpus)
    if stage.shape == "fan_out":
        return ds.flat_map(run_fan_out, fn_kwargs={"stage": stage}, **options)
    if stage.shape == "map":
        return ds.map(run_map, fn_kwargs={"stage": stage}, **options)
    return ds.map_batches(StageActor, fn_constructor_kwargs={"stage": stage}, batch_size=None,  # a block at a time
                          batch_format="numpy", **options)


def _in_background(fn, arg) -> Future:
    """`fn(arg)` on a daemon thread: a job stopped with Ctrl-C exits at once instead of waiting for it."""
    future: Future = Future()

    def work() -> None:
        try:
            future.set_result(fn(arg))
        except BaseException as exc:  # handed to whoever waits on the result
            future.set_exception(exc)

    threading.Thread(target=work, daemon=True).start()
    return future


class LocalDataset:
    """The subset of Ray Data's Dataset that `apply` uses, run lazily in this process. Rows travel in
    blocks as they do on Ray: one block per input row, then one per flat_map call (a video's rows)."""

    def __init__(self, blocks: Iterable[list[Row]]):
        self._blocks = blocks

    @classmethod
    def from_items(cls, rows: Iterable[Row]) -> "LocalDataset":
        return cls([row] for row in rows)

    def flat_map(self, fn, fn_kwargs=None, **_ray_options) -> "LocalDataset":
        """One block out per block in, computed a block ahead on a thread, as Ray's operators overlap:
        the next video is analysed (waiting on its child process, the GIL released) while this one's
        clips are encoded."""
        kw = fn_kwargs or {}

        def expand(block: list[Row]) -> list[Row]:
            return [out for row in block for out in fn(row, **kw)]

        def blocks():
            ahead = None
            for block in self._blocks:
                upcoming = _in_background(expand, block)
                if ahead is not None:
                    yield ahead.result()
                ahead = upcoming
            if ahead is not None:
                yield ahead.result()

        return LocalDataset(blocks())

    def map(self, fn, fn_kwargs=None, **_ray_options) -> "LocalDataset":
        """A block's rows mapped side by side on threads, in order, as Ray maps them on its workers: a
        "map" stage keeps no state between rows, and its costly work (a clip's decode and x264 encode)
        runs in FFmpeg with the GIL released. Each row still uses the threads its settings say, so the
        output is the same bytes as on Ray."""
        kw = fn_kwargs or {}

        def blocks():
            with ThreadPoolExecutor(available_cpus()) as pool:
                for block in self._blocks:
                    yield list(pool.map(lambda row: fn(row, **kw), block))

        return LocalDataset(blocks())

    def map_batches(self, fn_class, fn_constructor_kwargs=None, batch_size=None, **_ray_options) -> "LocalDataset":
        """One batch per block: Ray's meaning of batch_size=None, the only batching `apply` asks for."""
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


def available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def for_engine(cfg: PipelineConfig, engine: str) -> PipelineConfig:
    """`cfg` with what it leaves to the engine filled in: decoder threads per video are 1 on Ray, where
    each analysis task reserves one CPU and cores go to videos decoded side by side, and FFmpeg's
    choice in-process, where videos are analysed one at a time."""
    if cfg.analysis.decode_threads is not None:
        return cfg
    analysis = cfg.analysis.model_copy(update={"decode_threads": 1 if engine == "ray" else 0})
    return cfg.model_copy(update={"analysis": analysis})


def pick_engine(cfg: PipelineConfig, head: list[VideoTask]) -> str:
    """What `--engine auto` runs a job on, given its first `ray.local_max_videos` + 1 pending videos:
    in-process when they are all there is and `ray.local_max_mb` holds them, and no cluster is named;
    Ray otherwise. Both engines give the same manifests and shards (tests/test_cli.py)."""
    limits = cfg.ray
    if limits.address or os.environ.get("RAY_ADDRESS") or len(head) > limits.local_max_videos:
        return "ray"
    return "local" if sum(map(_file_size, head)) <= limits.local_max_mb * 2**20 else "ray"


def _file_size(task: VideoTask) -> int:
    """Its size in bytes; 0 for a file that vanished or cannot be read (its analysis fails with the reason)."""
    try:
        return locate(task.path).info().size or 0
    except OSError:
        return 0


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
    """The video tasks as a dataset of the engine named `engine` ("ray" or "local"; vcurate.job resolves "auto")."""
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
