"""The static filter (issue #21) measured: frozen frames, slideshows, pans and zooms over a still
caught; a still camera over a moving scene, pans and zooms over moving subjects kept.

Archives: rendered seeds (`vcurate synth`; the tuning seed apart from the held-out ones) and archives
cut from the real-footage corpus (benchmarks/footage_corpus.py: calibration sources apart from report
sources), each with still pictures at a raised rate (`--static-share` of fault-free shots) so every
kind is well represented. Each runs the default pipeline with `filters.static.enabled=true` (CLIP
off) and is scored against its labels: static precision / recall, recall per kind of still, clean
clips kept (all, still camera, pans and zooms), clean clips rejected as static by source.

    .venv/bin/python benchmarks/static_accuracy.py [--videos 16] [--tune-seeds 11] [--held-out-seeds 33 44]
        [--footage-seed 1] [--set filters.static.min_motion=0.25]

Writes benchmarks/results/static_accuracy-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd

from vcurate.config import load_config, parse_setting, with_settings
from vcurate.synth.archive import SynthSpec, make_archive
from vcurate.synth.eval import evaluate, shot_of
from vcurate.synth.footage import FootageSpec, make_footage_archive
from vcurate.synth.truth import read_truth

from footage_corpus import CACHE, fetch  # benchmarks/footage_corpus.py
from real_footage import curate  # benchmarks/real_footage.py
from results_io import save, stamp  # benchmarks/results_io.py

CONFIG = Path(__file__).parent.parent / "pipelines" / "default.yaml"


def by_kind(out: Path, truth_path: Path) -> dict:
    """Per kind of still (and per source of clean clips rejected as static): clips, and how many were
    rejected as static."""
    truth = {t.video: t for t in read_truth(truth_path)}
    clips = pd.read_parquet(out / "clips.parquet")
    kinds: dict[str, list[int]] = {}
    false_static: dict[str, list[int]] = {}
    for row in clips.itertuples():
        if row.video not in truth:
            continue
        shot = shot_of(truth[row.video], row.start_frame, row.end_frame)
        caught = "static" in row.reasons
        if "static" in shot.defects:
            entry = kinds.setdefault(str(shot.fault.get("still")), [0, 0])
        elif not shot.defects:
            entry = false_static.setdefault(shot.source or f"camera {shot.camera}", [0, 0])
        else:
            continue
        entry[0] += 1
        entry[1] += caught
    return {"static_kinds": {k: {"clips": c, "static": s} for k, (c, s) in sorted(kinds.items())},
            "clean_by_source": {k: {"clips": c, "static": s} for k, (c, s) in sorted(false_static.items())}}


def measure(archive: Path, out: Path, settings: list) -> dict:
    curate(CONFIG, archive, out, [("filters.static.enabled", True), *settings])
    truth = archive / "ground_truth.jsonl"
    result = evaluate(out, truth)["clips"]
    return {"static": result.get("static"), "clean_kept": result["clean_kept"],
            "clean_static_camera_kept": result["clean_static_camera_kept"], "clean_pan_kept": result["clean_pan_kept"],
            **by_kind(out, truth)}


def _share(d: dict) -> str:
    return f"{d['kept']}/{d['total']}" if d["total"] else "–"


def markdown(summary: dict) -> list[str]:
    lines = [f"# Static filter accuracy ({summary['date']}, {summary['host']})", "",
             f"Default pipeline, `filters.static.enabled=true` (min_motion {summary['min_motion']}) "
             f"{' '.join('--set ' + s for s in summary['settings'])}, "
             f"CLIP off; {summary['videos']} videos an archive, still pictures on {summary['static_share']:.0%} of "
             "fault-free shots. *Tuning* archives may have been used to choose the design and threshold; *held-out* never.", "",
             "| archive | role | static P / R | frozen | slideshow | pan | zoom | held | clean kept | still camera kept | pans/zooms kept |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in summary["archives"].items():
        s = m["static"]
        kinds = m["static_kinds"]

        def kind(k: str) -> str:
            return f"{kinds[k]['static']}/{kinds[k]['clips']}" if k in kinds else "–"

        lines.append(f"| {name} | {m['role']} | {s['precision']:.2f} / {s['recall']:.2f} | {kind('frozen')} | "
                     f"{kind('slideshow')} | {kind('pan')} | {kind('zoom')} | {kind('held')} | {_share(m['clean_kept'])} | "
                     f"{_share(m['clean_static_camera_kept'])} | {_share(m['clean_pan_kept'])} |")
    lines += ["", "Clean clips rejected as static, by footage source (or camera, for rendered archives):", ""]
    for name, m in summary["archives"].items():
        cells = ", ".join(f"{k} {v['static']}/{v['clips']}" for k, v in m["clean_by_source"].items())
        lines.append(f"- {name}: {cells}")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--tune-seeds", type=int, nargs="*", default=[11])
    parser.add_argument("--held-out-seeds", type=int, nargs="*", default=[33, 44])
    parser.add_argument("--footage-seed", type=int, default=1)
    parser.add_argument("--footage-splits", default="calibration,report")
    parser.add_argument("--static-share", type=float, default=0.4)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--set", type=parse_setting, action="append", default=[], metavar="KEY.PATH=VALUE")
    parser.add_argument("--name", default="static_accuracy")
    args = parser.parse_args()
    work = args.cache / "runs" / args.name
    shutil.rmtree(work, ignore_errors=True)
    threshold = with_settings(load_config(CONFIG), args.set, "pipeline config").filters.static.min_motion
    summary = {**stamp(), "settings": [f"{k}={v}" for k, v in args.set], "min_motion": threshold, "videos": args.videos,
               "static_share": args.static_share, "archives": {}}
    rendered = replace(SynthSpec(), p_static=args.static_share, duplicate_videos=0.0, hard_negative_videos=0.0)
    for seed, role in [(s, "tuning") for s in args.tune_seeds] + [(s, "held-out") for s in args.held_out_seeds]:
        make_archive(work / f"synth-{seed}", args.videos, seed, rendered)
        summary["archives"][f"rendered seed {seed}"] = {
            "role": role, **measure(work / f"synth-{seed}", work / f"synth-{seed}-out", args.set)}
    corpus = fetch(args.cache) if args.footage_splits else None
    footage = replace(FootageSpec(), p_static=args.static_share, duplicate_videos=0.0, hard_negative_videos=0.0)
    for split in filter(None, args.footage_splits.split(",")):
        archive = work / f"footage-{split}"
        make_footage_archive(archive, corpus / split, args.videos, args.footage_seed, footage)
        summary["archives"][f"footage {split} sources"] = {
            "role": "tuning" if split == "calibration" else "held-out", **measure(archive, work / f"{split}-out", args.set)}
    save(args.name, summary, markdown(summary))


if __name__ == "__main__":
    main()
