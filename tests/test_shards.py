"""The shard / manifest round trip: every kept row has exactly one sample, and vice versa."""

import io
import json

import av
import pandas as pd
import pytest
import webdataset as wds

from vcurate.stages.shard import ShardWriter
from vcurate.records import ClipRecord


def _samples(out):
    shards = sorted(str(p) for p in (out / "shards").glob("*.tar"))
    assert shards, "no shards written"
    return list(wds.WebDataset(shards, shardshuffle=False))


def test_kept_rows_and_samples_match_one_to_one(curated):
    out, summary, _ = curated
    clips = pd.read_parquet(out / "clips.parquet")
    kept = clips[clips.status == "kept"]
    samples = _samples(out)
    keys = [s["__key__"] for s in samples]
    assert len(keys) == len(set(keys)), "duplicate samples"
    assert set(keys) == set(kept.clip_key)
    assert summary.kept == len(kept) > 0
    for sample in samples:
        row = kept.set_index("clip_key").loc[sample["__key__"]]
        assert sample["txt"].decode() == row.caption
        meta = json.loads(sample["json"])
        assert meta["clip_key"] == sample["__key__"] and meta["shard"] == row.shard
        with av.open(io.BytesIO(sample["mp4"])) as c:
            stream = c.streams.video[0]
            frames = sum(1 for _ in c.decode(video=0))
            rate = float(stream.average_rate)
            assert max(stream.width, stream.height) >= 16
            # the JSON describes the encoded mp4 a trainer reads, beside the source it came from
            assert (meta["encoded_width"], meta["encoded_height"]) == (stream.width, stream.height)
        assert abs(frames - (row.end_frame - row.start_frame)) <= 1
        assert meta["encoded_num_frames"] == frames and meta["encoded_fps"] == pytest.approx(rate, rel=1e-3)
        assert meta["encoded_duration_s"] == pytest.approx(frames / rate, rel=1e-3)
        assert meta["aspect_ratio"] == pytest.approx(stream.width / stream.height)
        assert min(meta["encoded_width"], meta["encoded_height"]) == 128 < min(meta["width"], meta["height"])
    assert not list((out / "shards").glob("*.tmp"))


def test_rejected_rows_carry_reasons_and_no_shard(curated):
    out, _, _ = curated
    clips = pd.read_parquet(out / "clips.parquet")
    rejected = clips[clips.status == "rejected"]
    assert rejected.shard.isna().all()
    assert (rejected.reasons.map(len) > 0).all()
    assert clips[clips.status == "kept"].reasons.map(len).eq(0).all()


def test_videos_manifest_counts(curated):
    out, _, truth = curated
    videos = pd.read_parquet(out / "videos.parquet")
    clips = pd.read_parquet(out / "clips.parquet")
    assert sorted(videos.video) == sorted(t.video for t in truth)
    assert (videos.status == "ok").all()
    for row in videos.itertuples():
        mine = clips[clips.video == row.video]
        assert row.num_clips == len(mine) and row.num_kept == (mine.status == "kept").sum()
        assert row.num_frames == next(t.num_frames for t in truth if t.video == row.video)
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["kept"] == (clips.status == "kept").sum()
    assert run["config"]["split"]["detector"] == "content"


def test_shard_writer_rotates_and_renames_atomically(tmp_path):
    clip = dict(video="v.mp4", scene_index=0, start_frame=0, end_frame=1, start_s=0, end_s=0.04, fps=25, width=2, height=2)
    with ShardWriter(tmp_path, max_samples=2, max_bytes=10_000) as writer:
        names = [writer.write(ClipRecord(clip_key=f"k{i}", **clip), b"x" * 10) for i in range(5)]
        # the open shard is only visible under its temporary name
        assert len(list(tmp_path.glob("shard-000002.tar.*.tmp"))) == 1 and not (tmp_path / "shard-000002.tar").exists()
    assert names == ["shard-000000.tar"] * 2 + ["shard-000001.tar"] * 2 + ["shard-000002.tar"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]


def test_shard_writer_refuses_unsafe_keys(tmp_path):
    clip = ClipRecord(video="v.mp4", clip_key="../evil", scene_index=0, start_frame=0, end_frame=1,
                      start_s=0, end_s=1, fps=1, width=2, height=2)
    with ShardWriter(tmp_path, 2, 10_000) as writer, pytest.raises(ValueError, match="unsafe"):
        writer.write(clip, b"x")
