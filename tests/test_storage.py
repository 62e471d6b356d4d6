"""Locations behave the same on a local disk and on an object store (a local moto S3 server): reads,
all-or-nothing writes, ordered streamed listing, and errors that say what to check."""

import os

import pytest

from vcurate.storage import StorageError, locate


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path):
    if request.param == "local":
        return locate(tmp_path / "root")
    return locate(request.getfixturevalue("s3_bucket") + "/root")


def test_write_read_round_trip(root):
    target = root / "sub" / "a.bin"
    data = bytes(range(256)) * 64
    target.write_bytes(data)
    assert target.is_file() and root.is_dir() and not (root / "missing").exists()
    assert target.read_bytes() == data
    with target.open_input() as f:
        f.seek(1000)
        assert f.read(10) == data[1000:1010]
    with target.open_stream() as f:
        assert f.read() == data
    target.delete()
    assert not target.exists()


def test_failed_write_leaves_nothing_and_keeps_the_old_file(root):
    target = root / "shard.tar"
    with pytest.raises(RuntimeError):
        with target.open_output() as out:
            out.write(b"partial")
            raise RuntimeError("writer failed")
    assert not target.exists()
    target.write_bytes(b"old")
    out = target.open_output()
    out.write(b"new, never finished")
    out.abort()
    assert target.read_bytes() == b"old"
    assert [f.name for f in root.iter_files()] == ["shard.tar"]  # no temporary debris either


def test_listing_is_in_path_order_and_relative(root):
    names = ["b.txt", "a-b.txt", "a/z.txt", "a/x/y.txt", "c/d/e.txt"]
    for name in reversed(names):
        (root / name).write_bytes(name.encode())
    files = list(root.iter_files())
    assert [f.relative_to(root) for f in files] == ["a/x/y.txt", "a/z.txt", "a-b.txt", "b.txt", "c/d/e.txt"]
    assert all(f.read_bytes() == f.relative_to(root).encode() for f in files)
    assert str(files[0]).endswith("a/x/y.txt")


def test_local_listing_skips_links_to_folders(tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "loop", target_is_directory=True)
    assert [f.name for f in locate(tmp_path).iter_files()] == ["v.mp4"]


def test_refused_locations_say_what_is_accepted():
    for uri in ("http://example.com/a.tar", "sftp://host/a.tar"):
        with pytest.raises(ValueError, match="use a local path or one of s3://, gs://"):
            locate(uri)
    assert locate("odd name: a://b").is_local  # only a scheme at the start makes a URI
    with pytest.raises(ValueError, match="names no bucket"):
        locate("s3:///raw")
    with pytest.raises(ValueError, match="AWS_ENDPOINT_URL"):
        locate("s3://bucket/raw?endpoint_override=evil")


def test_file_uri_is_local(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"a")
    loc = locate(f"file://{tmp_path}")
    assert loc.is_local and loc.ref == str(tmp_path)
    assert [f.ref for f in loc.iter_files()] == [str(tmp_path / "a.txt")]


def test_object_store_errors_say_what_to_check(s3_bucket, monkeypatch):
    missing = locate(s3_bucket + "-missing/out")
    assert not missing.exists()
    with pytest.raises(StorageError, match="check the bucket name"):
        (missing / "a.txt").write_bytes(b"x")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # takes precedence, as for the AWS CLI
    with pytest.raises(StorageError, match="check the network, and AWS_ENDPOINT_URL"):
        locate(s3_bucket + "/raw").exists()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "127.0.0.1:9")
    with pytest.raises(ValueError, match="not a URL such as http://"):
        locate(s3_bucket + "/raw")
