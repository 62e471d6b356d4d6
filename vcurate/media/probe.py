"""Container-level facts about a video, read with PyAV before any frame is decoded."""

from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Iterator

import av
from pyarrow.fs import FileType

from vcurate.errors import VcurateError
from vcurate.storage import REMOTE_READ_BYTES, locate


class MediaError(VcurateError, RuntimeError):
    """A video that cannot be used; the message goes to videos.parquet's `error` column."""


FALLBACK_FPS = 25.0


@dataclass(frozen=True)
class Probe:
    codec: str
    width: int
    height: int
    fps: float  # average frame rate
    fps_real: float  # the stream's base rate
    duration_s: float
    declared_frames: int
    size_bytes: int

    @property
    def frame_rate(self) -> float:
        """The rate every stage works with, always > 0: the average rate, else declared frames over
        duration, else FALLBACK_FPS (a stream that states neither)."""
        if self.fps > 0:
            return self.fps
        if self.declared_frames and self.duration_s > 0:
            return self.declared_frames / self.duration_s
        return FALLBACK_FPS

    @property
    def expected_frames(self) -> int:
        return self.declared_frames or int(self.duration_s * self.frame_rate)


@contextmanager
def open_video(path: str | os.PathLike) -> Iterator[av.container.InputContainer]:
    """A PyAV container of a local path (FFmpeg reads the file itself) or of a URI (read through
    vcurate.storage in large blocks: on an object store every read is a request)."""
    source = locate(path)
    if source.is_local:
        with av.open(source.path) as container:
            yield container
        return
    with source.open_input() as file, av.open(file, buffer_size=REMOTE_READ_BYTES) as container:
        yield container


def _rate(value) -> float:
    return float(value) if value else 0.0


@contextmanager
def open_probed(path: str | os.PathLike) -> Iterator[tuple[av.container.InputContainer, Probe]]:
    """The opened video and its container facts. Opening runs FFmpeg's stream probe, which decodes the
    first frames: the analysis opens each video once, for its facts and its decode pass alike."""
    size = _file_size(path)
    with ExitStack() as stack:
        try:
            container = stack.enter_context(open_video(path))
            info = _facts(container, size)
        except MediaError:
            raise
        except (av.FFmpegError, ValueError, OSError) as exc:
            # FFmpeg's message without the file name it appends: the path is in the row already
            raise MediaError(f"cannot open as video: {getattr(exc, 'strerror', None) or exc}") from exc
        yield container, info


def _file_size(path: str | os.PathLike) -> int:
    try:
        info = locate(path).info()
    except OSError as exc:
        raise MediaError(f"cannot read file: {exc.strerror or exc}") from exc
    if info.type != FileType.File:
        raise MediaError(f"cannot read file: {'no such file' if info.type == FileType.NotFound else 'not a file'}")
    if info.size == 0:
        raise MediaError("empty file (0 bytes)")
    return info.size


def _facts(container: av.container.InputContainer, size: int) -> Probe:
    if not container.streams.video:
        raise MediaError("no video stream")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if not ctx.width or not ctx.height:
        raise MediaError("video stream has no frame size")
    if stream.duration is not None and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    else:
        duration = container.duration / av.time_base if container.duration else 0.0
    return Probe(
        codec=ctx.name,
        width=ctx.width,
        height=ctx.height,
        fps=_rate(stream.average_rate) or _rate(stream.guessed_rate),
        fps_real=_rate(stream.base_rate),
        duration_s=duration,
        declared_frames=stream.frames or 0,
        size_bytes=size,
    )
