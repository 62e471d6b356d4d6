"""Quality filters: plain rules over a clip's scores. Every rule that applies adds its reason, so a
rejected clip's row tells the whole story, not only the first fault found."""

from __future__ import annotations

from vcurate.config import PipelineConfig
from vcurate.records import ClipRecord, Reason


def filter_clip(clip: ClipRecord, cfg: PipelineConfig) -> ClipRecord:
    if cfg.captions.require_caption and not clip.caption:
        clip.reject(Reason.NO_CAPTION)
    return clip
