"""Helpers for notebooks/inspect_stats.ipynb: loading, plots, borderline clips and what-if tables,
so the notebook itself stays a few short cells."""

from __future__ import annotations

import pandas as pd

from vcurate.report.stats import Run, funnel, funnel_steps, load_run
from vcurate.rules import rule_for_score

__all__ = ["load_run", "funnel_frame", "borderline", "what_if", "plot_scores"]


def funnel_frame(run: Run) -> pd.DataFrame:
    """The funnel as a table: one row per step, with count and hours."""
    rows = [(label, count, hours) for _, label, count, hours in funnel_steps(funnel(run))]
    return pd.DataFrame(rows, columns=["step", "count", "hours"]).set_index("step")


def borderline(run: Run, score: str, n: int = 5) -> pd.DataFrame:
    """The `n` clips whose `score` lies closest to its threshold, on either side."""
    threshold = run.threshold(score)
    clips = run.clips.dropna(subset=[score])
    if threshold is None or clips.empty:
        return clips.head(0)
    distance = (clips[score] - threshold).abs()
    cols = ["clip_key", "video", score, "status", "reasons", "caption"]
    return clips.assign(distance=distance).nsmallest(n, "distance")[cols + ["distance"]]


def what_if(run: Run, score: str, thresholds: list[float]) -> pd.DataFrame:
    """How many clips would be kept if `score`'s threshold moved, all other decisions unchanged."""
    rule = rule_for_score(score)
    clips = run.clips
    other = clips.reasons.map(lambda r: any(x != rule.reason for x in r))  # rejected for another reason anyway
    values = clips[score].to_numpy(dtype=float)
    rows = []
    for t in thresholds:
        fails = pd.Series(rule.beyond(values, t), index=clips.index)
        kept = ~other & ~fails
        rows.append({"threshold": t, "kept": int(kept.sum()), "rejected_by_this_score": int(fails.sum()),
                     "kept_hours": round(float((clips.end_s - clips.start_s)[kept].sum()) / 3600, 4)})
    return pd.DataFrame(rows).set_index("threshold")


def plot_scores(run: Run):
    """One histogram per score with its threshold marked; returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    present = run.scored_rules()
    fig, axes = plt.subplots(1, max(1, len(present)), figsize=(4 * max(1, len(present)), 3), squeeze=False)
    for ax, rule in zip(axes[0], present):
        ax.hist(run.clips[rule.score].dropna(), bins=30, color="#4c72b0")
        if (t := run.threshold(rule.score)) is not None:
            ax.axvline(t, color="black", linestyle="--")
        ax.set_title(f"{rule.score} ({rule.side} threshold: {rule.reason.value})", fontsize=8)
    fig.tight_layout()
    return fig
