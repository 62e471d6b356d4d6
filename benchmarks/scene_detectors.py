"""Scene-cut accuracy of every `split.detector` on the same labelled archives (issue #26).

Each archive is decoded once per video with every detector on the same pass (the pipeline's own
SceneAnalyzer, at the pipeline's analysis size), so the detectors see identical frames. TransNetV2's
per-frame cut probabilities are kept, so its threshold is swept without running it again, and the
hybrid is scored from the same pass's content cuts and probabilities with `hybrid_cuts`, what
`split.detector: hybrid` computes. Archives:
  - synthetic seeds (`vcurate synth`): --tune-seeds (thresholds may be chosen on them) and
    --report-seeds (never used for a choice);
  - archives cut from real footage (`vcurate synth --from-footage`): calibration sources (choices)
    and report sources (evidence), each also with hand-held shake in most shots (--shaky-share), where
    every false cut inside a shaky shot is counted.
Cut F1 is `vcurate eval`'s (greedy one-to-one matching within ±2 frames).

    .venv/bin/python benchmarks/scene_detectors.py [--synth-videos 12] [--footage-videos 8]
        [--detectors content adaptive]   # without transnetv2 (and so the hybrid): a CPU-cheap run

Writes benchmarks/results/scene_detectors-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from vcurate.analyze.scenes import SceneAnalyzer, cuts_from_probabilities, hybrid_cuts
from vcurate.config import PipelineConfig, SplitConfig
from vcurate.media.frames import decode_pass
from vcurate.synth.archive import make_archive
from vcurate.synth.eval import cut_metrics, cut_pairs
from vcurate.synth.footage import FootageSpec, make_footage_archive
from vcurate.synth.truth import TruthVideo, read_truth

from footage_corpus import CACHE  # benchmarks/footage_corpus.py
from results_io import save, stamp  # benchmarks/results_io.py

DETECTORS = ("content", "adaptive", "transnetv2")
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def build(out: Path, kind: str, videos: int, seed: int, shaky_share: float) -> list[TruthVideo]:
    """The archive at `out` (reused when its truth is there already)."""
    if (out / "ground_truth.jsonl").is_file():
        return read_truth(out / "ground_truth.jsonl")
    if kind == "synthetic":
        return make_archive(out, videos, seed)
    spec = FootageSpec(p_shake=shaky_share, p_blur=0.0, p_upscaled=0.0) if kind.endswith("-shaky") else FootageSpec()
    return make_footage_archive(out, CACHE / kind.removeprefix("footage-").removesuffix("-shaky"), videos, seed, spec)


def detect(raw: Path, truth: list[TruthVideo], cfg: PipelineConfig, detectors: tuple[str, ...] = DETECTORS,
           cache_name: str = "detections") -> dict[str, dict]:
    """video -> {detector: cuts, "probabilities": TransNetV2's per frame (when it runs), "frames",
    "seconds"}, one decode each; kept beside the archive (`cache_name`.json), so a later run only scores."""
    cache = raw.parent / f"{cache_name}.json"
    if cache.is_file():
        found = json.loads(cache.read_text())
        for f in found.values():
            if "probabilities" in f:
                f["probabilities"] = np.asarray(f["probabilities"])
        return found
    out = {}
    for video in truth:
        scenes = {name: SceneAnalyzer(replace_split(cfg.split, detector=name), video.fps) for name in detectors}
        started = time.perf_counter()
        decoded = decode_pass(raw / video.video, scenes.values(), cfg.analysis.short_side, fps_hint=video.fps)
        out[video.video] = {name: s.cuts for name, s in scenes.items()}
        if "transnetv2" in scenes:
            out[video.video]["probabilities"] = scenes["transnetv2"].source.cut_probabilities
        out[video.video]["frames"] = decoded.num_frames
        out[video.video]["seconds"] = time.perf_counter() - started
    cache.write_text(json.dumps({v: {**f, **({"probabilities": f["probabilities"].round(5).tolist()} if "probabilities" in f else {})}
                                 for v, f in out.items()}))
    return out


def replace_split(split: SplitConfig, **changes) -> SplitConfig:
    return split.model_copy(update=changes)


def in_shaky_shot(video: TruthVideo, frame: int) -> bool:
    shot = next((s for s in video.shots if s.start_frame <= frame < s.end_frame), video.shots[-1])
    return "shake" in shot.defects or shot.camera == "shake"


def score(truth: list[TruthVideo], cuts: dict[str, list[int]]) -> dict:
    """Cut precision / recall / F1 (as `vcurate eval`), false cuts inside shaky shots, and per source."""
    table = pd.DataFrame({"video": list(cuts), "cuts": list(cuts.values()), "status": "ok"})
    by_video = {t.video: t for t in truth}
    metrics = cut_metrics(table, by_video)
    shaky_false = 0
    for name, detected in cuts.items():
        hit = {d for d, _ in cut_pairs(detected, by_video[name].cuts)}
        shaky_false += sum(in_shaky_shot(by_video[name], c) for c in detected if c not in hit)
    result = {**metrics.pop(None), "false_in_shaky_shots": shaky_false}
    if len(metrics) > 0:
        result["sources"] = {src: {"f1": m["f1"], "fp": m["fp"], "fn": m["fn"]} for src, m in metrics.items() if src}
    return result


def evaluate_archive(truth: list[TruthVideo], found: dict[str, dict], split: SplitConfig,
                     detectors: tuple[str, ...] = DETECTORS) -> dict:
    out = {name: score(truth, {v: f[name] for v, f in found.items()}) for name in detectors}
    out["facts"] = facts(truth, found)
    if "transnetv2" not in detectors:
        return out
    # What TransNetScenes.finish and HybridScenes.finish compute, at the thresholds in force now:
    out["transnetv2"] = score(truth, {v: cuts_from_probabilities(f["probabilities"], split.transnet_threshold,
                                                                 split.min_scene_frames) for v, f in found.items()})
    out["hybrid"] = score(truth, {v: hybrid_cuts(f["content"], f["probabilities"], split) for v, f in found.items()})
    out["transnetv2_sweep"] = {
        str(t): score(truth, {v: cuts_from_probabilities(f["probabilities"], t, split.min_scene_frames)
                              for v, f in found.items()})
        for t in THRESHOLDS
    }
    return out


def facts(truth: list[TruthVideo], found: dict[str, dict]) -> dict:
    shaky_shots = sum(in_shaky_shot(t, s.start_frame) for t in truth for s in t.shots)
    return {"videos": len(truth), "cuts": sum(len(t.cuts) for t in truth), "shaky_shots": shaky_shots,
            "frames": sum(f["frames"] for f in found.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "cache" / "scene_detectors")
    parser.add_argument("--synth-videos", type=int, default=12)
    parser.add_argument("--tune-seeds", type=int, nargs="*", default=[11])
    parser.add_argument("--report-seeds", type=int, nargs="*", default=[41, 53, 67])
    parser.add_argument("--footage-videos", type=int, default=8)
    parser.add_argument("--footage-seed", type=int, default=1)
    parser.add_argument("--shaky-share", type=float, default=0.6, help="share of shaky shots in the shaky archive")
    parser.add_argument("--only", nargs="*", help="archive names to run (default: all)")
    parser.add_argument("--name", default="scene_detectors", help="results file name")
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS), choices=DETECTORS,
                        help="detectors to run (the hybrid is scored when transnetv2 runs)")
    args = parser.parse_args()
    detectors = tuple(args.detectors)
    scored = (*detectors, "hybrid") if "transnetv2" in detectors else detectors
    network = "transnetv2" in detectors
    cfg = PipelineConfig()
    archives = [(f"synthetic seed {s} (tuning)", "synthetic", args.synth_videos, s) for s in args.tune_seeds]
    archives += [(f"synthetic seed {s} (held out)", "synthetic", args.synth_videos, s) for s in args.report_seeds]
    for split in ("calibration", "report"):
        archives += [(f"footage, {split} sources", f"footage-{split}", args.footage_videos, args.footage_seed),
                     (f"footage, {split} sources, shaky", f"footage-{split}-shaky", args.footage_videos, args.footage_seed + 1)]
    results = {}
    for title, kind, videos, seed in archives:
        if args.only and title not in args.only:
            continue
        folder = args.work / f"{kind}-{videos}-{seed}"
        truth = build(folder, kind, videos, seed, args.shaky_share)
        found = detect(folder / "raw", truth, cfg, detectors, "detections" if network else "detections-" + "-".join(detectors))
        results[title] = evaluate_archive(truth, found, cfg.split, detectors)
        print(title, {k: (results[title][k]["f1"], results[title][k]["false_in_shaky_shots"]) for k in scored})
    sweep_header = " | transnetv2 at " + " / ".join(map(str, THRESHOLDS)) if network else ""
    lines = ["# Scene-cut F1 per detector (cuts ±2 frames; false cuts inside shaky shots)", "",
             "| archive | videos / cuts / shaky shots | " + " | ".join(scored) + sweep_header + " |",
             "|---|---|" + "---|" * (len(scored) + network)]
    for title, r in results.items():
        f = r["facts"]
        cells = [f"{r[d]['f1']:.3f} ({r[d]['false_in_shaky_shots']})" for d in scored]
        sweep = " | " + " / ".join(f"{r['transnetv2_sweep'][str(t)]['f1']:.3f}" for t in THRESHOLDS) if network else ""
        lines.append(f"| {title} | {f['videos']} / {f['cuts']} / {f['shaky_shots']} | " + " | ".join(cells) + sweep + " |")
    save(args.name, {**stamp(), "split": cfg.split.model_dump(), "results": results}, lines)


if __name__ == "__main__":
    main()
