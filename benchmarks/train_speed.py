"""Training speed of the bundled video diffusion model: optimizer steps/s and windows/s on one device.

Random batches of the configured window shape (data loading excluded: this measures the model), a
few warm-up steps first. Compare CPU against CUDA (bf16 autocast) with the same config.

    .venv/bin/python benchmarks/train_speed.py [--config pipelines/train-demo.yaml] [--device cpu|cuda]
        [--precision fp32|bf16] [--batch-sizes 16 64] [--steps 20]

Writes benchmarks/results/train_speed-<device>-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from vcurate.train.config import load_train_config
from vcurate.train.model import count_parameters
from vcurate.train.trainer import Trainer

from results_io import save, stamp  # benchmarks/results_io.py


def steps_per_second(cfg, device: str, steps: int) -> float:
    trainer = Trainer(cfg, device=device)
    d = cfg.data
    frames = torch.randint(0, 256, (d.batch_size, d.frames, d.size, d.size, 3), dtype=torch.uint8)
    tokens = torch.randint(1, 1000, (d.batch_size, d.max_text_tokens))
    for _ in range(3):
        trainer.train_step(frames, tokens)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(frames, tokens)  # returns a float: synchronizes every step, as real training does
    return steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(Path(__file__).parents[1] / "pipelines" / "train-demo.yaml"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[16])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    base = load_train_config(args.config)
    rows = []
    for precision in args.precision:
        for batch in args.batch_sizes:
            cfg = base.model_copy(deep=True)
            cfg.data.batch_size, cfg.run.precision = batch, precision
            rate = steps_per_second(cfg, args.device, args.steps)
            rows.append({"device": args.device, "precision": precision, "batch_size": batch,
                         "threads": torch.get_num_threads(), "steps_per_s": round(rate, 3),
                         "windows_per_s": round(rate * batch, 1)})
    model = Trainer(base, device="cpu").model
    summary = {**stamp(), "config": args.config,
               "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
               "parameters": count_parameters(model), "window": [base.data.frames, base.data.size, base.data.size],
               "rows": rows}
    title = summary["gpu"] or f"CPU, {torch.get_num_threads()} threads"
    lines = [f"# Training speed ({title}; {summary['parameters'] / 1e6:.1f} M parameters, "
             f"windows of {base.data.frames}x{base.data.size}x{base.data.size})", "",
             "| precision | batch | steps/s | windows/s |", "|---|---:|---:|---:|"]
    lines += [f"| {r['precision']} | {r['batch_size']} | {r['steps_per_s']} | {r['windows_per_s']} |" for r in rows]
    save(f"train_speed-{args.device}", summary, lines)


if __name__ == "__main__":
    main()
