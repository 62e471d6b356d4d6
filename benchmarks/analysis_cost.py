"""What each analyzer of the single decode pass costs, against the decode floor.

Times, on the same synthetic videos and in one process: decode alone, decode + scene detection,
decode + each registered clip analyzer (vcurate.analyze) on its own, and the whole analysis pass.
Each analyzer's cost is its added time as a multiple of the decode floor; the issues that bring an
analyzer name its budget (e.g. "<= +0.1x the decode floor").

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

from vcurate.analyze import ANALYZERS, StreamFacts, build_analyzers
from vcurate.analyze.scenes import SceneAnalyzer
from vcurate.config import PipelineConfig, with_settings
from vcurate.media.frames import decode_pass
from vcurate.synth.archive import SynthSpec, make_archive

from results_io import save, stamp  # benchmarks/results_io.py


def all_on() -> PipelineConfig:
    """The default config with every filter switched on, so every analyzer is measured."""
    cfg = PipelineConfig()
    return with_settings(cfg, [(f"filters.{name}.enabled", True) for name, section in cfg.filters
                               if hasattr(section, "enabled")], "benchmark config")


def passes(cfg: PipelineConfig, stream: StreamFacts) -> dict:
    """Pass name -> a function building its fresh list of analyzers."""
    out = {"decode": lambda: [], "decode+scenes": lambda: [SceneAnalyzer(cfg.split, stream.fps)]}
    for cls in ANALYZERS:
        out[f"decode+{cls.__name__}"] = lambda cls=cls: [a for a in [cls.build(cfg, stream)] if a is not None]
    out["analysis pass"] = lambda: [SceneAnalyzer(cfg.split, stream.fps), *build_analyzers(cfg, stream)]
    return out


def measure(paths: list[Path], cfg: PipelineConfig, stream: StreamFacts, repeat: int) -> dict[str, dict]:
    """Best-of-`repeat` time of each pass, the passes interleaved so a slow minute hits them all."""
    built = passes(cfg, stream)
    best, frames = dict.fromkeys(built, float("inf")), {}
    for _ in range(repeat):
        for name, make in built.items():
            t0, count = time.perf_counter(), 0
            for path in paths:
                count += decode_pass(path, make(), cfg.analysis.short_side, fps_hint=stream.fps).num_frames
            best[name], frames[name] = min(best[name], time.perf_counter() - t0), count
    floor = best["decode"]
    return {name: {"seconds": round(t, 3), "frames": frames[name], "fps": round(frames[name] / t, 1),
                   "added_x_decode": round((t - floor) / floor, 3)} for name, t in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--size", default="1280x720", help="WxH of the synthetic videos")
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings")
    args = parser.parse_args()
    width, height = map(int, args.size.lower().split("x"))
    spec = replace(SynthSpec(), sizes=((width, height),), p_lowres_video=0.0)
    cfg = all_on()
    stream = StreamFacts(fps=25.0, width=width, height=height, expected_frames=0)  # the synthetic videos' rate
    with tempfile.TemporaryDirectory() as tmp:
        make_archive(tmp, args.videos, args.seed, spec)
        paths = sorted(Path(tmp, "raw").rglob("*.mp4"))
        results = measure(paths, cfg, stream, args.repeat)
    summary = {**stamp(), "python": sys.version.split()[0], "videos": args.videos, "size": args.size,
               "results": results}
    lines = [f"# Analysis pass cost ({args.videos} videos, {args.size}, best of {args.repeat})", "",
             "| pass | seconds | frames/s | added (x decode floor) |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v['seconds']} | {v['fps']} | +{v['added_x_decode']:.2f} |" for k, v in results.items()]
    save(f"analysis_cost-{args.size}", summary, lines)


if __name__ == "__main__":
    main()
