"""Other trainers' readers take our shards as they are: Ray Data's read_webdataset and Hugging Face
datasets' webdataset loader give every sample's mp4 bytes, caption and JSON fields (as columns)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import datasets
import pytest
import ray

from vcurate.manifest import shard_sample_schema
from vcurate.records import ClipRecord
from vcurate.stages.shard import ShardWriter


def _members(shards: list[str]) -> dict[str, dict]:
    """What the tars hold, read with the standard library: key -> {mp4 bytes, txt, json dict}."""
    samples: dict[str, dict] = {}
    for shard in shards:
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, extension = member.name.split(".", 1)
                samples.setdefault(key, {})[extension] = tar.extractfile(member).read()
    return {key: {"mp4": s["mp4"], "txt": s["txt"].decode(), "json": json.loads(s["json"])} for key, s in samples.items()}


@pytest.fixture(scope="module")
def shard_files(curated) -> list[str]:
    out, _, _ = curated
    files = sorted(str(p) for p in Path(out, "shards").glob("*.tar"))
    assert files
    return files


@pytest.mark.slow  # a local Ray start-up: ~40 s on 2 cores
def test_ray_data_read_webdataset_gives_every_sample(shard_files):
    expected = _members(shard_files)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        rows = ray.data.read_webdataset(shard_files).take_all()
    finally:
        ray.shutdown()
    assert sorted(r["__key__"] for r in rows) == sorted(expected)
    for row in rows:
        sample = expected[row["__key__"]]
        assert bytes(row["mp4"]) == sample["mp4"] and row["txt"] == sample["txt"]
        assert row["json"] == sample["json"]  # decoded to a dict: encoded size, source size, scores


def _hf_table(shard_files: list[str], cache: Path):
    features = datasets.Features.from_arrow_schema(shard_sample_schema())
    return datasets.load_dataset("webdataset", data_files={"train": shard_files}, split="train", cache_dir=str(cache),
                                 features=features)


def test_hugging_face_datasets_webdataset_loader_gives_json_fields_as_columns(shard_files, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # local files only: nothing may reach for the hub
    expected = _members(shard_files)
    table = _hf_table(shard_files, tmp_path)
    assert sorted(table["__key__"]) == sorted(expected)
    for row in table:
        sample = expected[row["__key__"]]
        assert row["mp4"] == sample["mp4"] and row["txt"] == sample["txt"]
        assert row["json"] == sample["json"]
    flat = table.flatten()
    keys = flat["__key__"]
    for field in ("encoded_width", "encoded_height", "encoded_fps", "encoded_num_frames", "aspect_ratio", "width", "blur_score"):
        assert flat[f"json.{field}"] == [expected[k]["json"][field] for k in keys], field


def test_hugging_face_datasets_reads_a_score_that_is_null_in_the_first_shard(tmp_path, monkeypatch):
    """Left to infer the types from the first sample, the loader fails on such a column."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with ShardWriter(tmp_path / "shards", max_samples=1, max_bytes=10**6) as writer:
        for i, score in enumerate((None, 0.5, 0.25)):
            clip = ClipRecord(video="v.mp4", clip_key=f"k{i}", scene_index=0, start_frame=0, end_frame=1, start_s=0,
                              end_s=1, fps=1, width=2, height=2, blur_score=score, signature=b"sig" if i else None)
            writer.write(clip, b"mp4")
    table = _hf_table(sorted(str(p) for p in (tmp_path / "shards").glob("*.tar")), tmp_path / "cache").flatten()
    assert table["json.blur_score"] == [None, 0.5, 0.25]
    assert table["json.signature"] == [None, "c2ln", "c2ln"]  # base64, as in the JSON member
