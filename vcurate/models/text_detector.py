"""Text detection with a DB-style segmentation network (PP-OCRv4's detector) run through onnxruntime,
and PP-OCRv4's recogniser to confirm that a box holds characters.

A curation filter needs to know where text is, not what it says. The detector maps an image to a
per-pixel probability of lying inside a (shrunk) text region; boxes are the connected regions above
a threshold, grown back by the shrink DB trained with. The detector also boxes structure that is not
writing (a stool's legs and cables, piano keys, motion graphics); the recogniser reads such a box as
no character, or as one it is unsure of, and reads real lines, faint watermarks included, with
confident characters. Only how sure it is of what it read is used, never the text. Both model files
ship inside the `rapidocr-onnxruntime` wheel, so nothing is downloaded at run time. Sessions are
cached per process and model file: each analysis worker loads each model once, however many videos
it analyses.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vcurate.errors import VcurateError

# name -> (package whose wheel ships the model, the model's path inside the package)
DETECTORS: dict[str, tuple[str, str]] = {
    "ppocr-det": ("rapidocr_onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx"),
}
RECOGNIZERS: dict[str, tuple[str, str]] = {
    "ppocr-rec": ("rapidocr_onnxruntime", "models/ch_PP-OCRv4_rec_infer.onnx"),
}
READ_HEIGHT = 48  # pixels: the recogniser reads lines scaled to this height (its training size)
STRIDE = 32  # the network's input sides must be multiples of its total downsampling
PIXEL_THRESHOLD = 0.3  # probability above which a map pixel lies in text
BOX_THRESHOLD = 0.5  # mean probability a region needs to count as a text box
UNCLIP_RATIO = 1.6  # DB's shrunk regions grow back by area x ratio / perimeter


class TextDetectorError(VcurateError, RuntimeError):
    """The text detector cannot run here: its runtime or its model file is missing."""


def _installed(package: str) -> Path | None:
    """Where an installed package lives, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def detector_model(name: str, model: str | None = None) -> Path:
    """The ONNX file of detector `name` (or the file `model` names instead), checked to exist, with
    onnxruntime importable; a TextDetectorError that says how to fix it otherwise."""
    return _model_file("filters.text.detector", DETECTORS, name, model,
                       "or point filters.text.model at the .onnx file, or set filters.text.enabled=false")


def recognizer_model(name: str) -> Path:
    """The ONNX file of recogniser `name`, checked as `detector_model` checks a detector's."""
    return _model_file("filters.text.recognizer", RECOGNIZERS, name, None, "or set filters.text.recognizer=null")


def _model_file(key: str, known: dict[str, tuple[str, str]], name: str, model: str | None, remedy: str) -> Path:
    """The checks of `detector_model`; `remedy` ends each error about the package's file."""
    if name not in known:
        raise TextDetectorError(f"{key}: unknown model {name!r} (known: {', '.join(known)})")
    if importlib.util.find_spec("onnxruntime") is None:
        raise TextDetectorError("the text detector needs onnxruntime: pip install onnxruntime (or onnxruntime-gpu), "
                                "or set filters.text.enabled=false")
    if model is not None:
        path = Path(model).expanduser()
        if not path.is_file():
            raise TextDetectorError(f"filters.text.model: no such file: {path}")
        return path
    package, inside = known[name]
    root = _installed(package)
    if root is None:
        raise TextDetectorError(f"the {name} text model ships in the {package.replace('_', '-')} package, "
                                f"which is not installed: pip install {package.replace('_', '-')} (Python < 3.13), {remedy}")
    path = root / inside
    if not path.is_file():
        raise TextDetectorError(f"{package} is installed but holds no {inside}: reinstall it, {remedy}")
    return path


def _grey_batch(grey: np.ndarray) -> np.ndarray:
    """A grey image as both networks take it: BGR scaled to [-1, 1], one image of three equal channels."""
    x = grey.astype(np.float32) * (2 / 255) - 1
    return np.ascontiguousarray(np.broadcast_to(x, (1, 3, *grey.shape)))


