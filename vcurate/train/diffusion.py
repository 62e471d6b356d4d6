"""Rectified flow: a straight path from data (t=0) to noise (t=1).

x_t = (1 - t) x0 + t ε,  v = ε - x0.  The network predicts the clean video x0 and the velocity follows
as v = (x_t - x0) / t; the loss is taken on v. Predicting x0 rather than v or ε matters for patch
transformers: a token that is narrower than its patch (128 channels for an 8x8x3 = 192-value patch)
cannot reproduce high-dimensional noise, but can reproduce a clean image, which lies near a
low-dimensional set ("Back to Basics: Let Denoising Generative Models Denoise", Li & He, 2025).
Sampling integrates dx/dt = v from t=1 to t=0 with Euler steps, mixing conditional and unconditional
velocities for classifier-free guidance.

Given frames (a first and/or last keyframe, model.frame_condition) reach the network as extra inputs;
in training one condition kind is drawn per video (none, first, last, first + last) and the given frames
are lightly noise-augmented. Sampling replaces the given frames of x_t at every step by their own point
on the straight path, (1 - t) frame + t noise with the start noise of that frame, so the model always
sees given frames noised as in training, and at t = 0 they are exactly the given frames.
"""

from __future__ import annotations

import torch

from vcurate.train.config import CONDITION_KINDS, ConditionKinds, DiffusionConfig
from vcurate.train.model import START_TOKEN, FrameCondition

# Frames each condition kind gives, as (first, last).
KIND_FRAMES = {"none": (False, False), "first": (True, False), "last": (False, True), "first_last": (True, True)}


