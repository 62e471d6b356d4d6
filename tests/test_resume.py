"""Crash and resume: a run SIGKILLed at any point and run again ends with exactly the output of a run that
was never interrupted: the same clips, each in one shard, every shard readable, the same manifests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import tiny_config
from vcurate.job import run_job
from vcurate.ledger import Ledger, OutputExistsError
from vcurate.storage import locate


def shard_keys(out: Path) -> list[str]:
    """Every sample key in every shard (opening each tar fully: a truncated shard fails here)."""
    keys = []
    for shard in sorted((out / "shards").iterdir()):
        assert shard.suffix == ".tar", f"stray file {shard.name}"
        with tarfile.open(shard) as tar:
            names = tar.getnames()
        keys += sorted({n.split(".", 1)[0] for n in names})
    return keys


def config_file(tmp_path: Path, archive: Path, out: Path) -> Path:
    settings = tiny_config(archive, out).model_dump(mode="json")
    settings["shards"]["max_samples"] = 2  # several shards, so a kill can land between commits
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


@pytest.fixture(scope="module")
def reference(tiny_archive, tmp_path_factory):
    """The uninterrupted run the resumed ones must equal."""
    root, _ = tiny_archive
    folder = tmp_path_factory.mktemp("reference")
    cfg = tiny_config(root, folder / "out")
    cfg.shards.max_samples = 2
    run_job(cfg, engine="local", progress=False)
    return folder / "out"


def killed_run(cmd: list[str], out: Path, condition) -> None:
    """Start the run and SIGKILL its whole process group the moment `condition(out)` holds."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 300
    while proc.poll() is None and not condition(out) and time.monotonic() < deadline:
        time.sleep(0.002)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run ended before the kill point: {proc.stderr.read()[-2000:]!r}"
    assert not (out / "run.json").exists()


def _parts(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "parts").glob("part-*.json")) if (out / "parts").is_dir() else []


KILL_POINTS = {
    "before any commit": lambda out: (out / "parts" / "job.json").exists(),
    "after the first commit": lambda out: len(_parts(out)) >= 1,
    "mid-shard after two commits": lambda out: len(_parts(out)) >= 2 and any((out / "shards").glob("*.tmp")),
}


@pytest.mark.slow
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_and_resume_equals_uninterrupted(point, tiny_archive, reference, tmp_path):
    root, _ = tiny_archive
    out = tmp_path / "out"
    cfg = config_file(tmp_path, root, out)
    cmd = [sys.executable, "-m", "vcurate", "run", str(cfg), "--engine", "local", "--quiet"]
    killed_run(cmd, out, KILL_POINTS[point])

    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert ("resumed:" in done.stderr) == (point != "before any commit")
    keys = shard_keys(out)
    assert len(keys) == len(set(keys)), "a clip was written twice"
    assert keys == shard_keys(reference)
    for manifest in ("clips.parquet", "videos.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / manifest), pd.read_parquet(reference / manifest))
    assert not (out / "parts").exists()

    again = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "nothing to do" in " ".join(again.stderr.split())


def test_resume_with_other_settings_is_refused(tiny_archive, tmp_path):
    root, _ = tiny_archive
    out = tmp_path / "out"
    cfg = tiny_config(root, out, align={"enabled": False})
    cfg.shards.max_samples = 2
    # an interrupted attempt of this job, before its first commit
    Ledger(locate(out), cfg).start(overwrite=False)
    changed = cfg.model_copy(deep=True)
    changed.filters.blur.min_score = 0.9
    before = re.escape(f"{cfg.filters.blur.min_score} → 0.9")
    with pytest.raises(OutputExistsError, match=rf"other settings \(filters\.blur\.min_score: {before}\)"):
        run_job(changed, engine="local", progress=False)
    faster = cfg.model_copy(deep=True)
    faster.ray.num_cpus = 1  # how the job runs is not what it produces: resuming is allowed
    summary = run_job(faster, engine="local", progress=False)
    assert summary.status == "fresh" and summary.kept > 0  # nothing had been committed yet
    summary = run_job(changed, engine="local", progress=False, overwrite=True)
    assert summary.status == "fresh"

