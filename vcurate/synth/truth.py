"""Ground-truth records of a synthetic archive (one JSON object per line of ground_truth.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Defect = Literal["shake", "blur", "lowres", "mismatch"]
DEFECTS: tuple[Defect, ...] = ("shake", "blur", "lowres", "mismatch")


class TruthShot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_frame: int
    end_frame: int = Field(description="exclusive")
    true_caption: str = Field(description="what the shot shows")
    attached_caption: str | None = Field(description="what the archive says it shows; null when uncaptioned")
    defects: list[Defect] = Field(description="injected faults; empty for a clean shot")
    camera: Literal["static", "pan", "shake"]
    colour: str
    shape: str
    direction: str
    background: str


class TruthVideo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    video: str = Field(description="path relative to OUT/raw, POSIX separators")
    fps: float
    num_frames: int
    width: int
    height: int
    caption_source: Literal["manifest", "srt", "vtt", "json", "txt", "none"]
    shots: list[TruthShot]

    @property
    def cuts(self) -> list[int]:
        return [shot.start_frame for shot in self.shots[1:]]


def read_truth(path: str | Path) -> list[TruthVideo]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ground truth not found: {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [TruthVideo.model_validate_json(line) for line in lines if line.strip()]


def write_truth(path: Path, videos: list[TruthVideo]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for video in videos:
            f.write(json.dumps(video.model_dump(mode="json")) + "\n")
