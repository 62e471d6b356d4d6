"""Labelled still pictures (defect "static") in both generators, checked against what their frames
show: a frozen frame never changes, a slideshow changes only between its stills, a pan or zoom over
a still is one picture moved by the camera; their hard negatives (the same camera over a subject
that moves) are not."""

from __future__ import annotations

import re
from dataclasses import replace
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from vcurate.media.encode import write_mp4
from vcurate.synth.archive import Shot, _palette, render_shot
from vcurate.errors import InputError
from vcurate.synth.footage import FootageSpec, make_footage_archive, read_stretches
from vcurate.synth.truth import read_truth

W, H, N = 192, 108, 30


def rendered(still: str | None, camera: str = "static", zoom: float = 0.0, seed: int = 3) -> list[np.ndarray]:
    shot = Shot(num_frames=N, colour="red", shape="circle", direction="right", background="cloudy",
                palette=_palette(np.random.default_rng(seed), 200.0), texture_seed=seed, camera=camera, still=still,
                zoom=zoom, hold_frames=8 if still == "slideshow" else 0,
                pan_velocity=(1.5, 0.5) if camera == "pan" else (0.0, 0.0))
    return [f.astype(np.float32) for f in render_shot(shot, W, H, np.random.default_rng(seed))]


def change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def translation_residual(a: np.ndarray, b: np.ndarray) -> float:
    """What is left of b - a once b is shifted back by the whole-pixel translation between them."""
    (dx, dy), _ = cv2.phaseCorrelate(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY))
    dx, dy = int(round(dx)), int(round(dy))
    ya, yb = slice(max(0, dy), H + min(0, dy)), slice(max(0, -dy), H + min(0, -dy))
    xa, xb = slice(max(0, dx), W + min(0, dx)), slice(max(0, -dx), W + min(0, -dx))
    return float(np.abs(b[ya, xa] - a[yb, xb]).max())


