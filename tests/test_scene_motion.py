"""Scene motion: what moves once the camera's own motion is undone. A still picture scores nothing
however the camera moves over it; a moving subject scores, with the camera still or panning."""

import av
import cv2
import numpy as np
import pytest

from vcurate.analyze.scene_motion import SceneMotionAnalyzer
from vcurate.media.frames import AnalysisFrame, analysis_stride

H, W, N = 180, 320, 40


@pytest.fixture(scope="module")
def still():
    rng = np.random.default_rng(7)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (H + 80, W + 120, 3)).astype(np.float32), (0, 0), 2.0)
    return np.clip((texture - texture.mean()) * 3 + 128, 0, 255).astype(np.uint8)


def score(frames):
    analyzer = SceneMotionAnalyzer(25.0)
    stride = analysis_stride(W, H, 144)
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")
        analyzer.process(i, AnalysisFrame(frame, stride))
    analyzer.finish(len(frames))
    return analyzer.clip_columns(0, len(frames))


def pan(still, subject: bool = False, speed: float = 1.5):
    """Crops sliding over the still; with `subject`, a grey disc crossing the view on its own."""
    frames = []
    for i in range(N):
        x = int(round(10 + speed * i))
        frame = still[20 : 20 + H, x : x + W].copy()
        if subject:
            cv2.circle(frame, (40 + 6 * i, H // 2), 24, (235, 40, 40), -1)
        frames.append(frame)
    return frames


def test_a_frozen_frame_does_not_move(still):
    assert score([still[:H, :W]] * N)["motion_score"] == 0.0


def test_a_pan_over_a_still_is_static_and_the_same_pan_over_moving_content_is_not(still):
    over_still, over_subject = score(pan(still)), score(pan(still, subject=True))
    assert over_still["camera_motion"] > 5  # the camera moves (~0.8 % of the short side a frame)...
    assert over_still["motion_score"] < 0.25  # ...over nothing that moves
    assert over_subject["motion_score"] > 1.0  # the disc moves in the picture (~1.5 % of it)


def test_a_static_camera_over_a_moving_subject_moves(still):
    frames = pan(still, subject=True, speed=0.0)
    result = score(frames)
    assert result["camera_motion"] < 1 and result["motion_score"] > 1.0


def test_a_zoom_over_a_still_is_static(still):
    frames = []
    for i in range(N):
        s = 1 - 0.2 * i / N
        ch, cw = int(H * s), int(W * s)
        y, x = (H + 80 - ch) // 2, (W + 120 - cw) // 2
        frames.append(cv2.resize(still[y : y + ch, x : x + cw], (W, H), interpolation=cv2.INTER_AREA))
    result = score(frames)
    assert result["camera_motion"] > 1 and result["motion_score"] < 0.25


def test_a_slideshow_is_static_and_its_switches_are_jumps(still):
    """Crops of the still, each held 0.6-1.2 s then switched: over a second the picture changes, but
    in jumps between stretches where nothing moves."""
    holds, frames, x = [15, 22, 30, 17, 26], [], 0
    for hold in holds:
        frames += [still[20 : 20 + H, x : x + W]] * hold
        x += 23
    result = score(frames[:N * 2])
    assert result["motion_score"] < 0.1


def test_pillarbox_bars_do_not_move_with_the_picture(still):
    """A pan over a still between black bars: the bars' edges stay put, the picture slides past them."""
    frames = []
    for frame in pan(still):
        frame = frame.copy()
        frame[:, :40], frame[:, -40:] = 16, 16
        frames.append(frame)
    assert score(frames)["motion_score"] < 0.1


def test_slow_motion_adds_up_over_a_second(still):
    """A textured disc turning a fraction of a pixel a frame: too little to pass the misregistration
    allowance in a fifth of a second, plain over a second."""
    centre, radius = (W // 2, H // 2), 60
    mask = np.zeros((H, W), np.uint8)
    cv2.circle(mask, centre, radius, 1, -1)
    background = still[20 : 20 + H, 10 : 10 + W]
    disc = still[:, :W].copy()
    frames = []
    for i in range(N * 2):
        turned = cv2.warpAffine(disc, cv2.getRotationMatrix2D(centre, 0.15 * i, 1.0), (W, H))
        frames.append(np.where(mask[..., None] == 1, turned, background))
    result = score(frames)
    assert result["camera_motion"] < 1 and result["motion_score"] > 1.0


def test_a_globe_turning_in_black_space_is_not_between_bars(still):
    """A textured disc, nearly as tall as the frame, on black, its surface sliding sideways as a
    globe turns: the black beside it is flat like a pillarbox bar, but the disc only touches it, so
    it is scene, it holds the fit still, and the turning counts."""
    centre, radius = (W // 2, H // 2), H // 2 - 3
    mask = np.zeros((H, W, 1), np.uint8)
    cv2.circle(mask, centre, radius, 1, -1)
    frames = []
    for i in range(N * 2):
        surface = cv2.warpAffine(still, np.float32([[1, 0, 0.4 * i], [0, 1, 0]]), (W, H))
        frames.append(np.where(mask == 1, surface, 16).astype(np.uint8))
    result = score(frames)
    assert result["camera_motion"] < 1 and result["motion_score"] > 1.0


def test_a_bright_subject_does_not_carry_a_shaky_camera_over_a_faint_background():
    """A small bright square rising over faint dots while the camera shakes: least squares on the raw
    gradients follows the square's strong edges and calls its motion the camera's."""
    rng = np.random.default_rng(3)
    dots = np.full((H + 40, W + 40), 70, np.uint8)
    for y in range(0, H + 40, 16):
        for x in range(8 * (y // 16 % 2), W + 40, 16):
            cv2.circle(dots, (x, y), 4, 100, -1)
    frames = []
    for i in range(N):
        dx, dy = rng.uniform(-4, 4, 2)
        frame = cv2.warpAffine(dots, np.float32([[1, 0, -20 + dx], [0, 1, -20 + dy]]), (W, H))
        y = int(130 - 2.0 * i)
        frame[y : y + 24, 150:174] = 210
        frames.append(np.dstack([frame, frame, frame]))
    result = score(frames)
    assert result["camera_motion"] > 5 and result["motion_score"] > 0.5


def test_a_subject_of_the_background_brightness_moves_in_colour():
    """A disc as bright as the grey ground but coloured, crossing it under a still camera: the luma
    barely shows it, the chroma planes do (a scene-motion measure on the luma alone scores it still)."""
    rng = np.random.default_rng(3)
    ground = np.clip(128 + rng.normal(0, 2, (H, W, 3)), 0, 255).astype(np.uint8)
    bgr = np.uint8([[[128, 128, 128]]])
    luma = float(cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[0, 0, 0])
    purple = cv2.cvtColor(np.uint8([[[luma, 170, 170]]]), cv2.COLOR_YCrCb2RGB)[0, 0]  # same Y, other Cr/Cb
    frames = []
    for i in range(N * 2):
        frame = ground.copy()
        cv2.circle(frame, (30 + 3 * i, H // 2), 30, tuple(int(c) for c in purple), -1)
        frames.append(frame)
    result = score(frames)
    assert result["camera_motion"] < 1 and result["motion_score"] > 1.0
