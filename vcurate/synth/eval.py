"""Score a pipeline output against a labelled archive's ground truth; for archives cut from footage,
also per source video, since a filter that holds on one kind of footage may fail on another."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vcurate.records import Reason
from vcurate.rules import FAULT_GROUPS, SCORE_RULES, fault_reasons
from vcurate.synth.truth import TruthShot, TruthVideo, read_truth



def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn}


def cut_pairs(detected: list[int], truth: list[int], tolerance: int = 2) -> list[tuple[int, int]]:
    """Greedy one-to-one matching of cuts within ±tolerance frames: (detected, true) pairs."""
    free = sorted(truth)
    pairs = []
    for cut in sorted(detected):
        best = min(free, key=lambda t: abs(t - cut), default=None)
        if best is not None and abs(best - cut) <= tolerance:
            free.remove(best)
            pairs.append((cut, best))
    return pairs


def match_cuts(detected: list[int], truth: list[int], tolerance: int = 2) -> int:
    return len(cut_pairs(detected, truth, tolerance))


def shot_of(video: TruthVideo, start: int, end: int) -> TruthShot:
    """The ground-truth shot a clip overlaps most."""
    return max(video.shots, key=lambda s: min(end, s.end_frame) - max(start, s.start_frame))


def _kept_share(rows: list[bool]) -> dict:
    return {"kept": sum(rows), "total": len(rows), "fraction": round(sum(rows) / len(rows), 4) if rows else None}


def judged(clips: pd.DataFrame, reasons: set[str]) -> bool:
    """Whether the run could have given any of `reasons`: a stage check always could, a score rule
    only where its score was computed."""
    scored = {rule.reason: rule.score for rule in SCORE_RULES}
    return any(r not in scored or (scored[r] in clips and clips[scored[r]].notna().any()) for r in reasons)


def clip_metrics(clips: pd.DataFrame, truth: dict[str, TruthVideo], source: str | None = None) -> dict:
    """Per fault and per group of alike faults (vcurate.rules.FAULT_GROUPS): precision / recall / F1 of
    rejection, over clips matched to their main shot (of footage `source` only, when given); and the
    share of clean clips (no fault, captioned) kept, overall, for clean pans and zooms, and for clean
    shots of a still camera. Shots that partly repeat
    another's frames (TruthShot.overlap_of) count for neither duplicates nor clean clips; a clip
    rejected as too short to analyse counts for no fault (but as a clean clip lost)."""
    matched = []
    for row in clips.itertuples():
        if row.video in truth:
            shot = shot_of(truth[row.video], row.start_frame, row.end_frame)
            if source is None or shot.source == source:
                matched.append((row, shot))
    out = {}
    by_fault = fault_reasons()
    groups = {fault: ({fault}, reasons) for fault, reasons in by_fault.items()}
    for group, faults in FAULT_GROUPS.items():
        if all(f in by_fault for f in faults):
            groups[group] = (set(faults), set().union(*(by_fault[f] for f in faults)))
    for name, (defects, reasons) in groups.items():
        if not judged(clips, reasons):
            continue  # no stage that judges this fault ran (CLIP off, say)
        tp = fp = fn = 0
        for row, shot in matched:
            if "duplicate" in defects and shot.overlap_of:
                continue  # partly repeats another shot: neither a copy nor distinct
            caught = bool(reasons & set(row.reasons))
            if not caught and Reason.TOO_SHORT in row.reasons:
                continue  # cut too short to be analysed: no filter saw it, none caught or missed it
            actual = bool(defects & set(shot.defects))
            tp, fp, fn = tp + (caught and actual), fp + (caught and not actual), fn + (actual and not caught)
        out[name] = prf(tp, fp, fn)
    clean = [(row, shot) for row, shot in matched
             if not shot.defects and shot.attached_caption is not None and not shot.overlap_of]
    out["clean_kept"] = _kept_share([row.status == "kept" for row, _ in clean])
    out["clean_pan_kept"] = _kept_share([row.status == "kept" for row, shot in clean if shot.camera in ("pan", "zoom")])
    # the hard negatives of the static filter: a still camera over a scene that moves
    out["clean_static_camera_kept"] = _kept_share([row.status == "kept" for row, shot in clean if shot.camera == "static"])
    out["clean_rejections"] = dict(
        pd.Series([r for row, _ in clean for r in row.reasons], dtype=object).value_counts().items()
    )
    return out


def duplicate_metrics(clips: pd.DataFrame, truth: dict[str, TruthVideo]) -> dict | None:
    """Near-duplicates: of each copy group (an original and every shot that copies it, or copies one of
    its copies: a copy of a copy shows the original too), whether exactly one of its members free of
    other faults kept a clip (groups of two such members or more); the share of hard negatives' clips and of other judged clips (compared with
    earlier kept ones, copies left out) rejected as duplicate. None when the archive holds no copies."""
    by_shot: dict[tuple[str, int], list] = {}
    for row in clips.itertuples():
        if row.video in truth:
            video = truth[row.video]
            shot = shot_of(video, row.start_frame, row.end_frame)
            by_shot.setdefault((row.video, video.shots.index(shot)), []).append(row)

    def kept(key: tuple[str, int]) -> bool:
        return any(row.status == "kept" for row in by_shot.get(key, ()))

    def parse(ref: str) -> tuple[str, int]:
        video, index = ref.rsplit("#", 1)
        return video, int(index)

    links = {(video.video, i): parse(shot.copy_of) for video in truth.values() for i, shot in enumerate(video.shots)
             if shot.copy_of}

    def root(key: tuple[str, int]) -> tuple[str, int]:
        while key in links:
            key = links[key]
        return key

    groups: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for key in links:
        groups.setdefault(root(key), [root(key)]).append(key)
    # shots partly showing an earlier shot's frames (footage archives whose sources ran out) are neither its
    # copies nor distinct from it: their groups, and their clips, are left out
    partial = {(video.video, i) for video in truth.values() for i, shot in enumerate(video.shots) if shot.overlap_of}
    ambiguous = [members for members in groups.values() if partial & set(members)]
    groups = {r: members for r, members in groups.items() if not partial & set(members)}
    # the members the duplicate judges saw: a clip kept, or rejected as a duplicate alone (a member another
    # filter rejected, rightly or not, never reached them; one with a fault no filter caught did)
    as_duplicate = fault_reasons()["duplicate"]

    def reached(key: tuple[str, int]) -> bool:
        return any(row.status == "kept" or set(row.reasons) <= as_duplicate and len(row.reasons) == 1
                   for row in by_shot.get(key, ()))

    judged_groups = [[m for m in members if reached(m)] for members in groups.values()]
    judged_groups = [members for members in judged_groups if len(members) > 1]
    if not judged_groups:
        return None
    survivors = [sum(kept(m) for m in members) for members in judged_groups]
    negatives = [row for video in truth.values() for i, shot in enumerate(video.shots) if shot.negative_of
                 for row in by_shot.get((video.video, i), ())]
    judged_by_shot = [(key, row) for key, rows in by_shot.items() if key not in links and key not in partial
                      for row in rows if as_duplicate & set(row.reasons) or pd.notna(getattr(row, "duplicate_distance", None))
                      or pd.notna(getattr(row, "semantic_similarity", None))]
    judged = [row for _, row in judged_by_shot]
    # of those, the clips of fault-free shots: the ones a false duplicate costs (a clip with a fault no other
    # filter caught is rejected either way, for the wrong reason)
    judged_clean = [row for key, row in judged_by_shot if not truth[key[0]].shots[key[1]].defects]

    def share(rows: list) -> dict:
        hit = sum(bool(as_duplicate & set(row.reasons)) for row in rows)
        return {"duplicate": hit, "clips": len(rows), "fraction": round(hit / len(rows), 4) if rows else None}

    return {
        "copy_groups": len(judged_groups), "copies": sum(len(m) - 1 for m in judged_groups),
        "exactly_one_kept": sum(n == 1 for n in survivors),
        "exactly_one_fraction": round(sum(n == 1 for n in survivors) / len(judged_groups), 4),
        "more_kept": sum(n > 1 for n in survivors), "none_kept": sum(n == 0 for n in survivors),
        "groups_left_out": len(ambiguous), "partial_repeats_left_out": len(partial),
        "hard_negatives": share(negatives), "false_duplicates": share(judged),
        "false_duplicates_fault_free": share(judged_clean),
    }


def _shot_at(video: TruthVideo, frame: int) -> TruthShot:
    return next((s for s in video.shots if s.start_frame <= frame < s.end_frame), video.shots[-1])


def cut_metrics(videos: pd.DataFrame, truth: dict[str, TruthVideo], tolerance: int = 2) -> dict[str | None, dict]:
    """Cut precision / recall, for the whole archive (key None) and per footage source: a true cut
    belongs to the shot it starts, a false one to the shot it falls in. A cut inside a slideshow is not
    scored: its switch from one still to the next is as abrupt a change of picture as a cut, so cutting
    there is as right as not (the slideshow is one shot for the `static` labels)."""
    counts: dict[str | None, list[int]] = {None: [0, 0, 0]}

    def add(source: str | None, slot: int) -> None:
        for key in {None, source}:
            counts.setdefault(key, [0, 0, 0])[slot] += 1

    seen = set()
    for row in videos.itertuples():
        t = truth.get(row.video)
        if t is None:
            continue
        seen.add(row.video)
        detected = [int(c) for c in row.cuts] if row.status == "ok" else []
        pairs = cut_pairs(detected, t.cuts, tolerance)
        hit_true, hit_detected = {p[1] for p in pairs}, {p[0] for p in pairs}
        for cut in t.cuts:
            add(_shot_at(t, cut).source, 0 if cut in hit_true else 2)
        for cut in detected:
            shot = _shot_at(t, cut)
            if cut not in hit_detected and shot.fault.get("still") != "slideshow":
                add(shot.source, 1)
    for video in set(truth) - seen:
        for cut in truth[video].cuts:
            add(_shot_at(truth[video], cut).source, 2)
    return {key: {**prf(*c), "tolerance_frames": tolerance} for key, c in counts.items()}


def evaluate(output: str | Path, truth_path: str | Path, tolerance: int = 2) -> dict:
    output = Path(output)
    truth = {t.video: t for t in read_truth(truth_path)}
    videos = pd.read_parquet(output / "videos.parquet")
    clips = pd.read_parquet(output / "clips.parquet")
    cuts = cut_metrics(videos, truth, tolerance)
    result = {
        "videos": len(truth),
        "videos_missing": sorted(set(truth) - set(videos["video"])),
        "cuts": cuts.pop(None),
        "clips": clip_metrics(clips, truth),
    }
    duplicates = duplicate_metrics(clips, truth)
    if duplicates is not None:
        result["duplicates"] = duplicates
    sources = sorted({s.source for t in truth.values() for s in t.shots if s.source})
    if sources:
        result["sources"] = {src: {"cuts": cuts.get(src, prf(0, 0, 0)), "clips": clip_metrics(clips, truth, src)}
                             for src in sources}
    return result
