"""Stand-in analysis for the isolation tests: a real hang (blocked, no progress) and a real crash
(SIGSEGV in native code), chosen by file name; every other video is analysed as usual."""

from __future__ import annotations

import ctypes
import time

from vcurate.stages.analyze import analyze_video as real_analyze_video


def analyze_video(task, cfg, watchers=()):
    name = task.video.rsplit("/", 1)[-1]
    if name.startswith("hangs"):
        time.sleep(3600)
    if name.startswith("crashes"):
        ctypes.string_at(0)
    return real_analyze_video(task, cfg, watchers)
