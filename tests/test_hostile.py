"""Hostile inputs next to good ones: each bad file fails alone with a reason, the job finishes, and the
good videos give exactly the clips they give in a clean run."""

from __future__ import annotations

import io
import re
import shutil
import tarfile

import av
import numpy as np
import pandas as pd
import pytest
import webdataset as wds

from tests.conftest import tiny_config
from vcurate.job import run_job
from vcurate.analyze.clipframes import square_crop
from vcurate.config import EncodeConfig
from vcurate.media.encode import encode_clip, write_mp4
from vcurate.media.frames import read_frame_at
from vcurate.synth.hostile import write_hostile_inputs, write_rotated_mp4

SAFE_MEMBER = re.compile(r"^[A-Za-z0-9_-]+\.(mp4|txt|json)$")


@pytest.fixture(scope="module")
def hostile_run(tiny_archive, tmp_path_factory):
    root, truth = tiny_archive
    base = tmp_path_factory.mktemp("hostile")
    archive = base / "archive"
    shutil.copytree(root / "raw", archive / "raw")
    expected = write_hostile_inputs(archive / "raw" / "hostile", archive / "raw" / truth[0].video)
    cfg = tiny_config(archive, base / "out")
    cfg.analysis.max_pixels = 100_000  # the tiny archive's videos are at most 320x180 = 57 600 pixels
    big = archive / "raw" / "hostile" / "declared-too-large.mp4"
    write_mp4(big, iter([np.zeros((360, 480, 3), np.uint8)] * 4), (480, 360), 24, crf=30)
    summary = run_job(cfg, engine="local", progress=False)
    return base / "out", summary, expected, truth


def test_every_hostile_file_gets_its_outcome(hostile_run):
    out, summary, expected, _ = hostile_run
    videos = pd.read_parquet(out / "videos.parquet").set_index("video")
    for rel, expect in expected.items():
        row = videos.loc[f"hostile/{rel}"]
        if expect.status == "failed":
            assert row.status == "failed" and row.error, rel
            assert expect.error_contains in row.error, (rel, row.error)
        elif expect.status == "ok":
            assert row.status == "ok", (rel, row.error)
            assert row.num_clips >= expect.min_clips, rel
    too_large = videos.loc["hostile/declared-too-large.mp4"]
    assert too_large.status == "failed" and "max_pixels" in too_large.error
    assert not any("loop/" in v for v in videos.index)  # the symlink loop was not walked


def test_good_videos_keep_exactly_their_clean_run_clips(hostile_run, curated):
    out, _, _, truth = hostile_run
    clean_out, _, _ = curated
    columns = ["video", "clip_key", "start_frame", "end_frame", "status"]
    hostile = pd.read_parquet(out / "clips.parquet")
    hostile = hostile[~hostile.video.str.startswith("hostile/")][columns].sort_values("clip_key").reset_index(drop=True)
    clean = pd.read_parquet(clean_out / "clips.parquet")[columns].sort_values("clip_key").reset_index(drop=True)
    pd.testing.assert_frame_equal(hostile, clean)


def test_keys_are_unique_and_members_safe_whatever_the_names(hostile_run):
    out, _, _, _ = hostile_run
    clips = pd.read_parquet(out / "clips.parquet")
    assert clips.clip_key.is_unique
    twins = clips[clips.video.str.contains("same-name-")]
    assert twins.video.nunique() == 2 and twins.clip_key.is_unique
    shards = sorted((out / "shards").glob("*.tar"))
    names = []
    for shard in shards:
        with tarfile.open(shard) as tar:
            names += tar.getnames()
    assert names and all(SAFE_MEMBER.match(n) for n in names)
    kept = clips[clips.status == "kept"]
    samples = list(wds.DataPipeline(wds.SimpleShardList([str(p) for p in shards]), wds.tarfile_to_samples()))
    assert sorted(s["__key__"] for s in samples) == sorted(kept.clip_key)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_sideways_stored_video_comes_out_upright(tmp_path, rotation):
    """Phone video: frames stored turned, a display matrix to turn them back. Kept clips, CLIP frames
    and report thumbnails all show the picture upright."""
    shown = np.full((160, 96, 3), 128, np.uint8)
    shown[:40, :48] = (230, 30, 30)  # red: top left
    shown[120:] = (30, 30, 230)  # blue: bottom
    path = tmp_path / "phone.mp4"
    write_rotated_mp4(path, [shown] * 24, rotation)

    def looks_upright(rgb: np.ndarray) -> bool:
        h, w = rgb.shape[:2]
        top_left, bottom = rgb[: h // 5, : w // 3].mean((0, 1)), rgb[-h // 6 :].mean((0, 1))
        return h > w and top_left.argmax() == 0 and bottom.argmax() == 2

    clip = encode_clip(path, 0.0, 1.0, 24.0, 24, EncodeConfig())
    assert clip.height > clip.width and clip.num_frames == 24  # the encoded clip's own (upright) size
    with av.open(io.BytesIO(clip.mp4)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 24 and all(looks_upright(f) for f in frames)
    assert looks_upright(read_frame_at(path, 0.5, 48))
    with av.open(str(path)) as container:
        square = square_crop(next(container.decode(video=0)), 64)
    assert square[-8:].mean((0, 1)).argmax() == 2 and square[:8].mean((0, 1)).argmax() != 2  # blue at the bottom
