"""The in-process engine does what Ray does with a stage: rows of a map stage side by side, in order;
and settings left to the engine are filled in for the engine that runs the job."""

import threading
import time

import pytest

from vcurate import engine
from vcurate.config import PipelineConfig
from vcurate.engine import LocalDataset, for_engine


def test_local_map_runs_a_blocks_rows_side_by_side_in_order(monkeypatch):
    monkeypatch.setattr(engine, "available_cpus", lambda: 2)
    both_running = threading.Barrier(2, timeout=10)  # broken (raises) unless two rows run at once

    def slow_first(row):
        both_running.wait()
        time.sleep(0.05 if row["i"] % 2 == 0 else 0.0)  # the even row of each pair finishes last
        return {"i": row["i"] * 10}

    out = list(LocalDataset.from_items([{"i": 0}]).flat_map(lambda row: [{"i": i} for i in range(4)])
               .map(slow_first).iter_rows())
    assert [row["i"] for row in out] == [0, 10, 20, 30]


def test_decoder_threads_are_left_to_the_engine_unless_set():
    cfg = PipelineConfig()
    assert cfg.analysis.decode_threads is None
    assert for_engine(cfg, "ray").analysis.decode_threads == 1  # one per reserved CPU
    assert for_engine(cfg, "local").analysis.decode_threads == 0  # FFmpeg's choice: videos one at a time
    assert cfg.analysis.decode_threads is None  # the caller's config is not changed
    cfg.analysis.decode_threads = 3
    assert for_engine(cfg, "local").analysis.decode_threads == 3


def test_local_flat_map_computes_the_next_block_while_this_one_is_used():
    started = {i: threading.Event() for i in range(3)}

    def expand(row):
        started[row["i"]].set()
        return [{"i": row["i"]}, {"i": row["i"] + 0.5}]

    blocks = LocalDataset.from_items([{"i": i} for i in range(3)]).flat_map(expand)._blocks
    first = next(blocks)
    assert first == [{"i": 0}, {"i": 0.5}]
    assert started[1].wait(timeout=10)  # video 1 is analysed while video 0's rows are still being used
    assert not started[2].is_set()  # one block ahead, no more
    assert [row for block in blocks for row in block] == [{"i": 1}, {"i": 1.5}, {"i": 2}, {"i": 2.5}]


def test_an_error_in_a_block_computed_ahead_reaches_the_consumer():
    def expand(row):
        if row["i"] == 1:
            raise ValueError("bad row")
        return [row]

    rows = LocalDataset.from_items([{"i": 0}, {"i": 1}]).flat_map(expand).iter_rows()
    assert next(rows) == {"i": 0}
    with pytest.raises(ValueError, match="bad row"):
        next(rows)
