"""Training loop: AdamW, warm-up, gradient clipping, EMA weights, bf16 autocast on CUDA, atomic
checkpoints that load with `weights_only=True` and resume to the same next-step loss."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from vcurate import devices
from vcurate.checkpoints import load_weights_only
from vcurate.errors import VcurateError
from vcurate.train.config import RunConfig, TrainConfig
from vcurate.train.data import make_loader, resolve_shards
from vcurate.train.diffusion import flow_loss, to_model_input
from vcurate.train.model import VideoDiT
from vcurate.train.sampling import generate, save_video

CHECKPOINT_FORMAT = "vcurate-train/1"


class RunError(VcurateError, ValueError):
    """A run folder or checkpoint that cannot be used as asked."""


def resolve_device(name: str) -> torch.device:
    return devices.resolve_device(name, RunError, "run.device")


def build_model(cfg: TrainConfig) -> VideoDiT:
    return VideoDiT(cfg.model, frames=cfg.data.frames, size=cfg.data.size, context=cfg.data.max_text_tokens)


class Trainer:
    """One model, its EMA copy, optimizer and random state; `step` advances all of them together."""

    def __init__(self, cfg: TrainConfig, device: str | None = None):
        self.cfg = cfg
        self.device = resolve_device(device or cfg.run.device)
        torch.manual_seed(cfg.run.seed)
        self.model = build_model(cfg).to(self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False).eval()
        decay, no_decay = [], []
        for p in self.model.parameters():
            (decay if p.dim() >= 2 else no_decay).append(p)
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.optim.lr, betas=(0.9, 0.99),
        )
        self.generator = torch.Generator(self.device).manual_seed(cfg.run.seed)
        self.step = 0
        precision = cfg.run.precision
        self.bf16 = precision == "bf16" or (precision == "auto" and self.device.type == "cuda")

    def autocast(self):
        if self.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def lr(self) -> float:
        warmup = self.cfg.optim.warmup_steps
        return self.cfg.optim.lr * min(1.0, (self.step + 1) / warmup) if warmup else self.cfg.optim.lr

    def train_step(self, frames: torch.Tensor, tokens: torch.Tensor) -> float:
        """One optimizer step on a batch of uint8 windows and their caption tokens; returns the loss."""
        self.model.train()
        x0 = to_model_input(frames.to(self.device, non_blocking=True))
        tokens = tokens.to(self.device, non_blocking=True)
        drop = torch.rand(x0.shape[0], device=self.device, generator=self.generator) < self.cfg.diffusion.caption_dropout
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr()
        with self.autocast():
            caption = self.model.caption_embedding(tokens, drop)
            loss = flow_loss(self.model, x0, caption, self.generator, self.cfg.diffusion)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._update_ema()
        self.step += 1
        return float(loss.detach())

    @torch.no_grad()
    def evaluate_loss(self, frames: torch.Tensor, tokens: torch.Tensor, seed: int = 0) -> float:
        """Loss of the current weights with fixed times and noise, so two calls are comparable."""
        self.model.eval()
        generator = torch.Generator(self.device).manual_seed(seed)
        with self.autocast():
            caption = self.model.caption_embedding(tokens.to(self.device))
            return float(flow_loss(self.model, to_model_input(frames.to(self.device)), caption, generator,
                                   self.cfg.diffusion))

    @torch.no_grad()
    def _update_ema(self) -> None:
        # Early on the EMA follows the model closely, so short runs still sample from trained weights.
        decay = min(self.cfg.optim.ema_decay, (1 + self.step) / (10 + self.step))
        for e, p in zip(self.ema.parameters(), self.model.parameters()):
            e.lerp_(p.detach(), 1 - decay)

    def state_dict(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "config": self.cfg.model_dump(mode="json"),
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint under a temporary name and rename it, so a crash never leaves half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)
        return path

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | None = None, run: RunConfig | None = None) -> "Trainer":
        """The trainer a checkpoint saved; `run` (device, precision, ...) replaces the saved run settings
        before anything is placed on a device, so a run started on CUDA resumes on the CPU when asked."""
        state = read_checkpoint(path)
        cfg = TrainConfig.model_validate(state["config"])
        trainer = cls(cfg if run is None else cfg.model_copy(update={"run": run}), device=device)
        trainer.load_state(state)
        return trainer


def read_checkpoint(path: str | Path) -> dict:
    """A training checkpoint, loaded without unpickling arbitrary objects; clear errors for bad files."""
    state = load_weights_only(path, RunError, "training checkpoint")
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{path}: not a vcurate training checkpoint")
    return state


def check_same_shape(saved: TrainConfig, new: TrainConfig) -> None:
    """A run can only be resumed with the model and window shape its checkpoint was trained with."""
    shape = lambda c: (c.model, c.data.frames, c.data.size, c.data.max_text_tokens)  # noqa: E731
    if shape(saved) != shape(new):
        raise RunError("the checkpoint was trained with another model or window shape (model, data.frames, "
                       "data.size, data.max_text_tokens); resume with the run's own config (RUN/config.json)")


@dataclass
class RunPaths:
    """Where a training run keeps its files."""

    root: Path

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoints" / "last.pt"

    @property
    def log(self) -> Path:
        return self.root / "log.jsonl"

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    def samples(self, step: int) -> Path:
        return self.root / "samples" / f"step-{step:06d}"


class LogWriter:
    """Appends one JSON object per line, flushed, so a crashed run keeps its history."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("a", encoding="utf-8")

    def write(self, **row) -> None:
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def load_ema(run: str | Path, device: str = "auto") -> tuple[VideoDiT, TrainConfig]:
    """The EMA model of a run folder (or of a checkpoint file), ready for sampling."""
    path = Path(run)
    path = RunPaths(path).checkpoint if path.is_dir() else path
    state = read_checkpoint(path)
    cfg = TrainConfig.model_validate(state["config"])
    model = build_model(cfg)
    model.load_state_dict(state["ema"])
    return model.to(resolve_device(device)).eval(), cfg


