"""A worker node lost while the job runs costs nothing: Ray reruns its tasks elsewhere and the output
equals an undisturbed run's."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest
import ray
from ray.cluster_utils import Cluster

from tests.conftest import tiny_config
from tests.test_resume import shard_keys
from vcurate.job import run_job
from vcurate.synth.archive import make_archive, tiny_spec


@pytest.mark.slow
def test_losing_a_worker_node_mid_job_loses_nothing(tmp_path):
    make_archive(tmp_path / "archive", videos=8, seed=12, spec=tiny_spec())
    cfg = tiny_config(tmp_path / "archive", tmp_path / "reference")
    cfg.shards.max_samples = 2
    run_job(cfg, engine="local", progress=False)

    # The head runs only the driver; every task runs on `doomed` until it is killed, then on a spare
    # node that joins at that moment: whatever was in flight or stored on `doomed` must be redone.
    # The job runs in a thread because Ray starts and stops nodes only from the main thread.
    store = 80 * 1024 * 1024
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": store})
    doomed = cluster.add_node(num_cpus=2, object_store_memory=store)
    result: dict = {}
    try:
        ray.init(address=cluster.address)
        disturbed = cfg.model_copy(deep=True)
        disturbed.output.path = str(tmp_path / "out")
        job = threading.Thread(target=lambda: result.update(summary=run_job(disturbed, engine="ray", progress=False)))
        job.start()
        parts = tmp_path / "out" / "parts"
        while job.is_alive() and not (parts.is_dir() and any(parts.glob("part-*.json"))):
            time.sleep(0.01)
        finished_before_loss = not job.is_alive()
        cluster.add_node(num_cpus=2, object_store_memory=store)
        cluster.remove_node(doomed, allow_graceful=False)
        job.join(timeout=600)
    finally:
        ray.shutdown()
        cluster.shutdown()

    assert not finished_before_loss, "the job finished before the node was removed: the test proved nothing"
    reference = tmp_path / "reference"
    summary = result["summary"]
    assert summary.status == "fresh"
    keys = shard_keys(tmp_path / "out")
    assert len(keys) == len(set(keys)) and keys == shard_keys(reference)
    for manifest in ("clips.parquet", "videos.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / manifest), pd.read_parquet(reference / manifest))
