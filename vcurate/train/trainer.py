"""Training loop: AdamW, warm-up, gradient clipping, EMA weights, bf16 autocast on CUDA, atomic
checkpoints that load with `weights_only=True` and resume to the same next-step loss.

Under torchrun (`torchrun --nproc_per_node N -m vcurate.cli train ...`) every rank trains a
DistributedDataParallel copy on its share of each global batch (data.batch_size); rank 0 writes the run
folder, and a checkpoint resumes on any number of ranks."""

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
from vcurate.train.config import DiffusionConfig, RunConfig, TrainConfig
from vcurate.train.data import caption_vocabulary, make_loader, resolve_shards, shard_captions
from vcurate.train.diffusion import draw_condition, drop_words, flow_loss, to_model_input
from vcurate.train.distributed import (
    Ranks, any_rank, barrier, mean_over_ranks, process_group, rank_device, ranks_from_env,
)
from vcurate.train.model import FrameCondition, VideoDiT
from vcurate.train.sampling import generate, save_video

CHECKPOINT_FORMAT = "vcurate-train/1"


class RunError(VcurateError, ValueError):
    """A run folder or checkpoint that cannot be used as asked."""


def resolve_device(name: str) -> torch.device:
    return devices.resolve_device(name, RunError, "run.device")


def use_threads(run: RunConfig) -> None:
    """Apply run.threads (None leaves torch's default)."""
    if run.threads is not None:
        torch.set_num_threads(run.threads)


def build_model(cfg: TrainConfig, vocab: torch.Tensor | None = None) -> VideoDiT:
    """`vocab`: the caption token ids of model.caption_vocab shards (caption_vocabulary, saved_vocab)."""
    return VideoDiT(cfg.model, frames=cfg.data.frames, size=cfg.data.size, context=cfg.data.max_text_tokens, vocab=vocab)


def saved_vocab(state: dict) -> torch.Tensor | None:
    """The compact caption vocabulary a checkpoint's model was built with (None: every CLIP token)."""
    return state["ema"].get("text.vocab")


class FlowObjective(torch.nn.Module):
    """The training loss as one module, so DistributedDataParallel sees the caption encoder and the
    video transformer in a single forward."""

    def __init__(self, model: VideoDiT, cfg: DiffusionConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, x0: torch.Tensor, tokens: torch.Tensor, drop: torch.Tensor, generator: torch.Generator,
                given: FrameCondition | None = None) -> torch.Tensor:
        caption = self.model.caption_embedding(tokens, drop)
        return flow_loss(self.model, x0, caption, generator, self.cfg, given)


def rank_seed(seed: int, rank: int, step: int) -> int:
    """Noise seed of a rank other than 0 (rank 0 keeps the run's seed or its saved state), distinct per
    rank and per start step, so ranks draw different noise and a resumed rank does not replay it."""
    return hash((seed, rank, step)) & 0x7FFF_FFFF_FFFF_FFFF


