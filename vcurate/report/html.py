"""`OUT/report.html`: one self-contained page (images inlined) showing what was kept, what was
thrown away and why: the funnel, each score's histogram with its threshold, failed videos, and
frames from example clips per rejection reason, so a person can judge the filters."""

from __future__ import annotations

import base64
import html
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2

from vcurate.engine import available_cpus
from vcurate.media.frames import read_frame_at
from vcurate.report import svg
from vcurate.report.stats import Run, funnel, funnel_steps, load_run
from vcurate.rules import ScoreRule
from vcurate.storage import locate

EXAMPLES_PER_GROUP = 6
THUMB_WIDTH = 192
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}section{margin-bottom:2em}
.grid{display:flex;flex-wrap:wrap;gap:.6em}figure{margin:0;width:192px;font-size:.75em}
figure img{width:192px;max-height:200px;object-fit:contain;display:block}
.plots figure{width:auto}.plots figure img{width:540px;max-height:none}
"""


def _jpeg(rgb) -> str:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode()


def funnel_chart(f: dict) -> str:
    by_reason = f["rejected"]["by_reason"]
    labels = ["videos", "clips found"] + [f"rejected: {r}" for r in by_reason] + ["kept"]
    counts = [f["videos"]["count"], f["clips_found"]["count"]] + [v["clips"] for v in by_reason.values()] + [f["kept"]["count"]]
    colours = ["#4c72b0", "#4c72b0"] + ["#c44e52"] * len(by_reason) + ["#55a868"]
    return svg.data_uri(svg.bar_chart(labels, counts, colours, "funnel (a clip counts once per reason)"))


def score_histogram(run: Run, rule: ScoreRule) -> str | None:
    score = rule.score
    values = run.clips[[score, "status"]].dropna(subset=[score])
    if values.empty:
        return None
    groups = [(status, part.to_numpy(dtype=float), colour)
              for status, colour in (("kept", "#55a868"), ("rejected", "#c44e52"))
              if len(part := values[values.status == status][score])]
    threshold = run.threshold(score)
    label = f"threshold {threshold:.3g} ({rule.side} rejects: {rule.reason.value})" if threshold is not None else ""
    return svg.data_uri(svg.histogram(groups, score, threshold=threshold, threshold_label=label))


def _thumbnail(run: Run, clip) -> str | None:
    try:
        source = (locate(run.info.get("input") or "") / clip.video).ref
        return _jpeg(read_frame_at(source, (clip.start_s + clip.end_s) / 2, THUMB_WIDTH))
    except Exception:  # the archive moved or the file is unreadable: the report still renders
        return None


def _examples(run: Run) -> dict[str, list]:
    clips = run.clips
    groups = {"kept": clips[clips.status == "kept"]}
    for reason in sorted(clips.reasons.explode().dropna().unique()):
        groups[reason] = clips[clips.reasons.map(lambda r, reason=reason: reason in list(r))]
    return {name: list(rows.head(EXAMPLES_PER_GROUP).itertuples()) for name, rows in groups.items()}


def _thumbnails(run: Run, groups: dict[str, list]) -> dict[str, str | None]:
    """Every example clip's thumbnail, once per clip (one can stand for several reasons), decoded side
    by side: a thumbnail is a seek and a decode, in FFmpeg with the GIL released."""
    clips = {clip.clip_key: clip for rows in groups.values() for clip in rows}
    with ThreadPoolExecutor(available_cpus()) as pool:
        return dict(zip(clips, pool.map(lambda clip: _thumbnail(run, clip), clips.values())))


def _figure(clip, src: str | None, rules: list[ScoreRule]) -> str:
    """A clip's thumbnail with its place, caption and the scores of `rules` (those the run computed)."""
    values = ((rule.score, getattr(clip, rule.score)) for rule in rules)
    scores = ", ".join(f"{name.removesuffix('_score')} {v:.2f}" for name, v in values if v is not None and v == v)
    img = f'<img src="{src}" alt="{html.escape(clip.clip_key)}">' if src else "<p>(frame unavailable)</p>"
    return (f'<figure data-clip="{html.escape(clip.clip_key)}">{img}<figcaption>{html.escape(clip.video)} '
            f"{clip.start_s:.1f}–{clip.end_s:.1f}s<br>{html.escape(clip.caption)}<br>{scores}</figcaption></figure>")


def render(run: Run) -> str:
    f = funnel(run)
    funnel_rows = "".join(
        f'<tr data-step="{html.escape(key)}"><td>{html.escape(label)}</td><td data-count="{count}">{count}</td>'
        f'<td>{"" if hours is None else hours}</td></tr>'
        for key, label, count, hours in funnel_steps(f)
    )
    rules = run.scored_rules()
    plots = "".join(f'<figure data-score="{r.score}"><img src="{img}" alt="{r.score}"></figure>'
                    for r in rules if (img := score_histogram(run, r)))
    failed = run.videos[run.videos.status == "failed"]
    failed_rows = "".join(f"<tr><td>{html.escape(v.video)}</td><td>{html.escape(v.error)}</td></tr>" for v in failed.itertuples())
    groups = _examples(run)
    thumbnails = _thumbnails(run, groups)
    examples = "".join(
        f'<div class="reason" data-reason="{html.escape(name)}"><h3>{html.escape(name)}</h3><div class="grid">'
        + "".join(_figure(c, thumbnails[c.clip_key], rules) for c in clips) + "</div></div>"
        for name, clips in groups.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vcurate report: {html.escape(str(run.output))}</title>
<style>{STYLE}</style></head><body>
<h1>vcurate report</h1>
<p>input <code>{html.escape(str(run.info.get("input")))}</code> → output <code>{html.escape(str(run.output))}</code>,
finished {html.escape(str(run.info.get("finished", "")))}, wall time {run.info.get("stage_seconds", {}).get("wall", "?")} s</p>
<section id="funnel"><h2>Funnel</h2>
<table><tr><th>step</th><th>count</th><th>hours</th></tr>{funnel_rows}</table>
<img src="{funnel_chart(f)}" alt="funnel chart"></section>
<section id="scores" class="plots"><h2>Scores and thresholds</h2><div class="grid">{plots or "<p>no scores</p>"}</div></section>
<section id="failed"><h2>Failed videos ({len(failed)})</h2>
<table><tr><th>video</th><th>error</th></tr>{failed_rows}</table></section>
<section id="examples"><h2>Example clips (middle frame)</h2>{examples}</section>
</body></html>
"""


def write_report(output: str | Path) -> str:
    """OUTPUT/report.html (a folder or an object-store prefix); returns where it went."""
    run = load_run(output)
    target = locate(output) / "report.html"
    target.write_bytes(render(run).encode("utf-8"))
    return str(target)
