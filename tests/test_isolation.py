"""A video whose decoder hangs, dies or takes too long fails alone: the child analysing it is killed,
the reason lands in videos.parquet, and the job finishes with every good clip."""

from __future__ import annotations

import ctypes
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from tests.conftest import tiny_config
from vcurate.isolation import IsolatedRunner, IsolationError, prestart, runner_for, stop_children
from vcurate.stages.analyze import SplitStage
from vcurate.job import run_job


def segfault(watchers=()):
    ctypes.string_at(0)  # a real SIGSEGV in native code, as a decoder bug would raise


def busy(seconds: float, watchers=()):
    """Keeps making progress (heartbeats) for `seconds`: not hung, only slow."""
    end = time.monotonic() + seconds
    index = 0
    while time.monotonic() < end:
        for w in watchers:
            w.process(index, None)
        index += 1
        time.sleep(0.01)
    return index


def child_pid(watchers=()):
    return os.getpid()


def test_a_prestarted_child_serves_the_first_call_and_stops_on_demand():
    prestart("tests.test_isolation")  # returns without waiting for the child's imports
    runner = runner_for("tests.test_isolation")
    launched = runner._proc.pid
    try:
        assert runner.call("tests.test_isolation:child_pid", stall_s=5) == launched  # no second child
        assert runner.call("tests.test_isolation:child_pid", stall_s=5) == launched  # and it stays
    finally:
        stop_children()
    assert runner._proc is None
    with pytest.raises(ProcessLookupError):
        os.kill(launched, 0)


def test_a_child_whose_parent_is_gone_before_it_is_ready_exits_quietly(capfd):
    """A job that stops on an input error exits while its prestarted child still imports; the child
    must not print a traceback over the job's one-line error."""
    runner = IsolatedRunner(preload="tests.test_isolation")
    runner.start()
    child = runner._proc
    runner._conn.close()  # the parent's ends of both pipes, as when it exits
    try:
        assert child.wait(timeout=60) == 0
    finally:
        runner.stop()
    assert "Traceback" not in capfd.readouterr().err


def echo_after(value, seconds, watchers=()):
    busy(seconds, watchers)
    return value


def test_calls_from_two_threads_each_get_their_own_result():
    """A job's background thread and the caller's next job share one child: calls take turns."""
    runner = IsolatedRunner(preload="tests.test_isolation")
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda v: runner.call("tests.test_isolation:echo_after", v, 0.3 - v / 20, stall_s=5),
                                    range(4)))
        assert results == [0, 1, 2, 3]
    finally:
        runner.stop()


def test_crash_and_time_limit_are_reported_and_the_runner_recovers():
    runner = IsolatedRunner(preload="tests.test_isolation")
    limits = dict(stall_s=5, time_limit_s=1.0)
    try:
        with pytest.raises(IsolationError, match="died \\(SIGSEGV\\)"):
            runner.call("tests.test_isolation:segfault", **limits)
        assert runner.call("tests.test_isolation:busy", 0.2, **limits) > 0  # a fresh child took over
        with pytest.raises(IsolationError, match="longer than 1 s"):
            runner.call("tests.test_isolation:busy", 30, **limits)
        with pytest.raises(IsolationError, match="unexpected TypeError"):
            runner.call("tests.test_isolation:busy", "not a number", **limits)
    finally:
        runner.stop()


@pytest.mark.slow
def test_hanging_and_crashing_decoders_fail_alone(tiny_archive, tmp_path, monkeypatch):
    root, truth = tiny_archive
    archive = tmp_path / "archive"
    shutil.copytree(root / "raw", archive / "raw")
    good = archive / "raw" / truth[0].video
    shutil.copy(good, archive / "raw" / "hangs.mp4")
    shutil.copy(good, archive / "raw" / "crashes.mp4")
    monkeypatch.setattr(SplitStage, "analyze_module", "tests.faults")
    cfg = tiny_config(archive, tmp_path / "out", align={"enabled": False})
    cfg.analysis.stall_s, cfg.analysis.retries = 1.5, 1
    summary = run_job(cfg, engine="local", progress=False)

    videos = pd.read_parquet(tmp_path / "out" / "videos.parquet").set_index("video")
    assert "hung: no progress for 1.5 s" in videos.loc["hangs.mp4", "error"]
    assert "died (SIGSEGV)" in videos.loc["crashes.mp4", "error"]
    assert summary.failed == 2 and (videos.drop(index=["hangs.mp4", "crashes.mp4"]).status == "ok").all()
    reference = run_job(tiny_config(root, tmp_path / "ref", align={"enabled": False}), engine="local", progress=False)
    assert summary.kept == reference.kept > 0