class Trainer:
    """One model, its EMA copy, optimizer and random state; `step` advances all of them together. With
    `ranks` of a distributed world the gradients are averaged over the ranks (the process group must
    exist), so every rank takes the same step."""

    def __init__(self, cfg: TrainConfig, device: str | None = None, ranks: Ranks = Ranks(),
                 vocab: torch.Tensor | None = None):
        self.cfg, self.ranks = cfg, ranks
        self.device = rank_device(ranks, resolve_device(device or cfg.run.device))
        torch.manual_seed(cfg.run.seed)
        self.model = build_model(cfg, vocab).to(self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False).eval()
        self.objective: torch.nn.Module = FlowObjective(self.model, cfg.diffusion)
        if ranks.distributed:  # its constructor broadcasts rank 0's weights
            self.objective = torch.nn.parallel.DistributedDataParallel(
                self.objective, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        decay, no_decay = [], []
        for p in self.model.parameters():
            (decay if p.dim() >= 2 else no_decay).append(p)
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.optim.lr, betas=(0.9, 0.99),
        )
        self.generator = torch.Generator(self.device).manual_seed(cfg.run.seed if ranks.main else rank_seed(cfg.run.seed, ranks.rank, 0))
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
        """One optimizer step on a batch of uint8 windows and their caption tokens (this rank's share of
        the global batch); returns the loss of the global batch."""
        loss = self.batch_loss(frames, tokens, self.generator)
        loss.backward()  # under DDP: the gradient averaged over the ranks, the global batch's
        self.apply_gradients()
        return float(mean_over_ranks(loss.detach(), self.ranks))

    def batch_loss(self, frames: torch.Tensor, tokens: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The training loss of a batch, caption dropout, frame conditions (drawn independently of the
        caption dropout), times and noise drawn from `generator`."""
        self.model.train()
        x0 = to_model_input(frames.to(self.device, non_blocking=True))
        tokens = tokens.to(self.device, non_blocking=True)
        drop = torch.rand(x0.shape[0], device=self.device, generator=generator) < self.cfg.diffusion.caption_dropout
        if self.cfg.diffusion.word_dropout:  # drawn only when on, so other runs keep their random streams
            tokens = drop_words(tokens, self.cfg.diffusion.word_dropout, generator)
        given = draw_condition(x0, self.cfg.diffusion, generator) if self.cfg.model.frame_condition else None
        with self.autocast():
            return self.objective(x0, tokens, drop, generator, given)

    def apply_gradients(self) -> None:
        """Clip, step (at the warm-up's learning rate), update the EMA: the step after a backward pass."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._update_ema()
        self.step += 1

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
        """Every rank loads the same weights and optimizer; the saved noise state (rank 0's) goes to rank 0,
        the others seed theirs from the step, so a checkpoint resumes on any number of ranks."""
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        if self.ranks.main:
            self.generator.set_state(state["generator"])
        else:
            self.generator.manual_seed(rank_seed(self.cfg.run.seed, self.ranks.rank, self.step))
        torch.set_rng_state(state["torch_rng"])

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | None = None, run: RunConfig | None = None,
                        ranks: Ranks = Ranks()) -> "Trainer":
        """The trainer a checkpoint saved; `run` (device, precision, ...) replaces the saved run settings
        before anything is placed on a device, so a run started on CUDA resumes on the CPU when asked."""
        state = read_checkpoint(path)
        cfg = checkpoint_config(state)
        trainer = cls(cfg if run is None else cfg.model_copy(update={"run": run}), device=device, ranks=ranks,
                      vocab=saved_vocab(state))
        trainer.load_state(state)
        return trainer


def checkpoint_config(state: dict) -> TrainConfig:
    """The config a checkpoint was trained with; one saved before model.frame_condition existed is a
    text-only model (the option's default is on)."""
    raw = state["config"]
    model = raw.get("model", {})
    if isinstance(model, dict) and "frame_condition" not in model:
        raw = {**raw, "model": {**model, "frame_condition": False}}
    return TrainConfig.model_validate(raw)


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
                       "data.size, data.max_text_tokens); resume with the run's own config (RUN/config.json; "
                       "a run saved before model.frame_condition existed also needs model.frame_condition: false)")


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
    cfg = checkpoint_config(state)
    use_threads(cfg.run)
    model = build_model(cfg, saved_vocab(state))
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
    ranks: int = 1

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def train(cfg: TrainConfig, run: str | Path, resume: bool = False, progress=None) -> TrainResult:
    """Train on cfg.data.shards into the run folder until run.max_steps or run.max_minutes; one process,
    or every rank of a torchrun launch (rank 0 writes the folder and reports `progress`).

    A run folder that already holds a checkpoint is continued only with `resume`, never overwritten."""
    paths = RunPaths(Path(run))
    if paths.checkpoint.exists() and not resume:
        step = read_checkpoint(paths.checkpoint)["step"]
        raise RunError(f"{run} already holds a training run (step {step}); pass --resume to continue it or choose another output")
    if resume and not paths.checkpoint.exists():
        raise RunError(f"nothing to resume: {paths.checkpoint} does not exist")
    if cfg.data.shards is None:
        raise RunError("no shards given: set data.shards in the config or pass --shards")
    ranks = ranks_from_env()
    if cfg.data.batch_size % ranks.world:
        raise RunError(f"data.batch_size {cfg.data.batch_size} is the global batch: it must be a multiple of the "
                       f"{ranks.world} ranks")
    shards = resolve_shards(cfg.data.shards)
    use_threads(cfg.run)
    with process_group(ranks, rank_device(ranks, resolve_device(cfg.run.device))):
        return _train(cfg, paths, shards, ranks, resume, progress)


