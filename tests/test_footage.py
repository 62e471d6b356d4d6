"""The from-footage archive generator: its labels checked against what the written videos show."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from vcurate.media.encode import write_mp4
from vcurate.synth.footage import FootageShot, FootageSpec, _source_frames, conformed_frames, find_sources, make_footage_archive
from vcurate.synth.truth import read_truth

# Hue (OpenCV's 0-180 scale) of each source's tint: every written frame tells which source it came from.
HUES = {"red.mp4": 0, "green.mp4": 60, "blue.mp4": 120}


def _tinted_frames(hue: int, n: int, size: tuple[int, int], seed: int, switch_hue: int | None = None,
                   light: tuple[float, float] = (50, 130)):
    """Textured frames of one hue drifting slowly (real content moves); from n // 2 on, `switch_hue`
    (a hard cut inside the source). Value: light[0] + light[1] x the texture (0-1.3)."""
    rng = np.random.default_rng(seed)
    w, h = size
    texture = cv2.resize(rng.random((h // 6, w // 6 + 20)).astype(np.float32), (w + 120, h), interpolation=cv2.INTER_CUBIC)
    texture += 0.3 * rng.random(texture.shape).astype(np.float32)  # fine grain, fixed to the content
    for i in range(n):
        value = np.clip(light[0] + light[1] * texture[:, i : i + w], 0, 255).astype(np.uint8)
        tint = switch_hue if switch_hue is not None and i >= n // 2 else hue
        hsv = np.dstack([np.full_like(value, tint), np.full_like(value, 200), value])
        yield cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _frame_hue(rgb: np.ndarray) -> int:
    """The source tint a frame shows: the one nearest its mean hue (bars and noise aside), averaged as an
    angle, since red lies on both ends of the scale (a noisy red frame is half 0-10, half 170-180)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    lit = hsv[..., 2] > 40
    angle = hsv[..., 0][lit].astype(np.float64) * (2 * np.pi / 180)
    hue = (np.degrees(np.arctan2(np.sin(angle).mean(), np.cos(angle).mean())) / 2) % 180
    return min({0, 60, 120}, key=lambda h: min(abs(hue - h), 180 - abs(hue - h)))


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    folder = tmp_path_factory.mktemp("footage")
    size = (320, 240)
    write_mp4(folder / "red.mp4", _tinted_frames(0, 50, size, 1), size, Fraction(25), 12)
    write_mp4(folder / "blue.mp4", _tinted_frames(120, 50, size, 2), size, Fraction(25), 12)
    # A source with a cut inside: its first half green, its second half red.
    write_mp4(folder / "green.mp4", _tinted_frames(60, 80, size, 3, switch_hue=0), size, Fraction(25), 12)
    (folder / "notes.txt").write_text("not a video")
    return folder


SPEC = replace(FootageSpec(), sizes=((256, 144), (160, 90)), shots=(2, 4), shot_seconds=(0.6, 1.2),
               p_shake=0.25, p_pan=0.15, p_blur=0.25, p_upscaled=0.35, p_letterbox=0.15, p_noise=0.15,
               p_low_light=0.1, upscale=(2.0, 4.0), crf=(18, 18), repeat_frames=True,  # 3 sources of 2-3 s
               duplicate_videos=0.0, hard_negative_videos=0.0)


@pytest.fixture(scope="module")
def archive(footage, tmp_path_factory):
    out = tmp_path_factory.mktemp("footage-archive")
    truth = make_footage_archive(out, footage, videos=8, seed=5, spec=SPEC, warn=lambda line: None)
    return out, truth


