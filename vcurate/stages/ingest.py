"""Find the videos of a raw archive and pair each with its manifest caption."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vcurate.config import InputConfig
from vcurate.stages.captions import find_manifest, load_manifest


@dataclass(frozen=True)
class VideoTask:
    """One unit of work: a video file, its key in the manifests, and its manifest caption if any."""

    path: str
    video: str  # relative to the input root, POSIX separators
    manifest_caption: str | None = None


def list_videos(root: Path, extensions: list[str]) -> list[Path]:
    """Video files under `root`, recursively, sorted; symbolic links to folders are not followed,
    so a link loop cannot trap the walk."""
    wanted = {e.lower().lstrip(".") for e in extensions}
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in files:
            if name.rsplit(".", 1)[-1].lower() in wanted and not name.startswith("."):
                found.append(Path(folder) / name)
    return sorted(found)


def plan_tasks(cfg: InputConfig) -> list[VideoTask]:
    if not cfg.path:
        raise ValueError("no input folder: pass --input or set input.path in the pipeline YAML")
    root = Path(cfg.path)
    if not root.is_dir():
        raise ValueError(f"input folder not found: {root}")
    manifest_path = find_manifest(root, cfg.manifest)
    captions = load_manifest(manifest_path, cfg.path_column, cfg.caption_column) if manifest_path else {}
    tasks = []
    for path in list_videos(root, cfg.extensions):
        rel = path.relative_to(root).as_posix()
        tasks.append(VideoTask(str(path), rel, captions.get(rel)))
    return tasks
