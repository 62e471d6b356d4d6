"""Burned-in text: subtitles, channel logos, stock watermarks, tickers.

A model trained on clips with burned-in text learns to draw it. Every `every_s` seconds the frame's
luma, scaled to the detector's size, is read by a text-detection network (vcurate.models.
text_detector), only where a cheap gate finds stroke structure (dense, high-contrast fine detail):
most frames have none, and the network's cost grows with the pixels it reads. Each box found is then
judged by how it moves over the next ~0.2 s: text burned in stays put on screen while the picture
behind it moves (subtitles, watermarks) or scrolls on its own (tickers); a sign in the scene moves
with the picture around it, and so do its own letters, which (unlike stripes or checks around
them) match only where they truly went. Where the picture does not move over 0.2 s, motion cannot
tell, and the place does: overlays sit in the corners (marks) and centred in or across the bottom
band (subtitles, tickers); but a box whose text held still over 0.2 s and yet moved by the sample
a second before or after drifts with a slow zoom or pan, and is scene text, and so is a box whose
content is found again elsewhere in the picture: a pattern the network read, not a line written
once. The network reads the picture damped under its strokes (stroke_boosted), so that a
semi-transparent mark over a busy texture stands out. The detector also boxes structure that is not
writing (a stool's legs over a bright floor, motion graphics); before a box's evidence counts, the
line recogniser must read characters in it (`filters.text.recognizer`, at full resolution).

Per clip, from the sampled frames inside it:
- text_area: mean fraction of the frame covered by text boxes (any text);
- overlay_score: mean over the sampled frames of the strongest overlay evidence among their boxes
  (1: an overlay, 0: scene text or no text), i.e. the share of the clip's sampled frames that show
  burned-in text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from vcurate.analyze.registry import ClipAnalyzer, Column, StreamFacts, register_analyzer
from vcurate.config import PipelineConfig
from vcurate.media.frames import AnalysisFrame, upright
from vcurate.models.text_detector import (READ_HEIGHT, STRIDE, TextDetector, TextRecognizer, detector_model, network_size,
                                          recognizer_model, text_detector, text_recognizer)

FOLLOW_UP_S = 0.2  # seconds after a sampled frame at which its boxes' motion is measured
SEARCH = 20  # pixels of the detector image: the largest shift looked for over FOLLOW_UP_S
STILL = 1  # pixels of the detector image: a best match this close to no shift means nothing moved
MATCH_ERROR = 0.6  # residual (share of a patch's fine-detail energy) above which it matches nowhere
MIN_TEXTURE = 4.0  # mean squared fine detail (grey levels^2) the surroundings need for their shift to count
MIN_BOX_HEIGHT = 8  # pixels of the detector image: smaller boxes are specks (a grid's crossings), not legible text
MIN_BOX_ASPECT = 1.5  # width over height: a line of text is wider than tall; a lone dot or stroke is not
STROKE_WIDTH = 5  # pixels of the detector image: brighter or darker lines narrower than this are strokes
STROKE_CONTRAST = 40  # grey levels a stroke must stand out of the background around it
MARK_CONTRAST = 25  # the same in the corners (`mark_windows`), where half-transparent marks sit faint
STROKE_DENSITY = 0.1  # share of stroke pixels that makes an 8x8 block a place text may be
STROKE_BOOST = 0.3  # contrast the network input keeps of the picture under its strokes (stroke_boosted)
CHANGE_LEVEL = 3.0  # grey levels of mean absolute change in an 8x8 block that are more than coding noise
MIN_REGION = 64  # pixels: the smallest side of a region the network reads (context for a line of text)
FULL_FRAME_SHARE = 0.6  # candidate regions covering more than this of the frame: read the whole frame
BOTTOM_BAND = 0.75  # box centres below this share of the height sit in the subtitle band
CENTRED = 0.1  # share of the width: a line whose centre is this close to the middle is centred (subtitles are)
SPAN = 0.75  # share of the width: a line in the bottom band this wide spans it (tickers do)
LINE_HEIGHT = 0.15  # share of the height: a box in the bottom band taller than this is no line of subtitles or ticker
MARK_WIDTH = 0.45  # share of the width: logos and watermarks are narrower
CORNER = (0.25, 0.2)  # share of the width and height from the edges that counts as a corner
DARK_LETTERS = 1.5  # dark- over bright-stroke energy in a box above which its letters are dark on a light ground
REPEAT_ERROR = 0.45  # residual (share of a box's fine-detail energy) below which its content is found again elsewhere
ZOOM = 2  # the corners, where marks sit small, are read again at this many times the detector's scale (`TextReader`)
MARK_BAND = 0.125  # share of the height from the top and the bottom where a small mark sits (`mark_windows`)
READ_ASPECT = 6  # width over height of the part of a box the recogniser reads, from its left: a few characters
MIN_READ_CONFIDENCE = 0.4  # mean probability of the characters read, below which a box holds no writing


@dataclass
class SampledText:
    """The text boxes of one sampled frame, in fractions of the frame (x0, y0, x1, y1), and the
    overlay evidence of each (1 overlay, 0 scene text)."""

    index: int
    boxes: np.ndarray
    overlay: np.ndarray
    coverage: float  # fraction of the frame inside a box
    lines: list[np.ndarray] | None = None  # each box's line image for the recogniser, until its evidence is final


@dataclass
class Pending:
    """A sampled frame with text boxes, awaiting the frames its boxes' motion is judged by."""

    index: int
    grey: np.ndarray
    boxes: np.ndarray  # int, detector-image pixels
    before: np.ndarray | None  # the sampled frame a step earlier (same video), for the drift check
    # the frames between it and the follow-up: for text the follow-up lost (a cut, a pan faster than SEARCH)
    between: list[np.ndarray] = field(default_factory=list)
    lines: list[np.ndarray] | None = None  # `line_images` of the boxes (with a recogniser)


