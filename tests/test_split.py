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


def test_a_shaky_step_is_vetoed_as_a_cut_but_a_cut_between_shaky_shots_is_not():
    """The frames either side of a shaky step are one picture shifted (strong phase-correlation peak);
    across a cut between two shaky shots they are not: only the cut survives the veto."""
    import av
    import cv2

    from vcurate.analyze.motion import ShakeAnalyzer
    from vcurate.media.frames import AnalysisFrame
    from vcurate.stages.analyze import shake_vetoed

    rng = np.random.default_rng(0)
    scenes = [cv2.GaussianBlur(rng.integers(0, 256, (260, 400), dtype=np.uint8), (0, 0), 1.5) for _ in range(2)]
    offsets = 40 + rng.integers(-8, 9, (30, 2))  # hand-held jitter of up to 8 px a frame
    frames = [scenes[i >= 15][y : y + 180, x : x + 320] for i, (x, y) in enumerate(offsets)]
    shake = ShakeAnalyzer()
    for i, gray in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.repeat(gray[..., None], 3, axis=2), format="rgb24").reformat(format="yuv420p")
        shake.process(i, AnalysisFrame(frame, 1))
    max_response = 0.55  # the value real footage calls for (see SplitConfig.max_cut_response)
    assert shake.step_response(15) < max_response
    assert all(shake.step_response(i) >= max_response for i in (5, 10, 20, 25))
    assert shake_vetoed([5, 15, 25], shake, max_response) == [15]
