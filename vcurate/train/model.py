"""A compact text-to-video diffusion transformer with space-time attention and a caption-set motion bias.

Frames are cut into patches; every block attends over all patches of all frames (joint attention) or,
factorized, within each frame (space) and then across frames at each patch position (time), then
applies an MLP. The caption is read by a small learned transformer over CLIP BPE tokens (all of them,
or only those of the training captions: model.caption_vocab); its pooled embedding plus the diffusion
time condition every block through adaptive LayerNorm (DiT's adaLN-Zero), and a learned null caption
stands in for dropped captions so classifier-free guidance works.

Options (ModelConfig): rotary embeddings of frame, row and column offsets; local mixing, a depthwise
3x3x3 convolution over the patch grid that lets a patch see its neighbours in the adjacent frames (at
equal steps it cut the generated objects' temporal jitter from 8.5 % to 6.2 % of the frame side on
synthetic seed 21); with joint attention, the motion bias: the condition (caption and time) sets, per
head, a quadratic form of the (frame, row, column) offset between patches that is added to the
attention scores. Without it the samples keep objects still (temporal attention learns to average
the still background over frames, and the object with it; direction at chance); with it a caption
can make every patch look where its content was a frame earlier, v patches away. The form is carried
by four extra query/key channels, so attention keeps its fast unmasked kernels (an earlier full table
of one bias per offset, applied as a mask, halved the step rate).

Frame conditioning (model.frame_condition, the recipe of Open-Sora 2.0 and CogVideoX image-to-video):
every frame gains two inputs, a mask (1 where the frame is given) and mask x the given frame, embedded
by their own patch weights that start at zero and add to the noisy video's patch tokens. With no frame
given both are zero, so the model is exactly the text-only one, and a text-only checkpoint loads into it
with those weights at zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vcurate.train.config import ModelConfig

VOCAB_SIZE = 49408  # open_clip's SimpleTokenizer
START_TOKEN = VOCAB_SIZE - 2  # its start and end of text, the last two ids


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


def rotary_angles(coords: torch.Tensor, head_dim: int, base: float = 100.0) -> torch.Tensor:
    """Rotation angles (n, head_dim / 2) of rotary position embeddings for n tokens at integer coordinates
    (n, axes): each axis turns its share of the head's channel pairs at geometric frequencies (1 down to
    1/base radians per step), so attention scores depend on the offset between tokens, not on where they are."""
    pairs = head_dim // 2 // coords.shape[1]
    freqs = base ** (-torch.arange(pairs, dtype=torch.float32) / pairs)
    angles = torch.cat([coords[:, a : a + 1].float() * freqs for a in range(coords.shape[1])], dim=1)
    return F.pad(angles, (0, head_dim // 2 - angles.shape[1]))  # leftover pairs are not turned


def rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Apply rotary embeddings to (..., n, head_dim) queries or keys."""
    first, second = x.chunk(2, dim=-1)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


