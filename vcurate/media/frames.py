"""The single decode pass: every frame of a video, decoded once, handed to every analyzer.

Analyzers see an `AnalysisFrame`, which gives small views of the decoded picture on demand and
computes each at most once per frame. Small frames are taken by integer subsampling of the decoded
YUV planes: a libswscale reformat to a small RGB frame costs more than the decode itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol

import av
import cv2
import numpy as np

from vcurate.media.probe import FALLBACK_FPS, MediaError, open_video

_PLANAR_YUV = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuvj440p"}
_JPEG_RANGE = 2  # AVCOL_RANGE_JPEG: full-range YCbCr; anything else in a yuv* format is limited (TV) range


def _ycrcb_to_bgr(full_range: bool) -> np.ndarray:
    """cv2.transform matrix (3 x 4) from Y, Cr, Cb to B, G, R with BT.601 weights, stretching limited
    range (Y 16-235, C 16-240) to full range as FFmpeg's RGB conversion does."""
    luma, chroma, black = (1.0, 1.0, 0) if full_range else (255 / 219, 255 / 224, 16)
    weights = np.array([
        [luma, 0.0, 1.772 * chroma],
        [luma, -0.714136 * chroma, -0.344136 * chroma],
        [luma, 1.402 * chroma, 0.0],
    ])
    return np.hstack([weights, -weights @ [[black], [128], [128]]]).astype(np.float32)


_YCRCB_TO_BGR = {full_range: _ycrcb_to_bgr(full_range) for full_range in (False, True)}


