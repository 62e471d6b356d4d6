"""Inputs nobody should have to curate, made on demand: broken, odd and adversarial files.

Real archives hold files that are empty, cut short, mislabelled, audio-only, tiny, huge, oddly sized,
variably timed, or named in ways that break naive code. `write_hostile_inputs` writes one of each next
to good videos, with the outcome a robust pipeline must give, so tests can hold the pipeline to it.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vcurate.media.encode import write_mp4


@dataclass(frozen=True)
class Expect:
    """What the pipeline must make of a file: `failed` (with an error), `ok` with at least `min_clips`
    clips, or `any` of the two (never a crash of the job)."""

    status: str
    min_clips: int = 0
    error_contains: str = ""


def _textured_frames(n: int, width: int, height: int, seed: int):
    """Moving texture with a moving square: decodable, with something for every analyzer to see."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 255, (height // 8 + 2, width // 8 + 2, 3), dtype=np.uint8), (width + 64, height + 64))
    for i in range(n):
        frame = base[i % 32 : i % 32 + height, 0:width].copy()
        x = 4 + (2 * i) % max(1, width - 24)
        frame[height // 3 : height // 3 + 16, x : x + 16] = (230, 40, 40)
        yield frame


def _vfr_mp4(path: Path, width: int, height: int, seed: int) -> None:
    """H.264 with irregular frame durations (1-3 ticks of 1/48 s), as phones write."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 48)
        pts = 0
        for frame in _textured_frames(60, width, height, seed):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts, vf.time_base = pts, Fraction(1, 48)
            pts += int(rng.integers(1, 4))
            container.mux(stream.encode(vf))
        container.mux(stream.encode())


def write_rotated_mp4(path: Path, upright_frames: list[np.ndarray], rotation: int, fps: int = 24) -> None:
    """An MP4 stored sideways, as phones write portrait video: the frames are kept turned and the
    track's display matrix says to turn them `rotation` degrees counterclockwise (90, 180 or 270)."""
    turns = rotation // 90
    stored = [np.ascontiguousarray(np.rot90(f, -turns)) for f in upright_frames]
    h, w = stored[0].shape[:2]
    write_mp4(path, iter(stored), (w, h), fps, crf=18)
    data = bytearray(path.read_bytes())
    identity = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    at = data.find(identity, data.find(b"tkhd"))
    if at < 0:
        raise ValueError("no track header matrix found")
    cos, sin = round(math.cos(math.radians(rotation))), round(math.sin(math.radians(rotation)))
    fixed = [v & 0xFFFFFFFF for v in (cos << 16, -sin << 16, 0, sin << 16, cos << 16, 0, 0, 0, 0x40000000)]
    data[at : at + 36] = struct.pack(">9I", *fixed)
    path.write_bytes(bytes(data))


def _audio_only(path: Path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = (np.sin(np.arange(16000) / 8) * 0.3).astype(np.float32)[None]
        for i in range(0, 16000, 1024):
            frame = av.AudioFrame.from_ndarray(samples[:, i : i + 1024].copy(), format="fltp", layout="mono")
            frame.sample_rate = 16000
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def write_hostile_inputs(raw: Path, good: Path) -> dict[str, Expect]:
    """Write the hostile files under `raw`, some cut from the good video `good`; returns
    {path relative to raw: expected outcome}."""
    raw.mkdir(parents=True, exist_ok=True)
    data = good.read_bytes()
    expected: dict[str, Expect] = {}

    def put(name: str, content: bytes, expect: Expect) -> None:
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        (raw / name).write_bytes(content)
        expected[name] = expect

    put("empty.mp4", b"", Expect("failed", error_contains="empty"))
    put("random-bytes.mp4", np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes(), Expect("failed"))
    for fraction in (0.1, 0.5, 0.9):
        put(f"truncated-{int(fraction * 100)}.mp4", data[: int(len(data) * fraction)], Expect("failed"))
    moov = data.find(b"moov")
    if moov > 0:  # cut inside the index that says where every frame is
        put("truncated-mid-moov.mp4", data[: moov + 64], Expect("failed"))
    ok, png = cv2.imencode(".png", np.full((120, 160, 3), 128, np.uint8))
    put("still-image.mp4", png.tobytes(), Expect("any"))  # FFmpeg may read it as a 1-frame video
    _audio_only(raw / "audio-only.mp4")
    expected["audio-only.mp4"] = Expect("failed", error_contains="no video stream")

    write_mp4(raw / "one-frame.mp4", _textured_frames(1, 160, 96, 1), (160, 96), 24, crf=20)
    expected["one-frame.mp4"] = Expect("ok")
    # 4:2:0 chroma needs even sides; 4:4:4 allows odd ones, which the encoder of kept clips must round
    write_mp4(raw / "odd size 321x181.mp4", _textured_frames(48, 321, 181, 2), (321, 181), 24, crf=20, pix_fmt="yuv444p")
    expected["odd size 321x181.mp4"] = Expect("ok", min_clips=1)
    write_rotated_mp4(raw / "phone-portrait-rotated.mp4", list(_textured_frames(48, 112, 192, 4)), 90)
    expected["phone-portrait-rotated.mp4"] = Expect("ok", min_clips=1)
    _vfr_mp4(raw / "variable-frame-rate.mp4", 192, 112, 3)
    expected["variable-frame-rate.mp4"] = Expect("ok", min_clips=1)
    name = "dossier à accents/vidéo ünïcode ✓.mp4"
    (raw / name).parent.mkdir(parents=True, exist_ok=True)
    (raw / name).write_bytes(data)
    expected[name] = Expect("ok", min_clips=1)
    for folder in ("same-name-a", "same-name-b"):
        (raw / folder).mkdir(exist_ok=True)
        (raw / folder / "clip.mp4").write_bytes(data)
        expected[f"{folder}/clip.mp4"] = Expect("ok", min_clips=1)
    loop = raw / "loop"
    if not loop.exists():
        os.symlink(raw, loop, target_is_directory=True)  # a link back to the root: walking it never ends
    return expected
