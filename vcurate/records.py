"""Typed records that flow through the pipeline and land in the manifests.

`VideoRecord` is one row of videos.parquet, `ClipRecord` one row of clips.parquet. Stages are plain
functions over these records; the stages carry them in typed rows (vcurate.rows).
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vcurate.analyze import analyzer_columns


class Reason(str):
    """Why a clip was rejected: a registered code with a one-line meaning and, where it catches one,
    the labelled fault of vcurate's synthetic archives (vcurate eval). A rejected clip lists every
    reason that applies, not only the first. Score filters define theirs in vcurate.rules."""

    _known: ClassVar[dict[str, "Reason"]] = {}
    help: str
    fault: str | None

    def __new__(cls, value: str) -> "Reason":
        try:
            return cls._known[str(value)]
        except KeyError:
            raise ValueError(f"unknown rejection reason {value!r}") from None

    @classmethod
    def define(cls, value: str, help: str, fault: str | None = None) -> "Reason":
        if value in cls._known:
            raise ValueError(f"rejection reason {value!r} is defined twice")
        reason = str.__new__(cls, value)
        reason.help, reason.fault = help, fault
        cls._known[value] = reason
        return reason

    @classmethod
    def forget(cls, value: str) -> None:
        """Drop a reason defined at run time (a plug-in's test)."""
        cls._known.pop(value, None)

    @property
    def value(self) -> str:
        return str(self)

    @classmethod
    def all(cls) -> list["Reason"]:
        return list(cls._known.values())

    @classmethod
    def vocabulary(cls) -> dict[str, str]:
        return {r.value: r.help for r in cls._known.values()}

    # the reasons of the stages' own checks; the score filters' are vcurate.rules'
    TOO_SHORT: ClassVar["Reason"]
    NO_CAPTION: ClassVar["Reason"]
    LOW_RESOLUTION: ClassVar["Reason"]
    FPS_OUT_OF_RANGE: ClassVar["Reason"]
    ENCODE_FAILED: ClassVar["Reason"]


Reason.TOO_SHORT = Reason.define("too_short", "scene shorter than the minimum clip duration")
Reason.NO_CAPTION = Reason.define("no_caption", "no caption found for the clip")
Reason.LOW_RESOLUTION = Reason.define("low_resolution", "video resolution below the minimum short side", fault="lowres")
Reason.FPS_OUT_OF_RANGE = Reason.define("fps_out_of_range", "frame rate outside the accepted range")
Reason.ENCODE_FAILED = Reason.define("encode_failed", "the clip could not be re-decoded or encoded")

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
    scene_detector: str = Field("", description="the scene detector that cut the video: split.detector, auto "
                                "resolved where the video was analysed (hybrid with CUDA there, else adaptive); "
                                "empty when it failed before")
    num_clips: int = 0
    num_kept: int = 0


class ClipRecord(_Record):
    """One candidate clip (a scene, or a chunk of a long scene), kept or rejected, with all its scores:
    the fields below, and the columns of the registered analyzers (vcurate.analyze), None where an
    analyzer was off or could not judge the clip."""

    model_config = ConfigDict(extra="allow", ser_json_bytes="base64", val_json_bytes="base64",
                              json_schema_extra=lambda schema, cls: _clip_schema(schema))

    @classmethod
    def extra_columns(cls) -> dict[str, type]:
        """The analyzers' columns beyond the declared fields: name -> Python type (clips.parquet)."""
        return {name: column.type for name, column in analyzer_columns().items()}

    video: str = Field(description="path of the source video relative to the input root")
    clip_key: str = Field(description="stable unique key: webdataset __key__ of the clip's sample")
    scene_index: int = Field(description="index of the scene in the video the clip came from")
    start_frame: int
    end_frame: int = Field(description="exclusive")
    start_s: float
    end_s: float
    fps: float = Field(description="source frame rate")
    width: int = Field(description="source width (before encoding)")
    height: int = Field(description="source height (before encoding)")
    encoded_width: int | None = Field(None, description="width of the encoded clip (the shard's mp4); null until encoded")
    encoded_height: int | None = Field(None, description="height of the encoded clip; null until encoded")
    encoded_fps: float | None = Field(None, description="constant frame rate of the encoded clip; null until encoded")
    encoded_num_frames: int | None = Field(None, description="frames in the encoded clip; null until encoded")
    encoded_duration_s: float | None = Field(None, description="encoded_num_frames / encoded_fps; null until encoded")
    aspect_ratio: float | None = Field(None, description="encoded_width / encoded_height, as shown (upright); "
                                                         "null until encoded")
    caption: str = ""
    caption_source: CaptionSource = "none"
    status: Literal["kept", "rejected"] = "kept"
    reasons: list[str] = Field(default_factory=list, description="Reason values; empty when kept")
    shard: str | None = Field(None, description="shard file name holding the clip; null when rejected")
    clip_score: float | None = None
    clip_score_min: float | None = None
    duplicate_distance: float | None = Field(
        None, description="signature distance to the nearest earlier kept clip compared (vcurate.dedup); null when "
        "the clip was not compared (rejected before, no signature, nothing kept before it)")
    duplicate_of: str | None = Field(None, description="clip_key of the earlier kept clip this one duplicates")
    clip_embedding: bytes | None = Field(
        None, description="the clip's CLIP embedding: the mean of its scored frames' unit embeddings, normalised, as "
        "little-endian float16; filled where filters.semantic_duplicate is on")
    semantic_similarity: float | None = Field(
        None, description="cosine similarity of clip_embedding to the nearest earlier kept clip's (vcurate.dedup); "
        "null when not compared")

    @model_validator(mode="before")
    @classmethod
    def _analyzer_columns(cls, data: Any) -> Any:
        """Every analyzer column present (None when unscored); any other unknown field is an error."""
        if isinstance(data, dict):
            columns = analyzer_columns()
            unknown = sorted(set(data) - set(cls.model_fields) - set(columns))
            if unknown:
                raise ValueError(f"unknown clip fields: {', '.join(unknown)}")
            data = {**dict.fromkeys(columns), **data}
            for name, column in columns.items():  # bytes travel as (URL-safe) base64 in JSON: rows, parts
                value = data[name]
                if column.type is bytes and isinstance(value, str):
                    data[name] = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        return data

    def score(self, column: str) -> Any:
        """A score column's value (declared field or analyzer column), None when absent."""
        return getattr(self, column, None)

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def set_encoded(self, width: int, height: int, fps: float, num_frames: int) -> None:
        """Record what the shard's mp4 holds: trainers size and bucket clips by it, not by the source."""
        self.encoded_width, self.encoded_height, self.encoded_fps = width, height, fps
        self.encoded_num_frames, self.encoded_duration_s = num_frames, num_frames / fps
        self.aspect_ratio = width / height

    def reject(self, reason: Reason) -> None:
        if reason.value not in self.reasons:
            self.reasons.append(reason.value)
        self.status = "rejected"


_JSON_TYPES = {float: {"type": "number"}, int: {"type": "integer"}, str: {"type": "string"},
               bytes: {"type": "string", "contentEncoding": "base64"}}


def _clip_schema(schema: dict) -> None:
    """The published clip schema: the reasons' vocabulary, and the analyzers' columns as fields."""
    reasons = schema["properties"]["reasons"]
    reasons["items"] = {"enum": [r.value for r in Reason.all()]}
    reasons["description"] += ": " + "; ".join(f"{k} = {v}" for k, v in Reason.vocabulary().items())
    for name, column in analyzer_columns().items():
        schema["properties"][name] = {"anyOf": [_JSON_TYPES[column.type], {"type": "null"}], "default": None,
                                      "description": column.description, "title": name.replace("_", " ").title()}
    schema["additionalProperties"] = False  # the only extra fields are the analyzers' columns


class ShardSample(_Record):
    """The members of one webdataset sample, as written by the shard stage."""

    key: str = Field(alias="__key__", description="equals clips.parquet clip_key")
    mp4: str = Field(description="H.264 MP4 bytes of the clip (tar member KEY.mp4)")
    txt: str = Field(description="caption, UTF-8 (tar member KEY.txt)")
    json_: ClipRecord = Field(alias="json", description="the clip's manifest row (tar member KEY.json)")



class RunCounts(_Record):
    videos: int = Field(description="videos the run saw (all attempts)")
    failed: int
    clips: int = Field(description="candidate clips")
    kept: int
    rejected: int
    reasons: dict[str, int] = Field(description="clips per rejection reason (a clip counts once per reason)")
    scene_detectors: dict[str, int] = Field(default_factory=dict, description="videos per scene detector that cut "
                                            "them (split.detector auto resolves per analysis worker)")
    shards: int
    hours_in: float = Field(description="hours of video in the videos that did not fail")
    hours_kept: float


class SkippedFiles(_Record):
    count: int
    by_extension: dict[str, int]
    names: list[str] = Field(description="the first of them, relative to the input root")


class SkippedRows(_Record):
    count: int
    names: list[str]


class SkippedReport(_Record):
    files: SkippedFiles = Field(description="files under the input root whose extension is no video extension")
    manifest_rows: SkippedRows = Field(description="caption-manifest rows naming no video under the input root")


class RunInfo(_Record):
    """run.json: a finished run's settings, software, timings and counts; its presence marks the run
    complete."""

    started: str = Field(description="ISO 8601, UTC")
    finished: str = Field(description="ISO 8601, UTC")
    engine: Literal["ray", "local"]
    input: str | None = Field(description="the input folder or object-store prefix")
    output: str
    resumed: bool = Field(description="whether the run continued an interrupted one")
    config: dict[str, Any] = Field(description="the pipeline config the run applied (pipeline.schema.json)")
    result_settings: dict[str, Any] = Field(description="the settings that decide the results; a run with other "
                                                        "ones cannot resume this one")
    versions: dict[str, str] = Field(description="Python, vcurate and dependency versions")
    stage_seconds: dict[str, float] = Field(description="wall time and per-stage worker seconds")
    counts: RunCounts
    shards: list[str] = Field(description="shard file names, in order")
    thresholds: dict[str, float] = Field(description="thresholds resolved at run time, by score column "
                                                     "(clip_score when align.min_score is auto)")
    skipped_inputs: SkippedReport


import vcurate.rules  # noqa: E402,F401  (defines the score filters' reasons next to their rules)
