"""The text filter on a labelled run, by kind: burned-in subtitles, watermarks and tickers caught;
clean clips kept, and among them the hard negatives (signs in a panning or zooming scene, fine
stroke patterns); and apart, signs in a still shot (a frozen frame, a slideshow: labelled static)
not taken for text, which nothing in motion tells from a watermark. `vcurate eval` gives the totals;
this says which kind fails.

    .venv/bin/python benchmarks/text_kinds.py OUT ARCHIVE/ground_truth.jsonl [OUT2 TRUTH2 ...]

Prints one markdown table, a column per run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from vcurate.synth.eval import prf, shot_of
from vcurate.synth.truth import read_truth

ROWS = ("subtitle", "watermark", "ticker", "clean", "scene_text", "stroke_pattern", "still_scene_text")


def still_signs(shot) -> bool:
    """Signs in a still shot: scene text that nothing in motion tells from a watermark."""
    return "scene_text" in shot.nuisances and shot.camera == "static"


def text_prf_apart(output: Path, truth_path: Path) -> dict:
    """text_overlay precision / recall (vcurate.synth.eval.prf) over the clips not of still signs' shots."""
    truth = {t.video: t for t in read_truth(truth_path)}
    tp = fp = fn = 0
    for clip in pd.read_parquet(output / "clips.parquet").itertuples():
        if clip.video not in truth:
            continue
        shot = shot_of(truth[clip.video], clip.start_frame, clip.end_frame)
        if still_signs(shot) and "text" not in shot.defects:
            continue
        caught, actual = "text_overlay" in set(clip.reasons), "text" in shot.defects
        tp, fp, fn = tp + (caught and actual), fp + (caught and not actual), fn + (actual and not caught)
    return prf(tp, fp, fn)


def by_kind(output: Path, truth_path: Path) -> dict[str, str]:
    truth = {t.video: t for t in read_truth(truth_path)}
    clips = pd.read_parquet(output / "clips.parquet")
    counts = {row: [0, 0] for row in ROWS}  # [hits, total]: caught for overlays, kept for clean clips
    for clip in clips.itertuples():
        if clip.video not in truth:
            continue
        shot = shot_of(truth[clip.video], clip.start_frame, clip.end_frame)
        caught = "text_overlay" in set(clip.reasons)
        signs_still = still_signs(shot)
        if "text" in shot.defects:
            kind = str(shot.fault.get("text"))
            counts[kind][0] += caught
            counts[kind][1] += 1
        elif signs_still:
            counts["still_scene_text"][0] += not caught
            counts["still_scene_text"][1] += 1
        if not shot.defects and shot.attached_caption is not None and not shot.overlap_of:  # as vcurate eval counts them
            for row in ("clean", *(n for n in shot.nuisances if n in ROWS and not (signs_still and n == "scene_text"))):
                counts[row][0] += clip.status == "kept"
                counts[row][1] += 1
    return {row: f"{hits}/{total}" if total else "-" for row, (hits, total) in counts.items()}


def main() -> None:
    args = sys.argv[1:]
    if not args or len(args) % 2:
        sys.exit(__doc__)
    runs = [(Path(args[i]), Path(args[i + 1])) for i in range(0, len(args), 2)]
    columns = [by_kind(out, truth) for out, truth in runs]
    print("| | " + " | ".join(out.name for out, _ in runs) + " |")
    print("|---|" + "---:|" * len(runs))
    for row in ROWS:
        what = "caught" if row in ("subtitle", "watermark", "ticker") else "not text" if row == "still_scene_text" else "kept"
        print(f"| {row} ({what}) | " + " | ".join(c[row] for c in columns) + " |")


if __name__ == "__main__":
    main()
