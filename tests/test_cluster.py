"""Cluster mode: a two-node Ray cluster on this machine (`ray start --head` and a worker `ray start --address`,
one CPU each, bound to 127.0.0.1) runs `vcurate run` submitted with `ray job submit --working-dir .`, and
its output equals a local run's."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import free_port, tiny_config

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


class LocalCluster:
    """Ray nodes started with `ray start`, each in a session of its own: teardown ends exactly the
    processes those sessions hold (`ray stop` would stop every Ray on the machine, other users' too)."""

    def __init__(self):
        # Ray's socket paths must stay under ~107 bytes: a short folder, not pytest's tmp_path
        self.temp_dir = tempfile.mkdtemp(prefix="vc-ray-", dir="/tmp")
        self.sessions: list[int] = []
        self.env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "RAY_ADDRESS": "",
                    "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
        self.gcs_port, self.dashboard_port = free_port(), free_port()

    def _ray(self, *args: str, timeout: float = 180, new_session: bool = False, cwd: Path | None = None) -> str:
        proc = subprocess.Popen([str(BIN / "ray"), *args], env=self.env, cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=new_session)
        if new_session:
            self.sessions.append(proc.pid)  # the session id is the leader's pid
        out, _ = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"ray {' '.join(args)} failed ({proc.returncode}):\n{out[-4000:]}")
        return out

    def start_node(self, head: bool) -> None:
        common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0", "--object-store-memory=100000000",
                  f"--dashboard-agent-listen-port={free_port()}", "--disable-usage-stats"]
        if head:
            role = ["--head", f"--port={self.gcs_port}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                    f"--dashboard-port={self.dashboard_port}", f"--ray-client-server-port={free_port()}",
                    f"--temp-dir={self.temp_dir}"]
        else:
            role = [f"--address=127.0.0.1:{self.gcs_port}"]
        self._ray("start", *role, *common, new_session=True)

    def wait_for_cpus(self, cpus: int, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while f"/{cpus}.0 CPU" not in (status := self._ray("status", f"--address=127.0.0.1:{self.gcs_port}")):
            if time.monotonic() > deadline:
                raise AssertionError(f"the cluster never reached {cpus} CPUs:\n{status}")
            time.sleep(1)

    def submit(self, *entrypoint: str) -> str:
        return self._ray("job", "submit", f"--address=http://127.0.0.1:{self.dashboard_port}", "--working-dir", ".",
                         "--", *entrypoint, timeout=900, cwd=REPO)

    def stop(self) -> None:
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            for pid in self._members():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while self._members() and time.monotonic() < deadline:
                time.sleep(0.2)
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def _members(self) -> list[int]:
        """Live processes (zombies aside) in the sessions our `ray start` calls created."""
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()  # state, ppid, pgrp, session, ...
                except OSError:
                    continue
                if int(fields[3]) in self.sessions and fields[0] != "Z":
                    found.append(int(entry))
        return found


@pytest.fixture
def cluster():
    nodes = LocalCluster()
    try:
        nodes.start_node(head=True)
        nodes.start_node(head=False)
        nodes.wait_for_cpus(2)
        yield nodes
    finally:
        nodes.stop()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="teardown finds the cluster's processes in /proc")
def test_job_submitted_to_a_two_node_cluster_equals_a_local_run(cluster, tiny_archive, curated, tmp_path):
    root, _ = tiny_archive
    local_out, _, _ = curated
    out = tmp_path / "out"
    settings = tiny_config(root, out).model_dump(mode="json")
    settings["align"]["enabled"] = False  # its random scores reject nothing (min_score -1): same clips, faster
    cfg = tmp_path / "pipeline.yaml"
    cfg.write_text(yaml.safe_dump(settings))
    log = cluster.submit("vcurate", "run", str(cfg), "--input", str(root / "raw"), "--output", str(out), "--quiet")
    assert "clips kept" in log and "succeeded" in log

    cols = ["clip_key", "status", "caption", "start_frame", "end_frame"]
    clips = pd.read_parquet(out / "clips.parquet")[cols].sort_values("clip_key").values.tolist()
    assert clips == pd.read_parquet(local_out / "clips.parquet")[cols].sort_values("clip_key").values.tolist()
    assert sorted(p.name for p in (out / "shards").iterdir()) == sorted(p.name for p in (local_out / "shards").iterdir())
