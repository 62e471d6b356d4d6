"""A run whose archive (and output) live in an object store: a local moto S3 server, reached through the
standard AWS variables and AWS_ENDPOINT_URL. The result equals the local run's, and the trainer reads
the shards from the store."""

from __future__ import annotations

import pandas as pd
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import yaml

from tests.conftest import tiny_config
from tests.test_train import tiny_train_config
from vcurate.cli import main
from vcurate.job import run_job
from vcurate.storage import locate
from vcurate.train.data import make_loader, resolve_shards

COLUMNS = ["clip_key", "status", "caption", "caption_source", "start_frame", "end_frame"]


def upload_archive(root, bucket: str) -> str:
    """The tiny archive's raw folder copied to BUCKET/raw; returns its URI."""
    target = locate(bucket + "/raw")
    pafs.copy_files(str(root / "raw"), target.path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=target.fs)
    return target.uri


def sorted_clips(table: pd.DataFrame) -> list:
    return table[COLUMNS].sort_values("clip_key").values.tolist()


def test_archive_in_an_object_store_curates_like_a_local_one(tiny_archive, curated, s3_bucket, tmp_path):
    root, _ = tiny_archive
    local_out, _, _ = curated
    cfg = tiny_config(root, tmp_path / "out")
    cfg.input.path = upload_archive(root, s3_bucket)
    run_job(cfg, engine="local", progress=False)
    assert sorted_clips(pd.read_parquet(tmp_path / "out" / "clips.parquet")) == sorted_clips(pd.read_parquet(local_out / "clips.parquet"))
    videos = pd.read_parquet(tmp_path / "out" / "videos.parquet")
    assert (videos.status == "ok").all() and set(videos.caption_source) >= {"manifest", "txt", "json"}


def test_missing_input_bucket_is_one_clear_line(s3_bucket, tmp_path, capsys):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("align:\n  enabled: false\n")
    assert main(["run", str(cfg), "--input", s3_bucket + "-missing/raw", "--output", str(tmp_path / "o"), "--engine", "local"]) == 2
    assert "input folder not found" in capsys.readouterr().err


def test_run_from_and_to_an_object_store_then_train_on_its_shards(tiny_archive, curated, s3_bucket, tmp_path):
    """`vcurate run --input s3://… --output s3://…`: shards, manifests and report land in the store (the
    report's thumbnails read from the archive there), and the trainer streams the shards from it."""
    root, _ = tiny_archive
    local_out, _, _ = curated
    settings = tiny_config(root, tmp_path).model_dump(mode="json")
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump(settings))
    raw, out = upload_archive(root, s3_bucket), s3_bucket + "/out"
    assert main(["run", str(cfg), "--input", raw, "--output", out, "--engine", "local", "--quiet"]) == 0

    with locate(out + "/clips.parquet").open_input() as f:
        clips = pq.read_table(f).to_pandas()
    assert sorted_clips(clips) == sorted_clips(pd.read_parquet(local_out / "clips.parquet"))
    assert locate(out + "/run.json").is_file()
    assert b'src="data:image/jpeg' in locate(out + "/report.html").read_bytes()
    shards = resolve_shards(out + "/shards")
    assert all(s.startswith(out + "/shards/shard-") for s in shards)
    data = tiny_train_config(out + "/shards").data.model_copy(update={"windows_per_clip": 1})
    captions = {c for batch in make_loader(shards, data, epochs=1) for c in batch[2]}
    assert captions == set(clips[clips.status == "kept"].caption)
