"""Shared fixtures: one tiny synthetic archive and one pipeline run over it, made once per session; a local
S3-compatible server and a fresh bucket on it for the object-storage tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import replace

import pyarrow.fs as pafs
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never download weights; a stray hub call fails at once


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode} before listening on port {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.args} did not listen on port {port} within {seconds:.0f} s")


# Object-store tests reach a local S3 server (the s3_endpoint fixture) the way a user reaches theirs: the
# standard AWS variables. They are set for the whole session, before any process (a Ray worker, an analysis
# child) starts, so every process sees them, and no S3 request of any test can leave 127.0.0.1.
S3_PORT = free_port()
S3_ENDPOINT = f"http://127.0.0.1:{S3_PORT}"
for _name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update({
    "AWS_ENDPOINT_URL": S3_ENDPOINT, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
})

from vcurate.config import PipelineConfig
from vcurate.job import run_job
from vcurate.synth.archive import make_archive, tiny_spec


def tiny_config(archive, out, **sections) -> PipelineConfig:
    cfg = PipelineConfig.model_validate(sections)
    cfg.input.path = str(archive / "raw")
    cfg.output.path = str(out)
    cfg.encode.max_short_side = 128
    cfg.filters.resolution.min_short_side = 120  # the tiny archive's normal videos are 180p; its small ones 90p
    cfg.align.model, cfg.align.pretrained = "vcurate-tiny", None  # random weights: plumbing only, no download
    cfg.align.min_score = -1.0  # random scores must not reject: the shard tests need kept clips
    return cfg


@pytest.fixture(scope="session")
def tiny_archive(tmp_path_factory):
    """Five small videos, one per caption source (txt, json, manifest, srt, vtt), every fault possible."""
    root = tmp_path_factory.mktemp("archive")
    truth = make_archive(root, videos=5, seed=3, spec=tiny_spec())
    return root, truth


@pytest.fixture(scope="session")
def mixed_aspect_archive(tmp_path_factory):
    """Six clean videos at 16:9, 9:16 and 4:3 (no faults: their clips are kept), for shape buckets."""
    root = tmp_path_factory.mktemp("mixed-archive")
    spec = replace(tiny_spec(), sizes=((320, 180), (180, 320), (240, 180)), p_lowres_video=0.0, p_shake=0.0,
                   p_blur=0.0, p_upscaled=0.0, p_text=0.0, p_mismatch=0.0, p_uncaptioned=0.0, p_pan=0.0)
    make_archive(root, videos=6, seed=5, spec=spec)
    return root


@pytest.fixture(scope="session")
def curated(tiny_archive, tmp_path_factory):
    """The tiny archive curated in-process (engine=local): same stages as on Ray, no cluster start-up."""
    root, truth = tiny_archive
    out = tmp_path_factory.mktemp("out")
    summary = run_job(tiny_config(root, out), engine="local", progress=False)
    return out, summary, truth


@pytest.fixture(scope="session")
def s3_endpoint():
    """A local S3-compatible server (moto) on 127.0.0.1 for the whole session, at S3_ENDPOINT."""
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(S3_PORT)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(S3_PORT, proc)
        yield S3_ENDPOINT
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def s3_bucket(s3_endpoint) -> str:
    """A fresh bucket on the local server; returns s3://BUCKET."""
    bucket = f"vcurate-{uuid.uuid4().hex[:12]}"
    admin = pafs.S3FileSystem(endpoint_override=s3_endpoint.split("://")[1], scheme="http", allow_bucket_creation=True)
    admin.create_dir(bucket)
    return f"s3://{bucket}"
