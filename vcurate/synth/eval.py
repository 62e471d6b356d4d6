"""Score a pipeline output against a synthetic archive's ground truth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vcurate.synth.truth import read_truth


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn}


def match_cuts(detected: list[int], truth: list[int], tolerance: int = 2) -> int:
    """Greedy one-to-one matching of cuts within ±tolerance frames; returns the matched count."""
    free = sorted(truth)
    matched = 0
    for cut in sorted(detected):
        best = min(free, key=lambda t: abs(t - cut), default=None)
        if best is not None and abs(best - cut) <= tolerance:
            free.remove(best)
            matched += 1
    return matched


def evaluate(output: str | Path, truth_path: str | Path, tolerance: int = 2) -> dict:
    output = Path(output)
    truth = {t.video: t for t in read_truth(truth_path)}
    videos = pd.read_parquet(output / "videos.parquet")
    tp = fp = fn = 0
    missing = sorted(set(truth) - set(videos["video"]))
    for row in videos.itertuples():
        t = truth.get(row.video)
        if t is None:
            continue
        detected = [int(c) for c in row.cuts] if row.status == "ok" else []
        hits = match_cuts(detected, t.cuts, tolerance)
        tp, fp, fn = tp + hits, fp + len(detected) - hits, fn + len(t.cuts) - hits
    for video in missing:
        fn += len(truth[video].cuts)
    return {
        "videos": len(truth),
        "videos_missing": missing,
        "cuts": {**prf(tp, fp, fn), "tolerance_frames": tolerance},
    }
