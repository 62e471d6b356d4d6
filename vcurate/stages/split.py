"""Scenes to candidate clips: long scenes are cut into equal chunks, short ones marked too_short."""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np

from vcurate.config import SplitConfig
from vcurate.records import ClipRecord, Reason

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def clip_key(video: str, start_frame: int, end_frame: int) -> str:
    """Stable, unique and tar-safe: a readable slug of the path, a hash of the full path (so
    `a/b.mp4` and `a_b.mp4` never collide) and the frame range. No '.', '/' or NUL, which webdataset
    and tar would read as structure."""
    stem = video.rsplit(".", 1)[0]
    slug = _UNSAFE.sub("_", stem).strip("_")[-48:] or "video"
    digest = hashlib.sha1(video.encode("utf-8")).hexdigest()[:10]
    return f"{slug}-{digest}-{start_frame:07d}-{end_frame:07d}"


def scene_ranges(cuts: list[int], num_frames: int) -> list[tuple[int, int]]:
    bounds = [0, *sorted(c for c in cuts if 0 < c < num_frames), num_frames]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def chunk(start: int, end: int, max_frames: int) -> list[tuple[int, int]]:
    """Equal chunks of at most `max_frames`, so a long scene never leaves a tiny remainder."""
    parts = max(1, math.ceil((end - start) / max_frames))
    edges = np.linspace(start, end, parts + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def split_scenes(
    video: str,
    cuts: list[int],
    times: np.ndarray,
    fps: float,
    width: int,
    height: int,
    cfg: SplitConfig,
) -> list[ClipRecord]:
    """Candidate clips of one video, in order. `times` holds each frame's presentation time."""
    num_frames = len(times)
    frame_s = 1.0 / fps if fps > 0 else 0.0
    end_time = float(times[-1]) + frame_s

    def time_at(frame: int) -> float:
        return float(times[frame]) if frame < num_frames else end_time

    clips = []
    max_frames = max(1, int(cfg.max_clip_seconds * fps)) if fps > 0 else num_frames
    for scene_index, (a, b) in enumerate(scene_ranges(cuts, num_frames)):
        too_short = time_at(b) - time_at(a) < cfg.min_clip_seconds
        for start, end in [(a, b)] if too_short else chunk(a, b, max_frames):
            clip = ClipRecord(
                video=video,
                clip_key=clip_key(video, start, end),
                scene_index=scene_index,
                start_frame=start,
                end_frame=end,
                start_s=round(time_at(start), 6),
                end_s=round(time_at(end), 6),
                fps=fps,
                width=width,
                height=height,
            )
            if too_short:
                clip.reject(Reason.TOO_SHORT)
            clips.append(clip)
    return clips