def write_samples(trainer: Trainer, folder: Path) -> list[Path]:
    """One mp4 per configured prompt from the EMA weights (fixed seed, so steps are comparable)."""
    prompts = trainer.cfg.run.sample_prompts
    videos = generate(trainer.ema, trainer.cfg, prompts, seed=trainer.cfg.run.seed)
    (folder).mkdir(parents=True, exist_ok=True)
    (folder / "prompts.txt").write_text("\n".join(prompts) + "\n", encoding="utf-8")
    return [save_video(folder / f"{i:02d}.mp4", v, upscale=4) for i, v in enumerate(videos)]


@dataclass
class TrainResult:
    steps: int
    seconds: float
    steps_per_second: float
    loss: float
    device: str
    stopped: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def train(cfg: TrainConfig, run: str | Path, resume: bool = False, progress=None) -> TrainResult:
    """Train on cfg.data.shards into the run folder until run.max_steps or run.max_minutes.

    A run folder that already holds a checkpoint is continued only with `resume`, never overwritten."""
    paths = RunPaths(Path(run))
    if paths.checkpoint.exists() and not resume:
        step = read_checkpoint(paths.checkpoint)["step"]
        raise RunError(f"{run} already holds a training run (step {step}); pass --resume to continue it or choose another output")
    if resume and not paths.checkpoint.exists():
        raise RunError(f"nothing to resume: {paths.checkpoint} does not exist")
    if cfg.data.shards is None:
        raise RunError("no shards given: set data.shards in the config or pass --shards")
    shards = resolve_shards(cfg.data.shards)
    trainer = Trainer.from_checkpoint(paths.checkpoint, run=cfg.run) if resume else Trainer(cfg)
    if resume:
        check_same_shape(trainer.cfg, cfg)
        trainer.cfg = cfg  # the new run settings (steps, minutes, data, optimizer) apply from here on
    if trainer.step >= cfg.run.max_steps:
        raise RunError(f"{run} is already at step {trainer.step}; raise run.max_steps (--max-steps) to train further")
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(json.dumps(cfg.model_dump(mode="json"), indent=2), encoding="utf-8")
    log = LogWriter(paths.log)
    # Epochs are re-seeded from the step, so a resumed run does not replay the windows it already saw.
    loader = make_loader(shards, cfg.data, seed=cfg.run.seed, start_epoch=trainer.step)
    started, first_step = time.perf_counter(), trainer.step
    deadline = started + cfg.run.max_minutes * 60 if cfg.run.max_minutes else None
    losses: list[float] = []
    stopped = "max_steps"
    try:
        for frames, tokens, _ in loader:
            losses.append(trainer.train_step(frames, tokens))
            step = trainer.step
            if step % cfg.run.log_every == 0:
                elapsed = time.perf_counter() - started
                log.write(step=step, loss=sum(losses[-cfg.run.log_every:]) / len(losses[-cfg.run.log_every:]),
                          lr=trainer.lr(), seconds=round(elapsed, 2))
            if progress:
                progress(step, cfg.run.max_steps, losses[-1])
            if step % cfg.run.checkpoint_every == 0:
                trainer.save(paths.checkpoint)
            if step % cfg.run.sample_every == 0:
                write_samples(trainer, paths.samples(step))
            if step >= cfg.run.max_steps:
                break
            if deadline and time.perf_counter() >= deadline:
                stopped = "max_minutes"
                break
    finally:
        log.close()
    if not losses:
        raise RunError("no training windows could be read from the shards (see warnings above)")
    trainer.save(paths.checkpoint)
    if not paths.samples(trainer.step).exists():
        write_samples(trainer, paths.samples(trainer.step))
    seconds = time.perf_counter() - started
    tail = losses[-cfg.run.log_every:]
    result = TrainResult(
        steps=trainer.step, seconds=round(seconds, 2), steps_per_second=round((trainer.step - first_step) / seconds, 4),
        loss=sum(tail) / len(tail), device=str(trainer.device), stopped=stopped,
    )
    paths.summary.write_text(json.dumps(result.as_dict(), indent=2), encoding="utf-8")
    return result
