"""Near-duplicate removal (issue #23) measured on labelled archives: rendered (`vcurate synth`) and cut
from the real-footage corpus (benchmarks/footage_corpus.py), tuning archives apart from held-out ones.

Every archive's last videos re-upload clean shots of earlier ones (cropped <= 5 %, rescaled,
brightness +-10 %, re-encoded; vcurate.synth.copies) and reshoot others (hard negatives: rendered, the
same background and subject moving otherwise; footage, another stretch of the same source). Footage
archives of more videos than the short corpus holds also repeat source frames of earlier shots
(labelled `duplicate` of the shot they overlap most, often only in part, under another camera move
or frame rate). Each archive runs the default pipeline (CLIP off) and is scored by
vcurate.synth.eval.duplicate_metrics: of each copy group (an original and its copies, copies of
copies included) exactly one clean member kept; false duplicates among the other judged clips; hard
negatives rejected as duplicate; and, apart, the re-uploads alone (the issue's copies) caught.

    .venv/bin/python benchmarks/dedup_accuracy.py [--videos 14] [--tune-seeds 11 33] [--held-out-seeds 171 183]
        [--footage-tune-seeds 1 2] [--footage-held-out-seeds 1 2] [--set filters.duplicate.min_distance=20]
        [--work DIR] [--reuse] [--shots]

`--shots` runs no pipeline: it hashes every labelled shot straight from the archives with the pipeline's own
signature analyzer and reports only the pair distances (seconds an archive instead of a curation run each), the
quick loop for trying `filters.duplicate` settings (`--set filters.duplicate.group_s=0.45 --shots`).

Tuning archives (rendered --tune-seeds, footage of the calibration sources) may be used to choose the
signature and threshold; held-out ones (rendered --held-out-seeds, footage of the report sources) never.
Writes benchmarks/results/dedup_accuracy-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from vcurate.analyze import StreamFacts
from vcurate.analyze.signature import SignatureAnalyzer, unpack_signatures
from vcurate.config import load_config, parse_setting, with_settings
from vcurate.synth.archive import SynthSpec, make_archive
from vcurate.dedup import distances, group_keys, stored_keys
from vcurate.media.frames import decode_frames
from vcurate.media.probe import open_probed
from vcurate.synth.eval import evaluate, shot_of
from vcurate.synth.footage import FootageSpec, make_footage_archive
from vcurate.synth.truth import read_truth

from footage_corpus import CACHE, fetch  # benchmarks/footage_corpus.py
from real_footage import curate  # benchmarks/real_footage.py
from results_io import save, stamp  # benchmarks/results_io.py

CONFIG = Path(__file__).parent.parent / "pipelines" / "default.yaml"


def reuploads_caught(out: Path, truth_path: Path) -> dict:
    """Re-uploaded shots (reuploads/...) free of other faults whose original kept a clip: how many
    had every clip rejected as duplicate."""
    truth = {t.video: t for t in read_truth(truth_path)}
    clips = pd.read_parquet(out / "clips.parquet")
    rows: dict[tuple[str, int], list] = {}
    for row in clips.itertuples():
        if row.video in truth:
            shot = shot_of(truth[row.video], row.start_frame, row.end_frame)
            rows.setdefault((row.video, truth[row.video].shots.index(shot)), []).append(row)
    compared = caught = 0
    for video in truth.values():
        if not video.video.startswith("reuploads/"):
            continue
        for i, shot in enumerate(video.shots):
            name, index = shot.copy_of.rsplit("#", 1)
            if set(shot.defects) != {"duplicate"} or not any(r.status == "kept" for r in rows.get((name, int(index)), ())):
                continue
            compared += 1
            caught += all("duplicate" in r.reasons for r in rows.get((video.video, i), ()))
    return {"compared": compared, "caught": caught}


def _links(truth: dict) -> dict:
    """(video, shot index, is a hard negative) -> (video, shot index) of the shot it copies or reshoots."""
    links = {}
    for video in truth.values():
        for i, shot in enumerate(video.shots):
            for ref in (shot.copy_of, shot.negative_of):
                if ref:
                    name, index = ref.rsplit("#", 1)
                    links[(video.video, i, ref == shot.negative_of)] = (name, int(index))
    return links


def _scored_shot(shot) -> bool:
    """Whether a shot's clips enter the pair distances: free of faults other than being a copy, and no partial repeat."""
    return not set(shot.defects) - {"duplicate"} and not shot.overlap_of