def stroke_hats(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bright, dark) uint8: how far each pixel stands out as part of a line thinner than STROKE_WIDTH
    brighter or darker than what surrounds it (morphological top-hat and black-hat). Letters are made
    of such lines; the edges of stripes, checks, dots and shading wider than a stroke are steps, which
    give none."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (STROKE_WIDTH, STROKE_WIDTH))
    return cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, kernel), cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel)


def stroke_blocks(grey: np.ndarray, hats: tuple[np.ndarray, np.ndarray] | None = None,
                  contrast: float = STROKE_CONTRAST) -> np.ndarray:
    """(h/8, w/8) bool: the 8x8 blocks of the image dense in strokes (`stroke_hats`) standing out by
    more than `contrast`, where text may be (on the synthetic archives this gate reads a third of the
    pixels a fine-detail one did, for the same boxes)."""
    h, w = grey.shape
    bright, dark = stroke_hats(grey) if hats is None else hats
    density = cv2.resize((cv2.max(bright, dark) > contrast).astype(np.float32), (w // 8, h // 8),
                         interpolation=cv2.INTER_AREA)
    return density >= STROKE_DENSITY


def corner_blocks(blocks: tuple[int, int]) -> np.ndarray:
    """(h/8, w/8) bool: the 8x8 blocks of a detector image inside the corners where marks sit
    (`mark_windows`, at the detector's scale)."""
    rows, cols = blocks
    inside = np.zeros(blocks, bool)
    for window in mark_windows(8 * cols, 8 * rows):
        x0, y0, x1, y1 = (v // ZOOM for v in window)
        inside[y0 // 8 : -(-y1 // 8), x0 // 8 : -(-x1 // 8)] = True
    return inside


def stroke_boosted(grey: np.ndarray, hats: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """What the network reads: the picture at STROKE_BOOST of its contrast (about mid-grey) with its
    strokes added back at full strength. A semi-transparent watermark over a busy texture (dots,
    checks wider than a stroke) is lost on the network in the plain picture and read in this one: on a
    watermark-heavy tuning archive (seed 21) 29 of 30 watermarks were caught at STROKE_BOOST 0.3, 28 at
    0.5 and 0.15, 25 reading the plain picture; at 0 fine stripes begin to read as text."""
    bright, dark = hats
    boosted = grey.astype(np.float32) * STROKE_BOOST + 128 * (1 - STROKE_BOOST) + bright - dark.astype(np.float32)
    return np.clip(boosted, 0, 255).astype(np.uint8)


def changed_blocks(grey: np.ndarray, before: np.ndarray) -> np.ndarray:
    """(h/8, w/8) bool: the 8x8 blocks whose mean absolute change since `before` shows more than
    coding noise, and their neighbours."""
    h, w = grey.shape
    change = cv2.resize(cv2.absdiff(grey, before).astype(np.float32), (w // 8, h // 8), interpolation=cv2.INTER_AREA)
    return cv2.dilate((change > CHANGE_LEVEL).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def regions(blocks: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Rectangles (x0, y0, x1, y1, image pixels on STRIDE multiples) covering the marked 8x8 blocks
    with two blocks of context, overlapping ones merged (no pixel is read twice); the whole image when
    they cover most of it."""
    h, w = 8 * blocks.shape[0], 8 * blocks.shape[1]
    grown = cv2.dilate(blocks.astype(np.uint8), np.ones((5, 5), np.uint8))
    _, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    rects = []
    for x, y, bw, bh, _ in stats[1:]:
        x0, y0 = (8 * x) // STRIDE * STRIDE, (8 * y) // STRIDE * STRIDE
        x1, y1 = -(-8 * (x + bw) // STRIDE) * STRIDE, -(-8 * (y + bh) // STRIDE) * STRIDE
        # the network needs context around a line of text: MIN_REGION pixels each way at least
        if x1 - x0 < MIN_REGION:
            x0 = max(0, min(x0 - (MIN_REGION - (x1 - x0)) // 2 // STRIDE * STRIDE, w - MIN_REGION))
            x1 = min(w, x0 + MIN_REGION)
        if y1 - y0 < MIN_REGION:
            y0 = max(0, min(y0 - (MIN_REGION - (y1 - y0)) // 2 // STRIDE * STRIDE, h - MIN_REGION))
            y1 = min(h, y0 + MIN_REGION)
        rects.append([x0, y0, min(w, x1), min(h, y1)])
    merged = True
    while merged:
        merged = False
        for i, j in ((i, j) for i in range(len(rects)) for j in range(i + 1, len(rects))):
            a, b = rects[i], rects[j]
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                rects[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                del rects[j]
                merged = True
                break
    if sum((r[2] - r[0]) * (r[3] - r[1]) for r in rects) > FULL_FRAME_SHARE * w * h:
        return [(0, 0, w, h)]
    return [tuple(r) for r in rects]


def legible(boxes: np.ndarray) -> np.ndarray:
    """The boxes (int x0, y0, x1, y1) tall enough to be legible and shaped like a line of text."""
    height, width = boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]
    return boxes[(height >= MIN_BOX_HEIGHT) & (width >= MIN_BOX_ASPECT * height)]


def _overlaps(boxes: np.ndarray, rects: list[tuple[int, int, int, int]]) -> np.ndarray:
    hit = np.zeros(len(boxes), bool)
    for x0, y0, x1, y1 in rects:
        hit |= (boxes[:, 0] < x1) & (x0 < boxes[:, 2]) & (boxes[:, 1] < y1) & (y0 < boxes[:, 3])
    return hit


def mark_windows(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The four corners where small marks sit, in a width x height detector image read ZOOM times
    larger: a mark's width wide, MARK_BAND high, sides multiples of STRIDE (whole network inputs)."""
    big_w, big_h = ZOOM * width, ZOOM * height
    w = min(big_w // STRIDE, -(-int(MARK_WIDTH * big_w) // STRIDE)) * STRIDE
    h = min(big_h // STRIDE, -(-int(MARK_BAND * big_h) // STRIDE)) * STRIDE
    return [(x, y, x + w, y + h) for y in (0, big_h - h) for x in (0, big_w - w)]


class TextReader:
    """Text boxes of a video's sampled frames (grey, detector size), reading with the network only
    where strokes are and where the picture changed since the previous sample: a still picture (a
    talking head, a static shot with its watermark) is read once, and its boxes carry over. A corner
    with strokes and no text found there is read again ZOOM times larger: a faint watermark or logo is
    often smaller than the network reads at its scale (on the tuning archives, marks 3.6-5 % of the
    height over light or busy ground were missed and read so, and no clip became a false alarm)."""

    def __init__(self, detector: TextDetector):
        self.detector = detector
        self.previous: tuple[np.ndarray, np.ndarray] | None = None  # (grey, boxes) of the last sample
        self.pixels_read = 0

    def read(self, grey: np.ndarray, zoomed: Callable[[], np.ndarray] | None = None) -> np.ndarray:
        """(n, 4) int boxes (x0, y0, x1, y1) of the legible text in `grey`; `zoomed` gives the same
        picture ZOOM times larger, for the corners."""
        hats = stroke_hats(grey)
        todo = stroke_blocks(grey, hats)
        strokes = todo.copy()  # what makes a corner worth reading larger: faint strokes are read at this scale only
        todo |= stroke_blocks(grey, hats, MARK_CONTRAST) & corner_blocks(todo.shape)
        kept = np.zeros((0, 4), int)
        if self.previous is not None and self.previous[0].shape == grey.shape:
            changed = changed_blocks(grey, self.previous[0])
            # a stretch of strokes is read whole when any of it changed: a line of text is never cut
            _, parts = cv2.connectedComponents(cv2.dilate(todo.astype(np.uint8), np.ones((3, 3), np.uint8)))
            todo &= np.isin(parts, np.unique(parts[todo & changed]))
            strokes &= todo
            old = self.previous[1]
            still = np.array([not changed[y0 // 8 : -(-y1 // 8), x0 // 8 : -(-x1 // 8)].any() for x0, y0, x1, y1 in old], bool)
            kept = old[still] if len(old) else kept
        rects = regions(todo)
        found = [kept[~_overlaps(kept, rects)]]
        boosted = stroke_boosted(grey, hats) if rects else None
        for x0, y0, x1, y1 in rects:
            found.append(self._detect(boosted[y0:y1, x0:x1], x0, y0))
        if zoomed is not None:
            found += self._read_corners(strokes, np.concatenate(found), zoomed)
        boxes = np.concatenate(found)
        self.previous = (grey, boxes)
        return boxes

    def _detect(self, image: np.ndarray, left: int, top: int, scale: int = 1) -> np.ndarray:
        """Legible boxes (at the scale they were read) that the network finds in `image`, shown at
        (left, top) of an image `scale` times the detector image's size, in detector-image pixels."""
        self.pixels_read += image.size
        boxes = legible(np.round(self.detector.detect(image).boxes).astype(int))
        return np.round((boxes + [left, top, left, top]) / scale).astype(int)

    def _read_corners(self, todo: np.ndarray, found: np.ndarray, zoomed: Callable[[], np.ndarray]) -> list[np.ndarray]:
        """The boxes of the corners (`mark_windows`) with strokes to read and no text found yet, read
        ZOOM times larger where they have strokes at that scale."""
        centres = (found[:, :2] + found[:, 2:]) / 2
        large, out = None, []
        for window in mark_windows(8 * todo.shape[1], 8 * todo.shape[0]):
            x0, y0, x1, y1 = (v // ZOOM for v in window)
            if not todo[y0 // 8 : -(-y1 // 8), x0 // 8 : -(-x1 // 8)].any() or (
                    (np.abs(centres - [(x0 + x1) / 2, (y0 + y1) / 2]) < [(x1 - x0) / 2, (y1 - y0) / 2]).all(axis=1).any()):
                continue
            large = zoomed() if large is None else large
            corner = large[window[1] : window[3], window[0] : window[2]]
            hats = stroke_hats(corner)
            boosted = stroke_boosted(corner, hats)
            for rx0, ry0, rx1, ry1 in regions(stroke_blocks(corner, hats)):
                out.append(self._detect(boosted[ry0:ry1, rx0:rx1], window[0] + rx0, window[1] + ry0, ZOOM))
        return out


def line_images(luma: np.ndarray, boxes: np.ndarray, shape: tuple[int, int]) -> list[np.ndarray]:
    """Each box (pixels of a detector image of `shape`) cut from the full-resolution `luma` of the same
    picture and scaled to READ_HEIGHT high, at most READ_ASPECT times as wide: the recogniser reads
    text by its strokes, which the detector's scale blurs."""
    scale_y, scale_x = luma.shape[0] / shape[0], luma.shape[1] / shape[1]
    lines = []
    for x0, y0, x1, y1 in boxes:
        top, left = int(y0 * scale_y), int(x0 * scale_x)
        bottom = max(top + 1, int(np.ceil(y1 * scale_y)))
        right = max(left + 1, min(int(np.ceil(x1 * scale_x)), left + READ_ASPECT * (bottom - top)))
        crop = luma[top:bottom, left:right]
        width = max(8, round(crop.shape[1] * READ_HEIGHT / crop.shape[0]))
        shrink = crop.shape[0] > READ_HEIGHT
        lines.append(cv2.resize(crop, (width, READ_HEIGHT), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR))
    return lines


def _fine(grey: np.ndarray) -> np.ndarray:
    """Fine detail (image minus a sigma-2 blur): what matches when a patch moves, not its shading."""
    image = grey.astype(np.float32)
    return image - cv2.GaussianBlur(image, (0, 0), 2.0)


def match_errors(template: np.ndarray, later: np.ndarray, left: int, top: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Residual of `template` (taken at left, top) against the padded `later` image at every shift up
    to SEARCH, as a share of the template's energy: (2 SEARCH + 1)^2, no shift at [SEARCH, SEARCH]."""
    h, w = template.shape
    window = later[top : top + h + 2 * SEARCH, left : left + w + 2 * SEARCH]
    if mask is None:
        return cv2.matchTemplate(window, template, cv2.TM_SQDIFF) / (float((template * template).sum()) + 1e-6)
    error = cv2.matchTemplate(window, template, cv2.TM_SQDIFF, mask=mask)
    return error / (float((template * template * mask).sum()) + 1e-6)


def in_overlay_place(box: np.ndarray, width: int, height: int) -> bool:
    """Whether a box sits where overlays do: a corner (logos, watermarks), or the bottom band centred
    (subtitles) or across it (tickers). A sign of a still scene may sit anywhere, in the bottom band
    too, but seldom centred or in a corner (on the tuning archives, the bottom band anywhere took such
    signs for overlays in 6 of 34 shots). A box in the bottom band as tall as several lines of
    subtitles is structure of the scene the network boxed (a piano's legs and stool under a still
    camera: a quarter of the height)."""
    cx, cy = (box[0] + box[2]) / 2 / width, (box[1] + box[3]) / 2 / height
    # into a corner: a mark's box may be part of it, so its reach counts, not its centre; but a mark is
    # narrow, while a line across most of the band is a sign's (or a ticker's, which SPAN takes)
    reaches_side = box[0] / width < CORNER[0] or box[2] / width > 1 - CORNER[0]
    narrow = (box[2] - box[0]) / width < MARK_WIDTH
    corner = reaches_side and narrow and (cy < CORNER[1] or cy > 1 - CORNER[1])
    line = (box[3] - box[1]) / height <= LINE_HEIGHT
    subtitle_band = cy > BOTTOM_BAND and line and (abs(cx - 0.5) < CENTRED or (box[2] - box[0]) / width > SPAN)
    return bool(corner or subtitle_band)


def scrolls_along_the_band(box: np.ndarray, shift: tuple[int, int], height: int) -> bool:
    """Whether text that moved by `shift` (dx, dy) moves as a ticker does: sideways, in the bottom band."""
    return abs(shift[1]) <= STILL and (box[1] + box[3]) / 2 / height > BOTTOM_BAND


def padded_fine(grey: np.ndarray) -> np.ndarray:
    """A later image's fine detail, padded by SEARCH so that every shift of a patch can be matched."""
    return cv2.copyMakeBorder(_fine(grey), SEARCH, SEARCH, SEARCH, SEARCH, cv2.BORDER_CONSTANT, value=0)


def near(errors: np.ndarray, at: tuple[int, int]) -> float:
    """The least of `match_errors` within STILL of shift index `at` (dy, dx), the search's edge too."""
    dy, dx = at
    return float(errors[max(0, dy - STILL) : dy + STILL + 1, max(0, dx - STILL) : dx + STILL + 1].min())


NO_SHIFT = (SEARCH, SEARCH)  # the index of no shift in `match_errors`


def text_motion(fine0: np.ndarray, fine1: np.ndarray, box: np.ndarray, tickers: bool = True) -> tuple[np.ndarray, tuple[int, int], bool]:
    """The box's match errors against the later image (`match_errors`), the index of its best shift,
    and whether the text itself moved: its best match is a shift, a good one, better than staying put
    (and, with `tickers`, not a ticker's: `scrolls_along_the_band`)."""
    x0, y0, x1, y1 = box
    text = match_errors(fine0[y0:y1, x0:x1], fine1, x0, y0)
    ty, tx = np.unravel_index(int(np.argmin(text)), text.shape)
    moved = (text[ty, tx] <= MATCH_ERROR and text[ty, tx] < near(text, NO_SHIFT) and max(abs(tx - SEARCH), abs(ty - SEARCH)) > STILL
             and not (tickers and scrolls_along_the_band(box, (tx - SEARCH, ty - SEARCH), fine0.shape[0])))
    return text, (int(ty), int(tx)), bool(moved)


def drifted(before: np.ndarray, later: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per box (detector-image pixels) of `before` whose text held still over FOLLOW_UP_S, whether it
    moved by itself by the time of `later` (`text_motion`; a ticker, which never holds still, is not
    asked): a sign in a slow zoom or pan drifts a few pixels between samples a second apart, too little
    to see over FOLLOW_UP_S, while an overlay stays where it was (on tuning seed 11 a sign centred low
    in a slow zoom was taken for a subtitle in every sample)."""
    fine0, fine1 = _fine(before), padded_fine(later)
    return np.array([text_motion(fine0, fine1, box, tickers=False)[2] for box in boxes], bool)


def dark_letters(hats: tuple[np.ndarray, np.ndarray], box: np.ndarray) -> bool:
    """Whether the box's letters are dark on a lighter ground (`stroke_hats`: dark-stroke energy over
    DARK_LETTERS times the bright): ink on a sign, a label, a page. Burned-in text is light, for it
    must read over any picture: white or yellow letters, outlined or on a dark bar, light marks. On
    the tuning archives (seeds 11, 12, 13, 23, calibration footage) the boxes of subtitles, tickers
    and watermarks scored at most 1.24, dark-on-panel signs of still shots, taken for overlays by
    their place, 1.9-2.4."""
    x0, y0, x1, y1 = box
    bright, dark = (float(hat[y0:y1, x0:x1].astype(np.float32).sum()) for hat in hats)
    return dark > DARK_LETTERS * max(bright, 1.0)


def repeats(fine: np.ndarray, box: np.ndarray) -> bool:
    """Whether the box's fine detail (`_fine` of the whole image) is found again elsewhere in the image,
    clear of the box itself (residual below REPEAT_ERROR): a pattern (dots, a grid, tiles in every
    other check) that the network took for letters, not a line of text, which is written once. On the
    tuning archives (seeds 11-14, 21, 23, 29, 31, calibration footage) and the diagnosed ones (55, 141,
    157, 171, 187), the boxes of upscaled dot and line grids that their place made overlays matched
    again at 0.03-0.31; subtitles, watermarks and signs at 0.61 or more (0.9 or more on footage); only
    a few words of tickers repeat (0.20, 0.36), in samples whose other boxes still tell."""
    x0, y0, x1, y1 = box
    template = fine[y0:y1, x0:x1]
    h, w = template.shape
    errors = cv2.matchTemplate(fine, template, cv2.TM_SQDIFF) / (float((template * template).sum()) + 1e-6)
    errors[max(0, y0 - h + 1) : y0 + h, max(0, x0 - w + 1) : x0 + w] = np.inf  # overlapping the box itself
    return bool(errors.min() < REPEAT_ERROR)


def overlay_place(hats: tuple[np.ndarray, np.ndarray], fine: np.ndarray, box: np.ndarray, width: int, height: int) -> bool:
    """Where motion cannot tell: a box where overlays sit (`in_overlay_place`) whose letters are not
    dark on a light ground (`dark_letters`) and whose content is not a pattern (`repeats`)."""
    return in_overlay_place(box, width, height) and not dark_letters(hats, box) and not repeats(fine, box)


def glyph_spill(box_height: int) -> int:
    """Pixels above and below a box that its glyphs may still reach: the network's boxes of small text
    hold its x-height to cap height, and ascenders and descenders reach a half box beyond (a 4.4 %
    ticker at 270 lines: boxes 8-9 px, glyphs 14). Left in the surroundings, glyph parts of a ticker
    scroll with it and make it text of the scene. (2 px more, for the reach of `_fine`'s blur, caught
    nothing more on the tuning archives and moved three clean clips towards a false alarm.)"""
    return max(2, box_height // 2)


def overlay_evidence(before: np.ndarray, after: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per box (detector-image pixels) 1 when it is an overlay, 0 when it is text of the scene, judged
    by how the box and the picture around it (other text left out) moved from grey image `before` to
    `after`; and per box whether its text held still (matched best where it was) and whether it was
    lost (matched nowhere within SEARCH, or best on the search's edge: it may have gone further). The
    surroundings are the picture above and below the box (beside it, its line may go on in words the
    network did not box, which move with it); their best shift is the scene's motion; then:
    - the box itself moved (its best match is a shift, better than staying put) other than as a
      ticker does (sideways in the bottom band): scene text, whatever the surroundings told. Where
      they are periodic (stripes, checks) or changed beyond a shift, they may tell no motion or a
      wrong one, while the letters, which do not repeat, match where they truly went (on tuning
      seed 11, signs on striped and checkered backgrounds were taken for overlays this way);
    - the box's best match is a shift at which its surroundings match too, and better than where they
      were: it moves with them, scene text (sideways in the bottom band too: a ticker scrolls through
      a picture that moves otherwise; periodic surroundings, which match at several shifts, match at
      the letters' one among them). Surroundings that match in place as well tell nothing: level
      structure (a ticker's own bar, shelves, a horizon) matches itself at any sideways shift;
    - the box matches where the scene moved it, better than where it was: scene text (a match, not
      the best one, so a periodic pattern that also matches one period on does not mislead);
    - it matches where it was, better than where the scene went, and the surroundings do not match
      where they were too: an overlay that stays put. Periodic surroundings (a grid, stripes) may
      match at a shift and in place alike; they then tell no motion (on the calibration footage, a
      line being typed on a panel over a sliding grid was taken for an overlay this way);
    - text sliding sideways along the bottom band while its surroundings stay put: a ticker over a
      still picture, an overlay wherever its words' boxes sit;
    - otherwise (the scene did not move; the surroundings are flat or changed beyond a shift; the
      text changed): an overlay only where overlays sit, in light letters (`overlay_place`)."""
    h, w = before.shape
    fine0, fine1, hats = _fine(before), padded_fine(after), stroke_hats(before)
    text_mask = np.zeros((h, w), np.float32)  # every box, grown past the glyphs its edges cut
    for x0, y0, x1, y1 in boxes:
        gap = glyph_spill(y1 - y0)
        text_mask[max(0, y0 - gap) : y1 + gap, max(0, x0 - gap) : x1 + gap] = 1
    evidence, held, lost = np.zeros(len(boxes), np.float32), np.zeros(len(boxes), bool), np.zeros(len(boxes), bool)

    def placed(box: np.ndarray, moved: bool) -> float:
        """The box's evidence by its place, asked only where motion tells nothing (`repeats` searches the image)."""
        return 0.0 if moved else float(overlay_place(hats, fine0, box, w, h))

    for i, (x0, y0, x1, y1) in enumerate(boxes):
        text, best, moved = text_motion(fine0, fine1, boxes[i])
        stayed = near(text, NO_SHIFT)
        # a best match on the search's edge may be a shift beyond it (a fast ticker, a fast pan): as good as lost
        edge = SEARCH in (abs(best[0] - SEARCH), abs(best[1] - SEARCH))
        held[i], lost[i] = stayed <= MATCH_ERROR and stayed <= text.min(), text.min() > MATCH_ERROR or edge
        margin = max(8, 2 * (y1 - y0))
        X0, Y0, X1, Y1 = max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)
        ring = 1 - text_mask[Y0:Y1, X0:X1]
        gap = glyph_spill(y1 - y0)  # beside a box its line may go on in words the network did not box
        ring[max(0, y0 - gap - Y0) : y1 + gap - Y0] = 0
        around = fine0[Y0:Y1, X0:X1]
        if ring.sum() < 0.2 * ring.size or float((around * around * ring).sum() / ring.sum()) < MIN_TEXTURE:
            evidence[i] = placed(boxes[i], moved)  # nothing around the text to tell the scene's motion by
            continue
        scene = match_errors(around, fine1, X0, Y0, mask=ring)
        shifted = max(abs(best[0] - SEARCH), abs(best[1] - SEARCH)) > STILL
        if shifted and text[best] <= MATCH_ERROR and near(scene, best) <= min(MATCH_ERROR, near(scene, NO_SHIFT) - 1e-6):
            continue  # text and surroundings match at the same shift, not as well in place: it moves with them
        dy, dx = np.unravel_index(int(np.argmin(scene)), scene.shape)
        if scene[dy, dx] > MATCH_ERROR or max(abs(dx - SEARCH), abs(dy - SEARCH)) <= STILL:
            # the surroundings changed beyond a shift, or did not move: text sliding sideways along the bottom
            # band over them is a ticker; else the place tells
            scrolls = not edge and text[best] <= MATCH_ERROR and text[best] < stayed and abs(best[1] - SEARCH) > STILL \
                and scrolls_along_the_band(boxes[i], (best[1] - SEARCH, best[0] - SEARCH), h)
            evidence[i] = 1.0 if scrolls and scene[dy, dx] <= MATCH_ERROR else placed(boxes[i], moved)
            continue
        with_scene = near(text, (dy, dx))
        if with_scene <= MATCH_ERROR and with_scene < stayed:
            evidence[i] = 0.0
        elif stayed <= MATCH_ERROR and stayed < with_scene and near(scene, NO_SHIFT) > MATCH_ERROR:
            evidence[i] = 1.0
        else:
            evidence[i] = placed(boxes[i], moved)
    return evidence, held, lost


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
                                       "stays put while the picture moves, scrolls on its own, or sits in a corner or "
                                       "centred in / across the bottom band of a still picture (filters.text)"),
    }

    def __init__(self, detector: TextDetector, size: tuple[int, int], step: int, follow_up: int, skip: int = 1,
                 zoom_corners: bool = True, recognizer: TextRecognizer | None = None):
        self.reader, self.size, self.step, self.follow_up = TextReader(detector), size, step, follow_up
        self.zoom_corners, self.recognizer = zoom_corners, recognizer
        self.skip = skip  # rows and columns of the full-resolution luma skipped before the area resize
        self.samples: list[SampledText] = []
        self.pending: Pending | None = None
        self.sampled: tuple[int, np.ndarray] | None = None  # (index, grey) of the last sampled frame
        # the last sample with overlay evidence, its grey, and which of its boxes held still over the follow-up
        self.judged: tuple[SampledText, np.ndarray, np.ndarray] | None = None

    @classmethod
    def build(cls, cfg: PipelineConfig, stream: StreamFacts) -> "TextAnalyzer | None":
        text = cfg.filters.text
        if not text.enabled:
            return None
        step = max(1, int(round(text.every_s * stream.fps)))
        follow_up = max(1, min(step - 1, int(round(FOLLOW_UP_S * stream.fps)))) if step > 1 else 1
        detector = text_detector(detector_model(text.detector, text.model))
        size = network_size(stream.width, stream.height, text.short_side)
        # Plain subsampling first, down to no less than 1.4x the detector's size, makes the area resize
        # a quarter of the work at 720p; the area average that follows still antialiases.
        skip = max(1, int(min(stream.width, stream.height) / min(size) / 1.4))
        recognizer = text_recognizer(recognizer_model(text.recognizer)) if text.recognizer is not None else None
        return cls(detector, size, step, follow_up, skip, text.zoom_corners, recognizer)

    def grey(self, frame: AnalysisFrame, zoom: int = 1) -> np.ndarray:
        """The frame's luma at the detector's size (`zoom` times larger), upright (the bottom band is the
        shown picture's) and in full range (the network was trained on 0-255 pictures; limited-range
        luma reads faint text fainter still)."""
        luma, skip = frame.luma_full(), max(1, self.skip // zoom)
        small = cv2.resize(luma[::skip, ::skip], (zoom * self.size[0], zoom * self.size[1]), interpolation=cv2.INTER_AREA)
        if frame.planar and not frame.full_range:
            small = cv2.convertScaleAbs(small, alpha=255 / 219, beta=-16 * 255 / 219)
        return upright(small, frame.frame.rotation)

    def process(self, index: int, frame: AnalysisFrame) -> None:
        if self.pending is not None and self.pending.index < index < self.pending.index + self.follow_up:
            self.pending.between.append(self.grey(frame))
        if self.pending is not None and index == self.pending.index + self.follow_up:
            self._judge(self.grey(frame))
        if index % self.step == 0:
            grey = self.grey(frame)
            if self.judged is not None:
                if self.judged[0].index == index - self.step:
                    self._drop_drifted(*self.judged, grey)  # a second on
                self._confirm(self.judged[0])
                self.judged = None
            before = self.sampled[1] if self.sampled is not None and self.sampled[0] == index - self.step else None
            self.sampled = (index, grey)
            boxes = self.reader.read(grey, (lambda: self.grey(frame, ZOOM)) if self.zoom_corners else None)
            if len(boxes):
                lines = None if self.recognizer is None else line_images(
                    upright(frame.luma_full(), frame.frame.rotation), boxes, grey.shape)
                self.pending = Pending(index, grey, boxes, before, lines=lines)
            else:
                self.samples.append(SampledText(index, np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.0))

    @staticmethod
    def _drop_drifted(sample: "SampledText", grey: np.ndarray, which: np.ndarray, other: np.ndarray) -> None:
        """Scene text, not overlay, for the sample's boxes `which` (held still over the follow-up) whose
        text moved between its frame `grey` and the sampled frame `other` a second before or after."""
        boxes = np.round(sample.boxes[which] * np.float32([*grey.shape[::-1]] * 2)).astype(int)
        sample.overlay[which[drifted(grey, other, boxes)]] = 0.0

    def _judge(self, later: np.ndarray | None) -> None:
        """Judge the pending sample's boxes against the follow-up frame `later` (None: the video ended
        first); boxes whose text that frame lost (a cut, a pan or ticker faster than SEARCH: their place
        alone would decide) against the latest frame in between that still shows them, whose verdict
        stands. With no frame after the sample, the place decides; the drift since the sample before
        still tells."""
        index, grey, boxes, before = self.pending.index, self.pending.grey, self.pending.boxes, self.pending.before
        frames = self.pending.between + ([later] if later is not None else [])
        h, w = grey.shape
        if not frames:
            hats, fine = stroke_hats(grey), _fine(grey)
            evidence, held = np.float32([overlay_place(hats, fine, b, w, h) for b in boxes]), np.ones(len(boxes), bool)
        else:
            evidence, held, lost = overlay_evidence(grey, frames[-1], boxes)
            unsure = lost.copy()
            for nearer in reversed(frames[:-1]):
                if not unsure.any():
                    break
                again, held_again, lost_again = overlay_evidence(grey, nearer, boxes)
                told = unsure & ~lost_again
                evidence[told], held[told] = again[told], held_again[told]
                unsure &= lost_again
        sample = SampledText(index, boxes / np.float32([w, h, w, h]), evidence, coverage(boxes, w, h), self.pending.lines)
        self.samples.append(sample)
        which = np.flatnonzero((evidence > 0) & held)
        if len(which) and before is not None:
            self._drop_drifted(sample, grey, which, before)  # a second before
        which = which[sample.overlay[which] > 0]
        self.judged = (sample, grey, which) if len(which) else None
        if self.judged is None:
            self._confirm(sample)
        self.pending = None

    def _confirm(self, sample: SampledText) -> None:
        """Once a sample's evidence is final: a box's overlay evidence stands only where the recogniser
        reads characters in it, strongest box first, up to the first that reads (a sample counts its
        strongest box)."""
        lines, sample.lines = sample.lines, None
        if lines is None:
            return
        for i in np.argsort(-sample.overlay, kind="stable"):
            if sample.overlay[i] <= 0 or self.recognizer.confidence(lines[i]) >= MIN_READ_CONFIDENCE:
                break
            sample.overlay[i] = 0.0

    def finish(self, num_frames: int) -> None:
        if self.pending is not None:
            self._judge(None)
        if self.judged is not None:
            self._confirm(self.judged[0])
            self.judged = None

    def clip_columns(self, start: int, end: int) -> dict[str, float | None]:
        inside = [s for s in self.samples if start <= s.index < end]
        if not inside:
            return {"text_area": None, "overlay_score": None}
        overlay = [float(s.overlay.max()) if len(s.overlay) else 0.0 for s in inside]
        return {"text_area": round(float(np.mean([s.coverage for s in inside])), 5),
                "overlay_score": round(float(np.mean(overlay)), 4)}
