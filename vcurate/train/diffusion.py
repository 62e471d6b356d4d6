"""Rectified flow: a straight path from data (t=0) to noise (t=1).

x_t = (1 - t) x0 + t ε,  v = ε - x0.  The network predicts the clean video x0 and the velocity follows
as v = (x_t - x0) / t; the loss is taken on v. Predicting x0 rather than v or ε matters for patch
transformers: a token that is narrower than its patch (128 channels for an 8x8x3 = 192-value patch)
cannot reproduce high-dimensional noise, but can reproduce a clean image, which lies near a
low-dimensional set ("Back to Basics: Let Denoising Generative Models Denoise", Li & He, 2025).
Sampling integrates dx/dt = v from t=1 to t=0 with Euler steps, mixing conditional and unconditional
velocities for classifier-free guidance.
"""

from __future__ import annotations

import torch

from vcurate.train.config import DiffusionConfig


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


def velocity(model, x: torch.Tensor, t: torch.Tensor, caption: torch.Tensor) -> torch.Tensor:
    """The flow velocity at x, time t (B,), from the network's estimate of the clean video."""
    tt = t.float().clamp(min=MIN_TIME).view(-1, *([1] * (x.dim() - 1)))
    return (x - model(x, t, caption).float()) / tt


def flow_loss(model, x0: torch.Tensor, caption: torch.Tensor, generator: torch.Generator | None,
              cfg: DiffusionConfig) -> torch.Tensor:
    """Mean squared error of the velocity at a random (logit-normal, `cfg.time_mean/time_std`) time for
    each (B, T, C, H, W) video, plus `cfg.motion_weight` times the squared error of its part that
    changes over frames (the error minus its mean over T)."""
    t = sample_times(x0.shape[0], x0.device, generator, cfg.time_mean, cfg.time_std)
    noise = torch.randn(x0.shape, device=x0.device, generator=generator, dtype=x0.dtype)
    tt = t.view(-1, *([1] * (x0.dim() - 1)))
    xt = (1 - tt) * x0 + tt * noise
    error = velocity(model, xt, t, caption) - (noise - x0).float()
    loss = error.square().mean()
    if cfg.motion_weight:
        loss = loss + cfg.motion_weight * (error - error.mean(dim=1, keepdim=True)).square().mean()
    return loss


@torch.no_grad()
def sample(model, caption: torch.Tensor, null: torch.Tensor, shape: tuple[int, ...], steps: int, guidance: float,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Euler integration from noise to data; `caption`/`null` are (B, D) conditional and null embeddings."""
    device = caption.device
    x = torch.randn(shape, device=device, generator=generator)
    times = torch.linspace(1.0, 0.0, steps + 1, device=device)
    both = torch.cat([caption, null])
    for t, t_next in zip(times[:-1], times[1:]):
        tb = t.expand(shape[0])
        if guidance == 1.0:
            v = velocity(model, x, tb, caption)
        else:
            v_cond, v_null = velocity(model, torch.cat([x, x]), torch.cat([tb, tb]), both).chunk(2)
            v = v_null + guidance * (v_cond - v_null)
        x = x + (t_next - t) * v
    return x