def _pair_item(signature: bytes, truth: dict, links: dict, video: str, shot_index: int, start: int, end: int) -> tuple:
    """(signature, copy root, root of the shot it is a hard negative of, frames shown) of the clip [start, end)
    of a shot: footage frames as (source, first, end) source frames, rendered ones as frames of the copy root."""
    def root(key: tuple[str, int]) -> tuple[str, int]:
        while (*key, False) in links:
            key = links[(*key, False)]
        return key

    shot = truth[video].shots[shot_index]
    key, negative = (video, shot_index), links.get((video, shot_index, True))
    if shot.source is None:  # rendered: a copy shows its original's frames one for one
        frames = (root(key), start - shot.start_frame, end - shot.start_frame)
    else:
        first = shot.source_start_frame + start - shot.start_frame
        frames = (shot.source, first, first + end - start)
    return signature, root(key), None if negative is None else root(negative), frames


def pair_distances(out: Path, truth_path: Path) -> dict[str, list[float]]:
    """Signature distance of every pair of clips the duplicate judge saw, of shots free of other faults
    (partial repeats left out), by what the pair is (classify_pairs)."""
    truth = {t.video: t for t in read_truth(truth_path)}
    clips = pd.read_parquet(out / "clips.parquet")
    links = _links(truth)
    items = []
    for row in clips.itertuples():
        if row.video not in truth or row.signature is None or not (row.status == "kept" or list(row.reasons) == ["duplicate"]):
            continue  # only clips the duplicate judge saw (another filter rejected the rest first)
        shot = shot_of(truth[row.video], row.start_frame, row.end_frame)
        if not _scored_shot(shot):
            continue
        items.append(_pair_item(row.signature, truth, links, row.video, truth[row.video].shots.index(shot),
                                row.start_frame, row.end_frame))
    return classify_pairs(items)


def shot_pair_distances(archive: Path, cfg) -> dict[str, list[float]]:
    """As pair_distances, with no pipeline run: the signature of every labelled shot free of other faults (partial
    repeats left out), its bounds taken as the clip's, from one decode of each video through the pipeline's own
    signature analyzer (`cfg`'s filters.duplicate settings). Seconds an archive: for trying signature settings."""
    truth = {t.video: t for t in read_truth(archive / "ground_truth.jsonl")}
    links, items = _links(truth), []
    for video in truth.values():
        with open_probed(archive / "raw" / video.video) as (container, info):
            analyzer = SignatureAnalyzer.build(cfg, StreamFacts(info.frame_rate, info.width, info.height, info.expected_frames))
            decode_frames(container, [analyzer], cfg.analysis.short_side, fps_hint=info.frame_rate)
        for i, shot in enumerate(video.shots):
            signature = analyzer.clip_columns(shot.start_frame, shot.end_frame)["signature"] if _scored_shot(shot) else None
            if signature is not None:
                items.append(_pair_item(signature, truth, links, video.video, i, shot.start_frame, shot.end_frame))
    return classify_pairs(items)


def classify_pairs(items: list[tuple]) -> dict[str, list[float]]:
    """Distances of every pair of `items` (_pair_item) by what the pair is: footage clips by the source frames they
    share (a copy: 2/3 of the shorter clip's or more; a partial overlap; another stretch of the same source;
    another source), rendered clips by their labels (a copy of the same original, a hard negative, another shot)."""
    found: dict[str, list[float]] = {}
    if len(items) < 2:
        return found
    words, colours = unpack_signatures([item[0] for item in items], items[0][0][1])
    for b in range(1, len(items)):
        near = distances(words[:b], colours[:b], words[b], colours[b])
        for a in range(b):
            (_, root_a, neg_a, frames_a), (_, root_b, neg_b, frames_b) = items[a], items[b]
            footage = isinstance(frames_a[0], str)
            shared = min(frames_a[2], frames_b[2]) - max(frames_a[1], frames_b[1])
            shorter = min(frames_a[2] - frames_a[1], frames_b[2] - frames_b[1])
            if frames_a[0] != frames_b[0]:
                kind = "hard negative" if root_b == neg_a or root_a == neg_b else "other source" if footage else "other shot"
            else:
                kind = ("copy" if shared >= 2 / 3 * shorter else "partial overlap" if shared > 0
                        else "same source, other stretch" if footage else "copy, other part of the shot")
            found.setdefault(kind, []).append(round(float(near[a]), 3))
    return found


