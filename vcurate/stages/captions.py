"""Caption pairing: manifest row, then timed captions (.srt/.vtt), then sidecar .json, then .txt.

Timed captions are cut to each clip: the clip takes the cue that overlaps it most.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from vcurate.errors import VcurateError
from vcurate.records import CaptionSource
from vcurate.storage import Location, is_uri, locate

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TIMING = re.compile(
    r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})\s*-->\s*(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
)
_TAG = re.compile(r"<[^>]+>")


class CaptionError(VcurateError, ValueError):
    """A caption file or manifest that cannot be used."""


def clean_text(text: str) -> str:
    """One line of caption text: control characters and markup dropped, whitespace folded."""
    return " ".join(_CONTROL.sub(" ", _TAG.sub("", text)).split())


def read_text(file: Location) -> str:
    """UTF-8 text (BOM tolerated); undecodable bytes become U+FFFD rather than failing the video."""
    return file.read_bytes().decode("utf-8-sig", errors="replace")


@dataclass
class VideoCaptions:
    """Where a video's caption came from, as one text or as timed cues."""

    source: CaptionSource = "none"
    text: str = ""
    cues: list[tuple[float, float, str]] = field(default_factory=list)

    def for_clip(self, start_s: float, end_s: float) -> str:
        if not self.cues:
            return self.text
        best, best_overlap = "", 0.0
        for cue_start, cue_end, text in self.cues:
            overlap = min(end_s, cue_end) - max(start_s, cue_start)
            if overlap > best_overlap:
                best, best_overlap = text, overlap
        return best


def _seconds(h: str | None, m: str, s: str, frac: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000


def parse_timed(text: str) -> list[tuple[float, float, str]]:
    """Cues of an SRT or WebVTT file as (start_s, end_s, text); cue numbers and settings ignored."""
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = block.strip().split("\n")
        for i, line in enumerate(lines):
            match = _TIMING.search(line)
            if match:
                g = match.groups()
                body = clean_text(" ".join(lines[i + 1 :]))
                if body:
                    cues.append((_seconds(*g[:4]), _seconds(*g[4:]), body))
                break
    return cues


def sidecar_captions(video_path: str | os.PathLike, manifest_caption: str | None = None) -> VideoCaptions:
    """The caption of one video (a local path or a URI) by the pairing order; a video without any gets
    source 'none'."""
    if manifest_caption:
        return VideoCaptions("manifest", clean_text(manifest_caption))
    video = locate(video_path)
    for kind in ("srt", "vtt"):
        file = video.with_suffix(f".{kind}")
        if file.is_file():
            cues = parse_timed(read_text(file))
            if cues:
                return VideoCaptions(kind, cues=cues)
    file = video.with_suffix(".json")
    if file.is_file():
        try:
            data = json.loads(read_text(file))
        except json.JSONDecodeError:
            data = None
        caption = data.get("caption") if isinstance(data, dict) else None
        if isinstance(caption, str) and clean_text(caption):
            return VideoCaptions("json", clean_text(caption))
    file = video.with_suffix(".txt")
    if file.is_file():
        text = clean_text(read_text(file))
        if text:
            return VideoCaptions("txt", text)
    return VideoCaptions()


def find_manifest(root: Location, configured: str | None) -> Location | None:
    """The configured manifest (a URI, an absolute path, a path from the working folder, else a path
    within the input root), else captions.csv or captions.parquet at the input root, else none."""
    if configured:
        given = locate(configured)
        manifest = given if is_uri(configured) or os.path.isabs(configured) or given.exists() else root / configured
        if not manifest.is_file():
            raise CaptionError(f"caption manifest not found: {configured}")
        return manifest
    for name in ("captions.parquet", "captions.csv"):
        if (root / name).is_file():
            return root / name
    return None


def load_manifest(manifest: Location, path_column: str = "path", caption_column: str = "caption") -> dict[str, str]:
    """Map of video path (relative to the input root, POSIX) to caption."""
    import pandas as pd  # here, not at the top: the analysis processes import this module and never read a manifest

    parquet = manifest.name.lower().endswith(".parquet")
    try:
        with manifest.open_input() if parquet else manifest.open_stream() as f:
            if parquet:
                table = pd.read_parquet(f)
            else:
                table = pd.read_csv(f, dtype=str, keep_default_na=False, encoding_errors="replace")
    except Exception as exc:  # pandas raises many types for unreadable files
        raise CaptionError(f"cannot read caption manifest {manifest}: {exc}") from exc
    missing = [c for c in (path_column, caption_column) if c not in table.columns]
    if missing:
        raise CaptionError(
            f"caption manifest {manifest} lacks column(s) {missing}; it has {list(table.columns)} "
            "(set input.path_column / input.caption_column)"
        )
    out = {}
    for rel, caption in zip(table[path_column], table[caption_column]):
        if isinstance(rel, str) and isinstance(caption, str):
            out[PurePosixPath(rel.strip()).as_posix()] = caption
    return out
