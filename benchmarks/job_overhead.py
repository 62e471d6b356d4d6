"""Fixed cost of a small job (issue #25): `vcurate run` over one short video, end to end as a user runs it
(interpreter start, imports, Ray's start-up or none, analysis, encode, manifests, report), once per
engine, CLIP off; and, for scale, a bare embedded Ray started and shut down the way vcurate starts it.
Every run is a process of its own; runs of the engines are interleaved (a slow minute of a shared
machine does not hit one engine only) and the best of --repeat counts, every run is kept in the JSON.
CPU is user + system time of the run and the child processes it waited for.

    .venv/bin/python benchmarks/job_overhead.py                      # 1 video x 12 s at 640x360, 3 rounds
    .venv/bin/python benchmarks/job_overhead.py --repeat 2 --engines local,ray

Writes benchmarks/results/job_overhead-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_pipeline import ensure_archive  # benchmarks/bench_pipeline.py: the cached synthetic archives
from results_io import save, stamp

from vcurate.cli import _size

ROOT = Path(__file__).resolve().parents[1]
BARE_RAY = "from vcurate.config import PipelineConfig; from vcurate.engine import init_ray; import ray; " \
           "init_ray(PipelineConfig()); ray.shutdown()"


def timed(command: list[str]) -> dict:
    """Wall and CPU seconds of one command run to completion (its output discarded, its failure raised)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   env={**os.environ, "RAY_ADDRESS": ""})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "load": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="length of the one video")
    parser.add_argument("--size", type=_size, default=(640, 360), help="WxH of the video")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path(__file__).parent / "cache",
                        help="where archives are made once and kept (shared with bench_pipeline.py)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every engine (the best counts)")
    parser.add_argument("--engines", default="local,auto,ray", help="comma-separated: local, auto, ray")
    args = parser.parse_args()

    root = ensure_archive(args.cache, 1, args.seconds, args.size, args.seed)
    engines = args.engines.split(",")
    runs: dict[str, list[dict]] = {name: [] for name in (*engines, "bare ray")}
    with tempfile.TemporaryDirectory() as work:
        for round_ in range(args.repeat):
            for engine in engines:
                print(f"round {round_ + 1}: {engine} ...", file=sys.stderr, flush=True)
                runs[engine].append(timed([
                    sys.executable, "-m", "vcurate", "run", "pipelines/default.yaml", "--input", str(root / "raw"),
                    "--output", str(Path(work) / engine), "--engine", engine, "--set", "align.enabled=false",
                    "--overwrite", "--quiet"]))
            runs["bare ray"].append(timed([sys.executable, "-c", BARE_RAY]))
    best = {name: min(r, key=lambda run: run["wall_s"]) for name, r in runs.items()}
    summary = {**stamp(), "video": {"seconds": args.seconds, "size": f"{args.size[0]}x{args.size[1]}"},
               "cpus": os.cpu_count(), "repeat": args.repeat, "best": best, "runs": runs}
    lines = [f"# Fixed cost of a one-video job ({args.seconds:g} s at {args.size[0]}x{args.size[1]}, CLIP off; "
             f"{os.cpu_count()} CPUs, best of {args.repeat})", "",
             "| run | wall s | CPU s | load (1 min) then | all walls s |", "|---|---:|---:|---:|---|"]
    for name, r in runs.items():
        label = "ray.init + shutdown alone" if name == "bare ray" else f"`vcurate run --engine {name}`"
        lines.append(f"| {label} | {best[name]['wall_s']:.1f} | {best[name]['cpu_s']:.1f} | {best[name]['load']:.1f} | "
                     + ", ".join(f"{run['wall_s']:.1f}" for run in r) + " |")
    save("job_overhead", summary, lines)


if __name__ == "__main__":
    main()
