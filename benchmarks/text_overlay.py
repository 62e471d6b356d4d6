"""The text_overlay filter's figures on labelled runs, one column per archive: precision and recall
of `text_overlay` (vcurate eval; and again with the shots of signs in a still picture left out,
which nothing in motion tells from a watermark: benchmarks/text_kinds.py counts them apart),
overlays caught by kind and clean clips kept, with each archive's role (tuning, held out,
calibration, report), and the analyzer's cost from an analysis_cost result.

    .venv/bin/python benchmarks/text_overlay.py --run NAME ROLE OUT TRUTH [--run ...]
        [--cost benchmarks/results/analysis_cost-....json] [--note TEXT] [--name text_overlay-TAG]

Writes benchmarks/results/<name>-<date>-<host>.{json,md} (name: text_overlay unless given).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vcurate.synth.eval import evaluate

from results_io import save, stamp  # benchmarks/results_io.py
from text_kinds import by_kind, text_prf_apart  # benchmarks/text_kinds.py

ROWS = (
    ("role", "role"),
    ("videos", "videos"),
    ("text_overlay precision / recall", "pr"),
    ("the same, still-shot signs apart", "pr_apart"),
    ("subtitles caught", "subtitle"),
    ("watermarks caught", "watermark"),
    ("tickers caught", "ticker"),
    ("clean clips kept (all reasons)", "clean"),
    ("clean clips rejected as text_overlay", "clean_text_rejections"),
    ("signs in a panning or zooming scene kept", "scene_text"),
    ("fine stroke patterns kept", "stroke_pattern"),
    ("signs in a still shot not taken for text (apart: nothing tells them from a mark)", "still_scene_text"),
)


def column(role: str, output: Path, truth: Path) -> dict:
    metrics = evaluate(output, truth)
    text, apart = metrics["clips"]["text"], text_prf_apart(output, truth)
    return {"role": role, "videos": metrics["videos"], "text": text, "text_still_signs_apart": apart,
            "pr": f"{text['precision']:.2f} / {text['recall']:.2f}",
            "pr_apart": f"{apart['precision']:.2f} / {apart['recall']:.2f}",
            "clean_text_rejections": metrics["clips"]["clean_rejections"].get("text_overlay", 0),
            **by_kind(output, truth)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs=4, action="append", required=True, metavar=("NAME", "ROLE", "OUT", "TRUTH"))
    parser.add_argument("--cost", type=Path, help="an analysis_cost JSON: the text analyzer's added cost")
    parser.add_argument("--note", default="", help="a line under the table")
    parser.add_argument("--name", default="text_overlay", help="results file name, e.g. text_overlay-BRANCH")
    args = parser.parse_args()
    columns = {name: column(role, Path(out), Path(truth)) for name, role, out, truth in args.run}
    summary = {**stamp(), "archives": columns}
    lines = ["# text_overlay accuracy and cost", "",
             "| | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    lines += [f"| {label} | " + " | ".join(str(c[key]) for c in columns.values()) + " |" for label, key in ROWS]
    if args.cost:
        cost = json.loads(args.cost.read_text())
        text = cost["results"]["decode+TextAnalyzer"]
        summary["cost"] = {"file": args.cost.name, "size": cost["size"], "videos": cost["videos"],
                           "decode_s": cost["results"]["decode"]["seconds"], **text}
        lines += ["", f"Cost ({args.cost.name}: {cost['videos']} videos at {cost['size']}): the text analyzer adds "
                      f"+{text['added_x_decode']:.2f}x the decode floor ({text['seconds']} s against "
                      f"{cost['results']['decode']['seconds']} s for decode alone)."]
    if args.note:
        lines += ["", args.note]
    save(args.name, summary, lines)


if __name__ == "__main__":
    main()
