"""The split stage. Per video: one open for the container facts and a single decode pass through the
scene detector and every registered clip analyzer, scenes to candidate clips, captions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from vcurate.analyze import StreamFacts, build_analyzers
from vcurate.analyze.clipframes import ClipFrameSampler, sampling_step
from vcurate.analyze.scenes import SceneAnalyzer
from vcurate.config import PipelineConfig
from vcurate.isolation import ANALYSIS, IsolationError, runner_for
from vcurate.media.frames import FrameAnalyzer, decode_frames
from vcurate.media.probe import MediaError, open_probed
from vcurate.models.sizes import image_size
from vcurate.records import ClipRecord, VideoRecord
from vcurate.rows import ClipRow, StageRow, VideoRow
from vcurate.stages.base import Resources, Stage
from vcurate.stages.captions import sidecar_captions
from vcurate.stages.ingest import VideoTask
from vcurate.stages.split import split_scenes


@dataclass
class VideoAnalysis:
    video: VideoRecord
    clips: list[ClipRecord] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)  # per clip, for CLIP; empty when align is off
    seconds: float = 0.0


def analyze_video(task: VideoTask, cfg: PipelineConfig, watchers: Sequence[FrameAnalyzer] = ()) -> VideoAnalysis:
    """Everything the filters need to judge a video's clips, from a single decode. A video that
    cannot be read comes back failed with the reason; it never raises. `watchers` see the frames too
    (vcurate.isolation's heartbeat)."""
    started = time.perf_counter()
    record = VideoRecord(video=task.video)
    try:
        with open_probed(task.path) as (container, info):
            if info.width * info.height > cfg.analysis.max_pixels:
                raise MediaError(f"declared frame size {info.width}x{info.height} exceeds analysis.max_pixels "
                                 f"({cfg.analysis.max_pixels}); not decoded")
            record = record.model_copy(update=dict(
                size_bytes=info.size_bytes, codec=info.codec, width=info.width, height=info.height,
                fps=round(info.fps, 6), fps_real=round(info.fps_real, 6), duration_s=round(info.duration_s, 6),
            ))
            captions = sidecar_captions(task.path, task.manifest_caption)
            record.caption_source = captions.source
            fps = info.frame_rate
            scenes = SceneAnalyzer(cfg.split, fps)
            record.scene_detector = scenes.detector
            analyzers = build_analyzers(cfg, StreamFacts(fps, info.width, info.height, info.expected_frames))
            sampler = None
            if cfg.align.enabled:
                step = sampling_step(fps, cfg.align.sample_every_s, info.expected_frames, cfg.align.max_samples_per_video)
                sampler = ClipFrameSampler(image_size(cfg.align.model), step)
            watching = [scenes, *analyzers, *([sampler] if sampler else []), *watchers]
            decoded = decode_frames(container, watching, cfg.analysis.short_side, cfg.analysis.decode_threads, fps)
        record.num_frames, record.rotation, record.cuts = decoded.num_frames, decoded.rotation, scenes.cuts
        clips = split_scenes(task.video, scenes.cuts, decoded.times, fps, info.width, info.height, cfg.split)
        for clip in clips:
            clip.caption = captions.for_clip(clip.start_s, clip.end_s)
            clip.caption_source = captions.source if clip.caption else "none"
            for analyzer in analyzers:
                for column, value in analyzer.clip_columns(clip.start_frame, clip.end_frame).items():
                    setattr(clip, column, value)
        frames = [sampler.for_clip(c.start_frame, c.end_frame, cfg.align.frames) for c in clips] if sampler else []
    except MediaError as exc:
        record.status, record.error = "failed", str(exc)
        clips, frames = [], []
    except Exception as exc:  # one bad file must never end the job; the row says what happened
        record.status, record.error = "failed", f"unexpected {type(exc).__name__}: {exc}"
        clips, frames = [], []
    record.num_clips = len(clips)
    return VideoAnalysis(record, clips, frames, time.perf_counter() - started)


def failed_analysis(task: VideoTask, error: str, seconds: float = 0.0) -> VideoAnalysis:
    return VideoAnalysis(VideoRecord(video=task.video, status="failed", error=error), seconds=seconds)


class SplitStage(Stage):
    """split: each video decoded once through the scene detector and every clip analyzer, into its
    video row and candidate clip rows. The decode runs in this worker's isolated child process
    (vcurate.isolation) when `analysis.isolate` is on: a hang, a time-out or a crash is retried
    `analysis.retries` times, then the video is failed with the reason."""

    name = "split"
    shape = "fan_out"
    analyze_module = ANALYSIS  # holds analyze_video; the isolation tests swap in their faults

    def __init__(self, cfg: PipelineConfig):
        self.cfg = cfg

    def resources(self) -> Resources:
        ray = self.cfg.ray
        return Resources(num_cpus=ray.analyze_num_cpus, num_gpus=ray.analyze_num_gpus, concurrency=ray.analyze_concurrency)

    def process(self, tasks: list[VideoTask]) -> list[StageRow]:
        rows: list[StageRow] = []
        for task in tasks:
            analysis = self.analyze(task)
            rows.append(VideoRow(task.path, analysis.video, analysis.seconds))
            frames = analysis.frames or [None] * len(analysis.clips)
            rows += [ClipRow(task.path, clip, clip_frames) for clip, clip_frames in zip(analysis.clips, frames)]
        return rows

    def analyze(self, task: VideoTask) -> VideoAnalysis:
        limits = self.cfg.analysis
        if not limits.isolate:
            return analyze_video(task, self.cfg)
        runner = runner_for(self.analyze_module)  # one isolated child per worker process
        started = time.perf_counter()
        for _ in range(limits.retries + 1):
            try:
                return runner.call(f"{runner.preload}:analyze_video", task, self.cfg,
                                   stall_s=limits.stall_s, time_limit_s=limits.time_limit_s)
            except IsolationError as exc:
                error = str(exc)
        return failed_analysis(task, error, time.perf_counter() - started)