def _train(cfg: TrainConfig, paths: RunPaths, shards: list[str], ranks: Ranks, resume: bool, progress) -> TrainResult:
    if resume:  # a compact caption vocabulary stays the checkpoint's: new words of new shards are out of it
        trainer = Trainer.from_checkpoint(paths.checkpoint, run=cfg.run, ranks=ranks)
        check_same_shape(trainer.cfg, cfg)
        trainer.cfg = cfg  # the new run settings (steps, minutes, data, optimizer) apply from here on
    else:
        vocab = None
        if cfg.model.caption_vocab == "shards":
            vocab = caption_vocabulary(shard_captions(shards), cfg.data.max_text_tokens)
        trainer = Trainer(cfg, ranks=ranks, vocab=vocab)
    if trainer.step >= cfg.run.max_steps:
        raise RunError(f"{paths.root} is already at step {trainer.step}; raise run.max_steps (--max-steps) to train further")
    main = ranks.main
    if main:
        paths.root.mkdir(parents=True, exist_ok=True)
        paths.config.write_text(json.dumps(cfg.model_dump(mode="json"), indent=2), encoding="utf-8")
    log = LogWriter(paths.log) if main else None
    # Epochs (and each rank's resampling) are re-seeded from the step, so a resumed run does not replay
    # the windows it already saw.
    loader = make_loader(shards, cfg.data, seed=cfg.run.seed, start_epoch=trainer.step, shapes=cfg.shapes().values(),
                         rank=ranks.rank, world=ranks.world)
    started, first_step = time.perf_counter(), trainer.step
    deadline = started + cfg.run.max_minutes * 60 if cfg.run.max_minutes else None
    losses: list[float] = []
    stopped = "max_steps"
    try:
        for frames, tokens, _ in loader:
            losses.append(trainer.train_step(frames, tokens))
            step = trainer.step
            if main and step % cfg.run.log_every == 0:
                elapsed = time.perf_counter() - started
                log.write(step=step, loss=sum(losses[-cfg.run.log_every:]) / len(losses[-cfg.run.log_every:]),
                          lr=trainer.lr(), seconds=round(elapsed, 2))
            if main and progress:
                progress(step, cfg.run.max_steps, losses[-1])
            if main and step % cfg.run.checkpoint_every == 0:
                trainer.save(paths.checkpoint)
            if main and step % cfg.run.sample_every == 0:
                write_samples(trainer, paths.samples(step))
            if step >= cfg.run.max_steps:
                break
            if deadline and any_rank(time.perf_counter() >= deadline, ranks, trainer.device):
                stopped = "max_minutes"
                break
    finally:
        if log is not None:
            log.close()
    if not losses:
        raise RunError("no training windows could be read from the shards (see warnings above)")
    if main:
        trainer.save(paths.checkpoint)
        if not paths.samples(trainer.step).exists():
            write_samples(trainer, paths.samples(trainer.step))
    seconds = time.perf_counter() - started
    tail = losses[-cfg.run.log_every:]
    result = TrainResult(
        steps=trainer.step, seconds=round(seconds, 2), steps_per_second=round((trainer.step - first_step) / seconds, 4),
        loss=sum(tail) / len(tail), device=str(trainer.device), stopped=stopped, ranks=ranks.world,
    )
    if main:
        paths.summary.write_text(json.dumps(result.as_dict(), indent=2), encoding="utf-8")
    barrier(ranks)  # every rank returns once the run folder is complete
    return result
