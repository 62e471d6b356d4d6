"""Burned-in text for the labelled archives, and the text-like pictures that are no fault.

Overlays (defect `text`), drawn on the finished frame the way post-production burns them in:
- subtitle: one or two outlined lines centred in the bottom band, a new line every 1.5-3.5 s;
- watermark: a semi-transparent static mark in a corner;
- ticker: a dark bar along the bottom with text scrolling through it.

Hard negatives (no defect), drawn on the scene itself so they move with the camera:
- scene_text: signs and lettering on the background of a panning shot;
- stroke_pattern: fine stripes, dot grids and line grids whose strokes are the width of letters'.

Every draw comes from the generator handed in, which callers seed per shot apart from the one that
plans the archive, so adding text leaves every other label of an existing seed as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

OVERLAYS = ("subtitle", "watermark", "ticker")
# Grey levels by which a half-transparent mark must change the picture under its strokes to show: a
# white mark over a white sky changes it by 0-3 and is there only in the labels.
VISIBLE_CONTRAST = 8.0
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_CAP_HEIGHT = 22.0  # pixels of a Hershey font's capital letters at fontScale 1


def words(rng: np.random.Generator, count: int) -> str:
    """`count` pseudo-words of 2-8 letters, some capitalised."""
    out = []
    for _ in range(count):
        word = "".join(rng.choice(list(_LETTERS), int(rng.integers(2, 9))))
        out.append(word.capitalize() if rng.random() < 0.3 else word)
    return " ".join(out)


def _fitted_scale(text: str, font: int, height: float, thickness: int, max_width: float) -> float:
    """Font scale giving capitals `height` pixels tall, shrunk until the line fits `max_width`."""
    scale = height / _CAP_HEIGHT
    width = cv2.getTextSize(text, font, scale, thickness)[0][0]
    return scale * min(1.0, max_width / max(width, 1))


@dataclass
class TextLine:
    """One line of text: where its baseline starts, how it is drawn."""

    text: str
    font: int
    scale: float
    thickness: int

    def size(self) -> tuple[int, int]:
        (w, h), _ = cv2.getTextSize(self.text, self.font, self.scale, self.thickness)
        return w, h


def draw_outlined(image: np.ndarray, line: TextLine, origin: tuple[int, int], colour, outline, outline_px: int) -> None:
    """The line at `origin` (baseline left), with a dark outline `outline_px` thick around its strokes, in place."""
    if outline_px > 0:
        cv2.putText(image, line.text, origin, line.font, line.scale, outline, line.thickness + 2 * outline_px, cv2.LINE_AA)
    cv2.putText(image, line.text, origin, line.font, line.scale, colour, line.thickness, cv2.LINE_AA)


@dataclass
class TextOverlay:
    """A burned-in overlay of one shot, drawn frame by frame on the finished picture."""

    kind: str  # subtitle | watermark | ticker
    width: int
    height: int
    font: int
    text_height: float  # pixels, capital letters
    alpha: float = 1.0
    corner: str = ""
    cues: list[tuple[int, list[str]]] = field(default_factory=list)  # subtitle: (first frame, lines)
    speed: float = 0.0  # ticker: pixels per frame
    ticker_text: str = ""
    drawn: int = 0  # watermark: frames it was drawn on
    shown: int = 0  # watermark: of those, frames where it changed the picture under its strokes visibly

    def shows(self) -> bool:
        """Whether the overlay is seen (what the `text` label needs): subtitles and tickers carry their own
        outline or bar; a watermark must show (VISIBLE_CONTRAST) in at least half the frames drawn so far
        (before any are, it is planned to)."""
        return self.kind != "watermark" or self.drawn == 0 or 2 * self.shown >= self.drawn

    def details(self) -> dict[str, str | float | int]:
        """What TruthShot.fault records of it."""
        details = {"text": self.kind, "text_height_percent": round(100 * self.text_height / self.height, 2)}
        if self.kind == "watermark" and self.drawn:
            details["text_shown_share"] = round(self.shown / self.drawn, 3)
        return details

    def apply(self, frame: np.ndarray, index: int) -> np.ndarray:
        """Frame `index` of the shot (RGB uint8, in place when possible) with the overlay."""
        if self.kind == "subtitle":
            self._subtitle(frame, index)
        elif self.kind == "watermark":
            return self._watermark(frame)
        else:
            return self._ticker(frame, index)
        return frame

    def _thickness(self) -> int:
        return max(1, int(round(self.text_height / 12)))

    def _subtitle(self, frame: np.ndarray, index: int) -> None:
        lines = next(lines for start, lines in reversed(self.cues) if start <= index)
        thickness = self._thickness()
        gap = int(round(self.text_height * 0.6))
        baseline = int(round(self.height * 0.93))
        for text in reversed(lines):
            line = TextLine(text, self.font, _fitted_scale(text, self.font, self.text_height, thickness, 0.9 * self.width), thickness)
            w, h = line.size()
            draw_outlined(frame, line, ((self.width - w) // 2, baseline), (245, 245, 245), (10, 10, 10), max(1, thickness))
            baseline -= h + gap

    def _watermark(self, frame: np.ndarray) -> np.ndarray:
        thickness = self._thickness()
        line = TextLine(self.ticker_text, self.font, _fitted_scale(self.ticker_text, self.font, self.text_height,
                                                                    thickness, 0.4 * self.width), thickness)
        w, h = line.size()
        margin = int(round(0.03 * min(self.width, self.height))) + 2
        x = margin if "left" in self.corner else self.width - w - margin
        y = margin + h if "top" in self.corner else self.height - margin
        mark = frame.copy()
        cv2.putText(mark, line.text, (x, y), line.font, line.scale, (250, 250, 250), thickness, cv2.LINE_AA)
        marked = cv2.addWeighted(mark, self.alpha, frame, 1 - self.alpha, 0)
        top, bottom = max(0, y - h - thickness), min(self.height, y + h // 2 + thickness)  # its rows, descenders too
        ink = np.zeros((bottom - top, self.width), np.uint8)
        cv2.putText(ink, line.text, (x, y - top), line.font, line.scale, 255, thickness, cv2.LINE_AA)
        strokes = ink > 127
        change = np.abs(cv2.cvtColor(marked[top:bottom], cv2.COLOR_RGB2GRAY).astype(np.int16)
                        - cv2.cvtColor(frame[top:bottom], cv2.COLOR_RGB2GRAY)).astype(np.float32)
        self.drawn += 1
        self.shown += bool(strokes.any() and float(change[strokes].mean()) >= VISIBLE_CONTRAST)
        return marked

    def _ticker(self, frame: np.ndarray, index: int) -> np.ndarray:
        thickness = self._thickness()
        bar = int(round(self.text_height * 1.9))
        top = self.height - bar - int(round(0.02 * self.height))
        shaded = frame.copy()
        shaded[top : top + bar] = (20, 24, 60)
        frame = cv2.addWeighted(shaded, self.alpha, frame, 1 - self.alpha, 0)
        line = TextLine(self.ticker_text + "  +++  ", self.font, self.text_height / _CAP_HEIGHT, thickness)
        period = line.size()[0]
        x = -int(round(self.speed * index)) % period - period  # the text repeats end to end, scrolling left
        while x < self.width:
            cv2.putText(frame, line.text, (x, top + int(round(bar * 0.5 + self.text_height * 0.5))), line.font,
                        line.scale, (250, 250, 250), thickness, cv2.LINE_AA)
            x += period
        return frame


def plan_overlay(rng: np.random.Generator, kind: str, width: int, height: int, num_frames: int, fps: float) -> TextOverlay:
    """An overlay of `kind` for a shot of `num_frames` frames at (width, height)."""
    font = FONTS[int(rng.integers(len(FONTS)))]
    if kind == "subtitle":
        cues, start = [], 0
        while start < num_frames:
            cues.append((start, [words(rng, int(rng.integers(2, 7))) for _ in range(int(rng.integers(1, 3)))]))
            start += int(round(rng.uniform(1.5, 3.5) * fps))
        return TextOverlay(kind, width, height, font, height * rng.uniform(0.04, 0.065), cues=cues)
    if kind == "watermark":
        corner = str(rng.choice(["top-left", "top-right", "bottom-left", "bottom-right"]))
        mark = str(rng.choice(["(c) ", "", "www."])) + words(rng, int(rng.integers(1, 3)))
        return TextOverlay(kind, width, height, font, height * rng.uniform(0.035, 0.06), alpha=float(rng.uniform(0.4, 0.7)),
                           corner=corner, ticker_text=mark)
    if kind == "ticker":
        return TextOverlay(kind, width, height, font, height * rng.uniform(0.035, 0.055), alpha=float(rng.uniform(0.7, 0.95)),
                           speed=width * rng.uniform(0.004, 0.01), ticker_text=words(rng, 12))
    raise ValueError(f"unknown overlay {kind!r}")


def paint_scene_text(rng: np.random.Generator, canvas: np.ndarray, short: int, count: int) -> None:
    """Signs and lettering on a scene's background (RGB uint8, in place): each a line of text, dark on a
    light panel or light straight on the texture, 5-10 % of the short side tall."""
    h, w = canvas.shape[:2]
    for _ in range(count):
        font = FONTS[int(rng.integers(len(FONTS)))]
        text_height = short * rng.uniform(0.05, 0.1)
        thickness = max(1, int(round(text_height / 10)))
        text = words(rng, int(rng.integers(1, 4)))
        line = TextLine(text, font, _fitted_scale(text, font, text_height, thickness, 0.6 * w), thickness)
        tw, th = line.size()
        x, y = int(rng.integers(0, max(1, w - tw))), int(rng.integers(th + 1, max(th + 2, h - th)))
        if rng.random() < 0.6:
            pad = int(round(th * 0.4)) + 2
            panel = tuple(int(v) for v in rng.integers(170, 250, 3))
            cv2.rectangle(canvas, (x - pad, y - th - pad), (x + tw + pad, y + pad), panel, -1)
            colour = tuple(int(v) for v in rng.integers(0, 70, 3))
        else:
            colour = tuple(int(v) for v in rng.integers(200, 256, 3))
        cv2.putText(canvas, text, (x, y), font, line.scale, colour, thickness, cv2.LINE_AA)


def paint_stroke_pattern(rng: np.random.Generator, canvas: np.ndarray, short: int) -> str:
    """Fine stripes, a dot grid or a line grid, with strokes 1-4 % of the short side apart, over a
    rectangle of the scene (RGB uint8, in place); returns which."""
    h, w = canvas.shape[:2]
    kind = str(rng.choice(["stripes", "dots", "grid"]))
    period = max(3.0, short * rng.uniform(0.015, 0.04))
    ph, pw = int(h * rng.uniform(0.4, 1.0)), int(w * rng.uniform(0.4, 1.0))
    top, left = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
    y, x = np.mgrid[0:ph, 0:pw].astype(np.float32)
    if kind == "stripes":
        angle = rng.uniform(0, np.pi)
        mask = np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period) > 0.3
    elif kind == "dots":
        mask = np.sin(np.pi * x / period) ** 2 * np.sin(np.pi * y / period) ** 2 > 0.6
    else:
        width = max(1.0, period * 0.2)
        mask = ((x % period) < width) | ((y % period) < width)
    ink = np.float32(rng.integers(0, 256, 3) if rng.random() < 0.5 else (rng.choice([15, 240]),) * 3)
    region = canvas[top : top + ph, left : left + pw].astype(np.float32)
    region[mask] = 0.15 * region[mask] + 0.85 * ink
    canvas[top : top + ph, left : left + pw] = region.astype(np.uint8)
    return kind
