"""Encode one kept clip to an in-memory H.264 MP4, decoding only the clip's own frames."""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vcurate.config import EncodeConfig
from vcurate.media.frames import upright
from vcurate.media.probe import MediaError, open_video


def output_size(width: int, height: int, max_short_side: int) -> tuple[int, int]:
    """Downscale (never upscale) to the short-side cap, keeping aspect; even sides for yuv420p."""
    scale = min(1.0, max_short_side / min(width, height))
    w, h = max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)
    return w, h


@dataclass(frozen=True)
class EncodedClip:
    """An encoded clip's MP4 bytes and what a trainer reads about them (the source's size and rate may differ)."""

    mp4: bytes
    width: int
    height: int
    fps: float
    num_frames: int


SEEK_MARGINS_S = (0.0, 1.0, 4.0, 16.0)  # how far before the clip a seek aims, tried in turn


def _frames_from(container, stream, start_s: float, half: float):
    """Decoded frames from a keyframe at or before start_s. Containers without an index (MPEG program
    and transport streams) land after the asked time, and some land nowhere; some files mark frames as
    keyframes that do not decode on their own (FFmpeg flags the frame corrupt, and every frame after it
    shows garbage until the next real one). So the seek aims further back until the first frame is
    neither after start_s nor corrupt, and the last resort is decoding from the beginning."""
    seeked = False
    for margin in SEEK_MARGINS_S if stream.time_base else ():
        target = start_s - half - margin
        if target <= 0:
            break
        container.seek(int(target / stream.time_base), stream=stream, backward=True)
        seeked = True
        frames = container.decode(stream)
        first = next((f for f in frames if f.time is not None), None)
        if first is not None and first.time <= start_s + half and not first.is_corrupt:
            yield first
            yield from frames
            return
    if seeked:
        container.seek(0)
    yield from container.decode(stream)


def clip_frames(container, stream, start_s: float, end_s: float, fps: float):
    """Frames whose time lies in [start_s, end_s). Times are matched with half a frame's tolerance."""
    half = 0.5 / fps if fps > 0 else 1e-3
    for frame in _frames_from(container, stream, start_s, half):
        t = frame.time
        if t is None:
            continue
        if t >= end_s - half:
            break
        if t >= start_s - half:
            yield frame


def encode_clip(path: str | Path, start_s: float, end_s: float, fps: float, expected_frames: int,
                cfg: EncodeConfig) -> EncodedClip:
    """The clip as MP4 at constant `fps`, scaled to cfg.max_short_side."""
    out = io.BytesIO()
    rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
    written = 0
    try:
        with open_video(path) as src:
            stream = src.streams.video[0]
            stream.thread_type = "AUTO"
            if cfg.threads:
                stream.codec_context.thread_count = cfg.threads
            with av.open(out, "w", format="mp4") as dst:
                enc = None
                for frame in clip_frames(src, stream, start_s, end_s, fps):
                    if round((frame.rotation or 0) / 90) % 4:  # stored sideways: encode it the way it is shown
                        frame = av.VideoFrame.from_ndarray(upright(frame.to_ndarray(format="rgb24"), frame.rotation), format="rgb24")
                    if enc is None:
                        enc = dst.add_stream(cfg.codec, rate=rate)
                        enc.width, enc.height = output_size(frame.width, frame.height, cfg.max_short_side)
                        enc.pix_fmt = "yuv420p"
                        enc.options = {"crf": str(cfg.crf), "preset": cfg.preset}
                        if cfg.threads:
                            enc.codec_context.thread_count = cfg.threads
                    small = frame.reformat(width=enc.width, height=enc.height, format="yuv420p")
                    # numbered in a 1 / rate time base: constant frame rate (left to the decoder's time base,
                    # every frame would land at time 0)
                    small.pts, small.time_base = written, 1 / rate
                    dst.mux(enc.encode(small))
                    written += 1
                if enc is None:
                    raise MediaError(f"no frames between {start_s:.3f}s and {end_s:.3f}s")
                dst.mux(enc.encode())
    except MediaError:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise MediaError(f"cannot encode clip: {exc}") from exc
    if abs(written - expected_frames) > 1:
        raise MediaError(f"clip decoded to {written} frames, expected {expected_frames}")
    return EncodedClip(out.getvalue(), enc.width, enc.height, float(rate), written)


def write_mp4(path: str | Path, frames, size: tuple[int, int], fps: Fraction | int, crf: int, pix_fmt: str = "yuv420p") -> int:
    """Encode RGB frames (H, W, 3 uint8) to an H.264 MP4 file; returns the frame count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], pix_fmt
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in frames:
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            container.mux(stream.encode(vf))
            count += 1
        container.mux(stream.encode())
    return count
