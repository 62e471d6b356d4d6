"""Other trainers' readers take our shards as they are: Ray Data's read_webdataset and Hugging Face
datasets' webdataset loader give every sample's mp4 bytes, caption and JSON fields (as columns)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import datasets
import pytest
import ray


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


def test_hugging_face_datasets_webdataset_loader_gives_json_fields_as_columns(shard_files, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # local files only: nothing may reach for the hub
    expected = _members(shard_files)
    table = datasets.load_dataset("webdataset", data_files={"train": shard_files}, split="train", cache_dir=str(tmp_path))
    # mp4 members load as a Video feature; undecoded, it is the member's bytes (decoding needs torchcodec)
    table = table.cast_column("mp4", datasets.Video(decode=False))
    assert sorted(table["__key__"]) == sorted(expected)
    for row in table:
        sample = expected[row["__key__"]]
        assert row["mp4"]["bytes"] == sample["mp4"] and row["txt"] == sample["txt"]
        assert row["json"] == sample["json"]
    flat = table.flatten()
    keys = flat["__key__"]
    for field in ("encoded_width", "encoded_height", "encoded_fps", "encoded_num_frames", "aspect_ratio", "width", "blur_score"):
        assert flat[f"json.{field}"] == [expected[k]["json"][field] for k in keys], field
