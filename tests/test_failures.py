"""A file that cannot be opened is recorded as failed with its error; the job goes on."""

import shutil

import pandas as pd

from tests.conftest import tiny_config
from vcurate.job import run_job


def test_broken_files_fail_alone(tiny_archive, tmp_path):
    root, truth = tiny_archive
    archive = tmp_path / "archive"
    shutil.copytree(root / "raw", archive / "raw")
    (archive / "raw" / "empty.mp4").write_bytes(b"")
    (archive / "raw" / "noise.mp4").write_bytes(bytes(range(256)) * 40)
    good = archive / "raw" / truth[1].video
    (archive / "raw" / "truncated.mp4").write_bytes(good.read_bytes()[:3000])
    out = tmp_path / "out"
    summary = run_job(tiny_config(archive, out), engine="local", progress=False)

    videos = pd.read_parquet(out / "videos.parquet").set_index("video")
    for name in ("empty.mp4", "noise.mp4", "truncated.mp4"):
        assert videos.loc[name, "status"] == "failed", name
        assert videos.loc[name, "error"], name
        assert videos.loc[name, "num_clips"] == 0
    assert "empty" in videos.loc["empty.mp4", "error"]
    ok = videos[videos.status == "ok"]
    assert sorted(ok.index) == sorted(t.video for t in truth)
    assert summary.failed == 3 and summary.kept > 0
