import re

import numpy as np

from vcurate.config import SplitConfig
from vcurate.stages.split import chunk, clip_key, scene_ranges, split_scenes


def test_scene_ranges_ignore_out_of_range_cuts():
    assert scene_ranges([0, 10, 10, 30, 99], 30) == [(0, 10), (10, 30)]


def test_long_scenes_become_equal_chunks():
    parts = chunk(0, 250, 100)
    assert parts == [(0, 83), (83, 167), (167, 250)]
    assert all(b - a <= 100 for a, b in parts)


def test_split_marks_short_scenes_and_chunks_long_ones():
    fps = 25.0
    times = np.arange(600) / fps
    cfg = SplitConfig(min_clip_seconds=1.0, max_clip_seconds=10.0)
    clips = split_scenes("a/b.mp4", [20, 70], times, fps, 640, 360, cfg)
    # scene 0: 20 frames = 0.8 s -> too short; scene 1: 50 frames; scene 2: 530 frames -> 3 chunks
    assert [(c.start_frame, c.end_frame) for c in clips] == [(0, 20), (20, 70), (70, 247), (247, 423), (423, 600)]
    assert clips[0].reasons == ["too_short"] and clips[0].status == "rejected"
    assert all(c.status == "kept" for c in clips[1:])
    assert [c.scene_index for c in clips] == [0, 1, 2, 2, 2]
    assert clips[-1].end_s == 600 / fps
    assert clips[2].start_s == 70 / fps


def test_clip_keys_are_unique_stable_and_tar_safe():
    keys = {
        clip_key("a/b.mp4", 0, 10),
        clip_key("a_b.mp4", 0, 10),
        clip_key("a/b.mov", 0, 10),
        clip_key("a/b.mp4", 10, 20),
        clip_key("../../etc/passwd", 0, 10),
        clip_key("über straße/ clip.mp4", 0, 10),
    }
    assert len(keys) == 6
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", k) for k in keys)
    assert clip_key("a/b.mp4", 0, 10) == clip_key("a/b.mp4", 0, 10)


def _shaky_shots(rng, frames_per_shot: int, jitter: int) -> list[np.ndarray]:
    """Two hand-held shots of two textured colour scenes: crops jumping up to `jitter` px a frame."""
    import cv2

    shots = []
    for hue in (20, 110):
        blobs = rng.random((26, 40)).astype(np.float32)  # texture of ~10 px blobs: a jump changes every pixel
        value = np.clip(cv2.resize(blobs, (400, 260), interpolation=cv2.INTER_CUBIC) * 255, 0, 255).astype(np.uint8)
        hsv = np.dstack([np.full_like(value, hue), np.full_like(value, 160), value])
        scene = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        offsets = 40 + rng.integers(-jitter, jitter + 1, (frames_per_shot, 2))
        shots += [scene[y : y + 180, x : x + 320] for x, y in offsets]
    return shots


def _cuts(frames: list[np.ndarray], cfg: SplitConfig) -> list[int]:
    import av

    from vcurate.analyze.scenes import SceneAnalyzer
    from vcurate.media.frames import AnalysisFrame

    scenes = SceneAnalyzer(cfg, 25.0)
    for i, rgb in enumerate(frames):
        scenes.process(i, AnalysisFrame(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p"), 2))
    scenes.finish(len(frames))
    return scenes.cuts


def test_shaky_steps_are_not_cuts_but_a_cut_between_shaky_shots_is():
    """Every jump of a textured hand-held shot changes the colours as much as a cut; undoing the
    global shift between the two frames tells the two apart."""
    frames = _shaky_shots(np.random.default_rng(0), 40, jitter=8)
    plain = _cuts(frames, SplitConfig(detector="content", shake_veto=None, min_scene_frames=4))
    assert len(set(plain) - {40}) >= 3  # the content score alone cuts the shaky shots apart
    assert _cuts(frames, SplitConfig(detector="content", min_scene_frames=4)) == [40]


def _hand_held_shots(rng, frames_per_shot: int) -> list[np.ndarray]:
    """Two hand-held shots of two textured colour scenes: each frame the scene shifted up to 6 px,
    rolled up to 2 degrees and zoomed up to 2 %."""
    import cv2

    shots = []
    for hue in (20, 110):
        blobs = rng.random((37, 60)).astype(np.float32)  # blobs of ~8 px
        value = np.clip(cv2.resize(blobs, (480, 300), interpolation=cv2.INTER_CUBIC) * 255, 0, 255).astype(np.uint8)
        scene = cv2.cvtColor(np.dstack([np.full_like(value, hue), np.full_like(value, 160), value]), cv2.COLOR_HSV2RGB)
        for _ in range(frames_per_shot):
            step = cv2.getRotationMatrix2D((240, 150), rng.uniform(-2, 2), 1 + rng.uniform(-0.02, 0.02))
            step[:, 2] += rng.uniform(-6, 6, 2)
            shots.append(cv2.warpAffine(scene, step, (480, 300), flags=cv2.INTER_LINEAR)[60:240, 80:400])
    return shots


def test_a_rolling_zooming_hand_held_shot_is_not_cut_but_the_cut_after_it_is():
    """A hand-held step also rolls and zooms: undoing the shift alone leaves much of its change, so the
    content detector cut such shots apart; undoing the fitted similarity leaves little, a cut keeps its
    change."""
    frames = _hand_held_shots(np.random.default_rng(1), 40)
    plain = _cuts(frames, SplitConfig(detector="content", shake_veto=None, min_scene_frames=4))
    assert len(set(plain) - {40}) >= 3  # the content score alone cuts the shots apart
    assert _cuts(frames, SplitConfig(detector="content", min_scene_frames=4)) == [40]
    assert _cuts(frames, SplitConfig(detector="adaptive", min_scene_frames=4)) == [40]


def test_a_switch_just_before_a_cut_does_not_hide_the_cut():
    """A slideshow of one place switches stills (a partial change) 6 frames before the cut to another
    scene: within min_scene_frames of each other, the larger change is the cut that stands."""
    import cv2

    rng = np.random.default_rng(3)

    def scene(hue):
        value = np.clip(cv2.resize(rng.random((18, 32)).astype(np.float32), (320, 180),
                                   interpolation=cv2.INTER_CUBIC) * 255, 0, 255).astype(np.uint8)
        return cv2.cvtColor(np.dstack([np.full_like(value, hue), np.full_like(value, 160), value]), cv2.COLOR_HSV2RGB)

    first, other = scene(20), scene(110)
    switched = first.copy()
    switched[:, :140] = scene(20)[:, :140]  # the next still: part of the picture changes
    frames = [first] * 30 + [switched] * 6 + [other] * 30
    for detector in ("content", "adaptive"):
        cuts = _cuts(frames, SplitConfig(detector=detector, threshold=10.0, min_scene_frames=15))
        assert cuts == [36], (detector, cuts)