def _decode(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_scan_finds_the_cut_inside_a_source(footage):
    sources = {s.name: s for s in find_sources(footage, SPEC, warn=lambda line: None)}
    assert set(sources) == set(HUES)  # notes.txt is no video
    green = sources["green.mp4"]
    assert all(end <= 40 or start >= 40 for start, end in green.segments)  # no stretch spans its cut at frame 40


def test_every_frame_comes_from_the_source_its_shot_names(archive):
    out, truth = archive
    assert truth == read_truth(out / "ground_truth.jsonl")
    for video in truth:
        frames = _decode(out / "raw" / video.video)
        assert len(frames) == video.num_frames == video.shots[-1].end_frame
        assert (frames[0].shape[1], frames[0].shape[0]) == (video.width, video.height)
        for shot in video.shots:
            hues = {_frame_hue(f) for f in frames[shot.start_frame : shot.end_frame]}
            if shot.source == "green.mp4":  # its stretches lie on one side of its cut
                expected = {60} if shot.source_start_frame < 40 else {0}
            else:
                expected = {HUES[shot.source]}
            assert hues == expected, (video.video, shot)
        # Consecutive shots come from different sources: every cut of the truth is a visible change.
        for before, after in zip(video.shots, video.shots[1:]):
            assert before.source != after.source


def _fine_detail(frame: np.ndarray) -> float:
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(luma, cv2.CV_32F)).mean())


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _detail(frame: np.ndarray) -> float:
    return float(np.abs(cv2.Laplacian(_gray(frame), cv2.CV_32F)).mean())


