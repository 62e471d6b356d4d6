"""Caption-clip alignment: cosine similarity between the caption's CLIP text embedding and the
clip's frame embeddings (mean -> clip_score, min -> clip_score_min). Clips below the threshold are
rejected as low_alignment. Text embeddings are cached per distinct caption: clips of one video
usually share theirs."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from vcurate.config import AlignConfig
from vcurate.models.clip import ClipModelError, check_pretrained_tag, is_checkpoint_path, load_clip, model_config, read_checkpoint
from vcurate.records import ClipRecord
from vcurate.rules import rule_for


def check_align_config(cfg: AlignConfig, fetch: bool = False) -> None:
    """Fail before any video is processed: unknown model, unreadable checkpoint, no threshold, and
    (with `fetch`) pretrained weights that cannot be had."""
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
    return float(read_checkpoint(cfg.pretrained)["threshold"])


class ClipAligner:
    """Loads the model once; scores batches of clips."""

    cache_size = 10_000

    def __init__(self, cfg: AlignConfig):
        self.cfg = cfg
        self.clip = load_clip(cfg.model, cfg.pretrained, cfg.device)
        self.threshold = self.clip.threshold if cfg.min_score == "auto" else float(cfg.min_score)
        if self.threshold is None:
            raise ClipModelError("align.min_score is auto, but the model has no calibrated threshold")
        self._text: OrderedDict[str, torch.Tensor] = OrderedDict()

    def text_embeddings(self, captions: list[str]) -> torch.Tensor:
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
        """Fill clip_score / clip_score_min and reject below the threshold, in place. Clips without
        a caption or frames are left unscored."""
        todo = [(c, f) for c, f in zip(clips, frames) if c.caption and len(f)]
        if not todo:
            return
        texts = self.text_embeddings([c.caption for c, _ in todo])
        images = self.clip.encode_frames(np.concatenate([f for _, f in todo])).cpu()
        offset = 0
        for (clip, f), text in zip(todo, texts):
            sims = images[offset : offset + len(f)] @ text
            offset += len(f)
            clip.clip_score = round(float(sims.mean()), 5)
            clip.clip_score_min = round(float(sims.min()), 5)
            rule = rule_for("low_alignment")
            if rule.beyond(clip.clip_score, self.threshold):
                clip.reject(rule.reason)
