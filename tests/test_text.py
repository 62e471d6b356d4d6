"""The burned-in text analyzer on short generated videos: subtitles and watermarks over a moving
picture are overlays, signs painted on a panning scene are text but no overlay, fine stripes are
no text; the detector's model loads once per process; a missing model is one error, up front."""

import importlib.util

import av
import cv2
import numpy as np
import pytest

import vcurate.analyze.text as text_analyzer
import vcurate.models.text_detector as text_detector
from vcurate.analyze import StreamFacts
from vcurate.analyze.text import TextAnalyzer, TextReader, in_overlay_place, regions, stroke_blocks
from vcurate.config import PipelineConfig, with_settings
from vcurate.errors import VcurateError
from vcurate.media.frames import AnalysisFrame, analysis_stride
from vcurate.rules import rule_for
from vcurate.synth.text import paint_scene_text, paint_stroke_pattern, plan_overlay

W, H, FPS, FRAMES = 320, 180, 10, 20  # two sampled frames a clip, each with its follow-up 0.2 s later
CONFIG = PipelineConfig()


def backdrop(rng, width, height):
    """A smooth, softly textured RGB scene (no strokes of its own)."""
    blobs = cv2.resize(rng.random((height // 24 + 2, width // 24 + 2)).astype(np.float32), (width, height),
                       interpolation=cv2.INTER_CUBIC)
    grey = np.clip(70 + 100 * blobs + rng.normal(0, 3, blobs.shape), 0, 255)
    return np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)


def panning(canvas, step=(3, 1), size=(W, H)):
    """FRAMES crops of `canvas` by a camera moving `step` pixels a frame."""
    w, h = size
    return [canvas[i * step[1] : i * step[1] + h, i * step[0] : i * step[0] + w].copy() for i in range(FRAMES)]


def analysed(frames, cfg=CONFIG, fps=FPS) -> TextAnalyzer:
    """A text analyzer fed RGB frames as the decode pass would feed it."""
    h, w = frames[0].shape[:2]
    analyzer = TextAnalyzer.build(cfg, StreamFacts(fps, w, h, len(frames)))
    stride = analysis_stride(w, h, cfg.analysis.short_side)
    for i, rgb in enumerate(frames):
        analyzer.process(i, AnalysisFrame(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p"), stride))
    analyzer.finish(len(frames))
    return analyzer


def analyse(frames, cfg=CONFIG, fps=FPS):
    """The clip columns of the whole stack of frames as one clip."""
    return analysed(frames, cfg, fps).clip_columns(0, len(frames))


@pytest.fixture(scope="module")
def canvas():
    return backdrop(np.random.default_rng(3), W + 3 * FRAMES, H + FRAMES)


def rejected(columns) -> bool:
    rule = rule_for("text_overlay")
    return bool(rule.beyond(columns[rule.score], CONFIG.filters.text.max_overlay))


def test_subtitles_over_a_pan_are_an_overlay(canvas):
    overlay = plan_overlay(np.random.default_rng(1), "subtitle", W, H, FRAMES, FPS)
    columns = analyse([overlay.apply(f, i) for i, f in enumerate(panning(canvas))])
    assert columns["overlay_score"] == 1.0 and rejected(columns)
    assert 0.01 < columns["text_area"] < 0.3  # a line or two in the bottom band, not the frame


def test_watermark_stays_put_while_the_picture_moves(canvas):
    overlay = plan_overlay(np.random.default_rng(2), "watermark", W, H, FRAMES, FPS)
    overlay.corner, overlay.alpha, overlay.text_height = "top-right", 0.6, H * 0.07
    columns = analyse([overlay.apply(f, i) for i, f in enumerate(panning(canvas))])
    assert columns["overlay_score"] == 1.0 and rejected(columns)


def dotted(rng, width, height):
    """A busy RGB scene: big bright dots on a dark ground, with grain (the synthetic 'dotted' background)."""
    period = H * 0.13
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    dots = (np.sin(2 * np.pi * x / period) * np.sin(2 * np.pi * y / period)) > 0.35
    grey = np.clip(np.where(dots, 190, 60) + rng.normal(0, 6, dots.shape), 0, 255)
    return np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)


def test_a_faint_watermark_over_a_moving_busy_texture_is_an_overlay():
    """Half-transparent, 4.5 % of the height, over dots the size of its letters: the network reads it
    once the picture under the strokes is damped (stroke_boosted); the dots alone are no text."""
    busy = dotted(np.random.default_rng(6), W + 3 * FRAMES, H + FRAMES)
    overlay = plan_overlay(np.random.default_rng(4), "watermark", W, H, FRAMES, FPS)
    overlay.corner, overlay.alpha, overlay.text_height = "bottom-right", 0.5, H * 0.045
    columns = analyse([overlay.apply(f, i) for i, f in enumerate(panning(busy))])
    assert columns["overlay_score"] == 1.0 and rejected(columns)
    clean = analyse(panning(busy))
    assert clean["text_area"] == 0.0 and not rejected(clean)


@pytest.mark.parametrize("corner", ["top-left", "bottom-right"])
def test_a_small_faint_mark_over_a_light_busy_ground_is_read_in_the_zoomed_corner(corner):
    """3.6 % of a 480x270 frame's height, half transparent, over a light grain (a lawn or fur in
    daylight): too small for the network at the detector's scale, read in the corner twice as large
    (a sports field's watermark was missed so on real footage); the ground alone is no text."""
    size = (480, 270)
    grain = cv2.GaussianBlur(np.random.default_rng(6).normal(0, 1, (size[1] + FRAMES, size[0] + 3 * FRAMES)), (0, 0), 2.5)
    ground = np.repeat(np.clip(150 + 40 * grain / grain.std(), 0, 255)[..., None], 3, axis=2).astype(np.uint8)
    overlay = plan_overlay(np.random.default_rng(8), "watermark", *size, FRAMES, FPS)
    overlay.corner, overlay.alpha, overlay.text_height = corner, 0.5, size[1] * 0.036
    frames = [overlay.apply(f, i) for i, f in enumerate(panning(ground, size=size))]
    columns = analyse(frames)
    assert columns["overlay_score"] == 1.0 and rejected(columns)
    unzoomed = analyse(frames, with_settings(CONFIG, [("filters.text.zoom_corners", False)], "pipeline config"))
    assert unzoomed["text_area"] == 0.0 and not rejected(unzoomed)
    assert analyse(panning(ground, size=size))["text_area"] == 0.0


def test_a_faint_mark_over_a_light_ground_is_read_in_its_corner(monkeypatch):
    """Half transparent, white, 5 % of the height over a light, softly grained ground: its strokes stand
    out less than STROKE_CONTRAST, so only the corners' fainter gate (MARK_CONTRAST) lets the network
    read it (a zebrafish tank's and a sky's marks were missed so on real footage)."""
    size = (640, 360)
    grain = cv2.GaussianBlur(np.random.default_rng(6).normal(0, 1, (size[1] + FRAMES, size[0] + 3 * FRAMES)), (0, 0), 3)
    ground = np.repeat(np.clip(185 + 8 * grain / grain.std(), 0, 255)[..., None], 3, axis=2).astype(np.uint8)
    overlay = plan_overlay(np.random.default_rng(8), "watermark", *size, FRAMES, FPS)
    overlay.corner, overlay.alpha, overlay.text_height = "bottom-left", 0.5, size[1] * 0.05
    frames = [overlay.apply(f, i) for i, f in enumerate(panning(ground, size=size))]
    assert rejected(analyse(frames))
    assert analyse(panning(ground, size=size))["text_area"] == 0.0
    monkeypatch.setattr(text_analyzer, "MARK_CONTRAST", text_analyzer.STROKE_CONTRAST)
    assert analyse(frames)["overlay_score"] == 0.0


def test_a_ticker_over_a_still_scene_of_level_lines_is_an_overlay():
    """A still scene whose structure runs level (shelves, a tank's rim, a horizon) matches itself at
    any sideways shift, the ticker's too: that is no sign the text moves with it (a ticker over a
    zebrafish tank was taken for scene text so)."""
    rng = np.random.default_rng(7)
    rows = np.clip(120 + 40 * np.sign(np.sin(np.arange(H) / 7.0)) + rng.normal(0, 2, H), 0, 255)
    level = np.repeat(np.repeat(rows[:, None], W, axis=1)[..., None], 3, axis=2).astype(np.uint8)
    overlay = plan_overlay(np.random.default_rng(5), "ticker", W, H, FRAMES, FPS)
    columns = analyse([overlay.apply(level.copy(), i) for i in range(FRAMES)])
    assert columns["overlay_score"] == 1.0 and rejected(columns)


def test_a_ticker_faster_than_the_search_over_a_still_picture_is_an_overlay(canvas):
    """A ticker sliding 27 detector pixels in the 0.2 s follow-up (past the 20-pixel search; its best
    match sits on the search's edge) is judged again on the nearer frames, where it slides along the
    bottom band over a picture that stays: a ticker, whatever the place of its words' boxes."""
    fps = 30
    overlay = plan_overlay(np.random.default_rng(6), "ticker", W, H, 2 * fps, fps)
    overlay.speed = 0.01 * W
    still = canvas[:H, :W]
    analyzer = analysed([overlay.apply(still.copy(), i) for i in range(2 * fps)], fps=fps)
    boxes = [box for sample in analyzer.samples for box in sample.overlay]
    assert len(boxes) >= 4 and all(evidence == 1.0 for evidence in boxes)  # the words' boxes too, not only the bar's


def test_a_mark_in_the_middle_is_an_overlay_by_its_motion_alone(canvas):
    """Not in the bottom band nor a corner: only staying put over the moving picture tells."""
    def marked(frame):
        cv2.putText(frame, "stockclips", (W // 2 - 60, H // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (240, 240, 240), 2, cv2.LINE_AA)
        return frame
    columns = analyse([marked(f) for f in panning(canvas)])
    assert columns["overlay_score"] == 1.0 and rejected(columns)
    still = analyse([marked(canvas[:H, :W].copy()) for _ in range(FRAMES)])
    assert still["text_area"] > 0 and still["overlay_score"] == 0.0  # a still picture: a sign in the middle


def test_signs_in_a_panning_scene_are_text_but_no_overlay(canvas):
    painted = canvas.copy()
    paint_scene_text(np.random.default_rng(4), painted, H, 2)
    # and one where subtitles go, which only its motion with the scene tells apart
    cv2.rectangle(painted, (40, H - 34), (200, H - 6), (230, 225, 210), -1)
    cv2.putText(painted, "Main Street", (48, H - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 2, cv2.LINE_AA)
    columns = analyse(panning(painted))
    assert columns["text_area"] > 0.01  # the detector reads the signs...
    assert columns["overlay_score"] == 0.0 and not rejected(columns)  # ...which move with the camera


def drifting(canvas, step):
    """FRAMES views of `canvas` by a camera moving `step` (dx, dy) pixels a frame, fractions too."""
    return [cv2.warpAffine(canvas, np.float32([[1, 0, -step[0] * i], [0, 1, -step[1] * i]]), (W, H)) for i in range(FRAMES)]


def stripes(width, height, period):
    """Vertical RGB stripes `period` pixels apart (the synthetic 'striped' background, steps not strokes)."""
    grey = np.where(np.arange(width) % period < period / 2, 150, 80).astype(np.uint8)
    return np.repeat(np.tile(grey, (height, 1))[..., None], 3, axis=2)


def with_sign(canvas, text="Main Street"):
    """`canvas` with a sign low and centred, where subtitles go: dark letters on a light panel."""
    painted = canvas.copy()
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 2)
    x, y = (W - tw) // 2, H - 16
    cv2.rectangle(painted, (x - 6, y - th - 6), (x + tw + 6, y + 6), (230, 225, 210), -1)
    cv2.putText(painted, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 2, cv2.LINE_AA)
    return painted


@pytest.mark.parametrize("background, step", [
    ("soft", (0.3, 0.0)),  # a slow pan: still over the 0.2 s follow-up, drifted by the next sample
    ("stripes", (3.0, 0.0)),  # sideways over stripes whose period makes the surroundings' best shift alias
    ("soft", (8.0, 0.0)),  # faster than the follow-up's search: the very next frame tells
])
def test_a_sign_where_subtitles_go_in_a_pan_is_no_overlay_a_subtitle_over_it_is(background, step):
    """Only motion tells a sign low and centred from a subtitle; each of these pans once fooled it."""
    wide = W + 8 * FRAMES + 40
    scene = backdrop(np.random.default_rng(3), wide, H + 20) if background == "soft" else stripes(wide, H + 20, 8)
    sign = analyse(drifting(with_sign(scene), step))
    assert sign["text_area"] > 0.01 and sign["overlay_score"] == 0.0 and not rejected(sign)
    overlay = plan_overlay(np.random.default_rng(1), "subtitle", W, H, FRAMES, FPS)
    subtitle = analyse([overlay.apply(f, i) for i, f in enumerate(drifting(scene, step))])
    assert subtitle["overlay_score"] == 1.0 and rejected(subtitle)


@pytest.mark.parametrize("length", [FRAMES // 2 + 1, FRAMES // 2 + 2])
def test_a_sign_sampled_just_before_the_video_ends_is_judged_by_motion_too(length):
    """The last sample has no follow-up: the very next frame (when there is one) or the drift since
    the sample before tells the sign in a pan from a subtitle, not its place alone."""
    scene = backdrop(np.random.default_rng(3), W + 8 * FRAMES + 40, H + 20)
    sign = analyse(drifting(with_sign(scene), (3.0, 1.0))[:length])
    assert sign["text_area"] > 0.01 and sign["overlay_score"] == 0.0 and not rejected(sign)
    overlay = plan_overlay(np.random.default_rng(1), "subtitle", W, H, FRAMES, FPS)
    subtitle = analyse([overlay.apply(f, i) for i, f in enumerate(drifting(scene, (3.0, 1.0))[:length])])
    assert subtitle["overlay_score"] == 1.0 and rejected(subtitle)


def test_in_a_still_shot_dark_letters_on_a_panel_are_a_sign_light_ones_a_mark(canvas):
    """Where nothing moves only the place and the look tell: in the bottom-right corner, a sign (dark
    ink on a light panel) is scene text, a light mark there is an overlay."""
    still = canvas[:H, :W].copy()
    text, font = "Cafe Roma", cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), _ = cv2.getTextSize(text, font, 0.6, 2)
    x, y = W - tw - 12, H - 12
    sign = still.copy()
    cv2.rectangle(sign, (x - 6, y - th - 6), (x + tw + 6, y + 6), (230, 225, 210), -1)
    cv2.putText(sign, text, (x, y), font, 0.6, (20, 20, 20), 2, cv2.LINE_AA)
    mark = still.copy()
    cv2.putText(mark, text, (x, y), font, 0.6, (240, 240, 240), 2, cv2.LINE_AA)
    signed, marked = analyse([sign.copy() for _ in range(FRAMES)]), analyse([mark.copy() for _ in range(FRAMES)])
    assert signed["text_area"] > 0 and signed["overlay_score"] == 0.0 and not rejected(signed)
    assert marked["overlay_score"] == 1.0 and rejected(marked)


def floor_with_bars(rng, bars=True):
    """A grainy dark floor (448x256, the detector's own size) with eight bright slanted bars centred
    low in it (a stool's legs and cables): structure the detector boxes as a line of text, in the
    place where subtitles go."""
    grey = cv2.GaussianBlur(np.clip(rng.normal(60, 15, (256, 448)), 0, 255).astype(np.uint8), (0, 0), 2)
    for i in range(8 if bars else 0):
        cv2.line(grey, (184 + 10 * i, 211), (172 + 10 * i, 236), 220, 3)
    return np.repeat(grey[..., None], 3, axis=2)


def test_in_a_still_shot_a_box_the_recogniser_reads_nothing_in_is_no_overlay():
    """In a still picture the place decides, and the bars sit where a subtitle would; the recogniser
    reads no character in them, so they are no overlay (with it off they are one), and a subtitle over
    the same floor still is."""
    still = floor_with_bars(np.random.default_rng(0))
    unread = with_settings(CONFIG, [("filters.text.recognizer", None)], "pipeline config")
    assert analyse([still.copy() for _ in range(FRAMES)], unread)["overlay_score"] == 1.0  # the detector boxes them
    columns = analyse([still.copy() for _ in range(FRAMES)])
    assert columns["text_area"] > 0 and columns["overlay_score"] == 0.0 and not rejected(columns)
    overlay = plan_overlay(np.random.default_rng(1), "subtitle", *still.shape[1::-1], FRAMES, FPS)
    floor = floor_with_bars(np.random.default_rng(0), bars=False)
    assert analyse([overlay.apply(floor.copy(), i) for i in range(FRAMES)])["overlay_score"] == 1.0


def test_the_recogniser_is_sure_of_a_line_of_text_and_not_of_bars():
    recognizer = text_detector.text_recognizer(text_detector.recognizer_model("ppocr-rec"))
    line = np.full((48, 300), 40, np.uint8)
    cv2.putText(line, "Evening news", (8, 36), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 230, 2, cv2.LINE_AA)
    bars = np.full((48, 300), 200, np.uint8)
    for x in range(10, 290, 24):
        cv2.line(bars, (x, 4), (x - 6, 44), 20, 3)
    assert recognizer.confidence(line) > 0.9
    assert recognizer.confidence(bars) < 0.4 and recognizer.confidence(np.full((48, 96), 128, np.uint8)) == 0.0


def test_a_box_in_the_bottom_band_as_tall_as_several_lines_is_no_subtitle():
    """Where motion tells nothing the place decides; a centred box in the bottom band is a subtitle's
    place only as tall as a line or two of it (fresh footage: a piano's legs and stool under a still
    camera, boxed a quarter of the height tall and read as characters, were an overlay)."""
    w, h = 448, 256
    one_line, two_lines = np.array([164, 200, 284, 216]), np.array([150, 196, 298, 232])  # 6 % and 14 % tall
    legs_and_stool = np.array([151, 173, 303, 238])  # 25 % tall
    assert in_overlay_place(one_line, w, h) and in_overlay_place(two_lines, w, h)
    assert not in_overlay_place(legs_and_stool, w, h)
    assert in_overlay_place(np.array([380, 2, 440, 30]), w, h)  # a corner mark of that height still counts


def upscaled_dot_checks(cell=12, period=2.5, scale=2):
    """Checks `cell` pixels wide, a dot grid `period` apart over them, rendered `scale` times smaller
    and scaled up (the synthetic 'lowres' stroke pattern): clusters of dots the network reads as text."""
    h, w = H // scale + 1, W // scale + 1
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    grey = 70 + 80 * ((x // cell + y // cell) % 2)
    dots = np.sin(np.pi * x / period) ** 2 * np.sin(np.pi * y / period) ** 2 > 0.6
    grey = np.where(dots, 0.15 * grey + 0.85 * 15, grey).astype(np.uint8)
    return cv2.resize(np.repeat(grey[..., None], 3, axis=2), (w * scale, h * scale), interpolation=cv2.INTER_LINEAR)[:H, :W]


def test_in_a_still_shot_a_pattern_read_as_text_is_no_overlay_a_mark_over_it_is():
    """Nothing moves, so the place would decide; but a box whose content is found again elsewhere in
    the picture is a pattern, not a line of text (held-out seeds 141 and 157: upscaled dot and line
    grids in the bottom band and the corners were 'overlays')."""
    still = upscaled_dot_checks()
    pattern = analyse([still.copy() for _ in range(FRAMES)])
    assert pattern["text_area"] > 0.1  # the network reads the dots as text everywhere...
    assert pattern["overlay_score"] == 0.0 and not rejected(pattern)  # ...corners and bottom band too
    overlay = plan_overlay(np.random.default_rng(2), "watermark", W, H, FRAMES, FPS)
    overlay.alpha = 0.6
    marked = analyse([overlay.apply(still.copy(), i) for i in range(FRAMES)])
    assert marked["overlay_score"] == 1.0 and rejected(marked)


def test_fine_stripes_are_no_text(canvas):
    painted = canvas.copy()
    paint_stroke_pattern(np.random.default_rng(5), painted, H)
    columns = analyse(panning(painted))
    assert columns["overlay_score"] == 0.0 and not rejected(columns)


def test_a_still_picture_is_read_once_and_its_boxes_carry_over(canvas):
    """No change since the last sample: the network reads nothing and the watermark stays found."""
    overlay = plan_overlay(np.random.default_rng(2), "watermark", W, H, FRAMES, FPS)
    overlay.corner, overlay.alpha, overlay.text_height = "bottom-left", 0.7, H * 0.07
    still = overlay.apply(canvas[:H, :W].copy(), 0)
    grey = cv2.resize(cv2.cvtColor(still, cv2.COLOR_RGB2GRAY), (448, 256), interpolation=cv2.INTER_AREA)
    reader = TextReader(text_detector.text_detector(text_detector.detector_model("ppocr-det")))
    first = reader.read(grey)
    read = reader.pixels_read
    assert len(first) and 0 < read < grey.size  # the gate kept the network to the strokes
    assert np.array_equal(reader.read(grey.copy()), first) and reader.pixels_read == read


def test_gate_finds_no_strokes_in_a_smooth_picture(canvas):
    grey = cv2.cvtColor(canvas[:H, :W], cv2.COLOR_RGB2GRAY)
    assert not stroke_blocks(cv2.resize(grey, (448, 256))).any()
    assert regions(np.zeros((32, 56), bool)) == []


def test_clips_take_only_their_own_samples(canvas):
    """Text in the second second only: the first clip is clean, the second an overlay."""
    overlay = plan_overlay(np.random.default_rng(1), "subtitle", W, H, FRAMES, FPS)
    frames = [overlay.apply(f, i) if i >= 10 else f for i, f in enumerate(panning(canvas))]
    analyzer = TextAnalyzer.build(CONFIG, StreamFacts(FPS, W, H, FRAMES))
    for i, rgb in enumerate(frames):
        analyzer.process(i, AnalysisFrame(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p"), 1))
    analyzer.finish(FRAMES)
    assert analyzer.clip_columns(0, 10)["overlay_score"] == 0.0
    assert analyzer.clip_columns(10, 20)["overlay_score"] == 1.0
    assert analyzer.clip_columns(20, 30) == {"text_area": None, "overlay_score": None}


def test_the_model_loads_once_per_process(monkeypatch):
    import onnxruntime

    loads = []
    session = onnxruntime.InferenceSession
    monkeypatch.setattr(onnxruntime, "InferenceSession", lambda *a, **k: loads.append(a) or session(*a, **k))
    text_detector.text_detector.cache_clear()
    text_detector.text_recognizer.cache_clear()
    for size in ((W, H), (640, 360)):  # two videos, two analyzers
        TextAnalyzer.build(CONFIG, StreamFacts(FPS, *size, 10))
    assert len(loads) == 2  # the detector and the recogniser, once each


def test_a_missing_model_package_is_one_error_before_any_video(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "rapidocr_onnxruntime" else find_spec(name, *a))
    with pytest.raises(VcurateError, match="rapidocr-onnxruntime"):
        PipelineConfig()
    off = PipelineConfig.model_validate({"filters": {"text": {"enabled": False}}})  # the filter off: no check
    assert TextAnalyzer.build(off, StreamFacts(FPS, W, H, 10)) is None


def test_detector_names_and_model_files_are_checked(tmp_path):
    with pytest.raises(VcurateError, match="filters.text.detector"):
        with_settings(CONFIG, [("filters.text.detector", "east")], "pipeline config")
    with pytest.raises(VcurateError, match="filters.text.recognizer"):
        with_settings(CONFIG, [("filters.text.recognizer", "crnn")], "pipeline config")
    with pytest.raises(VcurateError, match="no such file"):
        with_settings(CONFIG, [("filters.text.model", str(tmp_path / "det.onnx"))], "pipeline config")


def test_a_recogniser_file_missing_from_its_package_is_one_error(monkeypatch):
    monkeypatch.setitem(text_detector.RECOGNIZERS, "ppocr-rec", ("rapidocr_onnxruntime", "models/gone.onnx"))
    with pytest.raises(VcurateError, match="holds no models/gone.onnx"):
        PipelineConfig()
    assert PipelineConfig.model_validate({"filters": {"text": {"recognizer": None}}}).filters.text.recognizer is None


def test_probability_map_to_boxes():
    """Regions above the pixel threshold with a mean above the box threshold become boxes, grown back
    by DB's shrink; a faint region is no box."""
    probability = np.zeros((64, 128), np.float32)
    probability[10:16, 20:80] = 0.9  # a shrunk line of text, 60 x 6
    probability[40:46, 20:60] = 0.4  # above the pixel threshold, below the box threshold
    found = text_detector.boxes_from_map(probability)
    assert len(found) == 1
    x0, y0, x1, y1 = found.boxes[0]
    grow = 60 * 6 * text_detector.UNCLIP_RATIO / (2 * 66)  # area x ratio / perimeter
    assert np.allclose([x0, y0, x1, y1], [20 - grow, 10 - grow, 80 + grow, 16 + grow], atol=1e-4)


def test_network_size_is_a_multiple_of_the_stride():
    assert text_detector.network_size(1280, 720, 256) == (448, 256)
    assert text_detector.network_size(360, 640, 256) == (256, 448)
    assert text_detector.network_size(192, 108, 256) == (448, 256)  # small frames are enlarged


def test_a_ticker_boxed_tighter_than_its_glyphs_is_an_overlay():
    """The network boxes a small ticker's letters tighter than its glyphs reach (a 4.4 % ticker at 270
    lines: 8-9 of some 14 pixels); the ascenders and descenders outside the box scroll with it and are
    not the surroundings whose motion tells the scene's (there: a still picture)."""
    from vcurate.analyze.text import overlay_evidence

    w, h = 448, 256
    picture = cv2.cvtColor(backdrop(np.random.default_rng(9), w, h), cv2.COLOR_RGB2GRAY)

    bar = picture.copy()
    bar[228:252] = (0.25 * bar[228:252]).astype(np.uint8)  # the dark bar, the picture faint through it

    def ticker(shift):
        image = bar.copy()
        cv2.putText(image, "Typed lines keep going by", (20 - shift, 245), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 250, 1,
                    cv2.LINE_AA)
        return image

    before, after = ticker(0), ticker(6)
    ink = np.flatnonzero((before.astype(int) - bar > 100).any(axis=1))
    top, bottom = ink[0] + 3, ink[-1] - 2  # a box 8 px tall over glyph rows 14 px tall, as the network's
    assert (bottom - top, len(ink)) == (8, 14)
    evidence, held, lost = overlay_evidence(before, after, np.array([[20, top, 200, bottom]]))
    assert evidence[0] == 1.0 and not held[0] and not lost[0]
