"""Caption-clip alignment: cosine similarity between the caption's CLIP text embedding and the
clip's frame embeddings (mean -> clip_score, min -> clip_score_min). Clips below the threshold are
rejected as low_alignment. Text embeddings are cached per distinct caption: clips of one video
usually share theirs."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from vcurate.config import AlignConfig, PipelineConfig
from vcurate.records import ClipRecord
from vcurate.rows import ClipRow, StageRow
from vcurate.rules import rule_for
from vcurate.stages.base import Resources, Stage, chunked

if TYPE_CHECKING:
    import torch

# The model code (torch, open_clip) is imported where CLIP runs, so a job with alignment off never
# loads it.


def check_align_config(cfg: AlignConfig, fetch: bool = False) -> None:
    """Fail before any video is processed: unknown model, unreadable checkpoint, no threshold, and
    (with `fetch`) pretrained weights that cannot be had."""
    from vcurate.models.clip import ClipModelError, check_pretrained_tag, is_checkpoint_path, model_config, read_checkpoint

    model_config(cfg.model)
    if cfg.pretrained and is_checkpoint_path(cfg.pretrained):
        ckpt = read_checkpoint(cfg.pretrained)
        if ckpt.get("model") not in (None, cfg.model):
            raise ClipModelError(f"checkpoint {cfg.pretrained} holds a {ckpt['model']!r} model, align.model is {cfg.model!r}")
        if cfg.min_score == "auto" and ckpt.get("threshold") is None:
            raise ClipModelError("align.min_score is auto, but the checkpoint stores no calibrated threshold")
        return
    if cfg.pretrained:
        check_pretrained_tag(cfg.model, cfg.pretrained, fetch)
    if cfg.min_score == "auto":
        raise ClipModelError("align.min_score: auto needs a checkpoint from `vcurate clip-fit`; set a number")


def resolved_min_score(cfg: AlignConfig) -> float:
    """The number `min_score` stands for (the checkpoint's calibrated threshold when 'auto')."""
    if cfg.min_score != "auto":
        return float(cfg.min_score)
    from vcurate.models.clip import read_checkpoint

    return float(read_checkpoint(cfg.pretrained)["threshold"])


class ClipAligner:
    """Loads the model once; scores batches of clips."""

    cache_size = 10_000

    def __init__(self, cfg: AlignConfig, keep_embeddings: bool = False):
        from vcurate.models.clip import ClipModelError, load_clip

        self.cfg, self.keep_embeddings = cfg, keep_embeddings
        self.clip = load_clip(cfg.model, cfg.pretrained, cfg.device)
        self.threshold = self.clip.threshold if cfg.min_score == "auto" else float(cfg.min_score)
        if self.threshold is None:
            raise ClipModelError("align.min_score is auto, but the model has no calibrated threshold")
        self._text: OrderedDict[str, "torch.Tensor"] = OrderedDict()

    def text_embeddings(self, captions: list[str]) -> "torch.Tensor":
        import torch

        missing = sorted({c for c in captions if c not in self._text})
        if missing:
            for caption, emb in zip(missing, self.clip.encode_text(missing).cpu()):
                self._text[caption] = emb
        for caption in captions:
            self._text.move_to_end(caption)
        while len(self._text) > self.cache_size:
            self._text.popitem(last=False)
        return torch.stack([self._text[c] for c in captions])

    def align(self, clips: list[ClipRecord], frames: list[np.ndarray]) -> None:
        """Fill clip_score / clip_score_min and reject below the threshold, in place (and, with
        `keep_embeddings`, clip_embedding: semantic duplicates are judged on the driver by it). Clips
        without a caption or frames are left unscored."""
        todo = [(c, f) for c, f in zip(clips, frames) if c.caption and len(f)]
        if not todo:
            return
        texts = self.text_embeddings([c.caption for c, _ in todo])
        images = self.clip.encode_frames(np.concatenate([f for _, f in todo])).cpu()
        offset = 0
        for (clip, f), text in zip(todo, texts):
            own = images[offset : offset + len(f)]
            sims = own @ text
            offset += len(f)
            if self.keep_embeddings:
                clip.clip_embedding = pack_embedding(own.mean(dim=0).numpy())
            clip.clip_score = round(float(sims.mean()), 5)
            clip.clip_score_min = round(float(sims.min()), 5)
            rule = rule_for("low_alignment")
            if rule.beyond(clip.clip_score, self.threshold):
                clip.reject(rule.reason)


class AlignStage(Stage):
    """score: CLIP similarity of caption and frames, one model per long-lived worker, one video's rows
    at a time (a Ray block), in model batches of `align.batch_size` clips. Its output block is the
    encode stage's unit of work: batching clips of several videos here made a few long encode tasks
    that left cores idle while the last of them ran. Frames are dropped once scored."""

    name = "align"
    shape = "actor"

    def __init__(self, cfg: PipelineConfig):
        self.cfg = cfg.align
        self.keep_embeddings = cfg.filters.semantic_duplicate.enabled
        self.aligner: ClipAligner | None = None

    def resources(self) -> Resources:
        return Resources(num_cpus=align_cpus(self.cfg), num_gpus=align_gpus(self.cfg), concurrency=self.cfg.actors)

    def setup(self) -> None:
        self.aligner = ClipAligner(self.cfg, keep_embeddings=self.keep_embeddings)

    def process(self, rows: list[StageRow]) -> list[StageRow]:
        picked = [row for row in rows if isinstance(row, ClipRow) and row.frames is not None
                  and (row.clip.status == "kept" or self.cfg.score_rejected)]
        for chunk in chunked(picked, self.cfg.batch_size):
            self.aligner.align([r.clip for r in chunk], [r.frames for r in chunk])
        for row in rows:
            if isinstance(row, ClipRow):
                row.frames = None
        return rows


def pack_embedding(embedding: np.ndarray) -> bytes:
    """A clip's embedding, normalised, as little-endian float16 (clip_embedding)."""
    unit = embedding / max(float(np.linalg.norm(embedding)), 1e-12)
    return unit.astype("<f2").tobytes()


def unpack_embeddings(packed: list[bytes]) -> np.ndarray:
    """(n, d) float32 unit embeddings from clip_embedding values of one model."""
    return np.stack([np.frombuffer(b, "<f2") for b in packed]).astype(np.float32)


def align_gpus(cfg: AlignConfig) -> float:
    """A whole GPU per actor when CLIP runs on CUDA (`align.num_gpus` overrides)."""
    if cfg.num_gpus is not None:
        return cfg.num_gpus
    from vcurate.models.clip import resolve_device

    return 1.0 if resolve_device(cfg.device).type == "cuda" else 0.0


def align_cpus(cfg: AlignConfig) -> float:
    """A CPU for an actor that feeds a GPU; none for one on the CPU, whose core would otherwise sit
    reserved between batches while videos wait to be decoded."""
    if cfg.num_cpus is not None:
        return cfg.num_cpus
    return 1.0 if align_gpus(cfg) > 0 else 0.0
