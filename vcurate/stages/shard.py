"""Webdataset tar shards, each published only when complete (temporary name + rename on a disk, upload
completed on close on an object store), so a reader (or a crash) never sees a partial shard.

A shard is a plain tar in webdataset's layout (members KEY.mp4, KEY.txt, KEY.json, a sample's members
together), written with the standard library: webdataset's own writer imports torch, which a
curation job without CLIP has no other use for. Members carry no time stamp or owner, so the same
clips make byte-identical shards.

With shards.group_by_bucket every shard holds clips of one (resolution, aspect, frame count) bucket,
named in the file name (shard-000012-360p-16x9-f32-63.tar): one flat folder still, so a glob picks a
bucket (`*-16x9-*`) and every reader of a shard folder reads them all."""

from __future__ import annotations

import contextlib
import io
import json
import re
import tarfile
from dataclasses import dataclass
from typing import Callable

from vcurate import aspect
from vcurate.records import ClipRecord
from vcurate.storage import AllOrNothing, AtomicOutput, Location, locate

SHARD_PATTERN = "shard-{:06d}{}.tar"
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ASPECTS = [aspect.ratio(name) for name in aspect.STANDARD]


def clip_bucket(clip: ClipRecord) -> str:
    """The encoded clip's bucket: short side, nearest standard aspect, and frame count in a power-of-two
    range, e.g. 360p-16x9-f32-63."""
    width, height, frames = clip.encoded_width, clip.encoded_height, clip.encoded_num_frames
    if not (width and height and frames):
        raise ValueError(f"clip {clip.clip_key} has no encoded size: it cannot be bucketed before it is encoded")
    shape = aspect.STANDARD[aspect.nearest(width / height, _ASPECTS)].replace(":", "x")
    low = 1 << (frames.bit_length() - 1)
    return f"{min(width, height)}p-{shape}-f{low}-{2 * low - 1}"


@dataclass
class _OpenShard:
    name: str
    file: AtomicOutput
    tar: tarfile.TarFile
    count: int = 0
    bytes: int = 0


class ShardWriter(AllOrNothing):
    """Rotating tar writer: a new shard after `max_samples` samples or about `max_bytes` bytes.
    With `bucket_of`, one shard open per bucket; when any is full all open shards close together,
    so each commit names only complete shards and every row it holds is in one of them (rare buckets
    get smaller shards). `on_close(names)` runs once shards are complete under their final names (the
    job commits there)."""

    def __init__(self, folder: str | Location, max_samples: int, max_bytes: int, start_index: int = 0,
                 on_close: Callable[[list[str]], None] | None = None,
                 bucket_of: Callable[[ClipRecord], str] | None = None):
        self.folder = folder if isinstance(folder, Location) else locate(folder)
        self.folder.mkdir()
        self.max_samples, self.max_bytes = max_samples, max_bytes
        self.index = start_index
        self.on_close = on_close
        self.bucket_of = bucket_of
        self.written: list[str] = []
        self._open: dict[str, _OpenShard] = {}  # by bucket ("" without buckets)

    def _start(self, bucket: str) -> _OpenShard:
        name = SHARD_PATTERN.format(self.index, f"-{bucket}" if bucket else "")
        self.index += 1
        file = (self.folder / name).open_output()
        shard = _OpenShard(name, file, tarfile.open(fileobj=file, mode="w|", format=tarfile.USTAR_FORMAT))
        self._open[bucket] = shard
        return shard

    def _close(self) -> None:
        """Close every open shard, in the order they were opened."""
        if not self._open:
            return
        names = []
        for shard in self._open.values():
            shard.tar.close()
            shard.file.close()  # publishes the shard under its final name
            names.append(shard.name)
        self._open = {}
        self.written += names
        if self.on_close is not None:
            self.on_close(names)

    def abort(self) -> None:
        """Drop the shards in progress (the job failed): nothing half-written becomes visible."""
        for shard in self._open.values():
            with contextlib.suppress(Exception):  # the tar may be what failed; its bytes are dropped anyway
                shard.tar.close()
            shard.file.abort()
        self._open = {}

    def write(self, clip: ClipRecord, mp4: bytes) -> str:
        """Write one clip's sample; returns the shard file name it lands in."""
        if not _SAFE_KEY.match(clip.clip_key):
            raise ValueError(f"unsafe sample key {clip.clip_key!r}")
        bucket = self.bucket_of(clip) if self.bucket_of else ""
        shard = self._open.get(bucket)
        if shard is not None and (shard.count >= self.max_samples or shard.bytes + len(mp4) > self.max_bytes):
            self._close()
            shard = None
        if shard is None:
            shard = self._start(bucket)
        clip.shard = shard.name
        row = clip.model_dump(mode="json")
        members = {"mp4": mp4, "txt": clip.caption.encode("utf-8"),
                   "json": json.dumps(row, ensure_ascii=False).encode("utf-8")}
        for extension, data in members.items():
            info = tarfile.TarInfo(f"{clip.clip_key}.{extension}")
            info.size, info.mode = len(data), 0o444
            shard.tar.addfile(info, io.BytesIO(data))
        shard.count += 1
        shard.bytes += len(mp4)
        return shard.name

    def close(self) -> list[str]:
        self._close()
        return self.written
