"""`vcurate calibrate`: fit each score rule's threshold on a run whose clips are labelled (ground truth of
a synthetic or from-footage archive), so the filters are tuned on footage like the user's instead of
shipped defaults.

For every score rule (vcurate.rules) the score is read as a detector of the fault its reason stands for
(vcurate.rules.fault_reasons): positives are clips whose main shot carries that fault, negatives
all other clips. Every cut between two adjacent distinct scores is a candidate threshold; the one chosen
reaches the target precision with the highest recall, else (said so) the best F1. Clips the rule cannot
affect stay out of its population:
- clips without the score (not analysed, no caption for CLIP);
- clips its precondition skips (upscaled: clips blurry under the blur threshold this calibration
  proposes, or the run's one when blur cannot be calibrated), as the filter itself does;
- clips the run rejected for the same fault by another reason (lowres: low_resolution), which count as
  caught whatever this threshold is;
- clips of a fault alike to the rule's (vcurate.rules.FAULT_GROUPS: a 3-4x upscale is as soft as
  a defocus), which either rule rejects rightly and neither must.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vcurate.config import PipelineConfig
from vcurate.report.stats import Run, load_run
from vcurate.rules import FAULT_GROUPS, SCORE_RULES, ScoreRule, fault_reasons, rule_for, setting
from vcurate.synth.eval import shot_of
from vcurate.synth.truth import read_truth

MAX_CURVE_POINTS = 2000  # per rule in the JSON; enough to plot, bounded on a run of millions of clips


@dataclass
class Curve:
    """Precision and recall of "score beyond threshold" at every candidate threshold, most lenient first."""

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    positives: int
    lower: np.ndarray  # the scores either side of each candidate (the threshold may move anywhere between)
    upper: np.ndarray

    @property
    def precision(self) -> np.ndarray:
        return self.tp / np.maximum(self.tp + self.fp, 1)

    @property
    def recall(self) -> np.ndarray:
        return self.tp / max(self.positives, 1)

    @property
    def f1(self) -> np.ndarray:
        p, r = self.precision, self.recall
        return np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=p + r > 0)


def threshold_curve(scores: np.ndarray, positive: np.ndarray, side: str) -> Curve:
    """Candidates are the midpoints between adjacent distinct scores, each rejecting one more group of
    clips than the previous (rejecting none or all is no threshold worth proposing)."""
    sign = 1.0 if side == "above" else -1.0
    key = sign * np.asarray(scores, dtype=float)
    order = np.argsort(-key, kind="stable")
    key, label = key[order], np.asarray(positive, dtype=bool)[order]
    cut = np.flatnonzero(key[:-1] > key[1:])  # threshold after position i rejects order[: i + 1]
    tp, fp = np.cumsum(label)[cut], np.cumsum(~label)[cut]
    outer, inner = sign * key[cut], sign * key[cut + 1]
    return Curve(sign * (key[cut] + key[cut + 1]) / 2, tp, fp, int(label.sum()),
                 np.minimum(outer, inner), np.maximum(outer, inner))


def choose(curve: Curve, target: float) -> tuple[int, bool]:
    """Index of the candidate with the highest recall among those reaching `target` precision (ties:
    the higher precision), and True; when none reaches it, the best F1 (ties: higher precision), and False."""
    precision, recall = curve.precision, curve.recall
    reached = precision >= target
    if reached.any():
        return int(np.lexsort((precision, recall, reached))[-1]), True
    return int(np.lexsort((precision, curve.f1))[-1]), False


def short_number(value: float, lower: float, upper: float) -> float:
    """`value` with as few significant digits as keep it strictly between `lower` and `upper`."""
    for digits in range(2, 17):
        rounded = float(f"{value:.{digits}g}")
        if lower < rounded < upper:
            return rounded
    return value


def _point(threshold: float | None, tp: int, fp: int, positives: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / positives if positives else None
    return {"threshold": threshold, "precision": None if precision is None else round(precision, 4),
            "recall": None if recall is None else round(recall, 4), "tp": int(tp), "fp": int(fp)}


@dataclass
class RuleResult:
    rule: ScoreRule
    enabled: bool
    current: dict = field(default_factory=dict)  # the run's threshold, with its precision / recall
    chosen: dict | None = None  # None: no threshold could be proposed (see `note`)
    reached: bool = False
    positives: int = 0
    negatives: int = 0
    excluded: dict = field(default_factory=dict)
    note: str = ""
    curve: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        r = self.rule
        return {"reason": r.reason.value, "score": r.score, "side": r.side, "threshold_path": r.threshold_path,
                "fault": r.reason.fault, "enabled": self.enabled, "current": self.current,
                "chosen": self.chosen, "target_reached": self.reached, "positives": self.positives,
                "negatives": self.negatives, "excluded": self.excluded, "note": self.note, "curve": self.curve}


def labelled_clips(run: Run, truth_path: str | Path) -> pd.DataFrame:
    """The run's clips of videos in the ground truth, with `faults`: those of the shot each clip overlaps most."""
    truth = {t.video: t for t in read_truth(truth_path)}
    clips = run.clips[run.clips.video.isin(list(truth))].reset_index(drop=True)
    faults = [set(shot_of(truth[v], s, e).defects) for v, s, e in zip(clips.video, clips.start_frame, clips.end_frame)]
    return clips.assign(faults=faults)


