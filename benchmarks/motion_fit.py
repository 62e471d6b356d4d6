"""Can a model config fit motion at all? Overfit a few real training windows, then look for their motion.

Issue #6's direction accuracy sits at chance; this separates "the model cannot represent motion" from
"it has not seen enough data". It takes `--windows` windows from the shards, the same number per
direction, whose motion the eval detector reads as captioned, trains on them alone for `--steps`
steps, and with the EMA weights reports
  denoised  the object's travel from first to last frame along the captioned direction (pixels) in
            the model's clean-video prediction of those windows noised to t = 0.5 and t = 0.7,
            against the windows' own travel
  sampled   the same travel in videos generated from their captions (the trainer's sampler), and how
            many of them eval-gen's detector reads as moving the captioned way

    .venv/bin/python benchmarks/motion_fit.py --shards 'OUT/shards/*.tar' [--config pipelines/train-demo.yaml]
        [--set model.attention=joint --set model.rope=true ...] [--windows 8] [--steps 600] [--label joint]

Writes benchmarks/results/motion_fit-<label>-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import yaml

from vcurate.synth.archive import DIRECTIONS
from vcurate.train.config import TrainConfig, load_train_config
from vcurate.train.data import resolve_shards, tokenize
from vcurate.train.diffusion import to_frames, to_model_input
from vcurate.train.evalgen import MIN_CHROMA, detect, parse_caption, real_windows
from vcurate.train.sampling import generate
from vcurate.train.trainer import Trainer

from results_io import save, stamp  # benchmarks/results_io.py


def with_overrides(cfg: TrainConfig, pairs: list[str]) -> TrainConfig:
    """`section.key=value` overrides (YAML values) on a validated config."""
    raw = cfg.model_dump()
    for pair in pairs:
        key, _, value = pair.partition("=")
        section, _, name = key.partition(".")
        if section not in raw or name not in raw[section]:
            raise SystemExit(f"--set {pair}: no such key {key!r}")
        raw[section][name] = yaml.safe_load(value)
    return TrainConfig.model_validate(raw)


def pick_windows(cfg: TrainConfig, shards: list[str], count: int) -> tuple[np.ndarray, list[str]]:
    """`count` windows, as many per direction as possible, whose detected motion agrees with the caption."""
    frames, captions = real_windows(shards, cfg.data, 50 * count)
    per_direction = max(1, count // len(DIRECTIONS))
    picked: list[int] = []
    for i, caption in enumerate(captions):
        parsed = parse_caption(caption)
        if parsed and sum(parse_caption(captions[j])[2] == parsed[2] for j in picked) < per_direction \
                and detect(frames[i]).direction == parsed[2]:
            picked.append(i)
    if not picked:
        raise SystemExit("no window of the shards has a synthetic-vocabulary caption the detector agrees with")
    return frames[picked[:count]], [captions[i] for i in picked[:count]]


def travel(video: np.ndarray, direction: str) -> float:
    """Pixels the high-chroma object's centroid moves from the first to the last frame, along `direction`
    (NaN when either frame shows none)."""
    ends = []
    for frame in (video[0], video[-1]):
        ys, xs = np.nonzero((frame.max(-1).astype(np.int16) - frame.min(-1)) >= MIN_CHROMA)
        ends.append((xs.mean(), ys.mean()) if len(xs) else (np.nan, np.nan))
    return float(np.dot(np.subtract(ends[1], ends[0]), DIRECTIONS[direction]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", required=True)
    parser.add_argument("--config", default="pipelines/train-demo.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--label", default="demo", help="names the results file")
    args = parser.parse_args()
    if args.steps < 1 or args.windows < 1:
        parser.error("--steps and --windows must be at least 1")
    cfg = with_overrides(load_train_config(args.config), ["optim.warmup_steps=20", *args.set])
    torch.manual_seed(cfg.run.seed)
    frames, captions = pick_windows(cfg, resolve_shards(args.shards), args.windows)
    directions = [parse_caption(c)[2] for c in captions]
    tokens = tokenize(captions, cfg.data.max_text_tokens)
    trainer = Trainer(cfg, device="cpu")
    started = time.perf_counter()
    for _ in range(args.steps):
        loss = trainer.train_step(torch.from_numpy(frames), tokens)
    seconds = time.perf_counter() - started
    model = trainer.ema.eval()
    generator = torch.Generator().manual_seed(1)
    x0 = to_model_input(torch.from_numpy(frames))
    rows = {"truth": [travel(v, d) for v, d in zip(frames, directions)]}
    with torch.no_grad():
        caption = model.caption_embedding(tokens)
        for t in (0.5, 0.7):
            noisy = (1 - t) * x0 + t * torch.randn(x0.shape, generator=generator)
            clean = to_frames(model(noisy, torch.full((len(frames),), t), caption).float()).numpy()
            rows[f"denoised t={t}"] = [travel(v, d) for v, d in zip(clean, directions)]
    sampled = generate(model, cfg, captions, seed=1)
    rows["sampled"] = [travel(v, d) for v, d in zip(sampled, directions)]
    right = sum(detect(v).direction == d for v, d in zip(sampled, directions))
    summary = {**stamp(), "label": args.label, "config": args.config, "overrides": args.set, "steps": args.steps,
               "train_seconds": round(seconds, 1), "final_loss": round(loss, 4), "captions": captions,
               "travel_px": {k: [round(v, 2) for v in vals] for k, vals in rows.items()},
               "sampled_direction_right": right, "windows": len(frames)}
    lines = [f"# Motion fit: {args.label} ({', '.join(args.set) or 'config as is'}), {len(frames)} windows, "
             f"{args.steps} steps ({seconds:.0f} s CPU), final loss {loss:.4f}", "",
             "| travel along the captioned direction, px | " + " | ".join(directions) + " | mean |",
             "|---|" + "---:|" * (len(frames) + 1)]
    for name, vals in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in vals) + f" | {np.nanmean(vals):.2f} |")
    lines += ["", f"Sampled videos moving the captioned way (eval-gen's detector): {right} / {len(frames)}."]
    save(f"motion_fit-{args.label}", summary, lines)


if __name__ == "__main__":
    main()
