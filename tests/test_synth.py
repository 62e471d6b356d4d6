import json
from collections import Counter
from dataclasses import replace

import av
import numpy as np
import pytest

from vcurate.synth.archive import (BACKGROUNDS, CAPTION_SOURCES, COLOURS, DIRECTIONS, SHAPES, ArchivePlanner, SynthSpec,
                                   make_archive, plan_video, tiny_spec)
from vcurate.synth.truth import read_truth


def test_truth_matches_the_written_videos(tiny_archive):
    root, truth = tiny_archive
    assert [t.video for t in read_truth(root / "ground_truth.jsonl")] == [t.video for t in truth]
    for video in truth:
        with av.open(str(root / "raw" / video.video)) as c:
            stream = c.streams.video[0]
            frames = sum(1 for _ in c.decode(stream))
            assert (stream.width, stream.height) == (video.width, video.height)
            assert float(stream.average_rate) == pytest.approx(video.fps, rel=1e-3)
        assert frames == video.num_frames
        # shots tile the video with no gap or overlap
        assert video.shots[0].start_frame == 0 and video.shots[-1].end_frame == video.num_frames
        for a, b in zip(video.shots, video.shots[1:]):
            assert a.end_frame == b.start_frame


def test_labels_agree_with_what_the_frames_show(tiny_archive):
    """An independent look at each shot (the generation eval's object detector: largest high-chroma
    blob, its hue and its track) finds the labelled colour and direction, and a shaken camera makes
    the object's track jitter more than a static or panning one does."""
    from vcurate.train.evalgen import detect

    root, truth = tiny_archive
    jitter: dict[bool, list[float]] = {True: [], False: []}
    checked = 0
    for video in truth:
        with av.open(str(root / "raw" / video.video)) as c:
            frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
        for shot in video.shots:
            if {"blur", "lowres"} & set(shot.defects):
                continue  # soft pictures wash the colours out
            found = detect(frames[shot.start_frame : shot.end_frame])
            assert found.colour == shot.colour, (video.video, shot)
            if "static" not in shot.defects:  # a still picture shows no direction (tests/test_static_shots.py)
                assert found.direction == shot.direction, (video.video, shot)
            jitter[shot.camera == "shake"].append(found.jitter)
            checked += 1
    assert checked >= 5 and jitter[True] and jitter[False]
    assert min(jitter[True]) > max(jitter[False])


def test_every_caption_source_is_written(tiny_archive):
    root, truth = tiny_archive
    raw = root / "raw"
    manifest = (raw / "captions.csv").read_text()
    for video in truth:
        stem = (raw / video.video).with_suffix("")
        src = video.caption_source
        if src in ("txt", "srt", "vtt"):
            assert stem.with_suffix(f".{src}").is_file()
        elif src == "json":
            assert json.loads(stem.with_suffix(".json").read_text())["caption"] == video.shots[0].attached_caption
        elif src == "manifest":
            assert video.video in manifest
    assert {v.caption_source for v in truth} == {"txt", "json", "manifest", "srt", "vtt"}


def test_same_seed_same_archive(tmp_path):
    a = make_archive(tmp_path / "a", 2, seed=5, spec=tiny_spec())
    b = make_archive(tmp_path / "b", 2, seed=5, spec=tiny_spec())
    c = make_archive(tmp_path / "c", 2, seed=6, spec=tiny_spec())
    assert a == b
    assert a != c


def test_content_is_textured_and_coloured(tiny_archive):
    """ContentDetector and CLIP need real signal: no flat frames, and the object's colour is present."""
    root, truth = tiny_archive
    video = truth[1]
    with av.open(str(root / "raw" / video.video)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    assert frame.std(axis=(0, 1)).mean() > 10  # texture, not a flat colour
    target = np.array(COLOURS[video.shots[0].colour])
    closest = np.abs(frame - target).sum(axis=2).min()
    assert closest < 60


def _clean_shots(spec, seed: int, videos: int) -> list:
    """The clean captioned shots make_archive would plan for `videos` videos (a tenth of them low
    resolution, every fault of which is a defect), without rendering them."""
    planner = ArchivePlanner(spec, np.random.default_rng(seed))
    sources = CAPTION_SOURCES + ("none",)
    shots = [shot for i in range(videos)
             for shot in plan_video(planner, sources[i % len(sources)], (320, 180), 25.0, i % 10 == 0)]
    return [shot for shot in shots if not shot.defects and shot.attached_caption is not None]


@pytest.mark.parametrize("attribute, values", [("colour", COLOURS), ("shape", SHAPES), ("direction", DIRECTIONS),
                                                ("background", BACKGROUNDS)])
def test_balanced_subjects_give_every_value_as_many_clean_shots(attribute, values):
    """Within one video's shots: a whole-video caption gives its subject to all of them at once."""
    spec = replace(SynthSpec(), balanced_subjects=True)
    for seed in range(3):
        counts = Counter(getattr(shot, attribute) for shot in _clean_shots(spec, seed, 60))
        assert set(counts) == set(values)
        assert max(counts.values()) - min(counts.values()) <= spec.shots[1], (seed, counts)


def test_subjects_drawn_on_their_own_can_be_unbalanced():
    """What balanced_subjects is for (and that the test above can fail): drawn on their own, a seed's
    clean shots' colours are further apart than one video's shots."""
    gaps = []
    for seed in range(3):
        counts = Counter(shot.colour for shot in _clean_shots(SynthSpec(), seed, 60))
        gaps.append(max(counts.values()) - min(counts.values()))
    assert max(gaps) > SynthSpec().shots[1], gaps