def key_sharing(out: Path) -> dict:
    """Of the clips rejected as duplicate, how many have a group key that the clip they duplicate
    stores: those the hashed search (beyond `exhaustive_up_to` kept clips) would still find."""
    clips = pd.read_parquet(out / "clips.parquet", columns=["clip_key", "signature", "duplicate_of"])
    signatures = dict(zip(clips["clip_key"], clips["signature"]))
    rejected = clips[clips["duplicate_of"].notna()]
    shared = 0
    for signature, original in zip(rejected["signature"], rejected["duplicate_of"]):
        words = unpack_signatures([signature, signatures[original]], signature[1])[0]
        probed, stored = group_keys(words[:1])[0], stored_keys(words[1:])[0]
        shared += bool(np.isin(probed[probed >= 0], stored[stored >= 0]).any())
    return {"duplicates": len(rejected), "sharing_a_key": shared}


def measure(archive: Path, out: Path, settings: list, reuse: bool = False) -> dict:
    if not (reuse and (out / "clips.parquet").is_file()):
        curate(CONFIG, archive, out, settings)
    truth = archive / "ground_truth.jsonl"
    result = evaluate(out, truth)
    return {"duplicates": result.get("duplicates"), "duplicate_prf": result["clips"].get("duplicate"),
            "clean_kept": result["clips"]["clean_kept"], "reuploads": reuploads_caught(out, truth),
            "pair_distances": pair_distances(out, truth), "hashed_search": key_sharing(out)}


def _share(hit: int, total: int) -> str:
    return f"{hit}/{total}" if total else "–"


