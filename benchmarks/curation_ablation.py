"""What curation is worth to the trainer: the same model, the same number of steps, on shards of the
same raw archive curated with pipelines/default.yaml vs pipelines/unfiltered.yaml (every filter off).

Both shard sets must come from one archive, e.g.:

    vcurate synth ARCH --videos 150 --seed 33
    vcurate run pipelines/default.yaml --input ARCH/raw --output CURATED --clip-model vcurate-small \\
        --clip-pretrained demo/clip.pt --clip-min-score auto
    vcurate run pipelines/unfiltered.yaml --input ARCH/raw --output RAW
    .venv/bin/python benchmarks/curation_ablation.py --curated CURATED/shards --raw RAW/shards --steps 2000 --work /tmp/ablation

A run folder under --work that already holds a finished run of --steps steps is evaluated as it is
(so a timed `vcurate train` run can be one side of the comparison).

Reports caption-following accuracy (colour, direction, both) and jitter of each model's generated
videos (`vcurate eval-gen`, 4 samples per vocabulary prompt), and the detector's score on each
shard set's own windows (how often a training caption is wrong about what is seen).
Writes benchmarks/results/curation_ablation-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vcurate.train.config import load_train_config
from vcurate.train.evalgen import evaluate_generation
from vcurate.train.trainer import train

from results_io import save, stamp  # benchmarks/results_io.py


ROOT = Path(__file__).parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curated", required=True, help="shards of the default pipeline")
    parser.add_argument("--raw", required=True, help="shards of the unfiltered pipeline, same archive")
    parser.add_argument("--config", default=str(ROOT / "pipelines" / "train-demo.yaml"))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--samples-per-prompt", type=int, default=4)
    parser.add_argument("--work", required=True, help="folder for the two training runs")
    args = parser.parse_args()
    rows = {}
    for name, shards in (("curated", args.curated), ("unfiltered", args.raw)):
        cfg = load_train_config(args.config)
        cfg.data.shards, cfg.run.max_steps, cfg.run.max_minutes = shards, args.steps, None
        run = Path(args.work) / name
        done = run / "summary.json"
        if done.exists():  # a finished run of the same length (e.g. a timed one) is evaluated, not retrained
            result = json.loads(done.read_text())
            if result["steps"] != args.steps:
                raise SystemExit(f"{run} holds a run of {result['steps']} steps, not {args.steps}")
        else:
            result = train(cfg, run).as_dict()
        evaluation = evaluate_generation(run, samples_per_prompt=args.samples_per_prompt)
        rows[name] = {"train": result, "generated": evaluation["all"],
                      "training_windows": evaluation["real_windows_reference"]}
        print(name, json.dumps(rows[name]["generated"]))
    summary = {**stamp(), "config": args.config, "steps": args.steps,
               "samples_per_prompt": args.samples_per_prompt, "runs": rows}
    lines = [f"# Curation ablation ({args.steps} steps each, {args.samples_per_prompt} samples per prompt)", "",
             "| shards | minutes | colour acc. | direction acc. | both | jitter % | training windows: caption colour right |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, row in rows.items():
        g, w = row["generated"], row["training_windows"]
        lines.append(f"| {name} | {row['train']['seconds'] / 60:.1f} | {g['colour_accuracy']:.3f} | "
                     f"{g['direction_accuracy']:.3f} | {g['both_accuracy']:.3f} | {g['jitter_percent'] or float('nan'):.2f} | "
                     f"{w.get('colour_accuracy', float('nan')):.3f} |")
    save("curation_ablation", summary, lines)


if __name__ == "__main__":
    main()
