"""Quality filters: plain rules over a clip's scores. Every rule that applies adds its reason, so a
rejected clip's row tells the whole story, not only the first fault found. The score rules come from
vcurate.rules, the table `vcurate calibrate` fits."""

from __future__ import annotations

from vcurate.config import FiltersConfig, PipelineConfig
from vcurate.records import ClipRecord, Reason
from vcurate.rows import ClipRow
from vcurate.rules import filter_rules, setting
from vcurate.stages.base import ClipStage, Resources


def filter_clip(clip: ClipRecord, cfg: FiltersConfig) -> ClipRecord:
    if cfg.require_caption and not clip.caption:
        clip.reject(Reason.NO_CAPTION)
    if cfg.resolution.enabled and min(clip.width, clip.height) < cfg.resolution.min_short_side:
        clip.reject(Reason.LOW_RESOLUTION)
    if cfg.fps.enabled and not cfg.fps.min_fps <= clip.fps <= cfg.fps.max_fps:
        clip.reject(Reason.FPS_OUT_OF_RANGE)
    config = {"filters": cfg}  # the rules name pipeline-config paths; this stage sees the filters section
    for rule in filter_rules():  # in table order, so a precondition's rule has run before the rule it guards
        if (setting(config, rule.enabled_path) and (rule.unless is None or rule.unless.value not in clip.reasons)
                and rule.beyond(clip.score(rule.score), setting(config, rule.threshold_path))):
            clip.reject(rule.reason)
    return clip


class FilterStage(ClipStage):
    """filter: captions, resolution, frame rate and the score rules, on each clip. It asks for what the
    split stage asks for, so Ray fuses the two into one task per video."""

    name = "filter"

    def __init__(self, cfg: PipelineConfig):
        self.cfg = cfg

    def resources(self) -> Resources:
        return Resources(num_cpus=self.cfg.ray.analyze_num_cpus, concurrency=self.cfg.ray.analyze_concurrency)

    def process_clip(self, row: ClipRow) -> ClipRow:
        filter_clip(row.clip, self.cfg.filters)
        return row
