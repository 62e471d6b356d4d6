"""Exactly-once output: a job's results are committed in parts, so a crash costs at most the part in flight.

    OUT/parts/job.json            the settings that decide the results, written before any part
    OUT/parts/part-000007.json    one commit: the shards it closed, the video and clip rows it finished
    OUT/shards/shard-000012.tar   referenced by exactly one part

A part is written (atomically) only after its shards are complete, so a shard no part names is the
debris of a crash: resume deletes it and writes that work again under the same shard numbers. A
video is finished once its own row is committed; a video cut short by a crash is analysed again
and its already-committed clips are skipped, so no clip is written twice. At the end the parts are
compacted into clips.parquet / videos.parquet and run.json marks the job complete.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

from vcurate.config import PipelineConfig
from vcurate.errors import VcurateError
from vcurate.records import ClipRecord, VideoRecord
from vcurate.storage import Location

PARTS = "parts"
JOB_FILE = "job.json"
RUN_FILE = "run.json"
# calibration.json is written by `vcurate calibrate` from a run's manifests: it goes with the run it describes
RESULT_FILES = ("clips.parquet", "videos.parquet", RUN_FILE, "report.html", "calibration.json")
_PART = re.compile(r"^part-(\d{6})\.json$")
_SHARD = re.compile(r"^shard-(\d{6})(?:-[0-9a-z-]+)?\.tar$")  # the suffix: the bucket (shards.group_by_bucket)


class OutputExistsError(VcurateError, FileExistsError):
    """The output folder holds results that this run would mix with or replace."""


@dataclass
class Part:
    """One commit: shard files closed since the previous part and the records finished with them."""

    index: int
    shards: list[str] = field(default_factory=list)
    videos: list[VideoRecord] = field(default_factory=list)
    clips: list[ClipRecord] = field(default_factory=list)

    def to_json(self) -> bytes:
        return json.dumps({
            "index": self.index, "shards": self.shards,
            "videos": [v.model_dump(mode="json") for v in self.videos],
            "clips": [c.model_dump(mode="json") for c in self.clips],
        }, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> "Part":
        raw = json.loads(data)
        return cls(raw["index"], raw["shards"], [VideoRecord.model_validate(v) for v in raw["videos"]],
                   [ClipRecord.model_validate(c) for c in raw["clips"]])


@dataclass
class ResumeState:
    """What earlier attempts committed: whole videos to skip, and the clips of videos cut short."""

    parts: int = 0
    next_shard: int = 0
    finished: set[str] = field(default_factory=set)
    partial_clips: dict[str, set[str]] = field(default_factory=dict)  # video -> committed clip keys
    partial_kept: Counter = field(default_factory=Counter)  # video -> committed kept clips

    def skip_clip(self, clip: ClipRecord) -> bool:
        return clip.clip_key in self.partial_clips.get(clip.video, ())


def result_settings(cfg: PipelineConfig) -> dict:
    """The settings that decide which clips come out and what they hold; where and how fast the job
    runs (output folder, Ray resources, devices, batch sizes) may change between attempts."""
    return cfg.model_dump(mode="json", exclude={"output": True, "ray": True, "analysis": {"decode_threads"},
                                                "align": {"device", "actors", "num_gpus", "batch_size"}})


class Ledger:
    """The parts of one output folder: decides fresh / resume / already complete, and commits."""

    def __init__(self, out: Location, cfg: PipelineConfig):
        self.out = out
        self.parts_dir = out / PARTS
        self.settings = result_settings(cfg)
        self.state = ResumeState()
        self.committed_shards: set[str] = set()
        self.completed_run: dict | None = None

    # --- opening ------------------------------------------------------------------------------------

    def check(self, overwrite: bool) -> None:
        """Decide, without changing anything, whether this job may write here, and read what earlier
        attempts committed. Raises OutputExistsError when an earlier attempt cannot be continued
        (other settings, or results not written by a ledger) and `overwrite` is off; sets
        `completed_run` when the same job already finished."""
        if overwrite:
            return
        self._check_continuable()
        if self.completed_run is None:
            self._read_parts()

    def start(self, overwrite: bool) -> None:
        """Make the folder ready to write: with `overwrite`, remove everything vcurate wrote here;
        otherwise remove only the debris of a crash (uncommitted shards, temporary files)."""
        if overwrite:
            self.clear()
            self.state, self.committed_shards = ResumeState(), set()
        self._remove_debris()
        if self.state.parts == 0:
            self.out.mkdir()
            (self.parts_dir / JOB_FILE).write_bytes(json.dumps({"result_settings": self.settings}, indent=1).encode())

    def _check_continuable(self) -> None:
        run_file, job_file = self.out / RUN_FILE, self.parts_dir / JOB_FILE
        if run_file.exists():
            info = json.loads(run_file.read_bytes())
            if info.get("result_settings") == self.settings:
                self.completed_run = info
                return
            raise OutputExistsError(
                f"{self.out} holds a finished run with other settings{_diff(info.get('result_settings'), self.settings)};"
                " pass --overwrite to replace it, or choose another --output")
        if job_file.exists():
            saved = json.loads(job_file.read_bytes()).get("result_settings")
            if saved != self.settings:
                raise OutputExistsError(
                    f"{self.out} holds an interrupted run with other settings{_diff(saved, self.settings)}; "
                    "resume it with its own config, or pass --overwrite to start again")
            return
        leftovers = [n for n in RESULT_FILES if (self.out / n).exists()] + self._shard_names()[:1]
        if leftovers:
            raise OutputExistsError(f"{self.out} already holds results ({', '.join(leftovers)}); "
                                    "pass --overwrite to replace them")

    def _shard_names(self) -> list[str]:
        shards = self.out / "shards"
        if not shards.is_dir():
            return []
        return sorted(f.name for f in shards.iter_files() if f.name.startswith("shard-"))

    def clear(self) -> None:
        """Remove every file an earlier run wrote here (and nothing else)."""
        for name in RESULT_FILES:
            (self.out / name).delete()
        for name in self._shard_names():
            (self.out / "shards" / name).delete()
        if self.parts_dir.is_dir():
            for f in self.parts_dir.iter_files():
                f.delete()

    def _part_files(self) -> Iterator[tuple[int, Location]]:
        if not self.parts_dir.is_dir():
            return
        for f in self.parts_dir.iter_files():
            match = _PART.match(f.name)
            if match:
                yield int(match.group(1)), f

    def _read_parts(self) -> None:
        """The resume state from the committed parts (numbered without a gap from 0)."""
        for index, f in sorted(self._part_files()):
            if index != self.state.parts:
                break
            part = Part.from_json(f.read_bytes())
            self.committed_shards.update(part.shards)
            for shard in part.shards:
                self.state.next_shard = max(self.state.next_shard, int(_SHARD.match(shard).group(1)) + 1)
            for video in part.videos:
                self.state.finished.add(video.video)
                self.state.partial_clips.pop(video.video, None)
                self.state.partial_kept.pop(video.video, None)
            for clip in part.clips:
                if clip.video not in self.state.finished:
                    self.state.partial_clips.setdefault(clip.video, set()).add(clip.clip_key)
                    self.state.partial_kept[clip.video] += clip.status == "kept"
            self.state.parts += 1

    def _remove_debris(self) -> None:
        """What a crash leaves: shards no committed part names, parts after a gap, temporary files."""
        for name in self._shard_names():
            if name not in self.committed_shards:
                (self.out / "shards" / name).delete()
        for index, f in list(self._part_files()):
            if index >= self.state.parts:
                f.delete()
        for f in self.parts_dir.iter_files() if self.parts_dir.is_dir() else ():
            if f.name.endswith(".tmp"):
                f.delete()

    # --- committing ---------------------------------------------------------------------------------

    def commit(self, shards: list[str], videos: list[VideoRecord], clips: list[ClipRecord]) -> None:
        part = Part(self.state.parts, shards, videos, clips)
        (self.parts_dir / f"part-{part.index:06d}.json").write_bytes(part.to_json())
        self.state.parts += 1

    def parts(self) -> Iterator[Part]:
        """Committed parts in order (for compaction)."""
        for index, f in sorted(self._part_files()):
            if index < self.state.parts:
                yield Part.from_json(f.read_bytes())

    def remove_parts(self) -> None:
        """The job is complete (run.json written): its commit log goes, and its folder when nothing else is there."""
        for _, f in list(self._part_files()):
            f.delete()
        (self.parts_dir / JOB_FILE).delete()
        if self.parts_dir.is_dir() and next(self.parts_dir.iter_files(), None) is None:
            self.parts_dir.fs.delete_dir(self.parts_dir.path)


def _diff(saved: dict | None, current: dict) -> str:
    """' (align.min_score: 0.2 → 0.25, …)': the settings that differ, for the refusal message."""
    if not isinstance(saved, dict):
        return ""
    changes = []

    def walk(a, b, prefix):
        for key in sorted(set(a) | set(b)):
            x, y = a.get(key), b.get(key)
            if isinstance(x, dict) and isinstance(y, dict):
                walk(x, y, f"{prefix}{key}.")
            elif x != y:
                changes.append(f"{prefix}{key}: {x!r} → {y!r}")

    walk(saved, current, "")
    return f" ({', '.join(changes[:5])}{', …' if len(changes) > 5 else ''})" if changes else ""

