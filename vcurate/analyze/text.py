"""Burned-in text: subtitles, channel logos, stock watermarks, tickers.

A model trained on clips with burned-in text learns to draw it. Every `every_s` seconds the frame's
luma, scaled to the detector's size, is read by a text-detection network (vcurate.models.
text_detector), only where a cheap gate finds stroke structure (dense, high-contrast fine detail):
most frames have none, and the network's cost grows with the pixels it reads. Each box found is then
judged by how it moves over the next ~0.2 s: text burned in stays put on screen while the picture
behind it moves (subtitles, watermarks) or scrolls on its own (tickers); a sign in the scene moves
with the picture around it. Where the picture does not move, motion cannot tell, and the place
does: the bottom band and the corners are where overlays sit.

Per clip, from the sampled frames inside it:
- text_area: mean fraction of the frame covered by text boxes (any text);
- overlay_score: mean over the sampled frames of the strongest overlay evidence among their boxes
  (1: an overlay, 0: scene text or no text), i.e. the share of the clip's sampled frames that show
  burned-in text.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vcurate.analyze.registry import ClipAnalyzer, Column, StreamFacts, register_analyzer
from vcurate.config import PipelineConfig
from vcurate.media.frames import AnalysisFrame, upright
from vcurate.models.text_detector import STRIDE, TextDetector, detector_model, network_size, text_detector

FOLLOW_UP_S = 0.2  # seconds after a sampled frame at which its boxes' motion is measured
SEARCH = 20  # pixels of the detector image: the largest shift looked for over FOLLOW_UP_S
MIN_BOX_HEIGHT = 6  # pixels of the detector image: smaller boxes are specks, not legible text
MIN_BOX_ASPECT = 1.5  # width over height: a line of text is wider than tall; a lone dot or stroke is not
STROKE_CONTRAST = 18  # grey levels a pixel must stand out of its sigma-1 neighbourhood to be a stroke
STROKE_DENSITY = 0.08  # share of stroke pixels that makes an 8x8 block a place text may be
FULL_FRAME_SHARE = 0.6  # candidate regions covering more than this of the frame: read the whole frame
BOTTOM_BAND = 0.75  # box centres below this share of the height sit in the subtitle band
CORNER = (0.25, 0.2)  # share of the width and height from the edges that counts as a corner


@dataclass
class SampledText:
    """The text boxes of one sampled frame, in fractions of the frame (x0, y0, x1, y1), and the
    overlay evidence of each (1 overlay, 0 scene text)."""

    index: int
    boxes: np.ndarray
    overlay: np.ndarray
    coverage: float  # fraction of the frame inside a box


def stroke_regions(grey: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Rectangles (x0, y0, x1, y1, on STRIDE multiples) of the image worth the network's time: 8x8
    blocks dense in pixels that stand out of their neighbourhood, grown by a block of context and
    merged; the whole image when they cover most of it, none when the image has no stroke at all."""
    h, w = grey.shape
    detail = cv2.absdiff(grey, cv2.GaussianBlur(grey, (0, 0), 1.0))
    strokes = (detail > STROKE_CONTRAST).astype(np.float32)
    density = cv2.resize(strokes, (w // 8, h // 8), interpolation=cv2.INTER_AREA)
    blocks = cv2.dilate((density >= STROKE_DENSITY).astype(np.uint8), np.ones((3, 3), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(blocks, connectivity=8)
    rects = []
    for x, y, bw, bh, _ in stats[1:]:
        x0, y0 = (8 * x - 8) // STRIDE * STRIDE, (8 * y - 8) // STRIDE * STRIDE
        x1, y1 = -(-(8 * (x + bw) + 8) // STRIDE) * STRIDE, -(-(8 * (y + bh) + 8) // STRIDE) * STRIDE
        rects.append([max(0, x0), max(0, y0), min(w, x1), min(h, y1)])
    merged = True
    while merged:  # overlapping rectangles become their union, so no pixel is read twice
        merged = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    rects[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del rects[j]
                    merged = True
                    break
            if merged:
                break
    if sum((r[2] - r[0]) * (r[3] - r[1]) for r in rects) > FULL_FRAME_SHARE * w * h:
        return [(0, 0, w, h)]
    return [tuple(r) for r in rects]


def detect_text(detector: TextDetector, grey: np.ndarray) -> np.ndarray:
    """(n, 4) int text boxes (x0, y0, x1, y1) of a grey detector-size image, read region by region."""
    found = []
    for x0, y0, x1, y1 in stroke_regions(grey):
        boxes = detector.detect(grey[y0:y1, x0:x1]).boxes
        found.append(boxes + np.float32([x0, y0, x0, y0]))
    boxes = np.concatenate(found) if found else np.zeros((0, 4), np.float32)
    boxes = np.round(boxes).astype(int)
    height, width = boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]
    return boxes[(height >= MIN_BOX_HEIGHT) & (width >= MIN_BOX_ASPECT * height)]


def _fine(grey: np.ndarray) -> np.ndarray:
    """Fine detail (image minus a sigma-2 blur): what matches when a patch moves, not its shading."""
    image = grey.astype(np.float32)
    return image - cv2.GaussianBlur(image, (0, 0), 2.0)


def _best_shift(template: np.ndarray, later: np.ndarray, left: int, top: int, mask: np.ndarray | None = None):
    """(dx, dy) that best matches `template` (taken at left, top) in the padded `later` image, and the
    residual there as a share of the template's energy."""
    h, w = template.shape
    window = later[top : top + h + 2 * SEARCH, left : left + w + 2 * SEARCH]
    if mask is None:
        error = cv2.matchTemplate(window, template, cv2.TM_SQDIFF)
        energy = float((template * template).sum())
    else:
        error = cv2.matchTemplate(window, template, cv2.TM_SQDIFF, mask=mask)
        energy = float((template * template * mask).sum())
    dy, dx = np.unravel_index(int(np.argmin(error)), error.shape)
    return np.array([dx - SEARCH, dy - SEARCH]), float(error[dy, dx]) / (energy + 1e-6)


def in_overlay_place(box: np.ndarray, width: int, height: int) -> bool:
    """Whether a box sits where overlays do: the bottom band (subtitles, tickers) or a corner (logos)."""
    cx, cy = (box[0] + box[2]) / 2 / width, (box[1] + box[3]) / 2 / height
    corner_x = cx < CORNER[0] or cx > 1 - CORNER[0]
    return cy > BOTTOM_BAND or (corner_x and cy < CORNER[1])


def overlay_evidence(before: np.ndarray, after: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per box (detector-image pixels) 1 when it is an overlay, 0 when it is text of the scene, judged
    by how the box and the picture around it moved from grey image `before` to `after`:
    - the box stays put while its surroundings move: an overlay;
    - it moves as its surroundings do: scene text;
    - otherwise (nothing moves; the surroundings are flat or changed beyond a shift; the text moves
      on its own, as a ticker does): an overlay only where overlays sit."""
    h, w = before.shape
    fine0 = _fine(before)
    fine1 = cv2.copyMakeBorder(_fine(after), SEARCH, SEARCH, SEARCH, SEARCH, cv2.BORDER_CONSTANT, value=0)
    evidence = np.zeros(len(boxes), np.float32)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        placed = float(in_overlay_place((x0, y0, x1, y1), w, h))
        margin, gap = max(8, 2 * (y1 - y0)), max(2, (y1 - y0) // 3)  # the ring leaves out glyphs the box cut
        X0, Y0, X1, Y1 = max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)
        ring = np.ones((Y1 - Y0, X1 - X0), np.float32)
        ring[max(0, y0 - gap - Y0) : y1 + gap - Y0, max(0, x0 - gap - X0) : x1 + gap - X0] = 0
        text_shift, text_error = _best_shift(fine0[y0:y1, x0:x1], fine1, x0, y0)
        around = fine0[Y0:Y1, X0:X1]
        textured = float((around * around * ring).sum() / (ring.sum() + 1e-6)) > 4.0
        scene_shift, scene_error = _best_shift(around, fine1, X0, Y0, mask=ring)
        if not textured or scene_error > 0.6 or text_error > 0.6:
            evidence[i] = placed
        elif np.abs(text_shift).max() <= 1:
            evidence[i] = 1.0 if np.abs(scene_shift).max() > 1 else placed
        elif np.abs(text_shift - scene_shift).max() <= 1:
            evidence[i] = 0.0
        else:
            evidence[i] = placed
    return evidence


def coverage(boxes: np.ndarray, width: int, height: int) -> float:
    """Fraction of the image inside any box (overlaps counted once)."""
    mask = np.zeros((height, width), np.uint8)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = 1
    return float(mask.mean())


@register_analyzer
class TextAnalyzer(ClipAnalyzer):
    """Text boxes of a frame every `every_s` seconds, judged overlay or scene by their motion over
    the next FOLLOW_UP_S; aggregated per clip once the clips are known."""

    columns = {
        "text_area": Column(float, "fraction of the frame (0-1) covered by detected text boxes, mean over the clip's "
                                   "sampled frames (filters.text)"),
        "overlay_score": Column(float, "share (0-1) of the clip's sampled frames showing burned-in text: text that "
                                       "stays put while the picture moves, scrolls on its own, or sits in the bottom "
                                       "band or a corner of a still picture (filters.text)"),
    }

    def __init__(self, detector: TextDetector, size: tuple[int, int], step: int, follow_up: int):
        self.detector, self.size, self.step, self.follow_up = detector, size, step, follow_up
        self.samples: list[SampledText] = []
        self.pending: tuple[int, np.ndarray, np.ndarray] | None = None  # (index, grey, boxes) awaiting its follow-up

    @classmethod
    def build(cls, cfg: PipelineConfig, stream: StreamFacts) -> "TextAnalyzer | None":
        text = cfg.filters.text
        if not text.enabled:
            return None
        step = max(1, int(round(text.every_s * stream.fps)))
        follow_up = max(1, min(step - 1, int(round(FOLLOW_UP_S * stream.fps)))) if step > 1 else 1
        detector = text_detector(detector_model(text.detector, text.model))
        return cls(detector, network_size(stream.width, stream.height, text.short_side), step, follow_up)

    def grey(self, frame: AnalysisFrame) -> np.ndarray:
        """The frame's luma at the detector's size, upright (the bottom band is the shown picture's) and
        in full range (the network was trained on 0-255 pictures; limited-range luma reads faint text
        fainter still)."""
        small = cv2.resize(frame.luma_full(), self.size, interpolation=cv2.INTER_AREA)
        if frame.planar and not frame.full_range:
            small = cv2.convertScaleAbs(small, alpha=255 / 219, beta=-16 * 255 / 219)
        return upright(small, frame.frame.rotation)

    def process(self, index: int, frame: AnalysisFrame) -> None:
        if self.pending is not None and index == self.pending[0] + self.follow_up:
            self._judge(self.grey(frame))
        if index % self.step == 0:
            grey = self.grey(frame)
            boxes = detect_text(self.detector, grey)
            if len(boxes):
                self.pending = (index, grey, boxes)
            else:
                self.samples.append(SampledText(index, np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.0))

    def _judge(self, later: np.ndarray | None) -> None:
        index, grey, boxes = self.pending
        h, w = grey.shape
        if later is None:  # the video ended first: the place decides
            evidence = np.float32([in_overlay_place(b, w, h) for b in boxes])
        else:
            evidence = overlay_evidence(grey, later, boxes)
        scale = np.float32([w, h, w, h])
        self.samples.append(SampledText(index, boxes / scale, evidence, coverage(boxes, w, h)))
        self.pending = None

    def finish(self, num_frames: int) -> None:
        if self.pending is not None:
            self._judge(None)

    def clip_columns(self, start: int, end: int) -> dict[str, float | None]:
        inside = [s for s in self.samples if start <= s.index < end]
        if not inside:
            return {"text_area": None, "overlay_score": None}
        overlay = [float(s.overlay.max()) if len(s.overlay) else 0.0 for s in inside]
        return {"text_area": round(float(np.mean([s.coverage for s in inside])), 5),
                "overlay_score": round(float(np.mean(overlay)), 4)}
