"""How much faster can 2 workers be than 1 on this machine at all? The ceiling for bench_pipeline's
scaling figure (Ray parallelism 1 → 2).

Decodes --videos videos of a cached bench archive in one process (the pipeline's decode loop, one
thread), then two such processes at once, each on its own --videos videos: nothing shared, no Ray. On a
machine whose cores do not slow each other the pair finishes in the time of one (ratio 2); shared
caches, memory bandwidth or virtual CPUs that are not whole cores pull it lower. --repeat rounds.

    .venv/bin/python benchmarks/parallel_ceiling.py [--archive benchmarks/cache/20x30s-1280x720-seed9] [--videos 8]

Writes benchmarks/results/parallel_ceiling-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from results_io import save, stamp  # benchmarks/results_io.py

DECODE = """
import sys, time
from vcurate.config import PipelineConfig
from vcurate.media.frames import decode_pass
analysis = PipelineConfig().analysis  # the pipeline's decode: same analysis size and threads
started = time.perf_counter()
for path in sys.argv[1:]:
    decode_pass(path, [], analysis.short_side, analysis.decode_threads)
print(time.perf_counter() - started)
"""


def decode_at_once(groups: list[list[str]]) -> float:
    """Wall time until the last of len(groups) decode processes, started together, is done."""
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", DECODE, *group], stdout=subprocess.DEVNULL) for group in groups]
    for proc in procs:
        if proc.wait():
            raise SystemExit(f"a decode process failed with status {proc.returncode}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=Path(__file__).parent / "cache" / "20x30s-1280x720-seed9",
                        help="a bench_pipeline archive (make one with bench_pipeline.py --size ...)")
    parser.add_argument("--videos", type=int, default=8, help="videos per process")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    videos = sorted(str(p) for p in (args.archive / "raw").rglob("*.mp4"))
    if len(videos) < 2 * args.videos:
        raise SystemExit(f"{args.archive} holds {len(videos)} videos; --videos {args.videos} needs {2 * args.videos}")
    first, second = videos[: args.videos], videos[args.videos : 2 * args.videos]
    rounds = []
    for _ in range(args.repeat):
        one = decode_at_once([first])
        two = decode_at_once([first, second])
        rounds.append({"one_s": round(one, 3), "two_s": round(two, 3), "ratio": round(2 * one / two, 3)})
        print(rounds[-1], file=sys.stderr, flush=True)
    best = max(r["ratio"] for r in rounds)
    summary = {**stamp(), "archive": str(args.archive), "videos_per_process": args.videos, "rounds": rounds,
               "best_ratio": best}
    lines = [f"# Parallel ceiling ({args.archive.name}, {args.videos} videos per decode process)", "",
             "| round | 1 process, s | 2 processes at once, s | throughput 2 ÷ 1 |", "|---:|---:|---:|---:|"]
    lines += [f"| {i + 1} | {r['one_s']:.2f} | {r['two_s']:.2f} | {r['ratio']:.2f} |" for i, r in enumerate(rounds)]
    lines += ["", f"Best: {best:.2f}. Two whole, independent cores give 2.00; Ray parallelism 2 cannot beat this."]
    save("parallel_ceiling", summary, lines)


if __name__ == "__main__":
    main()
