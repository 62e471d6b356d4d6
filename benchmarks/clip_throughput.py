"""Throughput of the CLIP alignment stage on this machine: clips/s for a model and batch size.

Random weights (speed does not depend on them), 4 frames per clip, a fresh caption per clip (no
text-cache hits: the worst case). Compares the bundled vcurate-tiny with a ViT-B-32-sized model.

    .venv/bin/python benchmarks/clip_throughput.py [--clips 64] [--models vcurate-tiny ViT-B-32] [--batch-sizes 8 32]

Writes benchmarks/results/clip_throughput-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from vcurate.config import AlignConfig
from vcurate.models.clip import image_size
from vcurate.records import ClipRecord
from vcurate.stages.align import ClipAligner

from results_io import save, stamp  # benchmarks/results_io.py


def clips_per_second(model: str, batch_size: int, n_clips: int, frames: int, device: str) -> float:
    aligner = ClipAligner(AlignConfig(model=model, pretrained=None, min_score=-1.0, device=device))
    size = image_size(model)
    rng = np.random.default_rng(0)
    batch_frames = [rng.integers(0, 255, (frames, size, size, 3), dtype=np.uint8) for _ in range(batch_size)]
    aligner.align(*make_batch(batch_size, batch_frames, "warmup"))  # first call pays one-off costs
    done, t0 = 0, time.perf_counter()
    while done < n_clips:
        aligner.align(*make_batch(batch_size, batch_frames, f"b{done}"))
        done += batch_size
    if device == "cuda":
        torch.cuda.synchronize()
    return done / (time.perf_counter() - t0)


def make_batch(n: int, frames: list[np.ndarray], tag: str):
    clips = [ClipRecord(video="v", clip_key=f"{tag}-{i}", scene_index=0, start_frame=0, end_frame=1, start_s=0, end_s=1,
                        fps=25, width=1, height=1, caption=f"caption {tag} {i}") for i in range(n)]
    return clips, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--models", nargs="+", default=["vcurate-tiny", "ViT-B-32"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[8, 32])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rows = [{"model": m, "batch_size": b, "device": args.device, "threads": torch.get_num_threads(),
             "clips_per_s": round(clips_per_second(m, b, args.clips, args.frames, args.device), 2)}
            for m in args.models for b in args.batch_sizes]
    summary = {**stamp(), "frames_per_clip": args.frames, "rows": rows}
    lines = [f"# CLIP stage throughput ({args.frames} frames/clip, {args.device})", "",
             "| model | batch | clips/s |", "|---|---:|---:|"]
    lines += [f"| {r['model']} | {r['batch_size']} | {r['clips_per_s']} |" for r in rows]
    save(f"clip_throughput-{args.device}", summary, lines)


if __name__ == "__main__":
    main()