def _session(path: Path, threads: int):
    import onnxruntime as ort  # imported here: only runs that detect text pay for it

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    return ort.InferenceSession(str(path), options, providers=providers)


@dataclass(frozen=True)
class TextBoxes:
    """Axis-aligned text boxes of one image, in the image's pixels: (n, 4) x0, y0, x1, y1 and (n,) scores."""

    boxes: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)


class TextDetector:
    """One onnxruntime session of a DB text detector. Build it with `text_detector` (cached)."""

    def __init__(self, path: Path, threads: int = 1):
        self.session = _session(path, threads)
        self.input = self.session.get_inputs()[0].name
        self.provider = self.session.get_providers()[0]

    def detect(self, luma: np.ndarray) -> TextBoxes:
        """Text boxes of a grey image whose sides are multiples of STRIDE (`network_size`)."""
        h, w = luma.shape
        if h % STRIDE or w % STRIDE:
            raise ValueError(f"image sides must be multiples of {STRIDE}, got {w}x{h}")
        probability = self.session.run(None, {self.input: _grey_batch(luma)})[0][0, 0]
        return boxes_from_map(probability)


def boxes_from_map(probability: np.ndarray) -> TextBoxes:
    """Connected regions of the probability map above PIXEL_THRESHOLD whose mean probability reaches
    BOX_THRESHOLD, each box grown by DB's unclip distance (area x UNCLIP_RATIO / perimeter)."""
    mask = (probability > PIXEL_THRESHOLD).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return TextBoxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    sums = np.bincount(labels.ravel(), weights=probability.ravel(), minlength=count)[1:]
    x, y, w, h, area = (stats[1:, i].astype(np.float32) for i in range(5))
    scores = sums / np.maximum(area, 1)
    keep = (scores >= BOX_THRESHOLD) & (np.minimum(w, h) >= 2)
    x, y, w, h, area, scores = x[keep], y[keep], w[keep], h[keep], area[keep], scores[keep]
    grow = area * UNCLIP_RATIO / (2 * (w + h))
    rows, cols = probability.shape
    boxes = np.stack([np.maximum(x - grow, 0), np.maximum(y - grow, 0),
                      np.minimum(x + w + grow, cols), np.minimum(y + h + grow, rows)], axis=1)
    return TextBoxes(boxes.astype(np.float32), scores.astype(np.float32))


def network_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) the detector sees a width x height frame at: its short side near `short_side`
    (small frames enlarged: the network reads text by its size in pixels), both sides rounded to
    multiples of STRIDE."""
    scale = short_side / min(width, height)
    return (max(STRIDE, int(round(width * scale / STRIDE)) * STRIDE),
            max(STRIDE, int(round(height * scale / STRIDE)) * STRIDE))


class TextRecognizer:
    """One onnxruntime session of a CTC line recogniser (PP-OCRv4's). Build it with `text_recognizer`."""

    def __init__(self, path: Path, threads: int = 1):
        self.session = _session(path, threads)
        self.input = self.session.get_inputs()[0].name

    def confidence(self, line: np.ndarray) -> float:
        """Mean probability of the characters read in a grey line image READ_HEIGHT pixels high (0 when
        it reads none): greedy CTC, index 0 the blank, a repeated index one character."""
        probability = self.session.run(None, {self.input: _grey_batch(line)})[0][0]
        best = probability.argmax(axis=1)
        read = best > 0
        read[1:] &= best[1:] != best[:-1]
        return float(probability.max(axis=1)[read].mean()) if read.any() else 0.0


@functools.cache
def text_recognizer(path: Path, threads: int = 1) -> TextRecognizer:
    """The process's recogniser session for this model file."""
    return TextRecognizer(path, threads)


@functools.cache
def text_detector(path: Path, threads: int = 1) -> TextDetector:
    """The process's session for this model file (loaded once per worker, shared by its videos)."""
    return TextDetector(path, threads)
