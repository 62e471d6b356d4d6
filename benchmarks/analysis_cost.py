"""What the quality analyzers add to the single decode pass.

Times, on the same synthetic videos and in one process: decode alone, decode + scene detection,
and decode + scenes + shake + sharpness (the pipeline's analysis pass). Target (issue: quality
filters): the analyzers add at most 50 % to decode + scenes.

    .venv/bin/python benchmarks/analysis_cost.py [--videos 8] [--size 1280x720] [--repeat 3]

Writes benchmarks/results/analysis_cost-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from vcurate.analyze.motion import ShakeAnalyzer
from vcurate.analyze.scenes import SceneAnalyzer
from vcurate.analyze.sharpness import SharpnessAnalyzer
from vcurate.config import PipelineConfig
from vcurate.media.frames import decode_pass
from vcurate.synth.archive import SynthSpec, make_archive

from results_io import save, stamp  # benchmarks/results_io.py


def passes(cfg: PipelineConfig, fps: float):
    return {
        "decode": lambda: [],
        "decode+scenes": lambda: [SceneAnalyzer(cfg.split, fps)],
        "decode+scenes+filters": lambda: [
            SceneAnalyzer(cfg.split, fps), ShakeAnalyzer(), SharpnessAnalyzer(cfg.filters.blur.every)
        ],
    }


def measure(paths: list[Path], cfg: PipelineConfig, repeat: int) -> dict[str, dict]:
    results = {}
    for name in passes(cfg, 25.0):
        best, frames = float("inf"), 0
        for _ in range(repeat):
            t0, frames = time.perf_counter(), 0
            for path in paths:
                frames += decode_pass(path, passes(cfg, 25.0)[name](), cfg.analysis.short_side).num_frames
            best = min(best, time.perf_counter() - t0)
        results[name] = {"seconds": round(best, 3), "frames": frames, "fps": round(frames / best, 1)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--size", default="1280x720", help="WxH of the synthetic videos")
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings")
    args = parser.parse_args()
    width, height = map(int, args.size.lower().split("x"))
    spec = replace(SynthSpec(), sizes=((width, height),), p_lowres_video=0.0)
    cfg = PipelineConfig()
    with tempfile.TemporaryDirectory() as tmp:
        make_archive(tmp, args.videos, args.seed, spec)
        paths = sorted(Path(tmp, "raw").rglob("*.mp4"))
        results = measure(paths, cfg, args.repeat)
    scenes, full = results["decode+scenes"]["seconds"], results["decode+scenes+filters"]["seconds"]
    summary = {
        **stamp(), "python": sys.version.split()[0],
        "videos": args.videos, "size": args.size, "results": results,
        "analyzers_over_decode_scenes": round(full / scenes - 1, 3),
        "target": "analyzers add <= 0.50 to decode+scenes",
    }
    lines = [f"# Analysis pass cost ({args.videos} videos, {args.size}, best of {args.repeat})", "",
             "| pass | seconds | frames/s |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['seconds']} | {v['fps']} |" for k, v in results.items()]
    lines += ["", f"Analyzers add **{summary['analyzers_over_decode_scenes']:.0%}** to decode + scenes (target ≤ 50 %)."]
    save(f"analysis_cost-{args.size}", summary, lines)


if __name__ == "__main__":
    main()