class Settings:
    """The run's threshold and flag of each rule (defaults where its run.json says nothing)."""

    def __init__(self, run: Run):
        self.run, self.defaults = run, PipelineConfig()

    def enabled(self, rule: ScoreRule) -> bool:
        value = setting(self.run.config, rule.enabled_path)
        return bool(setting(self.defaults, rule.enabled_path) if value is None else value)

    def threshold(self, rule: ScoreRule) -> float | None:
        value = self.run.threshold(rule.score)
        if value is None:
            default = setting(self.defaults, rule.threshold_path)
            value = default if isinstance(default, (int, float)) else None
        return value


def _population(clips: pd.DataFrame, rule: ScoreRule, thresholds: dict, settings: Settings) -> tuple[np.ndarray, dict]:
    """Mask of the clips `rule`'s threshold decides on, with how many were left out and why."""
    unscored = clips[rule.score].isna().to_numpy()
    others = fault_reasons()[rule.reason.fault] - {rule.reason.value}
    caught = clips.reasons.map(lambda rs: bool(others & set(rs))).to_numpy(dtype=bool)
    skipped = np.zeros(len(clips), dtype=bool)
    guard = None if rule.unless is None else rule_for(rule.unless)
    # a run made before the guard's analyzer existed has no column: none of its clips were judged by it
    guarded = guard is not None and guard.score in clips
    if guarded and settings.enabled(guard) and thresholds.get(guard.reason) is not None:
        skipped = guard.beyond(clips[guard.score].to_numpy(dtype=float), thresholds[guard.reason])
    fault = rule.reason.fault
    kin = set().union(*(set(group) for group in FAULT_GROUPS.values() if fault in group)) - {fault}
    akin = clips.faults.map(lambda f: bool(kin & f) and fault not in f).to_numpy(dtype=bool)
    keep = ~unscored & ~caught & ~skipped & ~akin
    excluded = {"unscored": int(unscored.sum())}
    if others:
        excluded[f"already {'/'.join(sorted(others))}"] = int((caught & ~unscored).sum())
    if guarded:
        excluded[f"{rule.unless.value} (precondition)"] = int((skipped & ~caught & ~unscored).sum())
    if kin:
        excluded[f"{'/'.join(sorted(kin))} (alike: either rule may catch it)"] = int((akin & ~skipped & ~caught & ~unscored).sum())
    return keep, excluded


def _bounded(curve: Curve) -> dict:
    index = np.unique(np.linspace(0, len(curve.thresholds) - 1, MAX_CURVE_POINTS).astype(int))
    return {"threshold": curve.thresholds[index].round(6).tolist(), "precision": curve.precision[index].round(4).tolist(),
            "recall": curve.recall[index].round(4).tolist(), "tp": curve.tp[index].tolist(), "fp": curve.fp[index].tolist()}


