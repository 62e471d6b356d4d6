"""A clip's visual signature for near-duplicate detection: what its frames look like, how they change,
and its colour, from the hashed frames of the decode pass that fall in the clip.

Each hashed frame is the analysis luma with `crop` of each side left out, area-resized to 32x32,
its mean removed and weighted by a centred Gaussian window (so what a crop of a few per cent cuts
away, and a logo or border at the edge, counts little), and transformed by a 2-D DCT; the 64
coefficients of the low-frequency 8x8 block, in zigzag order, describe the frame's layout. Every
`every_s` seconds a frame is hashed this way (one area resize, a DCT and an FFT: cheap). Once the
clip's bounds are known, up to `frames` (K) groups of `group` consecutive hashed frames (`group_s`
seconds each) are taken from the middle of the clip, each described by its mean. Groups of fixed
length, not fixed shares of the clip, are what lets a copy cut at other frames (a re-upload trimmed
otherwise, a scene split a few frames off, a repeat of part of a shot) match: its groups line up
with its original's at some whole-group offset, give or take half a group, and vcurate.dedup
searches those offsets. (Shares of the clip, as version 1 took, moved every described moment when
a copy began 0.36 s later, and such copies measured 22-38, beyond the threshold.) Each group gives:

- layout: each AC coefficient as a trit, + / 0 / - against +-0.3 of the group's AC RMS. The dead
  zone makes a near-zero coefficient 0 in both copies instead of a coin flip, as a median-thresholded
  pHash bit would be; a brightness or contrast change scales all coefficients and the RMS alike;
- motion: the next group minus this one, as trits against +-0.01 of the clip's mean frame's AC RMS:
  where the picture changes and which way, over a stretch of time of its own (so it lines up at an
  offset as the layout does; the last group's slot is 0). Two shots of one place with the same
  background but other action match in layout and differ here; a still shot has (nearly) no motion,
  every trit 0, and its copies match;
- texture: the power spectrum of a 64x64 Hann-windowed thumbnail in 8 orientations x 8 radial bands
  (1.5-16 cycles per picture, log-spaced), its log averaged over the group, each bin a bit, set where
  it is above the median bin. It ignores where the texture is, so a crop of a few per cent leaves it
  (a periodic texture shifted by a crop changes every layout coefficient that sees it), and tells a
  striped shot from a dotted one where the low-frequency layout sees neither;
- colour (one for the clip): the mean Cr and Cb (0-255) over the described groups' frames.

A trit is two bits (set in the "+" word or in the "-" word), so the Hamming distance between two
codes counts 1 for + vs 0 and 2 for + vs -. Bytes: version, K, then per group five little-endian
uint64 words (layout +, layout -, motion +, motion -, texture; bit i = zigzag coefficient i or
spectrum bin i; layout bit 0, the DC, is 0, or 1 with every other word 0 for a group a short clip
has not), then Cr and Cb as uint8: 2 + 40 K + 2 bytes (324 for K = 8). vcurate.dedup compares them.
"""

from __future__ import annotations

import cv2
import numpy as np

from vcurate.analyze.registry import ClipAnalyzer, Column, StreamFacts, register_analyzer
from vcurate.config import PipelineConfig
from vcurate.media.frames import AnalysisFrame, plane_array

