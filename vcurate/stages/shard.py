"""Webdataset tar shards, each written under a temporary name and renamed only when complete, so a
reader (or a crash) never sees a partial shard."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import webdataset as wds

from vcurate.records import ClipRecord

SHARD_PATTERN = "shard-{:06d}.tar"
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class ShardWriter:
    """Rotating tar writer: a new shard after `max_samples` samples or about `max_bytes` bytes."""

    def __init__(self, folder: str | Path, max_samples: int, max_bytes: int, start_index: int = 0):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_samples, self.max_bytes = max_samples, max_bytes
        self.index = start_index
        self.written: list[str] = []
        self._tar: wds.TarWriter | None = None
        self._file = None
        self._count = self._bytes = 0

    @property
    def _name(self) -> str:
        return SHARD_PATTERN.format(self.index)

    def _open(self) -> None:
        self._file = open(self.folder / (self._name + ".tmp"), "wb")
        self._tar = wds.TarWriter(self._file)
        self._count = self._bytes = 0

    def _close(self) -> None:
        if self._tar is None:
            return
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.folder / (self._name + ".tmp"), self.folder / self._name)
        self.written.append(self._name)
        self._tar = self._file = None
        self.index += 1

    def write(self, clip: ClipRecord, mp4: bytes) -> str:
        """Write one clip's sample; returns the shard file name it lands in."""
        if not _SAFE_KEY.match(clip.clip_key):
            raise ValueError(f"unsafe sample key {clip.clip_key!r}")
        if self._tar is not None and (self._count >= self.max_samples or self._bytes + len(mp4) > self.max_bytes):
            self._close()
        if self._tar is None:
            self._open()
        clip.shard = self._name
        row = clip.model_dump(mode="json")
        self._tar.write({
            "__key__": clip.clip_key,
            "mp4": mp4,
            "txt": clip.caption.encode("utf-8"),
            "json": json.dumps(row, ensure_ascii=False).encode("utf-8"),
        })
        self._count += 1
        self._bytes += len(mp4)
        return self._name

    def close(self) -> list[str]:
        self._close()
        return self.written

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
