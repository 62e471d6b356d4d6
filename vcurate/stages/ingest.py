"""Find the videos of a raw archive (a folder or an object-store prefix) and pair each with its manifest caption.
What the listing passes over is counted and named (SkippedInputs), never dropped silently."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

from vcurate.config import InputConfig
from vcurate.errors import InputError, NotFoundError
from vcurate.stages.captions import find_manifest, load_manifest
from vcurate.storage import Location, locate

SIDECARS = frozenset({"txt", "json", "srt", "vtt"})  # caption files paired with videos (stages/captions.py)
NAMES_KEPT = 100  # names listed per kind of skipped input; the counts cover them all
EXTENSIONS_KEPT = 100  # distinct extensions counted apart; the rest are counted as "(other)"


@dataclass(frozen=True)
class VideoTask:
    """One unit of work: a video file, its key in the manifests, and its manifest caption if any."""

    path: str  # absolute local path or URI (Location.ref): any worker can open it
    video: str  # relative to the input root, POSIX separators
    manifest_caption: str | None = None


@dataclass
class SkippedInputs:
    """Inputs a run did not curate, filled while the listing is consumed: files whose extension is no
    video extension (hidden files, files in hidden folders, caption sidecars and the manifest are not
    counted: they are not videos anyone expects curated), and manifest rows naming no video under the
    input root (a typo, a moved file, or a file of an unlisted extension). Names are bounded, counts exact."""

    files: int = 0
    file_names: list[str] = field(default_factory=list)
    extensions: Counter = field(default_factory=Counter)
    manifest_rows: int = 0
    manifest_names: list[str] = field(default_factory=list)

    def skip_file(self, rel: str, extension: str) -> None:
        self.files += 1
        known = extension in self.extensions or len(self.extensions) < EXTENSIONS_KEPT
        self.extensions[extension if known else "(other)"] += 1
        if len(self.file_names) < NAMES_KEPT:
            self.file_names.append(rel)

    def unmatched_rows(self, names: list[str]) -> None:
        self.manifest_rows = len(names)
        self.manifest_names = names[:NAMES_KEPT]

    def as_dict(self) -> dict:
        return {
            "files": {"count": self.files, "by_extension": dict(self.extensions.most_common()), "names": self.file_names},
            "manifest_rows": {"count": self.manifest_rows, "names": self.manifest_names},
        }

    @classmethod
    def from_dict(cls, data: dict) -> "SkippedInputs":
        files, rows = data.get("files", {}), data.get("manifest_rows", {})
        return cls(files.get("count", 0), list(files.get("names", [])), Counter(files.get("by_extension", {})),
                   rows.get("count", 0), list(rows.get("names", [])))


def iter_tasks(cfg: InputConfig, skipped: SkippedInputs | None = None) -> Iterator[VideoTask]:
    """The archive's videos in path order, listed as the iterator is consumed (an archive of millions of
    videos is never one list on the driver). The input folder and the caption manifest are checked, and
    the manifest read, when this is called, so a wrong input fails before any output is written.
    `skipped` is filled as the listing goes; its manifest rows once the iterator is exhausted."""
    if not cfg.path:
        raise InputError("no input folder: pass --input or set input.path in the pipeline YAML")
    root = locate(cfg.path)
    if not root.is_dir():
        raise NotFoundError(f"input folder not found: {root}" + ("" if root.is_local else " (no such bucket or prefix)"))
    manifest = find_manifest(root, cfg.manifest)
    captions = load_manifest(manifest, cfg.path_column, cfg.caption_column) if manifest else {}
    extensions = {e.lower().lstrip(".") for e in cfg.extensions}
    return _tasks(root, captions, extensions, manifest, SkippedInputs() if skipped is None else skipped)


def _tasks(root: Location, captions: dict[str, str], extensions: set[str], manifest: Location | None,
           skipped: SkippedInputs) -> Iterator[VideoTask]:
    unmatched = dict.fromkeys(captions)  # manifest order; memory follows the manifest, already held
    for file in root.iter_files():
        name = file.name
        if name.startswith("."):
            continue
        rel = file.relative_to(root)
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if extension in extensions:
            unmatched.pop(rel, None)
            yield VideoTask(file.ref, rel, captions.get(rel))
        elif extension not in SIDECARS and not _hidden_folder(rel) and (manifest is None or file.ref != manifest.ref):
            skipped.skip_file(rel, extension)
    skipped.unmatched_rows(list(unmatched))


def _hidden_folder(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/")[:-1])
