"""`vcurate calibrate`: the threshold choice on hand-made scores, who counts in each rule's population,
and the command on a real run, whose fragment the filter stage then applies."""

import json

import numpy as np
import pandas as pd
import yaml
import pytest

from tests.conftest import tiny_config
from vcurate.calibrate import calibrate, choose, short_number, threshold_curve
from vcurate.cli import main
from vcurate.config import UpscaledFilter, load_config
from vcurate.job import run_job
from vcurate.records import ClipRecord, Reason
from vcurate.rules import rule_for
from vcurate.stages.filter import filter_clip
from vcurate.synth.eval import shot_of
from vcurate.synth.truth import TruthShot, TruthVideo, read_truth, write_truth


def test_highest_recall_at_target_precision():
    # above-side score; 0.5 is shared by a positive and a negative, so they fall on the same side of any cut
    scores = np.array([0.1, 0.2, 0.3, 0.5, 0.5, 0.6, 0.7, 0.8])
    positive = np.array([0, 0, 0, 1, 0, 1, 1, 1], dtype=bool)
    curve = threshold_curve(scores, positive, "above")
    # cuts, most lenient first: 0.75 0.65 0.55 0.4 0.25 0.15 -> rejected (tp, fp):
    np.testing.assert_allclose(curve.thresholds, [0.75, 0.65, 0.55, 0.4, 0.25, 0.15])
    assert curve.tp.tolist() == [1, 2, 3, 4, 4, 4] and curve.fp.tolist() == [0, 0, 0, 1, 2, 3]
    # precision 1, 1, 1, 0.8, 0.67, 0.57; recall 0.25, 0.5, 0.75, 1, 1, 1
    assert choose(curve, 0.95) == (2, True)  # 0.55: precision 1, recall 0.75
    assert choose(curve, 0.8) == (3, True)  # 0.4: precision 0.8, recall 1
    assert choose(curve, 0.5) == (3, True)  # the same recall with more false alarms is never chosen


def test_best_f1_when_the_target_is_out_of_reach():
    # below-side score: cuts 1.5 (tp 0, fp 1), 2.5 (1, 1: F1 0.5), 3.5 (2, 1: precision 0.67, recall 1, F1 0.8)
    curve = threshold_curve(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 1, 1, 0], dtype=bool), "below")
    np.testing.assert_allclose(curve.thresholds, [1.5, 2.5, 3.5])
    assert choose(curve, 0.95) == (2, False)


def test_threshold_is_short_but_stays_between_its_neighbours():
    assert short_number(1.455, 1.01, 1.9) == 1.5
    assert short_number(0.46305, 0.4630, 0.4631) == 0.46305
    assert rule_for("shake").beyond(1.5, 1.5) == False  # noqa: E712 -- the rule is strict, as the curve assumes


def _clip(video, start, reasons=(), **scores):
    return {"video": video, "clip_key": f"{video}-{start}", "start_frame": start, "end_frame": start + 10,
            "start_s": start / 10, "end_s": start / 10 + 1, "status": "rejected" if reasons else "kept",
            "reasons": list(reasons), "shake_score": None, "blur_score": None, "detail_score": None,
            "clip_score": None, **scores}


def _shot(start, *defects):
    return TruthShot(start_frame=start, end_frame=start + 10, true_caption="c", attached_caption="c",
                     defects=list(defects), camera="static", colour="red", shape="circle", direction="left",
                     background="plain")


