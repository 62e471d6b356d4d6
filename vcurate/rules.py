"""The score rules of the quality filters, as one table: which score rejects a clip, on which side of
which config threshold, switched by which flag, under which precondition, for which reason. The
filter stage applies it, `vcurate calibrate` fits its thresholds, and `vcurate stats`, the report,
the notebook and `vcurate eval` read it, so none of them can disagree on a rule. A new filter is a
clip analyzer (vcurate.analyze) filling a column and one `register_rule` over it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vcurate.records import Reason


@dataclass(frozen=True)
class ScoreRule:
    reason: Reason
    score: str  # ClipRecord column
    section: str  # pipeline-config section holding `enabled` and the threshold, e.g. "filters.shake"
    key: str  # the threshold's key in that section
    side: Literal["above", "below"]  # which side of the threshold is rejected (strictly)
    unless: Reason | None = None  # the rule is not applied to a clip rejected for this reason
    streamed: bool = False  # decided on the driver as kept clips stream in input order (vcurate.dedup), not per clip

    @property
    def threshold_path(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def enabled_path(self) -> str:
        return f"{self.section}.enabled"

    def beyond(self, score, threshold):
        """Whether `score` (a number, or an array with NaN for missing) lies on the rejected side;
        a missing score never rejects."""
        if score is None:
            return False
        return np.greater(score, threshold) if self.side == "above" else np.less(score, threshold)

    def describe(self) -> str:
        """One line for humans: the rule and what its reason means."""
        unless = f", unless already {self.unless.value}" if self.unless else ""
        return f"{self.score} {self.side} {self.threshold_path}{unless}: {self.reason.help}"


SCORE_RULES: list[ScoreRule] = [
    ScoreRule(Reason.define("shake", "camera shake (high-frequency residual of the global motion) too strong",
                            fault="shake"), "shake_score", "filters.shake", "max_score", "above"),
    # A blank frame has no edges: without this rule it would read as blurred.
    ScoreRule(Reason.define("blank", "nothing to see: black or flat frames (a held fade, a leader, a blank card)"),
              "luma_spread", "filters.blank", "min_spread", "below"),
    ScoreRule(Reason.define("blur", "frames too soft (sharpness below threshold)", fault="blur"),
              "blur_score", "filters.blur", "min_score", "below", unless=Reason("blank")),
    # Blur also removes native-scale detail: only a clip crisp at the analysis size can be "upscaled".
    ScoreRule(Reason.define("upscaled", "content upscaled from a lower resolution", fault="lowres"),
              "detail_score", "filters.upscaled", "min_detail", "below", unless=Reason("blur")),
    ScoreRule(Reason.define("static", "nothing in the scene moves (a still, a slideshow, a pan or zoom over a still)",
                            fault="static"), "motion_score", "filters.static", "min_motion", "below"),
    ScoreRule(Reason.define("text_overlay", "burned-in text on screen: subtitles, watermarks, logos or tickers",
                            fault="text"), "overlay_score", "filters.text", "max_overlay", "above"),
    ScoreRule(Reason.define("low_alignment", "caption does not describe the clip (CLIP score below threshold)",
                            fault="mismatch"), "clip_score", "align", "min_score", "below"),
    # A clip's distance to the clips kept before it: only the driver, seeing them in order, can judge it.
    ScoreRule(Reason.define("duplicate", "looks and moves like an earlier kept clip (near-duplicate)", fault="duplicate"),
              "duplicate_distance", "filters.duplicate", "min_distance", "below", streamed=True),
    ScoreRule(Reason.define("semantic_duplicate", "shows what an earlier kept clip shows (their CLIP embeddings alike)",
                            fault="duplicate"),
              "semantic_similarity", "filters.semantic_duplicate", "max_similarity", "above", streamed=True),
]  # in application order: a rule's precondition comes before it


def register_rule(rule: ScoreRule) -> ScoreRule:
    """Add a score rule (after those it may depend on); its score column must be filled by a clip
    analyzer or the record itself."""
    if any(r.reason == rule.reason or r.score == rule.score for r in SCORE_RULES):
        raise ValueError(f"a rule for reason {rule.reason.value!r} or score {rule.score!r} exists already")
    SCORE_RULES.append(rule)
    return rule


def unregister_rule(rule: ScoreRule) -> None:
    SCORE_RULES.remove(rule)


def filter_rules() -> list[ScoreRule]:
    """The rules the filter stage applies: those of the `filters` section (alignment is judged where
    CLIP runs, duplicates on the driver)."""
    return [r for r in SCORE_RULES if r.section.startswith("filters.") and not r.streamed]


def rule_for(reason: Reason | str) -> ScoreRule:
    return next(r for r in SCORE_RULES if r.reason == Reason(reason))


def rule_for_score(score: str) -> ScoreRule:
    return next(r for r in SCORE_RULES if r.score == score)


# Faults alike to the eye: a 3-4x upscale is as soft as a defocus and a mild blur leaves what an upscale
# leaves, so either rule rejecting either is right; eval also judges such a group as one fault, and
# calibrate fits neither rule on the other's shots.
FAULT_GROUPS = {"soft": ("blur", "lowres")}


def fault_reasons() -> dict[str, set[str]]:
    """Which rejection reasons count as catching which labelled fault (vcurate eval, calibrate)."""
    faults: dict[str, set[str]] = {}
    for reason in Reason.all():
        if reason.fault:
            faults.setdefault(reason.fault, set()).add(reason.value)
    return faults


def setting(config: Any, path: str) -> Any:
    """The value at a dotted config path, in a pydantic config or its JSON dump (run.json); None when absent."""
    value = config
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
        if value is None:
            return None
    return value