def _static_view(source: np.ndarray, w: int, h: int) -> np.ndarray:
    """A source frame as a static camera shows it at w x h: area-scaled to cover, centre-cropped."""
    scale = max(w / source.shape[1], h / source.shape[0])
    scaled = cv2.resize(source, (round(source.shape[1] * scale), round(source.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    top, left = (scaled.shape[0] - h) // 2, (scaled.shape[1] - w) // 2
    return scaled[top : top + h, left : left + w]


def test_static_shots_show_their_source_frames_and_faults(footage, archive):
    """A static shot without bars or noise is its source's frames, area-scaled and centre-cropped:
    clean ones match them pixel for pixel (up to compression), blurred and upscaled ones keep much
    less of their fine detail."""
    out, truth = archive
    sources = {name: _decode(footage / name) for name in HUES}
    ratios: dict[str, list[float]] = {"none": [], "blur": [], "lowres": []}
    for video in truth:
        frames = _decode(out / "raw" / video.video)
        w, h = video.width, video.height
        for shot in video.shots:
            if shot.camera != "static" or set(shot.nuisances) - {"downscaled_source"} or "static" in shot.defects:
                continue
            last = shot.end_frame - shot.start_frame - 1
            for k, neighbour in ((0, 3), (last, last - 3)):  # 3 frames: the content has drifted 1-3 px
                expected, beside = (_static_view(sources[shot.source][shot.source_start_frame + j], w, h)
                                    for j in (k, neighbour))
                shown = frames[shot.start_frame + k]
                fault = shot.defects[0] if shot.defects else "none"
                ratios[fault].append(_detail(shown) / _detail(expected))
                if fault == "none":  # the very frame the truth names, not one a few frames off
                    error, off_by_one = (np.abs(_gray(shown) - _gray(x)).mean() for x in (expected, beside))
                    assert error < 0.5 * off_by_one, (video.video, shot, k)
    assert all(ratios.values()), "the seed must draw each fault on a static shot"
    assert min(ratios["none"]) > 0.65  # x264 softens the first frames after a cut a little
    assert max(ratios["blur"]) < 0.6 and max(ratios["lowres"]) < 0.6


def test_shots_from_sources_at_other_rates_play_in_real_time(tmp_path):
    """A 10 fps source in a 30 fps video shows each frame three times, a 30 fps one in a 25 fps video
    drops one in six: output frame k shows the source frame nearest in time, k / video fps from the
    shot's start (played frame for frame, hand-held motion would be sped up or slowed down)."""
    folder = tmp_path / "footage"
    folder.mkdir()
    size = (320, 240)
    write_mp4(folder / "red.mp4", _tinted_frames(0, 40, size, 1), size, Fraction(10), 12)
    write_mp4(folder / "blue.mp4", _tinted_frames(120, 90, size, 2), size, Fraction(30), 12)
    spec = replace(SPEC, p_shake=0.0, p_pan=0.0, p_zoom=0.0, p_blur=0.0, p_upscaled=0.0, p_letterbox=0.0, p_noise=0.0,
                   p_low_light=0.0, p_text=0.0, p_static=0.0, shot_seconds=(1.0, 1.5), sizes=((256, 144),))
    truth = make_footage_archive(tmp_path / "out", folder, videos=4, seed=3, spec=spec, warn=lambda line: None)
    rates = {"red.mp4": 10.0, "blue.mp4": 30.0}
    sources = {name: [_static_view(f, 256, 144) for f in _decode(folder / name)] for name in rates}
    conformed = set()
    for video in truth:
        frames = _decode(tmp_path / "out" / "raw" / video.video)
        assert video.fps == pytest.approx(30.0 if video.shots[0].source == "blue.mp4" else 25.0, rel=1e-3)
        for shot in video.shots:
            step = rates[shot.source] / video.fps
            conformed.add(round(step, 2))
            seen = [int(np.argmin([np.abs(_gray(frame) - _gray(s)).mean() for s in sources[shot.source]]))
                    for frame in frames[shot.start_frame : shot.end_frame]]
            expected = [shot.source_start_frame + int(k * step + 0.5) for k in range(len(seen))]
            assert seen == expected, (video.video, shot.source, step)
    assert min(conformed) < 1 < max(conformed), conformed  # frames repeated and frames dropped


def test_a_repeated_source_frame_comes_fresh_each_time(tmp_path):
    """Overlays draw on a frame in place: a source frame shown three times must not carry the text
    drawn on its first showing into the next."""
    write_mp4(tmp_path / "red.mp4", _tinted_frames(0, 12, (160, 90), 1), (160, 90), Fraction(10), 12)
    source = find_sources(tmp_path, replace(SPEC, shot_seconds=(0.6, 0.6)), warn=lambda line: None)[0]
    shot = FootageShot(source, 0, conformed_frames(6, 1 / 3), (160, 90), step=1 / 3)
    pristine = _decode(tmp_path / "red.mp4")
    for i, frame in enumerate(_source_frames(shot)):
        assert np.array_equal(frame, pristine[shot.source_frame(i)]), i
        frame[:] = 255  # as a burned-in caption would


def test_low_light_darkens_only_footage_it_leaves_something_to_see_in(tmp_path):
    """A dim source (luma ~25, texture visible) under the low-light gamma turns black: a shot of it must
    not be made low-light (it would show nothing, labelled clean); a bright source's shots are."""
    folder = tmp_path / "footage"
    folder.mkdir()
    size = (320, 240)
    write_mp4(folder / "green.mp4", _tinted_frames(60, 60, size, 1), size, Fraction(25), 12)
    write_mp4(folder / "dim.mp4", _tinted_frames(30, 60, size, 2, light=(12, 45)), size, Fraction(25), 12)
    spec = replace(SPEC, p_shake=0.0, p_pan=0.0, p_zoom=0.0, p_blur=0.0, p_upscaled=0.0, p_letterbox=0.0, p_noise=0.0,
                   p_low_light=1.0, p_text=0.0, p_static=0.0, shot_seconds=(1.0, 1.5), sizes=((256, 144),))
    truth = make_footage_archive(tmp_path / "out", folder, videos=6, seed=3, spec=spec, warn=lambda line: None)
    shots = {"green.mp4": 0, "dim.mp4": 0}
    for video in truth:
        frames = _decode(tmp_path / "out" / "raw" / video.video)
        for shot in video.shots:
            shots[shot.source] += 1
            assert ("low_light" in shot.nuisances) == (shot.source == "green.mp4"), (video.video, shot.source)
            shown = min(_gray(frame).std() for frame in frames[shot.start_frame : shot.end_frame])
            assert shown >= spec.flat_std, (video.video, shot.source, shown)
    assert min(shots.values()) > 0, shots


def test_shaken_shots_jitter_and_static_ones_do_not(archive):
    out, truth = archive
    step: dict[str, list[float]] = {"static": [], "shake": []}
    for video in truth:
        frames = _decode(out / "raw" / video.video)
        for shot in video.shots:
            if shot.camera in step and "noise" not in shot.nuisances:
                shown = [_gray(f) for f in frames[shot.start_frame : shot.end_frame]]
                step[shot.camera].append(float(np.median(
                    [np.abs(cv2.phaseCorrelate(a, b)[0]).sum() for a, b in zip(shown, shown[1:])])))
    assert step["static"] and step["shake"]
    # The sources drift 1 px a frame; a shaken camera adds pixels of jitter to every step.
    assert max(step["static"]) < min(step["shake"])


def test_same_seed_same_archive(footage, tmp_path):
    first = make_footage_archive(tmp_path / "a", footage, videos=2, seed=9, spec=SPEC, warn=lambda line: None)
    second = make_footage_archive(tmp_path / "b", footage, videos=2, seed=9, spec=SPEC, warn=lambda line: None)
    assert first == second


def test_sources_are_never_magnified(footage, tmp_path):
    spec = replace(SPEC, sizes=((640, 360),))  # larger than every source
    with pytest.raises(ValueError, match="magnifying"):
        make_footage_archive(tmp_path, footage, videos=1, seed=0, spec=spec, warn=lambda line: None)


def test_no_usable_footage_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no videos under"):
        find_sources(tmp_path / "empty", SPEC)
    with pytest.raises(FileNotFoundError, match="footage folder not found"):
        find_sources(tmp_path / "missing", SPEC)


def test_cli_writes_a_footage_archive_at_the_asked_size(footage, tmp_path):
    from vcurate.cli import main

    assert main(["synth", str(tmp_path / "a"), "--from-footage", str(footage), "--videos", "1", "--size", "160x90",
                 "--quiet"]) == 0
    (video,) = read_truth(tmp_path / "a" / "ground_truth.jsonl")
    assert (video.width, video.height) == (160, 90)
    assert (tmp_path / "a" / "raw" / video.video).with_suffix(".txt").read_text().startswith("footage from ")
    with pytest.raises(SystemExit):
        main(["synth", str(tmp_path / "b"), "--from-footage", str(footage), "--size", "161x90"])
    assert main(["synth", str(tmp_path / "c"), "--size", "160x90"]) == 2  # --size needs --from-footage


def test_cli_says_a_missing_footage_folder_in_one_line(tmp_path, capsys):
    from vcurate.cli import main

    assert main(["synth", str(tmp_path / "a"), "--from-footage", str(tmp_path / "missing")]) == 2
    out = capsys.readouterr()
    assert (out.out + out.err).strip().splitlines() == [f"error: footage folder not found: {tmp_path / 'missing'}"]


def _two_takes(n: int, size: tuple[int, int], seed: int):
    """One place filmed twice: the same drifting background, a dark figure at another spot from n // 2 on
    (a jump cut, too small a change for the scan's content detector)."""
    for i, frame in enumerate(_tinted_frames(60, n, size, seed)):
        x = size[0] // 4 if i < n // 2 else 3 * size[0] // 4
        cv2.circle(frame, (x, size[1] // 2), size[1] // 8, (20, 20, 20), -1)
        yield frame


def test_a_cut_named_in_cuts_json_is_spanned_by_no_shot(tmp_path):
    folder = tmp_path / "footage"
    folder.mkdir()
    write_mp4(folder / "takes.mp4", _two_takes(80, (320, 240), 4), (320, 240), Fraction(25), 12)

    def segments():
        return find_sources(folder, SPEC, warn=lambda line: None)[0].segments

    assert any(start < 40 < end for start, end in segments())  # the scan alone does not see the jump cut
    (folder / "cuts.json").write_text('{"takes.mp4": [[1.56, 1.64]]}')  # frame 40 at 25 fps
    assert segments() and all(end <= 37 or start >= 43 for start, end in segments())  # 3 frames kept away
