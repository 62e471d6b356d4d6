"""Webdataset tar shards, each published only when complete (temporary name + rename on a disk, upload
completed on close on an object store), so a reader (or a crash) never sees a partial shard.

A shard is a plain tar in webdataset's layout (members KEY.mp4, KEY.txt, KEY.json, a sample's members
together), written with the standard library: webdataset's own writer imports torch, which a
curation job without CLIP has no other use for. Members carry no time stamp or owner, so the same
clips make byte-identical shards."""

from __future__ import annotations

import contextlib
import io
import json
import re
import tarfile
from typing import Callable

from vcurate.records import ClipRecord
from vcurate.storage import AllOrNothing, AtomicOutput, Location, locate

SHARD_PATTERN = "shard-{:06d}.tar"
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class ShardWriter(AllOrNothing):
    """Rotating tar writer: a new shard after `max_samples` samples or about `max_bytes` bytes.
    `on_close(name)` runs once a shard is complete under its final name (the job commits there)."""

    def __init__(self, folder: str | Location, max_samples: int, max_bytes: int, start_index: int = 0,
                 on_close: Callable[[str], None] | None = None):
        self.folder = folder if isinstance(folder, Location) else locate(folder)
        self.folder.mkdir()
        self.max_samples, self.max_bytes = max_samples, max_bytes
        self.index = start_index
        self.on_close = on_close
        self.written: list[str] = []
        self._tar: tarfile.TarFile | None = None
        self._file: AtomicOutput | None = None
        self._count = self._bytes = 0

    @property
    def _name(self) -> str:
        return SHARD_PATTERN.format(self.index)

    def _open(self) -> None:
        self._file = (self.folder / self._name).open_output()
        self._tar = tarfile.open(fileobj=self._file, mode="w|", format=tarfile.USTAR_FORMAT)
        self._count = self._bytes = 0

    def _close(self) -> None:
        if self._tar is None:
            return
        self._tar.close()
        self._file.close()  # publishes the shard under its final name
        self.written.append(self._name)
        self._tar = self._file = None
        self.index += 1
        if self.on_close is not None:
            self.on_close(self.written[-1])

    def abort(self) -> None:
        """Drop the shard in progress (the job failed): nothing half-written becomes visible."""
        if self._tar is not None:
            with contextlib.suppress(Exception):  # the tar may be what failed; its bytes are dropped anyway
                self._tar.close()
        if self._file is not None:
            self._file.abort()
        self._tar = self._file = None

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
        members = {"mp4": mp4, "txt": clip.caption.encode("utf-8"),
                   "json": json.dumps(row, ensure_ascii=False).encode("utf-8")}
        for extension, data in members.items():
            info = tarfile.TarInfo(f"{clip.clip_key}.{extension}")
            info.size, info.mode = len(data), 0o444
            self._tar.addfile(info, io.BytesIO(data))
        self._count += 1
        self._bytes += len(mp4)
        return self._name

    def close(self) -> list[str]:
        self._close()
        return self.written
