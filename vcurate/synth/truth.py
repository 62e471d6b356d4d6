"""Ground-truth records of a labelled archive (one JSON object per line of ground_truth.jsonl): rendered
shapes (`vcurate synth`) or shots cut from real footage (`vcurate synth --from-footage`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vcurate.errors import NotFoundError

Defect = Literal["shake", "blur", "lowres", "mismatch", "text", "duplicate", "static"]
DEFECTS: tuple[Defect, ...] = ("shake", "blur", "lowres", "mismatch", "text", "duplicate", "static")
# How a "static" shot shows a still picture: one frame held, a few stills switched, a pan or a zoom
# over one still; footage shots also "held", where the source itself holds its picture.
STILL_KINDS = ("frozen", "slideshow", "pan", "zoom")


def draw_kind(rng: np.random.Generator, kinds: tuple[str, ...], shares: tuple[float, ...]) -> str:
    """One of `kinds`, drawn with the given relative shares (a fault's kind: OVERLAYS, STILL_KINDS)."""
    return kinds[int(rng.choice(len(kinds), p=np.asarray(shares) / sum(shares)))]


class TruthShot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_frame: int
    end_frame: int = Field(description="exclusive")
    true_caption: str = Field(description="what the shot shows")
    attached_caption: str | None = Field(description="what the archive says it shows; null when uncaptioned")
    defects: list[Defect] = Field(description="injected faults; empty for a clean shot")
    camera: Literal["static", "pan", "zoom", "shake"]
    colour: str | None = Field(None, description="rendered shots: the moving object's colour")
    shape: str | None = Field(None, description="rendered shots: the moving object's shape")
    direction: str | None = Field(None, description="rendered shots: the object's direction of motion")
    background: str | None = Field(None, description="rendered shots: the background texture")
    source: str | None = Field(None, description="footage shots: the source video, relative to the footage folder")
    source_start_frame: int | None = Field(None, description="footage shots: the source frame the shot starts at")
    nuisances: list[str] = Field(
        default_factory=list, description="changes that are no fault: footage shots letterbox, noise, low_light, "
        "downscaled_source (the whole video's CRF is TruthVideo.crf); rendered shots scene_text (signs on a panning "
        "background), stroke_pattern (fine stripes, dots, grids), slow_subject (a third of the usual speed)"
    )
    fault: dict[str, str | float | int] = Field(
        default_factory=dict, description="footage shots: the fault's strength (shake: jitter_rms_percent of the "
        "short side; blur: kind gaussian with sigma or motion with length, in output pixels; lowres: factor, kernel); "
        "burned-in text, any shot: text (subtitle, watermark or ticker) and text_height_percent of the frame height "
        "(a watermark also text_shown_share, the share of its frames where it changes the picture under its strokes by "
        "8 grey levels or more: the defect text only from 0.5); "
        "static: still (frozen, slideshow, pan, zoom or held); copies (duplicate): the edit (width, height, crop_left/top/right/bottom shares, gain: vcurate.synth.copies)"
    )
    copy_of: str | None = Field(
        None, description="a duplicate: the shot it copies, VIDEO#SHOT (its index in that video's shots); the "
        "original carries no label"
    )
    overlap_of: str | None = Field(
        None, description="footage archives whose sources ran out: an earlier shot, VIDEO#SHOT, whose source frames "
        "this one partly shows again (under 2/3 of the shorter shot's, or framed or lit otherwise): neither its copy "
        "nor a distinct shot, so left out of the near-duplicate scores"
    )
    negative_of: str | None = Field(
        None, description="a hard negative (clean): the shot whose background and subject it shows with other "
        "motion, VIDEO#SHOT"
    )


class TruthVideo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    video: str = Field(description="path relative to OUT/raw, POSIX separators")
    fps: float
    num_frames: int
    width: int
    height: int
    caption_source: Literal["manifest", "srt", "vtt", "json", "txt", "none"]
    crf: int | None = Field(None, description="footage archives and re-uploads: x264 CRF the video was encoded at")
    shots: list[TruthShot]

    @property
    def cuts(self) -> list[int]:
        return [shot.start_frame for shot in self.shots[1:]]


def read_truth(path: str | Path) -> list[TruthVideo]:
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"ground truth not found: {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [TruthVideo.model_validate_json(line) for line in lines if line.strip()]


def write_truth(path: Path, videos: list[TruthVideo]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for video in videos:
            f.write(json.dumps(video.model_dump(mode="json")) + "\n")
