"""Find the videos of a raw archive (a folder or an object-store prefix) and pair each with its manifest caption."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from vcurate.config import InputConfig
from vcurate.stages.captions import find_manifest, load_manifest
from vcurate.storage import Location, locate


@dataclass(frozen=True)
class VideoTask:
    """One unit of work: a video file, its key in the manifests, and its manifest caption if any."""

    path: str  # absolute local path or URI (Location.ref): any worker can open it
    video: str  # relative to the input root, POSIX separators
    manifest_caption: str | None = None


def iter_tasks(cfg: InputConfig) -> Iterator[VideoTask]:
    """The archive's videos in path order, listed as the iterator is consumed (an archive of millions of
    videos is never one list on the driver). The input folder and the caption manifest are checked, and
    the manifest read, when this is called, so a wrong input fails before any output is written."""
    if not cfg.path:
        raise ValueError("no input folder: pass --input or set input.path in the pipeline YAML")
    root = locate(cfg.path)
    if not root.is_dir():
        raise ValueError(f"input folder not found: {root}" + ("" if root.is_local else " (no such bucket or prefix)"))
    manifest = find_manifest(root, cfg.manifest)
    captions = load_manifest(manifest, cfg.path_column, cfg.caption_column) if manifest else {}
    return _tasks(root, captions, {e.lower().lstrip(".") for e in cfg.extensions})


def _tasks(root: Location, captions: dict[str, str], extensions: set[str]) -> Iterator[VideoTask]:
    for file in root.iter_files():
        name = file.name
        if name.startswith(".") or name.rsplit(".", 1)[-1].lower() not in extensions:
            continue
        rel = file.relative_to(root)
        yield VideoTask(file.ref, rel, captions.get(rel))