def to_model_input(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (B, T, H, W, C) → float (B, T, C, H, W) in [-1, 1], the space the flow runs in."""
    return frames.permute(0, 1, 4, 2, 3).float().div(127.5).sub(1.0)


def to_frames(x: torch.Tensor) -> torch.Tensor:
    """The inverse of to_model_input, clamped: uint8 (B, T, H, W, C) on the CPU."""
    return x.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).permute(0, 1, 3, 4, 2).cpu()


def sample_times(batch: int, device: torch.device, generator: torch.Generator | None, mean: float, std: float) -> torch.Tensor:
    """Logit-normal flow times sigmoid(mean + std * n); diffusion.time_mean's default 0.8 shifts them
    towards noise. With x-prediction the velocity loss weighs an error in x0 by 1/t², so nearly clean inputs would dominate
    the gradient with fine texture; the noisier times are where the layout is decided (which object,
    what colour, where it moves)."""
    return torch.sigmoid(mean + std * torch.randn(batch, device=device, generator=generator))


MIN_TIME = 0.05  # v = (x_t - x0) / t is clipped here: near t = 0 it would amplify any error in x0


def velocity(model, x: torch.Tensor, t: torch.Tensor, caption: torch.Tensor,
             given: FrameCondition | None = None) -> torch.Tensor:
    """The flow velocity at x, time t (B,), from the network's estimate of the clean video."""
    tt = t.float().clamp(min=MIN_TIME).view(-1, *([1] * (x.dim() - 1)))
    x0 = model(x, t, caption) if given is None else model(x, t, caption, given)  # text only: the plain call
    return (x - x0.float()) / tt


def frame_mask(first: torch.Tensor, last: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, T) float mask of the given frames from per-video booleans `first`, `last` (B,)."""
    mask = torch.zeros(first.shape[0], frames, device=first.device)
    mask[:, 0] = first.float()
    mask[:, -1] = torch.maximum(mask[:, -1], last.float())
    return mask


def draw_kinds(batch: int, kinds: ConditionKinds, device: torch.device, generator: torch.Generator | None) -> list[str]:
    """One condition kind per video, drawn with the configured weights."""
    weights = torch.tensor(kinds.weights(), device=device)
    picks = torch.multinomial(weights, batch, replacement=True, generator=generator)
    return [CONDITION_KINDS[i] for i in picks.tolist()]


def draw_condition(x0: torch.Tensor, cfg: DiffusionConfig, generator: torch.Generator | None) -> FrameCondition:
    """The frames given to each (B, T, C, H, W) training video: a kind drawn per video, its frames noise-
    augmented by a standard deviation drawn from [0, cfg.condition_noise]."""
    b, device = x0.shape[0], x0.device
    chosen = [KIND_FRAMES[kind] for kind in draw_kinds(b, cfg.condition_kinds, device, generator)]
    first = torch.tensor([f for f, _ in chosen], device=device)
    last = torch.tensor([is_last for _, is_last in chosen], device=device)
    mask = frame_mask(first, last, x0.shape[1])
    sigma = cfg.condition_noise * torch.rand(b, device=device, generator=generator, dtype=x0.dtype)
    noise = torch.randn(x0.shape, device=device, generator=generator, dtype=x0.dtype)
    frames = (x0 + sigma.view(-1, 1, 1, 1, 1) * noise) * mask.to(x0.dtype).view(b, -1, 1, 1, 1)
    return FrameCondition(mask, frames)


def drop_words(tokens: torch.Tensor, rate: float, generator: torch.Generator | None) -> torch.Tensor:
    """Caption tokens (B, L) with each word token replaced by padding with probability `rate`; the start
    and end tokens stay, so no caption is left empty."""
    words = (tokens > 0) & (tokens < START_TOKEN)
    dropped = torch.rand(tokens.shape, device=tokens.device, generator=generator) < rate
    return torch.where(words & dropped, 0, tokens)


def flow_loss(model, x0: torch.Tensor, caption: torch.Tensor, generator: torch.Generator | None,
              cfg: DiffusionConfig, given: FrameCondition | None = None) -> torch.Tensor:
    """Mean squared error of the velocity at a random (logit-normal, `cfg.time_mean/time_std`) time for
    each (B, T, C, H, W) video, plus `cfg.motion_weight` times the squared error of its part that
    changes over frames (the error minus its mean over T). Given frames count like the others: the
    model learns to keep them."""
    t = sample_times(x0.shape[0], x0.device, generator, cfg.time_mean, cfg.time_std)
    noise = torch.randn(x0.shape, device=x0.device, generator=generator, dtype=x0.dtype)
    tt = t.view(-1, *([1] * (x0.dim() - 1)))
    xt = (1 - tt) * x0 + tt * noise
    error = velocity(model, xt, t, caption, given) - (noise - x0).float()
    loss = error.square().mean()
    if cfg.motion_weight:
        loss = loss + cfg.motion_weight * (error - error.mean(dim=1, keepdim=True)).square().mean()
    return loss


def _twice(given: FrameCondition | None) -> FrameCondition | None:
    return None if given is None else FrameCondition(torch.cat([given.mask] * 2), torch.cat([given.frames] * 2))


@torch.no_grad()
def sample(model, caption: torch.Tensor, null: torch.Tensor, shape: tuple[int, ...], steps: int, guidance: float,
           generator: torch.Generator | None = None, given: FrameCondition | None = None,
           replace: bool = True) -> torch.Tensor:
    """Euler integration from noise to data; `caption`/`null` are (B, D) conditional and null embeddings.

    `given` frames are seen by both guidance branches (guidance is on the caption alone) and, with
    `replace`, held on their straight path from the start noise, so they come out exactly; without it
    they are only the model's inputs (which shows how faithfully the model itself keeps them)."""
    device = caption.device
    x = torch.randn(shape, device=device, generator=generator)
    start = x.clone()
    keep = None if given is None or not replace else given.mask.view(*given.mask.shape, 1, 1, 1).bool()
    times = torch.linspace(1.0, 0.0, steps + 1, device=device)
    both, given_both = torch.cat([caption, null]), _twice(given)
    for t, t_next in zip(times[:-1], times[1:]):
        tb = t.expand(shape[0])
        if guidance == 1.0:
            v = velocity(model, x, tb, caption, given)
        else:
            v_cond, v_null = velocity(model, torch.cat([x, x]), torch.cat([tb, tb]), both, given_both).chunk(2)
            v = v_null + guidance * (v_cond - v_null)
        x = x + (t_next - t) * v
        if keep is not None:
            x = torch.where(keep, (1 - t_next) * given.frames + t_next * start, x)
    return x
