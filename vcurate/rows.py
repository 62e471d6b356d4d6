"""The rows that flow between the pipeline's stages: one per video and one per candidate clip.

Stages work on these typed rows; only the engine edge (vcurate.engine) turns them into the flat
dicts Ray Data moves, with `to_row()` and `from_row()`. Every row has the same keys, whatever its
kind, and each value is a string, bytes or a float, because Ray Data infers each block's Arrow
schema from its values: a record's optional and list fields as columns (all null in one block,
floats in the next) would give blocks clashing schemas, so the record travels as its JSON text.
Frames travel as .npy bytes, never pickled.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Union

import numpy as np

from vcurate.records import ClipRecord, VideoRecord

Row = dict  # what the engine moves: kind, path, record (JSON), seconds, mp4, frames


def pack_frames(frames: np.ndarray | None) -> bytes:
    if frames is None:
        return b""
    buf = io.BytesIO()
    np.save(buf, frames, allow_pickle=False)
    return buf.getvalue()


def unpack_frames(data: bytes) -> np.ndarray | None:
    return np.load(io.BytesIO(data), allow_pickle=False) if len(data) else None


@dataclass
class VideoRow:
    """A video's record, first of its rows; `analysis_seconds` is what its decode pass took."""

    path: str  # where the stages read the file (a local path or an object-store URL)
    video: VideoRecord
    analysis_seconds: float = 0.0

    def to_row(self) -> Row:
        return {"kind": "video", "path": self.path, "record": self.video.model_dump_json(),
                "seconds": self.analysis_seconds, "mp4": b"", "frames": b""}


@dataclass
class ClipRow:
    """A candidate clip: its record, CLIP's sampled frames until the clip is scored, and once encoded
    its MP4 bytes with the seconds the encoding took."""

    path: str
    clip: ClipRecord
    frames: np.ndarray | None = None
    mp4: bytes = b""
    encode_seconds: float = 0.0

    def to_row(self) -> Row:
        return {"kind": "clip", "path": self.path, "record": self.clip.model_dump_json(),
                "seconds": self.encode_seconds, "mp4": self.mp4, "frames": pack_frames(self.frames)}


StageRow = Union[VideoRow, ClipRow]


def from_row(row: Row) -> StageRow:
    if row["kind"] == "video":
        return VideoRow(row["path"], VideoRecord.model_validate_json(row["record"]), float(row["seconds"]))
    return ClipRow(row["path"], ClipRecord.model_validate_json(row["record"]), unpack_frames(row["frames"]),
                   bytes(row["mp4"]), float(row["seconds"]))
