"""A filter is one analyzer and one rule: a toy pair registered here reaches the filter stage, the
manifests, `vcurate stats`, the report, the notebook's what-if table and `vcurate eval` without any
of them naming it."""

import numpy as np
import pandas as pd
import pytest

from tests.conftest import tiny_config
from vcurate.analyze import ClipAnalyzer, Column, register_analyzer, unregister_analyzer
from vcurate.config import Section, register_filter_section, unregister_filter_section
from vcurate.job import run_job
from vcurate.records import Reason
from vcurate.report.html import render
from vcurate.report.notebook import what_if
from vcurate.report.stats import load_run, stats
from vcurate.rules import ScoreRule, register_rule, unregister_rule
from vcurate.synth.eval import evaluate


class ToyFilter(Section):
    enabled: bool = True
    max_brightness: float = 0.0  # every picture is brighter than black: the toy rejects every clip


class BrightnessAnalyzer(ClipAnalyzer):
    columns = {"toy_brightness": Column(float, "mean analysis luma, 0-1")}

    def __init__(self):
        self.means: list[float] = []

    @classmethod
    def build(cls, cfg, stream):
        return cls() if cfg.filters.toy.enabled else None

    def process(self, index, frame):
        self.means.append(float(frame.luma().mean()) / 255)

    def clip_columns(self, start, end):
        return {"toy_brightness": float(np.mean(self.means[start:end]))}


@pytest.fixture
def toy_rule():
    register_filter_section("toy", ToyFilter)
    register_analyzer(BrightnessAnalyzer)
    # counted as catching blur, so eval's blur line must move
    rule = register_rule(ScoreRule(Reason.define("toy_bright", "brighter than the toy allows", fault="blur"),
                                   "toy_brightness", "filters.toy", "max_brightness", "above"))
    yield rule
    unregister_rule(rule)
    Reason.forget("toy_bright")
    unregister_analyzer(BrightnessAnalyzer)
    unregister_filter_section("toy")


def test_a_registered_analyzer_and_rule_reach_every_view(toy_rule, tiny_archive, tmp_path):
    root, _ = tiny_archive
    cfg = tiny_config(root, tmp_path / "out", align={"enabled": False}, analysis={"isolate": False})
    assert cfg.filters.toy.max_brightness == 0.0  # the section exists with its defaults
    run_job(cfg, engine="local", progress=False)

    clips = pd.read_parquet(tmp_path / "out" / "clips.parquet")
    assert (clips.toy_brightness > 0.05).all()  # the analyzer's column, from the real frames
    assert clips.reasons.map(lambda r: "toy_bright" in r).all()  # the filter applied the rule
    assert (clips.status == "rejected").all()

    summary = stats(tmp_path / "out")
    assert summary["scores"]["toy_brightness"]["rejects"] == "above"
    assert summary["funnel"]["rejected"]["by_reason"]["toy_bright"]["clips"] == len(clips)

    run = load_run(tmp_path / "out")
    assert 'data-score="toy_brightness"' in render(run) and 'data-reason="toy_bright"' in render(run)
    others = clips.reasons.map(lambda r: bool(set(r) - {"toy_bright"}))
    assert what_if(run, "toy_brightness", [1.0]).loc[1.0, "kept"] == int((~others).sum())

    report = evaluate(tmp_path / "out", root / "ground_truth.jsonl")
    blur = report["clips"]["blur"]
    assert blur["fn"] == 0 and blur["fp"] > 0  # every clip rejected for the toy counts as caught blur


def test_a_filter_section_nobody_registered_is_an_error():
    from vcurate.config import ConfigError, PipelineConfig, with_settings

    with pytest.raises(ConfigError, match="unknown filter: toy"):
        with_settings(PipelineConfig(), [("filters.toy.enabled", True)], "pipeline config")
