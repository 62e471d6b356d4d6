"""A curation job on the driver: plan the tasks, stream the pipeline's rows into shards and manifests,
write run.json. Every decision lands in clips.parquet / videos.parquet."""

from __future__ import annotations

import json
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vcurate import __version__
from vcurate.config import PipelineConfig
from vcurate.manifest import write_records
from vcurate.pipeline import decode_row, rows_for
from vcurate.records import ClipRecord, VideoRecord
from vcurate.stages.align import check_align_config, resolved_min_score
from vcurate.stages.ingest import plan_tasks
from vcurate.stages.shard import ShardWriter

RESULT_FILES = ("clips.parquet", "videos.parquet", "run.json", "report.html")
PACKAGES = ("av", "scenedetect", "ray", "webdataset", "open_clip_torch", "torch", "pandas", "pyarrow", "numpy")


class OutputExistsError(FileExistsError):
    """The output folder already holds results that a run would replace."""


@dataclass
class RunSummary:
    output: Path
    videos: int = 0
    failed: int = 0
    clips: int = 0
    kept: int = 0
    reasons: Counter = field(default_factory=Counter)
    shards: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    hours_in: float = 0.0
    hours_kept: float = 0.0

    def as_dict(self) -> dict:
        return {
            "videos": self.videos, "failed": self.failed, "clips": self.clips, "kept": self.kept,
            "rejected": self.clips - self.kept, "reasons": dict(sorted(self.reasons.items())),
            "shards": len(self.shards), "hours_in": round(self.hours_in, 4), "hours_kept": round(self.hours_kept, 4),
        }


def prepare_output(out: Path, overwrite: bool, dry_run: bool = False) -> None:
    """Refuse to mix with an earlier run's results unless asked; then remove only files we wrote."""
    shards = out / "shards"
    existing = [n for n in RESULT_FILES if (out / n).exists()]
    if shards.is_dir() and any(shards.glob("shard-*.tar*")):
        existing.append("shards/")
    if existing and not overwrite:
        raise OutputExistsError(
            f"{out} already holds results ({', '.join(existing)}); pass --overwrite to replace them"
        )
    if dry_run:
        return
    for name in RESULT_FILES:
        (out / name).unlink(missing_ok=True)
    if shards.is_dir():
        for path in shards.glob("shard-*.tar*"):
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "vcurate": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def run_job(cfg: PipelineConfig, overwrite: bool = False, engine: str = "ray", progress: bool = True) -> RunSummary:
    if not cfg.output.path:
        raise ValueError("no output folder: pass --output or set output.path in the pipeline YAML")
    out = Path(cfg.output.path)
    tasks = plan_tasks(cfg.input)
    prepare_output(out, overwrite, dry_run=True)
    if cfg.align.enabled:
        check_align_config(cfg.align, fetch=True)
    prepare_output(out, overwrite)
    summary = RunSummary(out)
    started_at = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    stage = Counter()
    videos: list[VideoRecord] = []
    clips: list[ClipRecord] = []
    bar = Progress(
        TextColumn("[bold]curating"), BarColumn(), MofNCompleteColumn(), TextColumn("videos"),
        TextColumn("{task.fields[kept]} clips kept"), TimeElapsedColumn(), disable=not progress,
    )
    with bar, ShardWriter(out / "shards", cfg.shards.max_samples, cfg.shards.max_bytes) as writer:
        task_id = bar.add_task("videos", total=len(tasks), kept=0)
        for row in rows_for(tasks, cfg, engine):
            record = decode_row(row)
            if isinstance(record, VideoRecord):
                videos.append(record)
                stage["analyze"] += row["seconds"]
                bar.update(task_id, advance=1)
                continue
            if record.status == "kept":
                writer.write(record, row["mp4"])
                stage["encode"] += row["seconds"]
                summary.kept += 1
                bar.update(task_id, kept=summary.kept)
            clips.append(record)
    summary.shards = writer.written

    kept_per_video = Counter(c.video for c in clips if c.status == "kept")
    for video in videos:
        video.num_kept = kept_per_video[video.video]
    summary.videos, summary.clips = len(videos), len(clips)
    summary.failed = sum(v.status == "failed" for v in videos)
    summary.reasons = Counter(r for c in clips for r in c.reasons)
    summary.hours_in = sum(v.duration_s for v in videos if v.status == "ok") / 3600
    summary.hours_kept = sum(c.duration_s for c in clips if c.status == "kept") / 3600
    write_records(out / "clips.parquet", clips, ClipRecord)
    write_records(out / "videos.parquet", videos, VideoRecord)
    summary.seconds = {"wall": round(time.perf_counter() - t0, 3), **{k: round(v, 3) for k, v in stage.items()}}
    run_info = {
        "started": started_at.isoformat(), "finished": datetime.now(timezone.utc).isoformat(),
        "engine": engine, "input": cfg.input.path, "output": str(out),
        "config": cfg.model_dump(mode="json"), "versions": _versions(),
        "stage_seconds": summary.seconds, "counts": summary.as_dict(), "shards": summary.shards,
        "thresholds": {"clip_score": resolved_min_score(cfg.align)} if cfg.align.enabled else {},
    }
    tmp = out / "run.json.tmp"
    tmp.write_text(json.dumps(run_info, indent=2), encoding="utf-8")
    tmp.replace(out / "run.json")
    return summary
