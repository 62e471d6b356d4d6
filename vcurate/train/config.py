"""Pydantic models of pipelines/train-*.yaml: what the trainer reads, the model it builds, how it learns."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from vcurate.aspect import ratio as aspect_ratio
from vcurate.config import Section, load_yaml_model


class DataConfig(Section):
    shards: str | None = Field(
        None, description="webdataset shards: a folder, glob or brace pattern, local or in an object store, e.g. "
        "out/shards/shard-{000000..000009}.tar or s3://bucket/out/shards (`--shards` overrides)"
    )
    frames: int = Field(6, ge=2, description="frames per training window")
    stride: int = Field(6, ge=1, description="take every Nth source frame, so a window spans frames*stride source frames")
    size: int = Field(24, ge=8, description="training frames are size x size pixels (with aspect bucket: "
                      "about as many pixels, in the bucket's shape)")
    aspect: Literal["crop", "squash", "bucket"] = Field(
        "crop", description="crop: the centred square of each frame (keeps shapes, loses the sides of wide "
        "frames); squash: the whole frame resized to a square; bucket: each clip goes to the bucket of "
        "data.buckets nearest its aspect ratio and keeps it (only the sliver between the two is cropped), "
        "and every batch is drawn from one bucket at its own size"
    )
    buckets: list[str] = Field(
        default_factory=lambda: ["16:9", "4:3", "1:1", "3:4", "9:16"],
        description="aspect bucket only: width:height of each bucket; its frames have about size x size pixels, "
        "sides rounded to multiples of model.patch",
    )
    crop_scale: tuple[float, float] = Field(
        (1.0, 1.0), description="random crop of this fraction of each side of that square (same crop for all "
        "frames of a window) before resizing; (1, 1) = all of it"
    )
    windows_per_clip: int = Field(4, ge=1, description="random windows taken from each decoded clip (decode once, use often)")
    cache_mb: int = Field(
        2048, ge=0, description="decoded clips kept in memory per worker, so a small dataset is decoded once "
        "(only when crop_scale is [1, 1]: random crops decode anew); 0 = off"
    )
    shuffle_buffer: int = Field(256, ge=1, description="training windows mixed in the shuffle buffer (1 = stream order)")
    workers: int = Field(1, ge=0, description="DataLoader worker processes decoding clips")
    batch_size: int = Field(32, ge=1)
    max_text_tokens: int = Field(32, ge=4, description="caption tokens kept (CLIP BPE)")

    @model_validator(mode="after")
    def _check(self) -> "DataConfig":
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise ValueError("data.crop_scale must be two fractions with 0 < low <= high <= 1")
        if self.size % 2:
            raise ValueError("data.size must be even (H.264 samples need even sides)")
        if not self.buckets:
            raise ValueError("data.buckets must name at least one width:height")
        for bucket in self.buckets:
            if not _ASPECT.match(bucket):
                raise ValueError(f"data.buckets: {bucket!r} is not width:height of two positive whole numbers, e.g. 16:9")
        return self

    def shapes(self, patch: int) -> dict[str, tuple[int, int]]:
        """(height, width) of the training frames by bucket name: one size x size shape unless aspect is
        bucket; bucket sides keep about size² pixels and are multiples of `patch` (and even, for H.264)."""
        if self.aspect != "bucket":
            return {"1:1": (self.size, self.size)}
        step = math.lcm(patch, 2)
        shapes = {}
        for bucket in self.buckets:
            ratio = math.sqrt(aspect_ratio(bucket))
            shapes[bucket] = tuple(max(step, round(self.size * k / step) * step) for k in (1 / ratio, ratio))
        return shapes


_ASPECT = re.compile(r"^[1-9][0-9]*:[1-9][0-9]*$")


class ModelConfig(Section):
    dim: int = Field(96, ge=16, description="transformer width")
    depth: int = Field(4, ge=1, description="space-time blocks (each: attention, then MLP)")
    attention: Literal["factorized", "joint"] = Field(
        "joint", description="factorized: spatial attention within frames, then temporal attention across "
        "frames; joint: one attention over all patches of all frames (costlier with many frames or patches)"
    )
    local_mixing: bool = Field(
        True, description="add a depthwise 3x3x3 convolution over the (frame, row, column) patch grid to every "
        "block: each patch sees its neighbours in the previous and next frames directly, where an object that "
        "moves less than a patch per frame is found"
    )
    rope: bool = Field(
        True, description="rotary position embeddings in every attention (frame, row and column offsets): "
        "attention can look a fixed step back in time and across in space, the pattern of a moving object"
    )
    motion_bias: bool = Field(
        True, description="joint attention only: the caption and time set, per head, a quadratic bias of the "
        "attention scores in the (frame, row, column) offset between patches, so a caption can make each patch "
        "look where its content was in the previous frame, the pattern of motion in one direction"
    )
    heads: int = Field(4, ge=1)
    patch: int = Field(4, ge=1, description="patch side in pixels; data.size must be a multiple")
    mlp_ratio: float = Field(4.0, gt=0)
    text_dim: int = Field(128, ge=16, description="width of the small learned caption encoder")
    text_depth: int = Field(2, ge=1, description="transformer layers of the caption encoder")
    caption_vocab: Literal["clip", "shards"] = Field(
        "clip", description="clip: the caption encoder embeds all 49 408 CLIP BPE tokens; shards: only the tokens "
        "of the training shards' captions (every rank reads all captions once at the start of a run; the checkpoint "
        "keeps the list), any other token one out-of-vocabulary embedding. For a small caption vocabulary "
        "(make demo's): with width 64 the optimizer's work on the full table was a third of a CPU step"
    )
    frame_condition: bool = Field(
        False, description="off by default: on, conditioned runs followed captions alone less well than text-only "
        "ones in the one measurement so far (README). The model also reads given frames (a first and/or last keyframe): two more inputs per "
        "frame, a mask (1 where the frame is given) and mask x the given frame, patch-embedded by zero-initialised "
        "weights, so with no frame given the model is the text-only one; false: text only (as checkpoints "
        "saved before this option)"
    )

    @model_validator(mode="after")
    def _check(self) -> "ModelConfig":
        if self.dim % self.heads or self.text_dim % self.heads:
            raise ValueError("model.dim and model.text_dim must be multiples of model.heads")
        if self.motion_bias and self.attention != "joint":
            raise ValueError("model.motion_bias needs model.attention: joint (factorized attention has no "
                             "offsets across both space and time); with factorized attention set motion_bias: false")
        return self


CONDITION_KINDS = ("none", "first", "last", "first_last")


class ConditionKinds(Section):
    """How often each kind of frame condition is drawn for a training sample (relative weights)."""

    none: float = Field(0.4, ge=0, description="no frame given: text to video (also the image dropout of guidance)")
    first: float = Field(0.3, ge=0, description="the first frame given: image to video")
    last: float = Field(0.15, ge=0, description="the last frame given: a video that ends there")
    first_last: float = Field(0.15, ge=0, description="first and last frames given: interpolation")

    @model_validator(mode="after")
    def _check(self) -> "ConditionKinds":
        if sum(self.weights()) <= 0:
            raise ValueError("diffusion.condition_kinds: at least one weight must be positive")
        return self

    def weights(self) -> list[float]:
        """The weights in CONDITION_KINDS order."""
        return [getattr(self, kind) for kind in CONDITION_KINDS]


class DiffusionConfig(Section):
    caption_dropout: float = Field(0.1, ge=0, lt=1, description="captions dropped in training, for classifier-free guidance")
    word_dropout: float = Field(
        0.0, ge=0, lt=1, description="each token of a training caption (not its start and end) is dropped with this "
        "probability, meant for few clips, where a model learns whole captions as names of clips and a new "
        "combination of words gets the nearest clip's colour; on make demo's 91 clips 0.3 did not raise colour "
        "following beyond the run-to-run spread (README). 0 = off"
    )
    time_mean: float = Field(
        0.8, description="training flow times are sigmoid(time_mean + time_std * n), n standard normal: 0 centres "
        "them on t = 0.5, positive values favour noisier inputs, where the layout is decided"
    )
    time_std: float = Field(0.8, gt=0, description="spread of the logit-normal training times")
    motion_weight: float = Field(
        4.0, ge=0, description="extra weight of the part of the error that changes from frame to frame (the "
        "error minus its mean over frames): a still background is most of every video, and without it the "
        "error of a still object where a moving one belongs is a small share of the loss"
    )
    condition_kinds: ConditionKinds = Field(
        default_factory=ConditionKinds, description="model.frame_condition only: relative weights of the frame "
        "condition drawn per training sample, independently of caption dropout (so guidance can drop either)"
    )
    condition_noise: float = Field(
        0.05, ge=0, lt=1, description="given frames are noise-augmented in training by Gaussian noise of a standard "
        "deviation drawn uniformly from [0, condition_noise] (in [-1, 1] pixel units), so the model does not copy "
        "the given frame's exact pixels into its neighbours"
    )
    sample_steps: int = Field(30, ge=1, description="Euler steps of the rectified-flow sampler")
    guidance: float = Field(2.5, ge=1, description="classifier-free guidance scale (1 = off)")


class OptimConfig(Section):
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_steps: int = Field(100, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    ema_decay: float = Field(0.995, ge=0, lt=1, description="EMA of the weights used for sampling")


class RunConfig(Section):
    max_steps: int = Field(2000, ge=1)
    max_minutes: float | None = Field(None, gt=0, description="stop (and checkpoint) after this long")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present")
    threads: int | None = Field(
        None, ge=1, description="CPU threads of torch for training and for sampling from the run (eval-gen, sample); "
        "null: torch's default, one per core. On a CPU shared with other jobs, threads that wait on each other "
        "made a step 5-10x slower than its fair share; 1 thread keeps it near that share"
    )
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto: bf16 autocast on CUDA, fp32 on CPU")
    log_every: int = Field(25, ge=1)
    checkpoint_every: int = Field(250, ge=1)
    sample_every: int = Field(500, ge=1, description="steps between sample videos written to RUN/samples")
    sample_prompts: list[str] = Field(
        default_factory=lambda: [
            "a red circle moving right over a striped background",
            "a blue square moving up over a cloudy background",
            "a yellow triangle moving left over a dotted background",
            "a green circle moving down over a checkered background",
        ],
        description="captions sampled during training",
    )


class TrainConfig(Section):
    """A training run of the bundled text-to-video diffusion model on webdataset shards."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = Field(default_factory=DiffusionConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    run: RunConfig = Field(default_factory=RunConfig)

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if self.data.size % self.model.patch:
            raise ValueError("data.size must be a multiple of model.patch")
        names = {}
        for name, shape in self.data.shapes(self.model.patch).items():
            if shape in names:
                raise ValueError(f"data.buckets {names[shape]} and {name} both come out {shape[1]}x{shape[0]} at "
                                 f"data.size {self.data.size}: drop one or raise data.size")
            names[shape] = name
        return self

    def shapes(self) -> dict[str, tuple[int, int]]:
        """(height, width) of the training frames by bucket name."""
        return self.data.shapes(self.model.patch)


def load_train_config(path: str | Path | None) -> TrainConfig:
    return TrainConfig() if path is None else load_yaml_model(path, TrainConfig, "training config")