@functools.cache
def keep_heap_warm() -> None:
    """Stop glibc from handing freed memory back to the kernel between frames. Every analyzer makes
    a few frame-sized temporaries per frame; by default glibc trims or unmaps them on free, so each
    next frame page-faults its memory in again, which made the blur analyzer twice as slow as its
    arithmetic. Up to 64 MiB stays mapped per process instead. Elsewhere than glibc: nothing to do."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_top_pad, m_mmap_threshold = -2, -3
    mallopt(m_top_pad, 64 * 2**20)
    mallopt(m_mmap_threshold, 64 * 2**20)


def plane_array(plane) -> np.ndarray:
    """A zero-copy (height, width) uint8 view of one decoded plane, line padding removed."""
    data = np.frombuffer(plane, np.uint8)
    return data.reshape(plane.height, plane.line_size)[:, : plane.width]


def upright(image: np.ndarray, rotation: float | None) -> np.ndarray:
    """The picture as it should be shown: decoded frames of phone videos are stored sideways, with a
    display matrix saying to turn them `rotation` degrees counterclockwise (PyAV's frame.rotation)."""
    turns = int(round((rotation or 0) / 90)) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central (at most) size x size window of an (h, w, ...) image."""
    h, w = image.shape[:2]
    ch, cw = min(h, size), min(w, size)
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[top : top + ch, left : left + cw]


def analysis_stride(width: int, height: int, short_side: int) -> int:
    """Integer subsampling step that brings the frame's short side closest to `short_side`."""
    return max(1, round(min(width, height) / short_side))


def prefiltered_luma(luma: np.ndarray, factor: int, rows_per_box: int = 4) -> np.ndarray:
    """Luma downscaled by `factor` with a box filter: every column, and every `step`-th row, where `step`
    is the largest divisor of `factor` that keeps `rows_per_box` rows in each box. The full box is the exact
    prefilter but touches every pixel (0.22 ms a 720p frame); skipping rows costs about half and, on a
    textured sub-pixel pan, scores within 0.01 of the exact filter (plain subsampling: 3x its noise).
    The rows are a strided view: OpenCV reads them in place."""
    if factor <= 1:
        return luma
    factor = min(factor, *luma.shape[:2])  # at least one pixel out
    step = max(k for k in range(1, factor // rows_per_box + 1) if factor % k == 0) if factor >= rows_per_box else 1
    out_h, out_w = luma.shape[0] // factor, luma.shape[1] // factor
    rows = luma[: out_h * factor : step, : out_w * factor]
    return cv2.resize(rows, (out_w, out_h), interpolation=cv2.INTER_AREA)


class AnalysisFrame:
    """One decoded frame and the views analyzers ask of it, computed lazily and cached."""

    __slots__ = ("frame", "stride", "_luma", "_box_luma", "_bgr", "_bgr_factor")

    def __init__(self, frame: av.VideoFrame, stride: int):
        self.frame, self.stride = frame, stride
        self._luma: np.ndarray | None = None
        self._box_luma: np.ndarray | None = None
        self._bgr: np.ndarray | None = None
        self._bgr_factor = 0

    @property
    def planar(self) -> bool:
        return self.frame.format.name in _PLANAR_YUV

    @property
    def full_range(self) -> bool:
        """Whether the YUV planes span 0-255 (JPEG range) rather than limited (TV) range, Y 16-235."""
        return self.frame.format.name.startswith("yuvj") or self.frame.color_range == _JPEG_RANGE

    def luma_full(self) -> np.ndarray:
        """Full-resolution luma (Y plane view, no copy) for analyzers that need native detail."""
        if self.planar:
            return plane_array(self.frame.planes[0])
        return cv2.cvtColor(self.frame.to_ndarray(format="bgr24"), cv2.COLOR_BGR2GRAY)

    def luma(self) -> np.ndarray:
        """Small luma by plain subsampling, contiguous, (h/stride, w/stride) uint8. Not prefiltered:
        fine native detail folds into its finest band (what the blur score wants), and motion below
        `stride` pixels is quantised (why the shake analyzer takes a box-filtered view instead)."""
        if self._luma is None:
            if self.planar:
                s = self.stride
                self._luma = np.ascontiguousarray(plane_array(self.frame.planes[0])[::s, ::s])
            else:
                self._luma = cv2.cvtColor(self.bgr(), cv2.COLOR_BGR2GRAY)
        return self._luma

    def box_luma(self) -> np.ndarray:
        """Luma box-filtered by twice the stride (about 72 pixels on the short side), uint8: the
        camera's motion is measured on it (the shake analyzer), and the scene's on it scaled down more."""
        if self._box_luma is None:
            self._box_luma = prefiltered_luma(self.luma_full(), 2 * self.stride)
        return self._box_luma

    def bgr(self, factor: int = 1) -> np.ndarray:
        """Small BGR (what PySceneDetect's detectors expect), from subsampled Y, U and V planes, in the
        colours FFmpeg's own RGB conversion gives, which PySceneDetect's thresholds assume (OpenCV's
        COLOR_YUV2BGR, with analog-YUV weights and no range stretch, read cuts ~20 % weaker).
        `factor` > 1 subsamples the planes that much further: a cut is a change of the whole picture's
        colours, which a coarse frame shows as well, at a fraction of the detector's cost (a box filter
        instead desaturates muted textures, whose hue then flickers: cut F1 0.965 against subsampling's
        0.970 on synthetic seed 11, the same as the full analysis frame's)."""
        if self._bgr is None or self._bgr_factor != factor:
            if self.planar:
                stride = self.stride * factor
                y = plane_array(self.frame.planes[0])[::stride, ::stride]
                ycrcb = np.empty((*y.shape, 3), np.uint8)  # filled from the strided views: one copy each
                ycrcb[..., 0] = y
                ycrcb[..., 1] = self._chroma(self.frame.planes[2], stride, *y.shape)
                ycrcb[..., 2] = self._chroma(self.frame.planes[1], stride, *y.shape)
                self._bgr = cv2.transform(ycrcb, _YCRCB_TO_BGR[self.full_range])
            else:
                w = max(1, self.frame.width // (self.stride * factor))
                h = max(1, self.frame.height // (self.stride * factor))
                self._bgr = self.frame.reformat(width=w, height=h, format="bgr24").to_ndarray()
            self._bgr_factor = factor
        return self._bgr

    def _chroma(self, plane, stride: int, h: int, w: int) -> np.ndarray:
        """A chroma plane sampled at the pixels of the (h, w) luma view taken every `stride` pixels (nearest sample)."""
        full = plane_array(plane)
        scale_y, scale_x = stride * full.shape[0], stride * full.shape[1]
        if scale_y % self.frame.height == 0 and scale_x % self.frame.width == 0:  # whole steps (4:2:0, even stride)
            return full[:: scale_y // self.frame.height, :: scale_x // self.frame.width][:h, :w]
        rows = (np.arange(h) * scale_y) // self.frame.height
        cols = (np.arange(w) * scale_x) // self.frame.width
        return full[rows][:, cols]  # rows, then columns: 5x faster than one 2-D gather

    def area_bgr(self, factor: int = 1) -> np.ndarray:
        """BGR of about `bgr(factor)`'s size in its colours, each pixel the mean of the decoded pixels
        it covers (`prefiltered_luma` on each plane) rather than one of them: a camera's motion moves
        this picture as it moves the scene, where subsampling lets fine texture alias into a pattern no
        warp undoes. Not cached: the scene detectors ask for it only around a possible cut."""
        box = self.stride * factor
        if not self.planar:
            w, h = max(1, self.frame.width // box), max(1, self.frame.height // box)
            return self.frame.reformat(width=w, height=h, format="bgr24", interpolation="AREA").to_ndarray()
        # The shake analyzer's view where the factor is its own (cached), else box-filtered here.
        y = self.box_luma() if box == 2 * self.stride else prefiltered_luma(self.luma_full(), box)
        ycrcb = np.empty((*y.shape, 3), np.uint8)
        ycrcb[..., 0] = y
        for channel, plane in ((1, 2), (2, 1)):  # Cr, Cb
            ycrcb[..., channel] = self.box_chroma(plane, box, y.shape)
        return cv2.transform(ycrcb, _YCRCB_TO_BGR[self.full_range])

    def box_chroma(self, plane: int, factor: int, shape: tuple[int, int], rows_per_box: int = 4) -> np.ndarray:
        """Chroma plane `plane` (1: U/Cb, 2: V/Cr) of a planar frame box-filtered as the luma is by
        `factor`, resized to the luma view's `shape` (h, w) where its own subsampling leaves it another
        size, uint8."""
        luma_width = plane_array(self.frame.planes[0]).shape[1]
        chroma = plane_array(self.frame.planes[plane])
        small = prefiltered_luma(chroma, max(1, round(factor * chroma.shape[1] / luma_width)), rows_per_box)
        if small.shape != tuple(shape):
            small = cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
        return small


class FrameAnalyzer(Protocol):
    """Anything that looks at every frame of the pass, in order."""

    def process(self, index: int, frame: AnalysisFrame) -> None: ...

    def finish(self, num_frames: int) -> None: ...


@dataclass
class DecodedVideo:
    """What the pass learnt about the whole video."""

    num_frames: int
    times: np.ndarray  # presentation time (s) of each frame, in decode output order
    rotation: int
    width: int
    height: int


def decode_pass(
    path: str | Path,
    analyzers: Iterable[FrameAnalyzer],
    short_side: int,
    threads: int = 0,
    fps_hint: float = FALLBACK_FPS,
) -> DecodedVideo:
    """Open the video, decode every frame once and feed it to every analyzer (`decode_frames`)."""
    try:
        with open_video(path) as container:
            return decode_frames(container, analyzers, short_side, threads, fps_hint)
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise MediaError(f"cannot decode: {exc}") from exc


def decode_frames(
    container: av.container.InputContainer,
    analyzers: Iterable[FrameAnalyzer],
    short_side: int,
    threads: int = 0,
    fps_hint: float = FALLBACK_FPS,
) -> DecodedVideo:
    """Decode every frame of an opened video once and feed it to every analyzer; returns frame times
    and counts. `fps_hint` spaces the frames that carry no time stamp."""
    keep_heap_warm()
    analyzers = list(analyzers)
    times: list[float] = []
    rotation = 0
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if threads:
            stream.codec_context.thread_count = threads
        width, height = stream.codec_context.width, stream.codec_context.height
        stride = analysis_stride(width, height, short_side)
        for index, frame in enumerate(container.decode(stream)):
            if index == 0:
                rotation = int(round(frame.rotation or 0))
            if frame.width != width or frame.height != height:
                raise MediaError(f"frame size changes mid-stream ({width}x{height} -> {frame.width}x{frame.height})")
            view = AnalysisFrame(frame, stride)
            for analyzer in analyzers:
                analyzer.process(index, view)
            times.append(frame.time if frame.time is not None else (times[-1] + 1 / fps_hint if times else 0.0))
    except MediaError:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:
        if not times:
            raise MediaError(f"cannot decode: {exc}") from exc
        # A damaged tail: keep what decoded cleanly, as ffmpeg itself does.
    if not times:
        raise MediaError("no decodable frames")
    for analyzer in analyzers:
        analyzer.finish(len(times))
    return DecodedVideo(len(times), np.asarray(times, dtype=np.float64), rotation % 360, width, height)


def read_frame_at(path: str | Path, seconds: float, width: int) -> np.ndarray:
    """One RGB frame near `seconds` (the first at or after it), scaled to `width`; for thumbnails."""
    with open_video(path) as container:
        stream = container.streams.video[0]
        if seconds > 0 and stream.time_base:
            container.seek(int(seconds / stream.time_base), stream=stream, backward=True)
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.time is None or frame.time >= seconds:
                break
        if chosen is None:
            raise MediaError(f"no frame at {seconds:.2f}s")
        rgb = upright(chosen.to_ndarray(format="rgb24"), chosen.rotation)
        height = max(2, round(rgb.shape[0] * width / rgb.shape[1] / 2) * 2)
        return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
