"""The score rules of the quality filters, as one table: which score rejects a clip, on which side of
which config threshold, switched by which flag, and under which precondition. The filter stage
applies it and `vcurate calibrate` fits its thresholds, so the two can never disagree on a rule."""

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
        return f"{self.score} {self.side} {self.threshold_path}{unless}: {Reason.vocabulary()[self.reason.value]}"


SCORE_RULES: tuple[ScoreRule, ...] = (
    ScoreRule(Reason.SHAKE, "shake_score", "filters.shake", "max_score", "above"),
    ScoreRule(Reason.BLUR, "blur_score", "filters.blur", "min_score", "below"),
    # Blur also removes native-scale detail: only a clip crisp at the analysis size can be "upscaled".
    ScoreRule(Reason.UPSCALED, "detail_score", "filters.upscaled", "min_detail", "below", unless=Reason.BLUR),
    ScoreRule(Reason.LOW_ALIGNMENT, "clip_score", "align", "min_score", "below"),
)
FILTER_RULES = tuple(r for r in SCORE_RULES if r.section.startswith("filters."))  # applied by stages/filter.py


def rule_for(reason: Reason | str) -> ScoreRule:
    return next(r for r in SCORE_RULES if r.reason == Reason(reason))


def setting(config: Any, path: str) -> Any:
    """The value at a dotted config path, in a pydantic config or its JSON dump (run.json); None when absent."""
    value = config
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
        if value is None:
            return None
    return value
