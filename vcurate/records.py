"""Typed records that flow through the pipeline and land in the manifests.

`VideoRecord` is one row of videos.parquet, `ClipRecord` one row of clips.parquet. Stages are plain
functions over these records; only the Ray edge (pipeline.py) turns them into rows and back.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Reason(str, Enum):
    """Why a clip was rejected. A rejected clip lists every reason that applies, not only the first."""

    TOO_SHORT = "too_short"  # scene shorter than split.min_clip_seconds
    NO_CAPTION = "no_caption"  # no caption source matched the clip (filters.require_caption)
    SHAKE = "shake"  # high-frequency camera motion above filters.shake.max_score
    BLUR = "blur"  # sharpness below filters.blur.min_score
    LOW_RESOLUTION = "low_resolution"  # stream's short side below filters.resolution.min_short_side
    UPSCALED = "upscaled"  # content upscaled from a smaller source (weak fine detail for its size)
    FPS_OUT_OF_RANGE = "fps_out_of_range"  # frame rate outside filters.fps
    LOW_ALIGNMENT = "low_alignment"  # CLIP caption-frame similarity below align.min_score
    ENCODE_FAILED = "encode_failed"  # the clip's frames could not be decoded again or encoded

    @classmethod
    def vocabulary(cls) -> dict[str, str]:
        return {r.value: _REASON_HELP[r] for r in cls}


_REASON_HELP = {
    Reason.TOO_SHORT: "scene shorter than the minimum clip duration",
    Reason.NO_CAPTION: "no caption found for the clip",
    Reason.SHAKE: "camera shake (high-frequency residual of the global motion) too strong",
    Reason.BLUR: "frames too soft (sharpness below threshold)",
    Reason.LOW_RESOLUTION: "video resolution below the minimum short side",
    Reason.UPSCALED: "content upscaled from a lower resolution",
    Reason.FPS_OUT_OF_RANGE: "frame rate outside the accepted range",
    Reason.LOW_ALIGNMENT: "caption does not describe the clip (CLIP score below threshold)",
    Reason.ENCODE_FAILED: "the clip could not be re-decoded or encoded",
}

CaptionSource = Literal["manifest", "srt", "vtt", "json", "txt", "none"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VideoRecord(_Record):
    """One input file: what the probe saw, what happened to it, how many clips it gave."""

    video: str = Field(description="path relative to the input root (POSIX separators)")
    status: Literal["ok", "failed"] = "ok"
    error: str = Field("", description="why the video failed; empty when ok")
    size_bytes: int = 0
    codec: str = ""
    width: int = 0
    height: int = 0
    rotation: int = Field(0, description="display rotation in degrees from the stream's display matrix")
    fps: float = Field(0.0, description="average frame rate (frames / duration)")
    fps_real: float = Field(0.0, description="the stream's base (real) frame rate")
    duration_s: float = 0.0
    num_frames: int = Field(0, description="frames decoded in the analysis pass")
    caption_source: CaptionSource = "none"
    cuts: list[int] = Field(default_factory=list, description="frame indices where a new scene starts")
    num_clips: int = 0
    num_kept: int = 0


class ClipRecord(_Record):
    """One candidate clip (a scene, or a chunk of a long scene), kept or rejected, with all its scores."""

    video: str = Field(description="path of the source video relative to the input root")
    clip_key: str = Field(description="stable unique key: webdataset __key__ of the clip's sample")
    scene_index: int = Field(description="index of the scene in the video the clip came from")
    start_frame: int
    end_frame: int = Field(description="exclusive")
    start_s: float
    end_s: float
    fps: float
    width: int = Field(description="source width (before encoding)")
    height: int = Field(description="source height (before encoding)")
    caption: str = ""
    caption_source: CaptionSource = "none"
    status: Literal["kept", "rejected"] = "kept"
    reasons: list[str] = Field(default_factory=list, description="Reason values; empty when kept")
    shard: str | None = Field(None, description="shard file name holding the clip; null when rejected")
    blur_score: float | None = None
    shake_score: float | None = None
    detail_score: float | None = None
    clip_score: float | None = None
    clip_score_min: float | None = None

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def reject(self, reason: Reason) -> None:
        if reason.value not in self.reasons:
            self.reasons.append(reason.value)
        self.status = "rejected"


class ShardSample(_Record):
    """The members of one webdataset sample, as written by the shard stage."""

    key: str = Field(alias="__key__", description="equals clips.parquet clip_key")
    mp4: str = Field(description="H.264 MP4 bytes of the clip (tar member KEY.mp4)")
    txt: str = Field(description="caption, UTF-8 (tar member KEY.txt)")
    json_: ClipRecord = Field(alias="json", description="the clip's manifest row (tar member KEY.json)")
