"""The shard / manifest round trip: every kept row has exactly one sample, and vice versa."""

import io
import json
from pathlib import Path

import av
import pandas as pd
import pytest
import webdataset as wds

from tests.conftest import tiny_config
from vcurate.job import run_job
from vcurate.records import ClipRecord
from vcurate.stages.shard import ShardWriter, clip_bucket


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
    assert run["config"]["split"]["detector"] == "auto"
    ran = videos.scene_detector.iloc[0]  # auto resolved where the videos were analysed: no GPU, or one
    assert ran in ("adaptive", "hybrid") and (videos.scene_detector == ran).all()
    assert run["counts"]["scene_detectors"] == {ran: len(videos)}


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


def _encoded_clip(key: str, width: int, height: int, frames: int) -> ClipRecord:
    clip = ClipRecord(video="v.mp4", clip_key=key, scene_index=0, start_frame=0, end_frame=frames, start_s=0,
                      end_s=frames / 25, fps=25, width=2 * width, height=2 * height)
    clip.set_encoded(width, height, 25.0, frames)
    return clip


def test_clip_buckets_name_short_side_aspect_and_frame_range():
    assert clip_bucket(_encoded_clip("a", 640, 360, 49)) == "360p-16x9-f32-63"
    assert clip_bucket(_encoded_clip("b", 360, 640, 64)) == "360p-9x16-f64-127"
    assert clip_bucket(_encoded_clip("c", 170, 128, 31)) == "128p-4x3-f16-31"
    unencoded = ClipRecord(video="v.mp4", clip_key="d", scene_index=0, start_frame=0, end_frame=1, start_s=0,
                           end_s=1, fps=1, width=2, height=2)
    with pytest.raises(ValueError, match="no encoded size"):
        clip_bucket(unencoded)


def test_bucketed_writer_keeps_one_bucket_per_shard_and_closes_them_together(tmp_path):
    closed = []
    clips = [_encoded_clip("w0", 64, 36, 40), _encoded_clip("t0", 36, 64, 40), _encoded_clip("w1", 64, 36, 40),
             _encoded_clip("w2", 64, 36, 40), _encoded_clip("t1", 36, 64, 40)]
    with ShardWriter(tmp_path, max_samples=2, max_bytes=10_000, on_close=closed.append, bucket_of=clip_bucket) as writer:
        names = [writer.write(clip, b"x" * 10) for clip in clips]
    wide, tall = "36p-16x9-f32-63", "36p-9x16-f32-63"
    assert names == [f"shard-000000-{wide}.tar", f"shard-000001-{tall}.tar", f"shard-000000-{wide}.tar",
                     f"shard-000002-{wide}.tar", f"shard-000003-{tall}.tar"]
    # the full wide shard closed the half-full tall one with it: a commit names only complete shards
    assert closed == [[f"shard-000000-{wide}.tar", f"shard-000001-{tall}.tar"],
                      [f"shard-000002-{wide}.tar", f"shard-000003-{tall}.tar"]]
    for name in sum(closed, []):
        keys = [s["__key__"] for s in wds.WebDataset(str(tmp_path / name), shardshuffle=False)]
        assert {k[0] for k in keys} == {"w" if wide in name else "t"}


@pytest.fixture(scope="module")
def bucketed(mixed_aspect_archive, tmp_path_factory):
    """The mixed-aspect archive curated uninterrupted into bucketed shards."""
    cfg = tiny_config(mixed_aspect_archive, tmp_path_factory.mktemp("bucketed"))
    cfg.shards.group_by_bucket, cfg.shards.max_samples = True, 2
    run_job(cfg, engine="local", progress=False)
    return cfg


def test_bucketed_job_puts_each_clip_in_a_shard_of_its_bucket(bucketed):
    samples = _samples(Path(bucketed.output.path))
    buckets = set()
    for sample in samples:
        meta = json.loads(sample["json"])
        bucket = clip_bucket(ClipRecord.model_validate(meta))
        assert meta["shard"] == Path(sample["__url__"]).name and meta["shard"].endswith(f"-{bucket}.tar")
        buckets.add(bucket.split("-")[1])
    assert buckets == {"16x9", "9x16", "4x3"}


@pytest.mark.slow
def test_bucketed_job_cut_short_resumes_to_the_same_clips(bucketed, tmp_path, monkeypatch):
    cfg = bucketed.model_copy(deep=True)
    cfg.output.path = str(tmp_path / "out")
    real_write, written = ShardWriter.write, []

    def crashing_write(self, clip, mp4):
        if len(written) == 5:
            raise RuntimeError("worker lost")
        written.append(clip.clip_key)
        return real_write(self, clip, mp4)

    monkeypatch.setattr(ShardWriter, "write", crashing_write)
    with pytest.raises(RuntimeError, match="worker lost"):
        run_job(cfg, engine="local", progress=False)
    monkeypatch.undo()
    assert list((tmp_path / "out" / "parts").glob("part-*.json"))  # something was committed before the crash
    assert run_job(cfg, engine="local", progress=False).status == "resumed"
    resumed = {s["__key__"]: json.loads(s["json"])["shard"] for s in _samples(tmp_path / "out")}
    uninterrupted = {s["__key__"]: json.loads(s["json"])["shard"] for s in _samples(Path(bucketed.output.path))}
    assert len(resumed) == len(_samples(tmp_path / "out"))  # no clip twice
    assert resumed == uninterrupted  # the same clips in the same shards, numbers and buckets included
