"""The command line end to end, on the real Ray engine."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from tests.conftest import tiny_config
from vcurate.cli import main


def _vcurate(*args, check=True):
    env = {**os.environ, "RAY_ADDRESS": "", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "vcurate", *args], capture_output=True, text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"vcurate {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.mark.slow
def test_run_on_ray_equals_local_run(tmp_path, tiny_archive, curated):
    root, _ = tiny_archive
    local_out, _, _ = curated
    out = tmp_path / "out"
    settings = tiny_config(root, out).model_dump(mode="json")
    settings["ray"]["num_cpus"] = 2
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump(settings))  # paths in the YAML; the CLI run below overrides them
    proc = _vcurate("run", str(cfg), "--input", str(root / "raw"), "--output", str(out), "--engine", "ray", "--quiet")
    assert "clips kept" in proc.stderr
    ray_clips = pd.read_parquet(out / "clips.parquet")
    local_clips = pd.read_parquet(local_out / "clips.parquet")
    cols = ["clip_key", "status", "caption", "start_frame", "end_frame"]
    assert ray_clips[cols].sort_values("clip_key").values.tolist() == local_clips[cols].sort_values("clip_key").values.tolist()
    assert json.loads((out / "run.json").read_text())["engine"] == "ray"

    again = _vcurate("run", str(cfg), "--input", str(root / "raw"), "--output", str(out), check=False)
    assert again.returncode == 0 and "nothing to do" in again.stderr.replace("\n", " ")
    other = _vcurate("run", str(cfg), "--input", str(root / "raw"), "--output", str(out), "--clip-min-score", "0.5",
                     check=False)
    message = " ".join(other.stderr.split())
    assert other.returncode == 2 and "other settings" in message and "min_score" in message and "--overwrite" in message

    proc = _vcurate("eval", str(out), "--truth", str(root / "ground_truth.jsonl"))
    assert json.loads(proc.stdout)["cuts"]["f1"] >= 0.9


def test_user_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.yaml"), "--input", ".", "--output", str(tmp_path)]) == 2
    assert "pipeline config not found" in capsys.readouterr().err
    cfg = tmp_path / "p.yaml"
    cfg.write_text("align:\n  enabled: false\n")
    assert main(["run", str(cfg), "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o")]) == 2
    assert "input folder not found" in capsys.readouterr().err
    assert main(["run", str(cfg), "--output", str(tmp_path / "o")]) == 2
    assert "no input folder" in capsys.readouterr().err
    assert main(["eval", str(tmp_path), "--truth", "x.jsonl"]) == 2
    assert "no pipeline output" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "s"), "--videos", "0"]) == 2
    assert main(["synth", str(tmp_path / "s"), "--from-footage", str(tmp_path), "--balanced-subjects"]) == 2
    assert "--balanced-subjects is for rendered archives" in capsys.readouterr().err
    cfg.write_text("align:\n  model: vcurate-tiny\n  pretrained: missing.pt\n")
    assert main(["run", str(cfg), "--input", str(tmp_path), "--output", str(tmp_path / "o")]) == 2
    assert "CLIP checkpoint not found: missing.pt" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing written before the model is known to load


def test_engine_auto_runs_a_few_small_videos_in_process(tmp_path, tiny_archive, monkeypatch):
    from vcurate.engine import pick_engine
    from vcurate.stages.ingest import iter_tasks

    root, _ = tiny_archive
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cfg = tiny_config(root, tmp_path / "out", align={"enabled": False})
    tasks = list(iter_tasks(cfg.input))
    assert len(tasks) == 5
    assert pick_engine(cfg, tasks[:4]) == "local"
    cfg.ray.local_max_videos = 3
    assert pick_engine(cfg, tasks[:4]) == "ray"  # more videos than the limit
    cfg.ray.local_max_videos, cfg.ray.local_max_mb = 4, 1e-3
    assert pick_engine(cfg, tasks[:1]) == "ray"  # more bytes than the limit
    cfg.ray.local_max_mb = 200
    cfg.ray.address = "ray://head:10001"
    assert pick_engine(cfg, tasks[:1]) == "ray"  # a named cluster is always used
    cfg.ray.address = None
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    assert pick_engine(cfg, tasks[:1]) == "ray"
    monkeypatch.delenv("RAY_ADDRESS")

    cfg.ray.local_max_videos = 5  # the whole archive: the default engine (auto) runs it in-process
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    assert main(["run", str(config), "--quiet"]) == 0
    assert json.loads((tmp_path / "out" / "run.json").read_text())["engine"] == "local"


def test_on_ray_a_failed_model_check_is_raised_before_anything_is_written(tmp_path, tiny_archive, monkeypatch):
    import vcurate.job
    from vcurate.models.clip import ClipModelError

    root, _ = tiny_archive
    started = []
    monkeypatch.setattr(vcurate.job, "init_ray", lambda cfg: started.append(cfg))  # no cluster needed to prove it
    cfg = tiny_config(root, tmp_path / "out")
    cfg.align.pretrained = str(tmp_path / "missing.pt")
    with pytest.raises(ClipModelError, match="CLIP checkpoint not found"):
        vcurate.job.run_job(cfg, engine="ray", progress=False)
    assert len(started) == 1  # Ray was starting meanwhile
    assert not (tmp_path / "out").exists()