def markdown(summary: dict) -> list[str]:
    lines = [f"# Near-duplicates on labelled archives ({summary['date']}, {summary['host']})", "",
             f"Default pipeline {' '.join('--set ' + s for s in summary['settings'])} (CLIP off; `filters.duplicate`: "
             f"min_distance {summary['min_distance']}, {summary['frames']} groups of {summary['group_s']} s), "
             f"{summary['videos']} videos an archive, {summary['duplicate_videos']:.0%} of them re-uploads and "
             f"{summary['hard_negative_videos']:.0%} reshoots. *Tuning* archives were used to choose the signature "
             "and threshold; *held-out* ones never. Copy groups: an original with its copies (copies of copies and, in "
             "footage archives, shots repeating its source frames included), counted where two or more members are "
             "free of other faults; false duplicates: other judged clips rejected as duplicate (and apart, those of shots free "
             "of faults: a clip with a fault no other filter caught is rejected either way).", ""]
    curated = {name: m for name, m in summary["archives"].items() if "duplicates" in m}  # not --shots
    if curated:
        lines += ["| archive | role | copy groups: exactly one kept | more than one kept | none kept | re-uploads caught | "
                  "false duplicates | of fault-free shots | hard negatives rejected | duplicate P / R | clean clips kept | duplicates sharing a group key |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for name, m in curated.items():
        d, prf, clean, up = m["duplicates"], m["duplicate_prf"] or {}, m["clean_kept"], m["reuploads"]
        if d is None:
            lines.append(f"| {name} | {m['role']} | no copies | | | | | | | | {_share(clean['kept'], clean['total'])} |")
            continue
        lines.append(
            f"| {name} | {m['role']} | {_share(d['exactly_one_kept'], d['copy_groups'])} | {d['more_kept']} | {d['none_kept']} | "
            f"{_share(up['caught'], up['compared'])} | {_share(d['false_duplicates']['duplicate'], d['false_duplicates']['clips'])} | "
            f"{_share(d['false_duplicates_fault_free']['duplicate'], d['false_duplicates_fault_free']['clips'])} | "
            f"{_share(d['hard_negatives']['duplicate'], d['hard_negatives']['clips'])} | "
            f"{prf.get('precision', float('nan')):.2f} / {prf.get('recall', float('nan')):.2f} | "
            f"{_share(clean['kept'], clean['total'])} | "
            f"{_share(m['hashed_search']['sharing_a_key'], m['hashed_search']['duplicates'])} |")
    totals = {role: [sum(m["duplicates"][k] for m in curated.values() if m["role"] == role and m["duplicates"])
                     for k in ("exactly_one_kept", "copy_groups")]
              + [sum(m["duplicates"][kind][k] for m in curated.values()
                     if m["role"] == role and m["duplicates"])
                 for kind in ("false_duplicates", "false_duplicates_fault_free") for k in ("duplicate", "clips")]
              for role in ("tuning", "held out")}
    if curated:
        lines += ["", *(f"- all {role} archives: exactly one kept {_share(a, b)}, false duplicates {_share(c, d)} "
                        f"({_share(e, f)} of fault-free shots)" for role, (a, b, c, d, e, f) in totals.items()), ""]
    seen = ("clips of fault-free shots that the duplicate judge saw" if curated else
            "labelled shots free of other faults, hashed straight from the archives (`--shots`: no pipeline run, each shot "
            "taken whole as a clip)")
    lines += [f"Signature distances of all pairs of {seen} (what the "
              "threshold is chosen from: tuning rows only), by what the pair is; footage pairs by the source frames they "
              "share (a copy: 2/3 of the shorter clip's or more):", "",
              f"| role | generator | pair | pairs | min | 5 % | median | 95 % | max | below {summary['min_distance']:g} |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for role in ("tuning", "held out"):
        for generator in ("rendered", "footage"):
            pooled: dict[str, list[float]] = {}
            for name, m in summary["archives"].items():
                if m["role"] == role and name.startswith(generator):
                    for kind, values in m["pair_distances"].items():
                        pooled.setdefault(kind, []).extend(values)
            for kind, values in sorted(pooled.items()):
                q = np.quantile(values, [0, 0.05, 0.5, 0.95, 1])
                below = sum(v < summary["min_distance"] for v in values)
                lines.append(f"| {role} | {generator} | {kind} | {len(values)} | " + " | ".join(f"{v:.1f}" for v in q)
                             + f" | {below} ({below / len(values):.1%}) |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=14)
    parser.add_argument("--tune-seeds", type=int, nargs="*", default=[11, 33])
    parser.add_argument("--held-out-seeds", type=int, nargs="*", default=[171, 183])
    parser.add_argument("--footage-tune-seeds", type=int, nargs="*", default=[1, 2], help="archives of the calibration sources")
    parser.add_argument("--footage-held-out-seeds", type=int, nargs="*", default=[1, 2], help="archives of the report sources")
    parser.add_argument("--duplicate-videos", type=float, default=0.3)
    parser.add_argument("--hard-negative-videos", type=float, default=0.2)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--work", type=Path, help="where archives and runs go (default: CACHE/runs/NAME)")
    parser.add_argument("--reuse", action="store_true", help="score the archives and runs already in --work again")
    parser.add_argument("--set", type=parse_setting, action="append", default=[], metavar="KEY.PATH=VALUE")
    parser.add_argument("--name", help="results file stem (default dedup_accuracy, or dedup_accuracy-shots with --shots)")
    parser.add_argument("--shots", action="store_true",
                        help="no pipeline run: only the distances of the labelled shots' signatures, hashed straight from "
                             "the archives (seconds an archive, for trying filters.duplicate settings with --set)")
    args = parser.parse_args()
    args.name = args.name or ("dedup_accuracy-shots" if args.shots else "dedup_accuracy")
    work = args.work or args.cache / "runs" / args.name
    if not args.reuse:
        shutil.rmtree(work, ignore_errors=True)
    cfg = with_settings(load_config(CONFIG), args.set, "pipeline config")
    settings = cfg.filters.duplicate

    def scored(archive: Path, out: Path) -> dict:
        return {"pair_distances": shot_pair_distances(archive, cfg)} if args.shots else measure(archive, out, args.set, args.reuse)
    summary = {**stamp(), "settings": [f"{k}={v}" for k, v in args.set], "min_distance": settings.min_distance,
               "frames": settings.frames, "group_s": settings.group_s, "videos": args.videos,
               "duplicate_videos": args.duplicate_videos, "hard_negative_videos": args.hard_negative_videos, "archives": {}}
    shares = {"duplicate_videos": args.duplicate_videos, "hard_negative_videos": args.hard_negative_videos}
    for seed, role in [(s, "tuning") for s in args.tune_seeds] + [(s, "held out") for s in args.held_out_seeds]:
        archive = work / f"synth-{seed}"
        if not (args.reuse and (archive / "ground_truth.jsonl").is_file()):
            make_archive(archive, args.videos, seed, replace(SynthSpec(), **shares))
        summary["archives"][f"rendered seed {seed}"] = {
            "role": role, **scored(archive, work / f"synth-{seed}-out")}
    corpus = fetch(args.cache)
    for split, seeds, role in (("calibration", args.footage_tune_seeds, "tuning"), ("report", args.footage_held_out_seeds, "held out")):
        for seed in seeds:
            archive = work / f"footage-{split}-{seed}"
            if not (args.reuse and (archive / "ground_truth.jsonl").is_file()):
                make_footage_archive(archive, corpus / split, args.videos, seed, replace(FootageSpec(), **shares))
            summary["archives"][f"footage, {split} sources, seed {seed}"] = {
                "role": role, **scored(archive, work / f"footage-{split}-{seed}-out")}
    save(args.name, summary, markdown(summary))


if __name__ == "__main__":
    main()
