"""Numbers about a finished run, loaded from its manifests: the funnel, per-reason counts, score
thresholds. Shared by `vcurate stats`, the HTML report and the notebook, so all three agree."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vcurate.errors import VcurateError
from vcurate.rules import SCORE_RULES, ScoreRule, rule_for_score, setting
from vcurate.storage import locate


class NoRunError(VcurateError, FileNotFoundError):
    """The folder holds no finished `vcurate run` output."""


@dataclass
class Run:
    output: str
    clips: pd.DataFrame
    videos: pd.DataFrame
    info: dict

    @property
    def config(self) -> dict:
        return self.info.get("config", {})

    def threshold(self, score: str) -> float | None:
        """The threshold the run applied to `score` (resolved when the config said 'auto')."""
        resolved = self.info.get("thresholds", {}).get(score)
        if resolved is not None:
            return float(resolved)
        value = setting(self.config, rule_for_score(score).threshold_path)
        return float(value) if isinstance(value, (int, float)) else None

    def scored_rules(self) -> list[ScoreRule]:
        """The rules whose score this run computed for at least one clip, in table order."""
        return [r for r in SCORE_RULES if r.score in self.clips and self.clips[r.score].notna().any()]


def load_run(output: str | Path) -> Run:
    """A finished run's manifests, from a folder or an object-store prefix."""
    root = locate(output)
    missing = [n for n in ("clips.parquet", "videos.parquet", "run.json") if not (root / n).is_file()]
    if missing:
        raise NoRunError(f"{output} holds no finished vcurate run (missing {', '.join(missing)})")

    def table(name: str) -> pd.DataFrame:
        with (root / name).open_input() as f:
            return pd.read_parquet(f)

    return Run(str(output), table("clips.parquet"), table("videos.parquet"),
               json.loads((root / "run.json").read_bytes().decode("utf-8")))


def _hours(seconds: float) -> float:
    return round(float(seconds) / 3600, 4)


def funnel(run: Run) -> dict:
    """Videos in -> failed -> clips found -> rejected per reason -> kept -> shards, with hours."""
    clips, videos = run.clips, run.videos
    ok = videos[videos.status == "ok"]
    durations = clips.end_s - clips.start_s
    kept = clips.status == "kept"
    reasons = clips.reasons.explode().dropna()
    per_reason = {}
    for reason, index in reasons.groupby(reasons).groups.items():
        rows = clips.loc[sorted(set(index))]
        per_reason[reason] = {"clips": len(rows), "hours": _hours((rows.end_s - rows.start_s).sum())}
    return {
        "videos": {"count": len(videos), "hours": _hours(ok.duration_s.sum())},
        "failed": {"count": int((videos.status == "failed").sum())},
        "clips_found": {"count": len(clips), "hours": _hours(durations.sum())},
        "rejected": {"count": int((~kept).sum()), "hours": _hours(durations[~kept].sum()), "by_reason": dict(sorted(per_reason.items()))},
        "kept": {"count": int(kept.sum()), "hours": _hours(durations[kept].sum())},
        "shards": {"count": int(clips.shard.dropna().nunique())},
    }


def funnel_steps(f: dict) -> list[tuple[str, str, int, float | None]]:
    """The funnel as rows (key, label, count, hours) in reading order; one list for every view."""
    rows = [("videos", "videos in", f["videos"]["count"], f["videos"]["hours"]),
            ("failed", "videos failed", f["failed"]["count"], None),
            ("clips_found", "clips found", f["clips_found"]["count"], f["clips_found"]["hours"])]
    rows += [(f"reason:{r}", f"rejected: {r}", v["clips"], v["hours"]) for r, v in f["rejected"]["by_reason"].items()]
    rows += [("rejected", "rejected (any reason)", f["rejected"]["count"], f["rejected"]["hours"]),
             ("kept", "kept", f["kept"]["count"], f["kept"]["hours"]),
             ("shards", "shards", f["shards"]["count"], None)]
    return rows


def score_summary(run: Run) -> dict:
    out = {}
    for rule in run.scored_rules():
        values = run.clips[rule.score].dropna()
        out[rule.score] = {
            "threshold": run.threshold(rule.score), "rejects": rule.side, "reason": rule.reason.value,
            "count": int(len(values)),
            "median": round(float(values.median()), 4), "p05": round(float(values.quantile(0.05)), 4),
            "p95": round(float(values.quantile(0.95)), 4),
        }
    return out


def stats(output: str | Path) -> dict:
    """Everything `vcurate stats --json` prints."""
    run = load_run(output)
    failed = run.videos[run.videos.status == "failed"][["video", "error"]]
    return {"output": str(run.output), "funnel": funnel(run), "scores": score_summary(run),
            "failed_videos": failed.to_dict("records")}
