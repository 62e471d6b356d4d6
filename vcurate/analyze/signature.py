"""A clip's visual signature for near-duplicate detection: what its frames look like, how they change,
and its colour, from a few evenly spaced frames of the decode pass.

Each hashed frame is the analysis luma with `crop` of each side left out, area-resized to 32x32,
its mean removed and weighted by a centred Gaussian window (so what a crop of a few per cent cuts
away, and a logo or border at the edge, counts little), and transformed by a 2-D DCT; the 64
coefficients of the low-frequency 8x8 block, in zigzag order, describe the frame's layout. Every
`every_s` seconds a frame is hashed this way (a 32x32 resize and DCT: cheap), and once the clip's
bounds are known its `frames` evenly spaced hashed frames give:

- layout: each AC coefficient as a trit, + / 0 / - against +-0.3 of the frame's AC RMS. The dead
  zone makes a near-zero coefficient 0 in both copies instead of a coin flip, as a median-thresholded
  pHash bit would be; a brightness or contrast change scales all coefficients and the RMS alike;
- motion: each coefficient minus the clip's mean frame (all its hashed frames), as a trit against
  +-0.01 of the mean frame's AC RMS: where the picture changes and which way. Two shots of one place
  with the same background but other action match in layout and differ here; a still shot has
  (nearly) no motion, every trit 0, and its copies match;
- colour: the mean Cr and Cb (0-255) over the frames.

A trit is two bits (set in the "+" word or in the "-" word), so the Hamming distance between two
codes counts 1 for + vs 0 and 2 for + vs -. Bytes: version, number of frames K, then per frame four
little-endian uint64 words (layout +, layout -, motion +, motion -; bit i = zigzag coefficient i,
layout bit 0, the DC, always 0), then Cr and Cb as uint8: 2 + 32 K + 2 bytes (130 for K = 4).
vcurate.dedup compares them.
"""

from __future__ import annotations

import cv2
import numpy as np

from vcurate.analyze.registry import ClipAnalyzer, Column, StreamFacts, register_analyzer
from vcurate.config import PipelineConfig
from vcurate.media.frames import AnalysisFrame

VERSION = 1
THUMB = 32
WORDS_PER_FRAME = 4  # layout +, layout -, motion +, motion -
LAYOUT_DEADZONE = 0.3  # x the frame's AC RMS
MOTION_DEADZONE = 0.01  # x the clip mean frame's AC RMS
ZIGZAG = np.array(sorted(range(64), key=lambda i: (i // 8 + i % 8, i // 8)))  # row-major 8x8 index, low first
_AXIS = np.linspace(-1.0, 1.0, THUMB)
WINDOW = np.outer(*(2 * [np.exp(-0.5 * (_AXIS / 0.6) ** 2)])).astype(np.float32)


def frame_coefficients(luma: np.ndarray, crop: float) -> np.ndarray:
    """(64,) float32: the low 8x8 DCT block, zigzag order, of the windowed 32x32 thumbnail of `luma`."""
    h, w = luma.shape
    top, left = int(h * crop), int(w * crop)
    thumb = cv2.resize(luma[top : h - top, left : w - left], (THUMB, THUMB), interpolation=cv2.INTER_AREA)
    thumb = thumb.astype(np.float32)
    return cv2.dct((thumb - thumb.mean()) * WINDOW)[:8, :8].ravel()[ZIGZAG]


def frame_colour(bgr: np.ndarray) -> tuple[float, float]:
    """Mean (Cr, Cb) of a BGR picture, BT.601, 0-255."""
    b, g, r = cv2.mean(bgr)[:3]
    return 128 + 0.5 * r - 0.418688 * g - 0.081312 * b, 128 - 0.168736 * r - 0.331264 * g + 0.5 * b


def _trit_words(values: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """(k, 2) uint64: bit i of word 0 set where values[:, i] > threshold, of word 1 where < -threshold."""
    planes = np.stack([values > threshold, values < -threshold], axis=1)  # (k, 2, 64)
    return np.packbits(planes, axis=-1, bitorder="little").view("<u8")[..., 0]


def clip_signature(coefficients: np.ndarray, colours: np.ndarray, frames: int) -> bytes:
    """Signature bytes of a clip from its hashed frames: (n, 64) coefficients, (n, 2) colours, n >= 1."""
    picks = np.linspace(0, len(coefficients) - 1, frames).round().astype(int)
    chosen = coefficients[picks]
    layout_scale = np.sqrt((chosen[:, 1:] ** 2).mean(axis=1, keepdims=True))
    layout = chosen.copy()
    layout[:, 0] = 0.0  # the DC of a mean-free thumbnail carries no layout
    mean = coefficients.mean(axis=0)
    motion_scale = MOTION_DEADZONE * np.sqrt((mean[1:] ** 2).mean())
    words = np.concatenate([_trit_words(layout, LAYOUT_DEADZONE * layout_scale),
                            _trit_words(chosen - mean, motion_scale)], axis=1)  # (K, 4)
    colour = np.clip(np.round(colours.mean(axis=0)), 0, 255).astype(np.uint8)
    return bytes([VERSION, frames]) + words.astype("<u8").tobytes() + colour.tobytes()


def unpack_signatures(signatures: list[bytes], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 4 K) uint64 words and (n, 2) int16 colours of signatures made with `frames` frames."""
    size = 2 + 8 * WORDS_PER_FRAME * frames + 2
    for signature in signatures:
        if len(signature) != size or signature[0] != VERSION or signature[1] != frames:
            raise ValueError(f"not a version-{VERSION} signature of {frames} frames ({len(signature)} bytes)")
    raw = np.frombuffer(b"".join(signatures), np.uint8).reshape(len(signatures), size)
    words = np.ascontiguousarray(raw[:, 2:-2]).view("<u8").astype(np.uint64, copy=False)
    return words.reshape(len(signatures), WORDS_PER_FRAME * frames), raw[:, -2:].astype(np.int16)


@register_analyzer
class SignatureAnalyzer(ClipAnalyzer):
    """Hashes a frame every `every_s` seconds; a clip's signature takes `frames` of those inside it."""

    columns = {
        "signature": Column(bytes, "visual signature for near-duplicate detection: layout and motion trits of "
                                   "evenly spaced frames and the mean colour (vcurate.analyze.signature)"),
    }

    def __init__(self, step: int, frames: int, crop: float, colour_factor: int):
        self.step, self.frames, self.crop, self.colour_factor = step, frames, crop, colour_factor
        self.indices: list[int] = []
        self.coefficients: list[np.ndarray] = []
        self.colours: list[tuple[float, float]] = []

    @classmethod
    def build(cls, cfg: PipelineConfig, stream: StreamFacts) -> "SignatureAnalyzer | None":
        settings = cfg.filters.duplicate
        if not settings.enabled:
            return None
        step = max(1, round(settings.every_s * stream.fps))
        # the scene detector's colour frame, already made for this frame: the colour mean costs no conversion
        return cls(step, settings.frames, settings.crop, cfg.split.downscale)

    def process(self, index: int, frame: AnalysisFrame) -> None:
        if index % self.step:
            return
        self.indices.append(index)
        self.coefficients.append(frame_coefficients(frame.luma(), self.crop))
        self.colours.append(frame_colour(frame.bgr(self.colour_factor)))

    def clip_columns(self, start: int, end: int) -> dict[str, bytes | None]:
        first, last = np.searchsorted(self.indices, [start, end])
        if first == last:
            return {"signature": None}
        return {"signature": clip_signature(np.stack(self.coefficients[first:last]),
                                            np.asarray(self.colours[first:last]), self.frames)}