def offset_bias_features(coef: torch.Tensor, coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Extra query and key channels whose dot products add a quadratic bias of the offset between tokens
    to the attention scores, so the bias costs a few channels instead of an (n, n) mask.

    coef: (B, heads, 9), the upper triangle of a symmetric A (6) then b (3); coords: (n, 3) token
    (frame, row, column). The bias of query i on key k is d^T A d + b^T d with d = x_i - x_k; its terms in
    x_i alone are the same for every key, which softmax ignores, leaving -2 x_i^T A x_k + x_k^T A x_k - b^T x_k:
    query channels (x_i, 1), key channels (-2 A x_k, x_k^T A x_k - b^T x_k). A tube -|d_space - v d_frame|^2
    is one such form: each patch looks where its content was, v patches a frame away."""
    upper = torch.triu_indices(3, 3, device=coef.device)
    a = coef.new_zeros(*coef.shape[:2], 3, 3)
    a[..., upper[0], upper[1]] = coef[..., :6]
    a = (a + a.transpose(-1, -2)) / 2  # the diagonal counts once, each off-diagonal pair shares its coefficient
    ax = torch.einsum("bhij,nj->bhni", a, coords)
    key_only = (coords * ax).sum(-1) - torch.einsum("bhj,nj->bhn", coef[..., 6:], coords)
    keys = torch.cat([-2 * ax, key_only.unsqueeze(-1)], dim=-1)
    queries = F.pad(coords, (0, 1), value=1.0).expand_as(keys)
    return queries, keys


@dataclass
class FrameCondition:
    """Given frames of a batch of videos: `mask` (B, T), 1 where a frame is given, and `frames`
    (B, T, C, H, W) in the flow's [-1, 1] space, zero where not given."""

    mask: torch.Tensor
    frames: torch.Tensor

    def channels(self) -> torch.Tensor:
        """The model's extra inputs (B, T, 1 + C, H, W): the mask, then mask x frames."""
        b, f, _, h, w = self.frames.shape
        mask = self.mask.to(self.frames.dtype).view(b, f, 1, 1, 1)
        return torch.cat([mask.expand(b, f, 1, h, w), mask * self.frames], dim=2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, angles: torch.Tensor | None = None,
                extra: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """`extra`: (B, heads, n, e) query and key channels appended to the scaled scores (offset_bias_features)."""
        b, n, d = x.shape
        head_dim = d // self.heads
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        if angles is not None:
            q, k = rotate(q, angles), rotate(k, angles)
        if extra is None:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            pad = -(head_dim + extra[0].shape[-1]) % 8  # CPU kernels run fastest on widths that are multiples of 8
            q = F.pad(torch.cat([q * head_dim**-0.5, extra[0].to(q.dtype)], -1), (0, pad))
            k = F.pad(torch.cat([k, extra[1].to(k.dtype)], -1), (0, pad))
            out = F.scaled_dot_product_attention(q, k, F.pad(v, (0, q.shape[-1] - head_dim)), scale=1.0)[..., :head_dim]
        return self.out(out.transpose(1, 2).reshape(b, n, d))


class SpaceTimeBlock(nn.Module):
    """Attention then MLP, each gated by the condition (adaLN-Zero). Factorized: spatial attention within
    each frame, then temporal attention across frames at each patch position. Joint: one attention over
    all patches of all frames, so a patch sees where the object was in the other frames in one step."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, joint: bool = False, local_mixing: bool = False,
                 motion_bias: bool = False):
        super().__init__()
        self.joint = joint
        # Optional motion bias (joint attention): the condition sets, per head, a quadratic bias of the
        # attention scores in the (frame, row, column) offset between tokens (offset_bias_features).
        # Zero-initialised: no bias until it is learnt.
        self.motion = nn.Linear(dim, heads * 9) if motion_bias else None
        if self.motion is not None:
            nn.init.zeros_(self.motion.weight)
            nn.init.zeros_(self.motion.bias)
        # Optional local space-time mixing (zero-initialised, so a block starts as it would without it).
        self.local = nn.Conv3d(dim, dim, 3, padding=1, groups=dim) if local_mixing else None
        if self.local is not None:
            nn.init.zeros_(self.local.weight)
            nn.init.zeros_(self.local.bias)
        self.attentions = nn.ModuleList(Attention(dim, heads) for _ in range(1 if joint else 2))
        self.norms = nn.ModuleList(nn.LayerNorm(dim, elementwise_affine=False) for _ in range(len(self.attentions) + 1))
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.ada = nn.Linear(dim, 3 * len(self.norms) * dim)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, grid: tuple[int, int], angles: dict[str, torch.Tensor] | None = None,
                coords: torch.Tensor | None = None) -> torch.Tensor:
        """`grid`: (rows, columns) of patches per frame; `angles`: rotary angles of the "joint" tokens
        (frame-major) or of the "space" and "time" axes; `coords`: (t*n, 3) centred (frame, row, column)
        of the joint tokens (motion bias)."""
        b, t, n, d = x.shape
        angles = angles or {}
        silu_cond = F.silu(cond)  # shared by the adaLN modulations and the motion bias
        mods = self.ada(silu_cond)[:, None, None].chunk(3 * len(self.norms), dim=-1)
        if self.joint:
            h = modulate(self.norms[0](x), mods[0], mods[1]).reshape(b, t * n, d)
            extra = None
            if self.motion is not None:
                extra = offset_bias_features(self.motion(silu_cond).view(b, self.attentions[0].heads, 9), coords)
            x = x + mods[2] * self.attentions[0](h, angles.get("joint"), extra).view(b, t, n, d)
        else:
            h = modulate(self.norms[0](x), mods[0], mods[1]).reshape(b * t, n, d)
            x = x + mods[2] * self.attentions[0](h, angles.get("space")).view(b, t, n, d)
            h = modulate(self.norms[1](x), mods[3], mods[4]).transpose(1, 2).reshape(b * n, t, d)
            x = x + mods[5] * self.attentions[1](h, angles.get("time")).view(b, n, t, d).transpose(1, 2)
        if self.local is not None:
            volume = x.permute(0, 3, 1, 2).reshape(b, d, t, *grid)
            x = x + self.local(volume).reshape(b, d, t, n).permute(0, 2, 3, 1)
        shift, scale, gate = mods[-3:]
        return x + gate * self.mlp(modulate(self.norms[-1](x), shift, scale))


OOV = 1  # embedding row of every token outside a compact caption vocabulary (row 0 is padding)


class CaptionEncoder(nn.Module):
    """Token embedding + a few transformer layers, mean-pooled over the caption's real tokens.

    `vocab` (model.caption_vocab shards): the sorted CLIP token ids that get their own embedding, kept
    as a buffer so the checkpoint maps captions as training did; None: every CLIP token."""

    def __init__(self, dim: int, depth: int, heads: int, context: int, vocab: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("vocab", None if vocab is None else vocab.to(torch.int64).clone())
        self.embed = nn.Embedding(VOCAB_SIZE if vocab is None else OOV + 1 + len(vocab), dim)
        self.pos = nn.Parameter(torch.randn(context, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 4, dropout=0.0, batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def rows(self, tokens: torch.Tensor) -> torch.Tensor:
        """Embedding rows of CLIP token ids: the ids themselves, or with a compact vocabulary 0 for padding,
        OOV for a token the training captions never used, and OOV + 1 + its index in `vocab` otherwise."""
        if self.vocab is None:
            return tokens
        index = torch.searchsorted(self.vocab, tokens).clamp(max=len(self.vocab) - 1)
        rows = torch.where(self.vocab[index] == tokens, index + OOV + 1, OOV)
        return torch.where(tokens == 0, 0, rows)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        real = tokens != 0
        x = self.layers(self.embed(self.rows(tokens)) + self.pos[: tokens.shape[1]], src_key_padding_mask=~real)
        x = self.norm(x) * real[..., None]
        return x.sum(1) / real.sum(1, keepdim=True).clamp(min=1)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of the flow time t in [0, 1]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = (t.float() * 1000.0)[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


class VideoDiT(nn.Module):
    """Predicts the clean (B, T, C, H, W) video from its noisy version at flow time t and a caption.

    Built for size x size frames; any other H x W (multiples of the patch: the shape buckets of
    data.aspect bucket) uses the same weights, with the learned spatial position table resized to that
    patch grid and the rotary and motion-bias coordinates laid out on it."""

    def __init__(self, cfg: ModelConfig, frames: int, size: int, context: int, channels: int = 3,
                 vocab: torch.Tensor | None = None):
        """`vocab`: the CLIP token ids of the training captions, needed (and only allowed) with
        model.caption_vocab shards (caption_vocabulary)."""
        super().__init__()
        if (vocab is None) != (cfg.caption_vocab == "clip"):
            raise ValueError("model.caption_vocab shards needs the training captions' token ids (and clip takes none)")
        self.cfg, self.frames, self.size, self.channels = cfg, frames, size, channels
        d, p = cfg.dim, cfg.patch
        self.grid = size // p
        self.patchify = nn.Conv2d(channels, d, p, stride=p)
        self.pos_space = nn.Parameter(torch.randn(1, 1, self.grid**2, d) * 0.02)
        self.pos_time = nn.Parameter(torch.randn(1, frames, 1, d) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.text = CaptionEncoder(cfg.text_dim, cfg.text_depth, cfg.heads, context, vocab)
        self.text_proj = nn.Linear(cfg.text_dim, d)
        self.null_caption = nn.Parameter(torch.zeros(cfg.text_dim))
        self.blocks = nn.ModuleList(
            SpaceTimeBlock(d, cfg.heads, cfg.mlp_ratio, cfg.attention == "joint", cfg.local_mixing, cfg.motion_bias)
            for _ in range(cfg.depth)
        )
        self._tables: dict[tuple, dict[str, torch.Tensor]] = {}  # per patch grid and device; rebuilt, never saved
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False)
        self.final_ada = nn.Linear(d, 2 * d)
        self.unpatchify = nn.Linear(d, p * p * channels)
        for layer in (self.final_ada, self.unpatchify):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.frame_embed = None
        if cfg.frame_condition:  # the mask and mask x frame inputs; zero, so they start as no input at all
            # made last, so every other weight starts as in a text-only model of the same seed
            self.frame_embed = nn.Conv2d(1 + channels, d, p, stride=p, bias=False)
            nn.init.zeros_(self.frame_embed.weight)
            self._register_load_state_dict_pre_hook(self._text_only_weights)

    def _text_only_weights(self, state_dict, prefix, *args) -> None:
        """A text-only state dict has no frame-embedding weights: theirs are zero, as at initialisation."""
        key = prefix + "frame_embed.weight"
        if key not in state_dict:
            state_dict[key] = torch.zeros_like(self.frame_embed.weight)

    def grid_tables(self, rows: int, cols: int, device: torch.device) -> dict[str, torch.Tensor]:
        """Rotary angles ("joint", "space", "time") and centred motion-bias coordinates ("coords") of a
        rows x cols patch grid, for all `frames` frames, frame-major: the first f frames' rows serve a
        shorter video. Centred, so the bias channels stay small."""
        key = (rows, cols, str(device))
        if key not in self._tables:
            frame, row, col = torch.meshgrid(torch.arange(self.frames), torch.arange(rows), torch.arange(cols), indexing="ij")
            positions = torch.stack([frame, row, col], -1).reshape(-1, 3)
            tables = {"coords": positions.float() - positions.float().mean(0)}
            if self.cfg.rope:
                head_dim = self.cfg.dim // self.cfg.heads
                for name, coords in (("joint", positions),
                                     ("space", torch.stack([row[0], col[0]], -1).reshape(-1, 2)),
                                     ("time", torch.arange(self.frames)[:, None])):
                    tables[name] = rotary_angles(coords, head_dim)
            self._tables[key] = {name: table.to(device) for name, table in tables.items()}
        return self._tables[key]

    def spatial_positions(self, rows: int, cols: int) -> torch.Tensor:
        """The learned (1, 1, rows * cols, dim) position table, resized from its size x size grid when the
        frames have another shape."""
        if (rows, cols) == (self.grid, self.grid):
            return self.pos_space
        square = self.pos_space.view(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        resized = F.interpolate(square, size=(rows, cols), mode="bilinear", align_corners=False)
        return resized.permute(0, 2, 3, 1).reshape(1, 1, rows * cols, -1)

    def caption_embedding(self, tokens: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled caption embedding; rows where `drop` is True get the learned null caption."""
        emb = self.text(tokens)
        if drop is not None:
            emb = torch.where(drop[:, None], self.null_caption.to(emb.dtype).expand_as(emb), emb)
        return emb

    def forward(self, x: torch.Tensor, t: torch.Tensor, caption: torch.Tensor,
                given: FrameCondition | None = None) -> torch.Tensor:
        """x: (B, T, C, H, W) noisy video; t: (B,) flow time; caption: (B, text_dim) from caption_embedding;
        `given`: frames the video must show (model.frame_condition), None for none."""
        b, f, c, h, w = x.shape
        p = self.cfg.patch
        rows, cols = h // p, w // p
        tokens = self.patchify(x.reshape(b * f, c, h, w)).flatten(2).transpose(1, 2).view(b, f, rows * cols, -1)
        if given is not None:
            if self.frame_embed is None:
                raise ValueError("frames given to a model built without model.frame_condition")
            extra = given.channels().to(x.dtype).reshape(b * f, c + 1, h, w)
            tokens = tokens + self.frame_embed(extra).flatten(2).transpose(1, 2).view(b, f, rows * cols, -1)
        tokens = tokens + self.spatial_positions(rows, cols) + self.pos_time[:, :f]
        cond = self.time_mlp(timestep_embedding(t, self.cfg.dim)) + self.text_proj(caption)
        tables = self.grid_tables(rows, cols, x.device)
        angles = {}
        if self.cfg.rope:
            angles = {"joint": tables["joint"][: f * rows * cols], "space": tables["space"], "time": tables["time"][:f]}
        coords = tables["coords"][: f * rows * cols] if self.cfg.motion_bias else None
        for block in self.blocks:
            tokens = block(tokens, cond, (rows, cols), angles, coords)
        shift, scale = self.final_ada(F.silu(cond))[:, None, None].chunk(2, dim=-1)
        out = self.unpatchify(modulate(self.final_norm(tokens), shift, scale))  # (B, T, rows*cols, p*p*C)
        out = out.view(b, f, rows, cols, p, p, c).permute(0, 1, 6, 2, 4, 3, 5)
        return out.reshape(b, f, c, h, w)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