def zoom_residual(a: np.ndarray, b: np.ndarray) -> float:
    """What is left of b - a at the best centred scale of a (0.9-1.1), in the middle of the frame."""
    def scaled(s: float) -> np.ndarray:
        matrix = cv2.getRotationMatrix2D((W / 2, H / 2), 0.0, s)
        return cv2.warpAffine(a, matrix, (W, H), flags=cv2.INTER_LINEAR)
    centre = (slice(H // 4, 3 * H // 4), slice(W // 4, 3 * W // 4))
    return min(float(np.percentile(np.abs(b - scaled(s))[centre], 99)) for s in np.linspace(0.9, 1.1, 81))


def test_a_frozen_shot_never_changes_and_a_moving_subject_does():
    frozen, moving = rendered("frozen"), rendered(None)
    assert max(change(frozen[0], f) for f in frozen) == 0.0
    assert change(moving[0], moving[-1]) > 1.0


def test_a_slideshow_changes_only_between_its_stills():
    frames = rendered("slideshow")
    steps = [change(a, b) for a, b in zip(frames, frames[1:])]
    switches = [i + 1 for i, step in enumerate(steps) if step > 0]
    assert switches == [8, 16, 24]  # every 8 frames the subject jumps, and in between nothing moves


def test_a_pan_over_a_still_is_one_picture_moved_and_a_pan_over_a_moving_subject_is_not():
    still, moving = rendered("pan", camera="pan"), rendered(None, camera="pan")
    assert change(still[0], still[10]) > 5  # the camera does move
    assert translation_residual(still[0], still[10]) == 0.0
    assert translation_residual(moving[0], moving[10]) > 50  # the subject moved against the background


def test_a_zoom_over_a_still_is_one_picture_scaled_and_a_zoom_over_a_moving_subject_is_not():
    still, moving = rendered("zoom", camera="zoom", zoom=0.2), rendered(None, camera="zoom", zoom=0.2)
    assert change(still[0], still[-1]) > 5
    assert zoom_residual(still[0], still[8]) < 20  # resampling only (the texture has grain)
    assert zoom_residual(moving[0], moving[8]) > 3 * zoom_residual(still[0], still[8])


def _decode(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray").astype(np.float32) for f in container.decode(video=0)]


def _drifting(n: int, seed: int, drift: int):
    rng = np.random.default_rng(seed)
    texture = cv2.resize(rng.random((48, 80)).astype(np.float32), (400, 240), interpolation=cv2.INTER_CUBIC)
    for i in range(n):
        value = np.clip(40 + 170 * texture[:, i * drift : i * drift + 320], 0, 255).astype(np.uint8)
        yield np.dstack([value, value, value])


@pytest.fixture(scope="module")
def footage_archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("still-footage")
    write_mp4(folder / "held.mp4", _drifting(60, 1, drift=0), (320, 240), Fraction(25), 12)  # holds its picture
    write_mp4(folder / "moving.mp4", _drifting(60, 2, drift=1), (320, 240), Fraction(25), 12)
    out = tmp_path_factory.mktemp("still-archive")
    spec = replace(FootageSpec(), sizes=((256, 144),), shots=(2, 3), shot_seconds=(0.8, 1.2), p_shake=0.0, p_blur=0.0,
                   p_upscaled=0.0, p_text=0.0, p_noise=0.0, p_low_light=0.0, p_letterbox=0.0, p_static=0.6,
                   crf=(18, 18), repeat_frames=True, duplicate_videos=0.0, hard_negative_videos=0.0)
    truth = make_footage_archive(out, folder, videos=10, seed=4, spec=spec, warn=lambda line: None)
    return out, truth


def test_footage_stills_are_labelled_by_what_their_frames_show(footage_archive):
    out, truth = footage_archive
    assert truth == read_truth(out / "ground_truth.jsonl")
    seen: dict[str, int] = {}
    for video in truth:
        frames = _decode(out / "raw" / video.video)
        for shot in video.shots:
            shown = frames[shot.start_frame : shot.end_frame]
            steps = [change(a, b) for a, b in zip(shown, shown[1:])]
            kind = shot.fault.get("still")
            assert ("static" in shot.defects) == (kind is not None)
            seen[kind or "clean"] = seen.get(kind or "clean", 0) + 1
            if shot.source == "held.mp4":
                assert kind in ("held", "frozen", "slideshow", "pan", "zoom")  # a still source is never clean
            if kind in ("frozen", "held") and shot.camera == "static":
                assert max(steps) < 1.0, (video.video, shot)  # x264 noise only
            elif kind == "slideshow":
                assert sum(step > 2.0 for step in steps) <= len(steps) // 10 + 1  # a jump now and then
                assert np.median(steps) < 1.0
            elif kind is None and shot.camera == "static":
                assert np.median(steps) > 2.0  # the source drifts a pixel a frame
    assert {"held", "frozen", "slideshow", "clean"} <= set(seen), seen


def test_a_shaken_camera_over_a_held_source_is_static(tmp_path):
    """Shake is the camera's motion: over a source that holds its picture the scene still does not move."""
    folder = tmp_path / "sources"
    folder.mkdir()
    write_mp4(folder / "held.mp4", _drifting(60, 1, drift=0), (320, 240), Fraction(25), 12)
    write_mp4(folder / "moving.mp4", _drifting(60, 2, drift=1), (320, 240), Fraction(25), 12)
    spec = replace(FootageSpec(), sizes=((256, 144),), shots=(2, 3), shot_seconds=(0.8, 1.2), p_shake=1.0, p_blur=0.0,
                   p_upscaled=0.0, p_text=0.0, p_noise=0.0, p_low_light=0.0, p_letterbox=0.0, p_static=0.0,
                   crf=(18, 18), repeat_frames=True, duplicate_videos=0.0, hard_negative_videos=0.0)
    truth = make_footage_archive(tmp_path / "archive", folder, videos=4, seed=4, spec=spec, warn=lambda line: None)
    shaken = [shot for video in truth for shot in video.shots if shot.camera == "shake"]
    assert {shot.source for shot in shaken} == {"held.mp4", "moving.mp4"}
    for shot in shaken:
        assert ("static" in shot.defects) == (shot.source == "held.mp4"), shot


def test_stretches_named_in_stills_json_are_static(tmp_path):
    """A person can name the stretches of a source where only the camera moves over a still picture
    (a pan over a document): shots from them are labelled static, the rest of the source is not."""
    folder = tmp_path / "sources"
    folder.mkdir()
    write_mp4(folder / "moving.mp4", _drifting(75, 2, drift=1), (320, 240), Fraction(25), 12)
    write_mp4(folder / "other.mp4", _drifting(75, 3, drift=1), (320, 240), Fraction(25), 12)
    (folder / "stills.json").write_text('{"moving.mp4": [[0, 10]]}')
    spec = replace(FootageSpec(), sizes=((256, 144),), shots=(2, 3), shot_seconds=(0.8, 1.2), p_shake=0.0, p_blur=0.0,
                   p_upscaled=0.0, p_text=0.0, p_noise=0.0, p_low_light=0.0, p_letterbox=0.0, p_static=0.0,
                   crf=(18, 18), repeat_frames=True, duplicate_videos=0.0, hard_negative_videos=0.0)
    truth = make_footage_archive(tmp_path / "archive", folder, videos=3, seed=5, spec=spec, warn=lambda line: None)
    shots = [shot for video in truth for shot in video.shots]
    assert {shot.source for shot in shots} == {"moving.mp4", "other.mp4"}
    for shot in shots:
        assert (shot.fault.get("still") == "held") == (shot.source == "moving.mp4"), shot


@pytest.mark.parametrize("text, message", [
    ("{not json", "not readable JSON"),
    ('["moving.mp4"]', "expected an object"),
    ('{"missing.mp4": [[0, 1]]}', "no video 'missing.mp4'"),
    ('{"moving.mp4": [[2]]}', "expected [[start_s, end_s]"),
    ('{"moving.mp4": [[3, 1]]}', "0 <= start_s < end_s"),
])
@pytest.mark.parametrize("file_name", ["stills.json", "cuts.json"])
def test_a_malformed_stretches_file_is_one_clear_error(tmp_path, text, message, file_name):
    (tmp_path / file_name).write_text(text)
    with pytest.raises(InputError, match=re.escape(message)) as error:
        read_stretches(tmp_path, file_name, ["moving.mp4"])
    assert str(error.value).startswith(str(tmp_path / file_name))