def test_populations_mirror_the_filter_rules(tmp_path):
    """Upscaled is fitted only on clips not blurry under the proposed blur threshold, and not on clips
    already caught as low_resolution; blur not on upscaled shots; the current thresholds come from run.json."""
    shots = [_shot(0), _shot(10, "blur"), _shot(20, "blur"), _shot(30, "lowres"), _shot(40, "lowres"), _shot(50),
             _shot(60, "lowres")]
    write_truth(tmp_path / "truth.jsonl", [TruthVideo(video="v.mp4", fps=10, num_frames=70, width=64, height=64,
                                                      caption_source="manifest", shots=shots)])
    clips = [
        _clip("v.mp4", 0, blur_score=0.9, detail_score=0.9),
        _clip("v.mp4", 10, ["blur"], blur_score=0.3, detail_score=0.1),  # blurry: no say on upscaled
        _clip("v.mp4", 20, ["blur"], blur_score=0.4, detail_score=0.2),
        _clip("v.mp4", 30, ["upscaled"], blur_score=0.8, detail_score=0.4),
        _clip("v.mp4", 40, blur_score=0.8, detail_score=0.6),
        _clip("v.mp4", 50, ["upscaled"], blur_score=0.7, detail_score=0.5),  # a false alarm of the run
        _clip("v.mp4", 60, ["low_resolution"], blur_score=0.9, detail_score=0.9),  # caught anyway
    ]
    pd.DataFrame(clips).to_parquet(tmp_path / "clips.parquet")
    pd.DataFrame([{"video": "v.mp4", "status": "ok"}]).to_parquet(tmp_path / "videos.parquet")
    run = {"config": {"filters": {"blur": {"enabled": True, "min_score": 0.5}, "upscaled": {"enabled": True, "min_detail": 0.55}}}}
    (tmp_path / "run.json").write_text(json.dumps(run))

    result = {r.rule.reason: r for r in calibrate(tmp_path, tmp_path / "truth.jsonl", 0.95)["rules"]}
    blur, upscaled = result[Reason("blur")], result[Reason("upscaled")]
    assert blur.chosen["threshold"] == 0.55 and (blur.chosen["precision"], blur.chosen["recall"]) == (1.0, 1.0)
    # the upscaled shots (30, 40, 60) are as soft as a defocus: either rule may reject them, so neither is fitted on them
    assert (blur.positives, blur.negatives) == (2, 2)
    assert blur.excluded == {"unscored": 0, "lowres (alike: either rule may catch it)": 3}
    assert Reason("shake") not in result  # no clip has a shake score
    # upscaled sees clips 0, 30, 40, 50: detail 0.9 (clean), 0.4 and 0.6 (lowres), 0.5 (clean)
    assert (upscaled.positives, upscaled.negatives) == (2, 2)
    assert upscaled.excluded == {"unscored": 0, "already low_resolution": 1, "blur (precondition)": 2,
                                 "blur (alike: either rule may catch it)": 0}
    assert upscaled.current == {"threshold": 0.55, "precision": 0.5, "recall": 0.5, "tp": 1, "fp": 1}
    # cuts 0.45 (tp 1, fp 0), 0.55 (1, 1), 0.75 (2, 1): only the first reaches precision 0.95
    assert upscaled.chosen == {"threshold": 0.45, "precision": 1.0, "recall": 0.5, "tp": 1, "fp": 0}
    assert upscaled.reached and upscaled.note == ""


@pytest.fixture(scope="module")
def curated_without_clip(tiny_archive, tmp_path_factory):
    root, _ = tiny_archive
    out = tmp_path_factory.mktemp("calib-run")
    run_job(tiny_config(root, out, align={"enabled": False}), engine="local", progress=False)
    return out, root / "ground_truth.jsonl"


def test_calibrate_command_on_a_run(curated_without_clip, tmp_path, capsys):
    out, truth_path = curated_without_clip
    fragment = tmp_path / "fragment.yaml"
    assert main(["calibrate", str(out), "--truth", str(truth_path), "--output", str(fragment)]) == 0
    table = capsys.readouterr().out
    assert "shake" in table and "blur" in table and "upscaled" in table

    assert main(["calibrate", str(out), "--truth", str(truth_path), "--target-precision", "0.99"]) == 0
    printed = capsys.readouterr().out  # without --output the fragment follows the table
    assert "target precision 0.99" in printed and printed.split("filters:\n", 1)[1].startswith("  shake:\n    max_score: ")
    assert main(["calibrate", str(out), "--truth", str(truth_path), "--target-precision", "0"]) == 2

    cfg = load_config(fragment)  # the fragment alone is a valid pipeline YAML
    curves = json.loads((out / "calibration.json").read_text())["rules"]
    assert "low_alignment" not in curves  # CLIP was off
    assert curves["upscaled"]["chosen"] is None  # the archive's only lowres shots are low_resolution videos
    assert "not calibrated" in fragment.read_text()
    assert cfg.filters.upscaled.min_detail == UpscaledFilter().min_detail  # so the fragment leaves it as it was

    truth = {t.video: t for t in read_truth(truth_path)}
    clips = pd.read_parquet(out / "clips.parquet")
    for name, fault, threshold in (("shake", "shake", cfg.filters.shake.max_score), ("blur", "blur", cfg.filters.blur.min_score)):
        assert threshold == curves[name]["chosen"]["threshold"]
        assert curves[name]["target_reached"] and curves[name]["positives"] >= 2
        # refilter every clip with the fragment's thresholds: exactly the clips of faulty shots go
        for row in clips.astype(object).where(clips.notna(), None).to_dict("records"):  # parquet's NaN for null
            record = ClipRecord.model_validate({**row, "reasons": [], "status": "kept", "shard": None,
                                                "clip_score": None, "clip_score_min": None, "duplicate_of": None,
                                                "duplicate_distance": None})
            caught = name in filter_clip(record, cfg.filters).reasons
            assert caught == (fault in shot_of(truth[row["video"]], row["start_frame"], row["end_frame"]).defects), row["clip_key"]


def test_fragment_switches_on_a_disabled_filter_only_when_its_threshold_reaches_the_target():
    from vcurate.calibrate import RuleResult, fragment_yaml
    from vcurate.rules import rule_for

    point = {"threshold": 0.2, "precision": 1.0, "recall": 0.9, "tp": 9, "fp": 0}
    for reached in (True, False):
        result = RuleResult(rule_for("upscaled"), enabled=False, chosen=point, reached=reached, positives=10, negatives=30)
        cfg = yaml.safe_load(fragment_yaml({"output": "OUT", "truth": "T", "target_precision": 0.95, "rules": [result]}))
        assert cfg["filters"]["upscaled"] == {"min_detail": 0.2, "enabled": reached}
