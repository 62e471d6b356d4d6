"""Frame conditioning on a held-out synthetic seed: frame-0 fidelity and caption following with and
without a given first frame, beside a text-only run of the same budget.

Train both runs on one archive's shards (say seed 21), hold out another archive (say seed 33), e.g.:

    vcurate train --config pipelines/train-demo.yaml --shards A21/shards --output COND --max-minutes 15
    vcurate train --config pipelines/train-demo.yaml --shards A21/shards --output TEXT --max-minutes 15 \\
        --set model.frame_condition=false
    .venv/bin/python benchmarks/frame_condition.py --run COND --text-run TEXT --held-out 'A33/shards/*.tar'

For each run: eval-gen on the 72 vocabulary prompts (`--samples-per-prompt`), and on the captions of
up to `--windows` held-out windows (one per clip) generated from the caption alone and, for the
conditioned run, given the window's first frame (held by the sampler, or only shown to the model);
the PSNR of each generated frame against the real window. Writes
benchmarks/results/frame_condition-<label>-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from vcurate.train.evalgen import PSNR_CAP, evaluate_first_frames, evaluate_generation

from results_io import save, stamp  # benchmarks/results_io.py

MODES = {"text_only": "caption only", "first_frame": "+ first frame (held)", "first_frame_model": "+ first frame (model only)"}


def measure(run: str, held_out: str, windows: int, samples_per_prompt: int) -> dict:
    summary_path = Path(run) / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return {
        "run": run, "training": summary,
        "vocabulary": evaluate_generation(run, samples_per_prompt=samples_per_prompt),
        "held_out": evaluate_first_frames(run, held_out, windows=windows),
    }


def _one_thread() -> None:
    torch.set_num_threads(1)


def _psnr(value: float) -> str:
    return "exact" if value >= PSNR_CAP else f"{value:.1f}"


def markdown(results: dict[str, dict], held_out: str) -> list[str]:
    lines = [f"# Frame conditioning: held-out first frames from `{held_out}`", "",
             "Vocabulary prompts (eval-gen, 72 colour x shape x direction captions, no frame given):", "",
             "| run | steps | minutes | colour | direction | both | jitter % |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        a, t = r["vocabulary"]["all"], r["training"]
        jitter = "-" if a["jitter_percent"] is None else f"{a['jitter_percent']:.1f}"
        lines.append(f"| {name} | {t.get('steps', '?')} | {t.get('seconds', 0) / 60:.1f} | {a['colour_accuracy']:.2f} | "
                     f"{a['direction_accuracy']:.2f} | {a['both_accuracy']:.2f} | {jitter} |")
    lines += ["", "Held-out windows' captions (one window per clip), with and without the window's first frame; "
              "PSNR (dB) of generated frames against the real window; the frames 1.. scores leave out frame 0, "
              "which a held first frame gets right by itself:", "",
              "| run | input | videos | colour | direction | both | colour, frames 1.. | direction, frames 1.. | "
              "frame 0 PSNR | frames 1.. PSNR | last frame PSNR |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        held = r["held_out"]
        for mode, label in MODES.items():
            if mode not in held:
                continue
            m, psnr = held[mode], held[mode]["psnr_by_frame"]
            later = sum(psnr[1:]) / len(psnr[1:])
            g = m["generated_frames"]
            lines.append(f"| {name} | {label} | {m['videos']} | {m['colour_accuracy']:.2f} | {m['direction_accuracy']:.2f} | "
                         f"{m['both_accuracy']:.2f} | {g['colour_accuracy']:.2f} | {g['direction_accuracy']:.2f} | "
                         f"{_psnr(psnr[0])} | {later:.1f} | {_psnr(psnr[-1])} |")
    ref = next(iter(results.values()))["held_out"].get("real_windows")  # the same windows for every run
    if ref:
        lines.append(f"| (the real windows, detector's ceiling) | - | {ref['videos']} | {ref['colour_accuracy']:.2f} | "
                     f"{ref['direction_accuracy']:.2f} | {ref['both_accuracy']:.2f} | - | - | - | - | - |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run folder of a frame-conditioned run")
    parser.add_argument("--text-run", help="run folder of a text-only run of the same budget (model.frame_condition false)")
    parser.add_argument("--held-out", required=True, help="shards of another seed's archive: first frames and captions")
    parser.add_argument("--windows", type=int, default=72)
    parser.add_argument("--samples-per-prompt", type=int, default=1)
    parser.add_argument("--label", default="seed21-heldout33")
    parser.add_argument("--parallel", action="store_true", help="measure the runs at once, one thread each")
    args = parser.parse_args()
    runs = {"frame-conditioned": args.run, **({"text-only": args.text_run} if args.text_run else {})}
    if args.parallel and len(runs) > 1:  # one process and one thread per run: 2 cores, no oversubscription
        with ProcessPoolExecutor(len(runs), initializer=_one_thread) as pool:
            futures = {name: pool.submit(measure, run, args.held_out, args.windows, args.samples_per_prompt)
                       for name, run in runs.items()}
            results = {name: future.result() for name, future in futures.items()}
    else:
        results = {name: measure(run, args.held_out, args.windows, args.samples_per_prompt) for name, run in runs.items()}
    summary = {**stamp(), "load_average": os.getloadavg(), "held_out": args.held_out, "windows": args.windows,
               "samples_per_prompt": args.samples_per_prompt, "runs": results}
    save(f"frame_condition-{args.label}", summary, markdown(results, args.held_out))


if __name__ == "__main__":
    main()