VERSION = 2
THUMB = 32
WORDS_PER_FRAME = 5  # layout +, layout -, motion +, motion -, texture
LAYOUT_DEADZONE = 0.3  # x the frame's AC RMS
MOTION_DEADZONE = 0.01  # x the clip mean frame's AC RMS
ABSENT = np.uint64(1)  # layout + word of a group the clip has not (bit 0, the DC, is never set otherwise)
ZIGZAG = np.array(sorted(range(64), key=lambda i: (i // 8 + i % 8, i // 8)))  # row-major 8x8 index, low first
_AXIS = np.linspace(-1.0, 1.0, THUMB)
WINDOW = np.outer(*(2 * [np.exp(-0.5 * (_AXIS / 0.6) ** 2)])).astype(np.float32)
SPECTRUM = 64  # texture thumbnail side
_FY, _FX = np.meshgrid(np.fft.fftfreq(SPECTRUM) * SPECTRUM, np.fft.rfftfreq(SPECTRUM) * SPECTRUM, indexing="ij")
_BAND = np.digitize(np.hypot(_FX, _FY), np.geomspace(1.5, 16.0, 9)) - 1  # 0-7 inside, -1 / 8 outside
_ORIENTATION = np.minimum((np.mod(np.arctan2(_FY, _FX), np.pi) / np.pi * 8).astype(int), 7)
_INSIDE = (_BAND >= 0) & (_BAND < 8)
_BIN = (_BAND * 8 + _ORIENTATION)[_INSIDE]
HANN = np.outer(np.hanning(SPECTRUM), np.hanning(SPECTRUM)).astype(np.float32)


def frame_hashes(luma: np.ndarray, crop: float) -> tuple[np.ndarray, np.ndarray]:
    """(64,) float32 layout coefficients: the low 8x8 DCT block, zigzag order, of the windowed 32x32
    thumbnail; (64,) float64 texture spectrum: power of the Hann-windowed 64x64 thumbnail in 8 radial
    bands x 8 orientations. Both thumbnails are area resizes of `luma` with `crop` of each side left
    out, mean-free; the 32x32 one is the 64x64 one averaged 2x2."""
    h, w = luma.shape
    top, left = int(h * crop), int(w * crop)
    thumb = cv2.resize(luma[top : h - top, left : w - left], (SPECTRUM, SPECTRUM), interpolation=cv2.INTER_AREA)
    thumb = thumb.astype(np.float32)
    thumb -= thumb.mean()
    small = cv2.resize(thumb, (THUMB, THUMB), interpolation=cv2.INTER_AREA)  # integer factor: exact 2x2 means
    coefficients = cv2.dct(small * WINDOW)[:8, :8].ravel()[ZIGZAG]
    spectrum = cv2.dft(thumb * HANN, flags=cv2.DFT_COMPLEX_OUTPUT)[:, : SPECTRUM // 2 + 1].astype(np.float64)
    power = spectrum[..., 0] ** 2 + spectrum[..., 1] ** 2
    return coefficients, np.bincount(_BIN, power[_INSIDE], minlength=64)


def frame_colour(bgr: np.ndarray) -> tuple[float, float]:
    """Mean (Cr, Cb) of a BGR picture, BT.601, 0-255."""
    b, g, r = cv2.mean(bgr)[:3]
    return 128 + 0.5 * r - 0.418688 * g - 0.081312 * b, 128 - 0.168736 * r - 0.331264 * g + 0.5 * b


def analysis_colour(frame: AnalysisFrame, bgr_factor: int) -> tuple[float, float]:
    """Mean (Cr, Cb), 0-255 full range, of a decoded frame: from its chroma planes (every 8th sample)
    when it has them, else from the small BGR picture."""
    if not frame.planar:
        return frame_colour(frame.bgr(bgr_factor))
    av_frame = frame.frame
    full_range = av_frame.format.name.startswith("yuvj") or av_frame.color_range == 2
    scale = 1.0 if full_range else 255 / 224  # limited range: chroma 16-240
    cb, cr = (float(plane_array(av_frame.planes[i])[::8, ::8].mean(dtype=np.float32)) for i in (1, 2))
    return 128 + (cr - 128) * scale, 128 + (cb - 128) * scale


def _trit_words(values: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """(k, 2) uint64: bit i of word 0 set where values[:, i] > threshold, of word 1 where < -threshold."""
    planes = np.stack([values > threshold, values < -threshold], axis=1)  # (k, 2, 64)
    return np.packbits(planes, axis=-1, bitorder="little").view("<u8")[..., 0]


def clip_groups(count: int, frames: int, group: int) -> list[np.ndarray]:
    """The hashed frames (of `count`, in order) each described group averages: up to `frames` runs of
    `group` consecutive frames, a fixed stretch of time each, taken from the middle of the clip (all
    of them when it is shorter: at least one group, of all its frames)."""
    used = max(1, min(frames, count // group))
    if count < group:
        return [np.arange(count)]
    first = (count - used * group) // 2
    return [np.arange(first + k * group, first + (k + 1) * group) for k in range(used)]


def clip_signature(coefficients: np.ndarray, spectra: np.ndarray, colours: np.ndarray, frames: int, group: int) -> bytes:
    """Signature bytes of a clip from its hashed frames in order: (n, 64) coefficients, (n, 64)
    spectra, (n, 2) colours, n >= 1. Each described group is the mean of `group` consecutive hashed
    frames (a fixed stretch of time, so a copy trimmed or cut elsewhere has groups that line up with
    its original's at some whole-group offset, which vcurate.dedup searches); groups a short clip has
    not are marked absent (layout bit 0, the DC, set; every other word 0)."""
    groups = clip_groups(len(coefficients), frames, group)
    chosen = np.stack([coefficients[g].mean(axis=0) for g in groups])
    layout_scale = np.sqrt((chosen[:, 1:] ** 2).mean(axis=1, keepdims=True))
    layout = chosen.copy()
    layout[:, 0] = 0.0  # the DC of a mean-free thumbnail carries no layout
    mean = coefficients.mean(axis=0)
    motion_scale = MOTION_DEADZONE * np.sqrt((mean[1:] ** 2).mean())
    change = np.zeros_like(chosen)
    change[:-1] = chosen[1:] - chosen[:-1]  # the last group's slot stays 0 (no next group)
    log_spectra = np.log(spectra + 1e-3)
    texture = np.stack([log_spectra[g].mean(axis=0) for g in groups])
    texture_word = np.packbits(texture > np.median(texture, axis=1, keepdims=True), axis=-1, bitorder="little")
    words = np.zeros((frames, WORDS_PER_FRAME), np.uint64)
    words[:, 0] = ABSENT
    words[: len(groups)] = np.concatenate([_trit_words(layout, LAYOUT_DEADZONE * layout_scale),
                                           _trit_words(change, motion_scale), texture_word.view("<u8")], axis=1)
    window = np.concatenate(groups)  # the described stretch only: frames a split left of the shot before stay out
    colour = np.clip(np.round(colours[window].mean(axis=0)), 0, 255).astype(np.uint8)
    return bytes([VERSION, frames]) + words.astype("<u8").tobytes() + colour.tobytes()


def unpack_signatures(signatures: list[bytes], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 5 K) uint64 words and (n, 2) int16 colours of signatures made with `frames` frames."""
    size = 2 + 8 * WORDS_PER_FRAME * frames + 2
    for signature in signatures:
        if len(signature) != size or signature[0] != VERSION or signature[1] != frames:
            raise ValueError(f"not a version-{VERSION} signature of {frames} frames ({len(signature)} bytes)")
    raw = np.frombuffer(b"".join(signatures), np.uint8).reshape(len(signatures), size)
    words = np.ascontiguousarray(raw[:, 2:-2]).view("<u8").astype(np.uint64, copy=False)
    return words.reshape(len(signatures), WORDS_PER_FRAME * frames), raw[:, -2:].astype(np.int16)


@register_analyzer
class SignatureAnalyzer(ClipAnalyzer):
    """Hashes a frame every `every_s` seconds; a clip's signature describes up to `frames` groups of
    `group` of those from its middle."""

    columns = {
        "signature": Column(bytes, "visual signature for near-duplicate detection: layout and motion trits and "
                                   "texture bits of K successive parts of the clip, mean colour (vcurate.analyze.signature)"),
    }

    def __init__(self, step: int, frames: int, group: int, crop: float, colour_factor: int):
        self.step, self.frames, self.group, self.crop, self.colour_factor = step, frames, group, crop, colour_factor
        self.indices: list[int] = []
        self.coefficients: list[np.ndarray] = []
        self.spectra: list[np.ndarray] = []
        self.colours: list[tuple[float, float]] = []

    @classmethod
    def build(cls, cfg: PipelineConfig, stream: StreamFacts) -> "SignatureAnalyzer | None":
        settings = cfg.filters.duplicate
        if not settings.enabled:
            return None
        step = max(1, round(settings.every_s * stream.fps))
        # frames without chroma planes: the scene detector's small BGR picture, made for this frame already
        group = max(1, round(settings.group_s / settings.every_s))  # hashed frames a described group averages
        return cls(step, settings.frames, group, settings.crop, cfg.split.downscale)

    def process(self, index: int, frame: AnalysisFrame) -> None:
        if index % self.step:
            return
        self.indices.append(index)
        coefficients, spectrum = frame_hashes(frame.luma(), self.crop)
        self.coefficients.append(coefficients)
        self.spectra.append(spectrum)
        self.colours.append(analysis_colour(frame, self.colour_factor))

    def clip_columns(self, start: int, end: int) -> dict[str, bytes | None]:
        first, last = np.searchsorted(self.indices, [start, end])
        if first == last:
            return {"signature": None}
        return {"signature": clip_signature(np.stack(self.coefficients[first:last]), np.stack(self.spectra[first:last]),
                                            np.asarray(self.colours[first:last]), self.frames, self.group)}
