"""The quality filters measured on real footage (issue #19): calibration and report sources apart.

For each split of the corpus (benchmarks/footage_corpus.py) this
  1. cuts a labelled archive from its sources (`vcurate synth --from-footage`: hand-held shake, blur
     and upscales injected; pans, zooms, CRF 18-40, noise, low light and letterboxing kept clean), runs
     the default pipeline on it (CLIP off: the captions are only "footage from X") and scores it per
     source: clean and pan/zoom clips kept, shake / blur / upscaled precision and recall (and the two
     soft faults together: a 3-4x upscale caught as blur is a right rejection there), cut F1;
  2. writes renditions of every source as web archives hold them, one video each: the source
     re-encoded at CRF 18, 28 and 35, area-downscaled renditions (640x360, 480x270 where smaller than
     the source), and the source downscaled 2x and 3x and scaled back up (bilinear, bicubic, Lanczos);
     the first two kinds must never be rejected as `upscaled` or `blur`, the last must be `upscaled`.
Thresholds may be chosen on the calibration split only; the report split's figures are the evidence.

    .venv/bin/python benchmarks/real_footage.py [--videos 30] [--seed 1] [--config pipelines/default.yaml]
        [--set filters.upscaled.enabled=true --name real_footage-upscaled] [--rescore]

Writes benchmarks/results/real_footage-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from vcurate.config import load_config, parse_setting, with_settings
from vcurate.job import run_job
from vcurate.media.encode import write_mp4
from vcurate.synth.eval import evaluate
from vcurate.synth.footage import FootageShot, FootageSpec, find_sources, make_footage_archive, render_footage_shot
from vcurate.synth.truth import TruthShot, TruthVideo, read_truth, write_truth

from footage_corpus import CACHE, fetch  # benchmarks/footage_corpus.py
from results_io import save, stamp  # benchmarks/results_io.py

RENDITION_SIZES = ((640, 360), (480, 270))


def rendition_archive(out: Path, footage: Path, seconds: float = 2.0) -> list[TruthVideo]:
    """One video per (source, rendition) from the longest usable stretch of each source."""
    spec = FootageSpec(shot_seconds=(seconds, seconds))
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    truth = []
    for source in find_sources(footage, spec):
        start, end = max(source.segments, key=lambda s: s[1] - s[0])
        n = min(end - start, int(round(seconds * source.fps)))
        native = (source.width // 2 * 2, source.height // 2 * 2)
        variants = [(f"crf{crf}", native, None, crf) for crf in (18, 28, 35)]
        variants += [(f"rendition{w}x{h}", (w, h), None, 23) for w, h in RENDITION_SIZES
                     if w * h < native[0] * native[1] and source.fills((w, h))]
        variants += [(f"up{f}x-{k}", native, {"factor": float(f), "kernel": k}, 23)
                     for f in (2, 3) for k in ("bilinear", "bicubic", "lanczos")]
        for label, size, fault, crf in variants:
            shot = FootageShot(source, start, n, size, defect="lowres" if fault else None, details=fault or {})
            rel = f"{Path(source.name).stem}-{label}.mp4"
            frames = write_mp4(raw / rel, render_footage_shot(shot, rng), size, Fraction(source.fps).limit_denominator(1001), crf)
            (raw / rel).with_suffix(".txt").write_text("footage\n")
            truth.append(TruthVideo(
                video=rel, fps=source.fps, num_frames=frames, width=size[0], height=size[1], caption_source="txt", crf=crf,
                shots=[TruthShot(start_frame=0, end_frame=frames, true_caption="footage", attached_caption="footage",
                                 defects=[shot.defect] if shot.defect else [], camera="static", source=source.name,
                                 source_start_frame=start, nuisances=shot.nuisances, fault=shot.details)]))
    write_truth(out / "ground_truth.jsonl", truth)
    return truth


def curate(config: Path, archive: Path, out: Path, settings: list) -> pd.DataFrame:
    settings = [("align.enabled", False), ("input.path", str(archive / "raw")), ("output.path", str(out)), *settings]
    cfg = with_settings(load_config(config), settings, "pipeline config")
    run_job(cfg, overwrite=True, engine="local", progress=False)
    return pd.read_parquet(out / "clips.parquet")


def rendition_table(clips: pd.DataFrame, truth: list[TruthVideo]) -> dict:
    """Per source and rendition kind: share of clips rejected as upscaled / blur."""
    out: dict[str, dict[str, dict]] = {}
    for t in truth:
        rows = clips[clips.video == t.video]
        label = t.video[len(Path(t.shots[0].source).stem) + 1 : -4]
        kind = "upscaled" if label.startswith("up") else "crf" if label.startswith("crf") else "rendition"
        entry = out.setdefault(t.shots[0].source, {}).setdefault(kind, {"clips": 0, "upscaled": 0, "blur": 0, "kept": 0})
        entry["clips"] += len(rows)
        entry["upscaled"] += int(rows.reasons.map(lambda r: "upscaled" in r).sum())
        entry["blur"] += int(rows.reasons.map(lambda r: "blur" in r).sum())
        entry["kept"] += int((rows.status == "kept").sum())
    return out


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} % ({part}/{whole})" if whole else "–"


def markdown(summary: dict) -> list[str]:
    lines = [f"# Quality filters on real footage ({summary['date']}, {summary['host']})", "",
             f"Pipeline config: `{summary['config']}` {' '.join('--set ' + s for s in summary['settings'])}, CLIP off; "
             f"archives of {summary['videos']} videos, seed {summary['seed']}"
             f"{''.join(', ' + f for f in summary.get('faults', []))}.",
             "Calibration sources may have been used to choose thresholds; report sources never were.", ""]
    for split in [s for s in ("calibration", "report") if s in summary]:
        result = summary[split]["archive"]
        lines += [f"## {split} sources: labelled archive", "",
                  "| source | clean kept | pans/zooms kept | shake P / R | blur P / R | upscaled P / R | soft (blur or upscaled) P / R | text P / R | duplicate P / R | cut F1 | clean rejected as |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        rows = [("all", result)] + list(result.get("sources", {}).items())
        for name, m in rows:
            c = m["clips"]

            def pr(d):
                return f"{c[d]['precision']:.2f} / {c[d]['recall']:.2f} ({c[d]['tp'] + c[d]['fn']})"

            lines.append(f"| {name} | {_pct(c['clean_kept']['kept'], c['clean_kept']['total'])} | "
                         f"{_pct(c['clean_pan_kept']['kept'], c['clean_pan_kept']['total'])} | {pr('shake')} | {pr('blur')} | "
                         f"{pr('lowres')} | {pr('soft')} | {pr('text')} | {pr('duplicate')} | {m['cuts']['f1']:.3f} | {c['clean_rejections']} |")
        lines += ["", f"## {split} sources: renditions (share rejected)", "",
                  "| source | CRF 18/28/35: upscaled / blur | downscaled renditions: upscaled / blur | 2x, 3x upscaled: caught as upscaled |",
                  "|---|---|---|---|"]
        for name, kinds in summary[split]["renditions"].items():
            def cell(kind, reason):
                e = kinds.get(kind)
                return _pct(e[reason], e["clips"]) if e else "–"

            lines.append(f"| {name} | {cell('crf', 'upscaled')} / {cell('crf', 'blur')} | "
                         f"{cell('rendition', 'upscaled')} / {cell('rendition', 'blur')} | {cell('upscaled', 'upscaled')} |")
        lines.append("")
    return lines


def spec_setting(text: str) -> tuple[str, float]:
    """`--fault NAME=NUMBER`: one scalar knob of FootageSpec (e.g. p_text=0.5 for a text-heavy archive)."""
    name, _, value = (part.strip() for part in text.partition("="))
    knobs = {f.name: type(f.default) for f in dataclasses.fields(FootageSpec) if type(f.default) in (int, float)}
    if name not in knobs:
        raise argparse.ArgumentTypeError(f"{name!r} is not a numeric FootageSpec knob (one of: {', '.join(knobs)})")
    try:
        number = knobs[name](value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: {value!r} is not a {knobs[name].__name__}") from None
    if name.startswith("p_") and not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"{name}: a probability, 0 to 1, got {value}")
    return name, number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config", type=Path, default=Path(__file__).parent.parent / "pipelines" / "default.yaml")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--splits", default="calibration,report")
    parser.add_argument("--set", type=parse_setting, action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="pipeline setting, e.g. filters.upscaled.enabled=true (named in the results)")
    parser.add_argument("--fault", type=spec_setting, action="append", default=[], metavar="KNOB=NUMBER",
                        help="generator knob (vcurate.synth.footage.FootageSpec), e.g. p_text=0.5 for more text shots "
                             "(named in the results)")
    parser.add_argument("--name", default="real_footage", help="results file stem (and run folder under the cache)")
    parser.add_argument("--rescore", action="store_true",
                        help="score the outputs of the earlier run of this --name again (after a change to the "
                             "scoring only): no archive made, no pipeline run")
    args = parser.parse_args()
    corpus = fetch(args.cache)
    summary = {**stamp(), "config": str(args.config), "settings": [f"{k}={v}" for k, v in args.set],
               "faults": [f"{k}={v}" for k, v in args.fault],
               "videos": args.videos, "seed": args.seed}
    for split in args.splits.split(","):
        work = args.cache / "runs" / args.name / split
        if args.rescore:
            if not (work / "renditions-out" / "clips.parquet").is_file():
                raise SystemExit(f"--rescore: no finished run of {args.name!r} under {work}")
            rendition_truth = read_truth(work / "renditions" / "ground_truth.jsonl")
            clips = pd.read_parquet(work / "renditions-out" / "clips.parquet")
        else:
            shutil.rmtree(work, ignore_errors=True)
            make_footage_archive(work / "archive", corpus / split, args.videos, args.seed, FootageSpec(**dict(args.fault)))
            curate(args.config, work / "archive", work / "out", args.set)
            rendition_truth = rendition_archive(work / "renditions", corpus / split)
            clips = curate(args.config, work / "renditions", work / "renditions-out", args.set)
        summary[split] = {"archive": evaluate(work / "out", work / "archive" / "ground_truth.jsonl"),
                          "renditions": rendition_table(clips, rendition_truth)}
    save(args.name, summary, markdown(summary))


if __name__ == "__main__":
    main()
