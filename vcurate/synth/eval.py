"""Score a pipeline output against a synthetic archive's ground truth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vcurate.synth.truth import TruthShot, TruthVideo, read_truth

# Which rejection reasons count as catching which injected fault.
DEFECT_REASONS: dict[str, set[str]] = {
    "shake": {"shake"},
    "blur": {"blur"},
    "lowres": {"low_resolution", "upscaled"},
    "mismatch": {"low_alignment"},
}


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


def shot_of(video: TruthVideo, start: int, end: int) -> TruthShot:
    """The ground-truth shot a clip overlaps most."""
    return max(video.shots, key=lambda s: min(end, s.end_frame) - max(start, s.start_frame))


def _kept_share(rows: list[bool]) -> dict:
    return {"kept": sum(rows), "total": len(rows), "fraction": round(sum(rows) / len(rows), 4) if rows else None}


def clip_metrics(clips: pd.DataFrame, truth: dict[str, TruthVideo]) -> dict:
    """Per fault: precision / recall / F1 of rejection, over clips matched to their main shot; and
    the share of clean clips (no fault, captioned) kept, overall and for clean pans."""
    matched = []
    for row in clips.itertuples():
        if row.video in truth:
            matched.append((row, shot_of(truth[row.video], row.start_frame, row.end_frame)))
    out = {}
    for defect, reasons in DEFECT_REASONS.items():
        if defect == "mismatch" and clips["clip_score"].isna().all():
            continue  # the alignment stage did not run
        tp = fp = fn = 0
        for row, shot in matched:
            caught = bool(reasons & set(row.reasons))
            actual = defect in shot.defects
            tp, fp, fn = tp + (caught and actual), fp + (caught and not actual), fn + (actual and not caught)
        out[defect] = prf(tp, fp, fn)
    clean = [(row, shot) for row, shot in matched if not shot.defects and shot.attached_caption is not None]
    out["clean_kept"] = _kept_share([row.status == "kept" for row, _ in clean])
    out["clean_pan_kept"] = _kept_share([row.status == "kept" for row, shot in clean if shot.camera == "pan"])
    out["clean_rejections"] = dict(
        pd.Series([r for row, _ in clean for r in row.reasons], dtype=object).value_counts().items()
    )
    return out


def evaluate(output: str | Path, truth_path: str | Path, tolerance: int = 2) -> dict:
    output = Path(output)
    truth = {t.video: t for t in read_truth(truth_path)}
    videos = pd.read_parquet(output / "videos.parquet")
    clips = pd.read_parquet(output / "clips.parquet")
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
        "clips": clip_metrics(clips, truth),
    }
