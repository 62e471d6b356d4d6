"""Runs Data-Juicer's video ops on a dataset; the Data-Juicer side of benchmarks/peer_datajuicer.py.

Runs under the Python of the benchmark's own Data-Juicer environment (never vcurate's), so it imports
only the standard library, Data-Juicer and what Data-Juicer installs:

    dj-venv/bin/python benchmarks/datajuicer_driver.py CONFIG.yaml RESULT.json

CONFIG is a Data-Juicer job config (what `dj-process --config` reads). The job runs as dj-process
would run it (its DefaultExecutor, timed after the imports); the motion filter's `stats_export_path`
keeps every video's clips and scores, dropped ones included. Then, off the clock, each clip's length
is read back (its packets: the frames a user gets), which places the cuts the split made.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import av
import imageio_ffmpeg
from loguru import logger
from data_juicer.utils.lazy_loader import LazyLoader


def refuse_install(cls, package_spec, pip_args=None):
    """Data-Juicer installs a missing module when first touched (torch, ray, ...): the benchmark's
    environment is fixed, so a missing module stays missing."""
    raise ImportError(f"{package_spec} is not installed in the benchmark's Data-Juicer environment")


# At import, not in main(): the motion filter runs in forkserver workers, which import this module again.
LazyLoader._install_package = classmethod(refuse_install)

OP_DONE = re.compile(r"OP \[(\w+)\] Done in ([0-9.]+)s")


def packet_count(path: str) -> int:
    """Frames of a clip, counted from its packets (no decode)."""
    with av.open(path) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size)


def put_ffmpeg_on_path(folder: Path) -> None:
    """PySceneDetect's split runs `ffmpeg`: the one imageio-ffmpeg ships, for this process and its children."""
    folder.mkdir(exist_ok=True)
    (folder / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ['PATH']}"


def main() -> None:
    config, result = sys.argv[1], sys.argv[2]
    put_ffmpeg_on_path(Path(result).parent / "bin")
    started = time.perf_counter()
    from data_juicer.config import init_configs
    from data_juicer.core import DefaultExecutor
    from data_juicer.ops.filter.video_motion_score_filter import VideoMotionScoreFilter
    from data_juicer.utils.constant import Fields, StatsKeys

    op_seconds: dict[str, float] = {}

    def op_timer(message) -> None:
        found = OP_DONE.search(str(message))
        if found:
            op_seconds[found[1]] = float(found[2])

    cfg = init_configs(args=["--config", config])
    logger.add(op_timer, level="INFO")  # after init_configs, which replaces loguru's handlers
    imported = time.perf_counter()
    DefaultExecutor(cfg).run()
    ran = time.perf_counter()

    motion = next(op["video_motion_score_filter"] for op in cfg.process if "video_motion_score_filter" in op)
    with open(cfg.export_path) as f:
        kept = {row["video"] for row in map(json.loads, f)}
    with open(motion["stats_export_path"]) as f:  # every video's clips and scores, before the filter drops any
        scored = [json.loads(line) for line in f]
    defaults = VideoMotionScoreFilter()
    report = {
        "start_seconds": imported - started, "seconds": ran - imported, "op_seconds": op_seconds,
        "motion_default_range": [defaults.min_score, defaults.max_score],
        "videos": [{
            "video": row["video"], "kept": row["video"] in kept, "clips": row["videos"],
            "frames": [packet_count(path) for path in row["videos"]],
            "motion_score": [float(s) for s in row[Fields.stats][StatsKeys.video_motion_score]],
        } for row in scored],
    }
    with open(result, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()
