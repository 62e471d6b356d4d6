"""Quality filters: plain rules over a clip's scores. Every rule that applies adds its reason, so a
rejected clip's row tells the whole story, not only the first fault found."""

from __future__ import annotations

from vcurate.config import FiltersConfig
from vcurate.records import ClipRecord, Reason


def _below(score: float | None, threshold: float) -> bool:
    return score is not None and score < threshold


def filter_clip(clip: ClipRecord, cfg: FiltersConfig) -> ClipRecord:
    if cfg.require_caption and not clip.caption:
        clip.reject(Reason.NO_CAPTION)
    if cfg.resolution.enabled and min(clip.width, clip.height) < cfg.resolution.min_short_side:
        clip.reject(Reason.LOW_RESOLUTION)
    if cfg.fps.enabled and not cfg.fps.min_fps <= clip.fps <= cfg.fps.max_fps:
        clip.reject(Reason.FPS_OUT_OF_RANGE)
    if cfg.shake.enabled and clip.shake_score is not None and clip.shake_score > cfg.shake.max_score:
        clip.reject(Reason.SHAKE)
    blurry = cfg.blur.enabled and _below(clip.blur_score, cfg.blur.min_score)
    if blurry:
        clip.reject(Reason.BLUR)
    # Blur also removes native-scale detail: only a clip crisp at the analysis size can be "upscaled".
    if cfg.upscaled.enabled and not blurry and _below(clip.detail_score, cfg.upscaled.min_detail):
        clip.reject(Reason.UPSCALED)
    return clip
