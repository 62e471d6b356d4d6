"""The text analyzer alone on a labelled archive, judged on the true shots: which overlays it
catches and which text-free shots it flags, without scene detection, the other filters or the encode.
A quick loop for tuning the analyzer (choose on tuning seeds and calibration footage only); the
figures that count come from a whole run (`vcurate eval`, benchmarks/text_kinds.py).

    .venv/bin/python benchmarks/text_shots.py ARCHIVE [ARCHIVE ...] [--set KEY=VALUE] [--misses]

Prints per archive: overlays caught by kind, text-free shots flagged (by nuisance), and with
--misses each missed overlay and false alarm with its overlay_score.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from vcurate.analyze import StreamFacts
from vcurate.analyze.text import TextAnalyzer
from vcurate.config import PipelineConfig, parse_setting, with_settings
from vcurate.media.frames import decode_pass
from vcurate.synth.truth import read_truth


def judge_archive(archive: Path, cfg: PipelineConfig, misses: bool) -> dict:
    caught, total, flagged, clean = Counter(), Counter(), Counter(), Counter()
    scores = {"overlay": [], "text-free": []}  # overlay_score of each shot, for the margin to the threshold
    seconds = 0.0
    for video in read_truth(archive / "ground_truth.jsonl"):
        analyzer = TextAnalyzer.build(cfg, StreamFacts(video.fps, video.width, video.height, video.num_frames))
        t0 = time.perf_counter()
        decode_pass(archive / "raw" / video.video, [analyzer], cfg.analysis.short_side, fps_hint=video.fps)
        seconds += time.perf_counter() - t0
        for n, shot in enumerate(video.shots):
            score = analyzer.clip_columns(shot.start_frame, shot.end_frame)["overlay_score"]
            hit = score is not None and score > cfg.filters.text.max_overlay
            scores["overlay" if "text" in shot.defects else "text-free"].append(score or 0.0)
            if "text" in shot.defects:
                kind = str(shot.fault["text"])
                total[kind] += 1
                caught[kind] += hit
                if misses and not hit:
                    print(f"  miss {video.video}#{n} {kind} h={shot.fault.get('text_height_percent')}% "
                          f"bg={shot.background} cam={shot.camera} score={score}")
            else:
                for row in ("text-free", *shot.nuisances):
                    clean[row] += 1
                    flagged[row] += hit
                if misses and hit:
                    print(f"  false {video.video}#{n} {shot.nuisances} bg={shot.background} cam={shot.camera} score={score}")
    hits, overlays = sum(caught.values()), sum(total.values())
    return {"recall": round(hits / max(overlays, 1), 3), "caught": {k: f"{caught[k]}/{total[k]}" for k in total},
            "flagged": {k: f"{flagged[k]}/{clean[k]}" for k in clean}, "decode+text_s": round(seconds, 1),
            "mean_score": {k: round(sum(v) / max(len(v), 1), 3) for k, v in scores.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archives", nargs="+", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--misses", action="store_true")
    args = parser.parse_args()
    cfg = with_settings(PipelineConfig(), [parse_setting(s) for s in args.set], "--set")
    for archive in args.archives:
        print(archive, judge_archive(archive, cfg, args.misses), flush=True)


if __name__ == "__main__":
    main()