def calibrate_rule(clips: pd.DataFrame, rule: ScoreRule, settings: Settings, current: dict, proposed: dict,
                   target: float) -> RuleResult:
    """One rule: its current threshold's precision / recall and the proposed threshold. `current` and
    `proposed` map reasons to thresholds (proposed falls back to current) for the rules it depends on."""
    result = RuleResult(rule, settings.enabled(rule))
    fault = rule.reason.fault
    positive = clips.faults.map(lambda f: fault in f).to_numpy(dtype=bool)
    scores = clips[rule.score].to_numpy(dtype=float)
    if current.get(rule.reason) is not None:
        now, _ = _population(clips, rule, current, settings)
        hit = rule.beyond(scores, current[rule.reason]) & now
        result.current = _point(current[rule.reason], int((hit & positive).sum()), int((hit & ~positive).sum()),
                                int((now & positive).sum()))
    keep, result.excluded = _population(clips, rule, {**current, **proposed}, settings)
    result.positives, result.negatives = int((keep & positive).sum()), int((keep & ~positive).sum())
    if not keep.any():
        result.note = f"no clip with {rule.score} is left to calibrate on"
        return result
    if result.positives == 0:
        result.note = f"no clip labelled {fault}: nothing to calibrate on"
        return result
    curve = threshold_curve(scores[keep], positive[keep], rule.side)
    if len(curve.thresholds) == 0:
        result.note = f"every clip has the same {rule.score}"
        return result
    best, result.reached = choose(curve, target)
    threshold = short_number(float(curve.thresholds[best]), float(curve.lower[best]), float(curve.upper[best]))
    result.chosen = _point(threshold, int(curve.tp[best]), int(curve.fp[best]), curve.positives)
    result.note = "" if result.reached else f"no threshold reaches precision {target:g}: best F1 instead"
    result.curve = _bounded(curve)
    return result


def calibrate(output: str | Path, truth_path: str | Path, target: float = 0.95) -> dict:
    """Every score rule calibrated on run `output` against `truth_path`, in table order (so a
    precondition's proposed threshold is known before the rule it guards)."""
    run = load_run(output)
    clips = labelled_clips(run, truth_path)
    settings = Settings(run)
    current = {r.reason: settings.threshold(r) for r in SCORE_RULES}
    proposed: dict = {}
    results = []
    for rule in SCORE_RULES:
        if rule.score not in clips or clips[rule.score].isna().all() or rule.reason.fault is None:
            continue  # the stage that computes it did not run (CLIP off), the run predates the score, or no
            # labelled fault says which clips it should reject (blank)
        result = calibrate_rule(clips, rule, settings, current, proposed, target)
        if result.chosen is not None:
            proposed[rule.reason] = result.chosen["threshold"]
        results.append(result)
    return {"output": str(output), "truth": str(truth_path), "target_precision": target, "clips": len(clips),
            "rules": results}


def _pr(point: dict) -> str:
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    return f"precision {fmt(point['precision'])}, recall {fmt(point['recall'])}"


def fragment_yaml(calibration: dict) -> str:
    """The proposed thresholds as pipeline-YAML sections, commented with what they reach."""
    lines = [f"# vcurate calibrate {calibration['output']} --truth {calibration['truth']}",
             f"# target precision {calibration['target_precision']:g}; merge these keys into the pipeline YAML"]
    opened: list[str] = []
    for result in calibration["rules"]:
        rule = result.rule
        if result.chosen is None:
            lines.append(f"# {rule.threshold_path}: not calibrated ({result.note})")
            continue
        parts = rule.section.split(".")
        common = next((i for i, (a, b) in enumerate(zip(parts, opened)) if a != b), min(len(parts), len(opened)))
        for depth in range(common, len(parts)):
            lines.append(f"{'  ' * depth}{parts[depth]}:")
        opened = parts
        chosen, current = result.chosen, result.current
        comment = f"{_pr(chosen)} on {result.positives} {rule.reason.fault} / {result.negatives} other clips"
        if not result.reached:
            comment += "; target not reached, best F1"
        if current:
            comment += f" (was {current['threshold']:g}: {_pr(current)})"
        lines.append(f"{'  ' * len(parts)}{rule.key}: {chosen['threshold']!r}  # {comment}")
        if not result.enabled:  # a filter that is off gains nothing from a threshold unless switched on
            lines.append(f"{'  ' * len(parts)}enabled: {str(result.reached).lower()}  # off in this run; "
                         + ("the threshold above reaches the target" if result.reached else "switch it on only if the figures above will do"))
    return "\n".join(lines) + "\n"


def curves_json(calibration: dict) -> dict:
    return {**calibration, "rules": {r.rule.reason.value: r.as_dict() for r in calibration["rules"]}}
