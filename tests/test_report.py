"""Stats, HTML report and notebook agree with the manifests."""

import json
import os
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from vcurate.cli import main
from vcurate.report.html import write_report
from vcurate.report.notebook import what_if
from vcurate.report.stats import load_run, stats

ROOT = Path(__file__).resolve().parents[1]


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.steps, self.reasons, self.images, self.scores = [], {}, [], 0, []
        self._step = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id"))
        if tag == "tr" and "data-step" in a:
            self._step = a["data-step"]
        if tag == "td" and "data-count" in a and self._step:
            self.steps[self._step] = int(a["data-count"])
        if tag == "div" and a.get("class") == "reason":
            self.reasons.append(a["data-reason"])
        if tag == "figure" and "data-score" in a:
            self.scores.append(a["data-score"])
        if tag == "img" and a.get("src", "").startswith("data:image/"):
            self.images += 1


def test_report_html_matches_the_manifests(curated):
    out, _, _ = curated
    path = Path(write_report(out))
    parsed = _Collect()
    parsed.feed(path.read_text())
    clips = pd.read_parquet(out / "clips.parquet")
    videos = pd.read_parquet(out / "videos.parquet")
    assert parsed.sections == ["funnel", "scores", "failed", "examples"]
    assert parsed.steps["videos"] == len(videos)
    assert parsed.steps["clips_found"] == len(clips)
    assert parsed.steps["kept"] == (clips.status == "kept").sum()
    assert parsed.steps["rejected"] == (clips.status == "rejected").sum()
    for reason, n in clips.reasons.explode().dropna().value_counts().items():
        assert parsed.steps[f"reason:{reason}"] == n
        assert reason in parsed.reasons
    assert "kept" in parsed.reasons
    assert {"blur_score", "shake_score", "detail_score", "clip_score"} <= set(parsed.scores)
    assert parsed.images >= 5  # funnel chart, histograms, thumbnails: all inlined
    assert "http://" not in path.read_text() and "https://" not in path.read_text()


def test_stats_json_and_table(curated, capsys):
    out, summary, _ = curated
    assert main(["stats", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["funnel"]["kept"]["count"] == summary.kept
    assert data["funnel"]["clips_found"]["count"] == summary.clips
    assert main(["stats", str(out)]) == 0
    assert "clips found" in capsys.readouterr().out
    assert main(["stats", str(out / "nowhere")]) == 2


def test_what_if_moves_the_kept_count(curated):
    out, _, _ = curated
    run = load_run(out)
    table = what_if(run, "blur_score", [0.0, 1e9])
    assert table.loc[0.0, "rejected_by_this_score"] == 0
    assert table.loc[1e9, "kept"] == 0
    assert table.loc[0.0, "kept"] >= (run.clips.status == "kept").sum()


@pytest.mark.slow
def test_notebook_runs_and_agrees_with_stats(curated, tmp_path):
    out, _, _ = curated
    nb = nbformat.read(ROOT / "notebooks" / "inspect_stats.ipynb", as_version=4)
    os.environ["VCURATE_OUT"] = str(out)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    finally:
        del os.environ["VCURATE_OUT"]
    printed = [o["text"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("name") == "stdout"]
    funnel_line = next(line for text in printed for line in text.splitlines() if line.startswith('{"clips_found"'))
    assert json.loads(funnel_line) == stats(out)["funnel"]


def test_svg_histogram_bars_follow_the_counts_and_mark_the_threshold():
    import re
    import xml.etree.ElementTree as ET

    import numpy as np

    from vcurate.report.svg import histogram, nice_ticks

    kept, rejected = np.array([0.1, 0.1, 0.1, 0.5]), np.array([0.9])
    root = ET.fromstring(histogram([("kept", kept, "#0a0"), ("rejected", rejected, "#a00")], "blur_score", bins=4,
                                   threshold=0.8, threshold_label="threshold 0.8"))
    ns = "{http://www.w3.org/2000/svg}"
    bars = [(r.get("fill"), float(r.get("height"))) for r in root.iter(f"{ns}rect") if r.get("fill-opacity") and r.get("x")]
    kept_heights = sorted(h for fill, h in bars if fill == "#0a0")
    assert len(kept_heights) == 2 and abs(kept_heights[1] - 3 * kept_heights[0]) < 0.5  # bins of 3 and 1 clips
    assert [h for fill, h in bars if fill == "#a00"] == [kept_heights[0]]  # one clip: as tall as kept's single
    assert any(p.get("stroke-dasharray") for p in root.iter(f"{ns}path"))
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "blur_score" in texts and "threshold 0.8" in texts
    assert nice_ticks(0.03, 0.97) == [0.2, 0.4, 0.6, 0.8]
    assert nice_ticks(0, 7) == [0, 2, 4, 6]
    assert not re.search(r"nan|inf", ET.tostring(root, encoding="unicode"))
