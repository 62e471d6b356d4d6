import json

from vcurate.synth.eval import evaluate, match_cuts, prf


def test_cut_matching_is_one_to_one_within_tolerance():
    assert match_cuts([10, 11, 50], [10, 48]) == 2  # 11 cannot reuse 10's match; 50 is within 2 of 48
    assert match_cuts([10], [13]) == 0
    assert match_cuts([], [5]) == 0


def test_prf():
    assert prf(9, 1, 0) == {"precision": 0.9, "recall": 1.0, "f1": 0.9474, "tp": 9, "fp": 1, "fn": 0}


def test_scene_cuts_found_on_the_tiny_archive(curated, tiny_archive):
    out, _, _ = curated
    root, truth = tiny_archive
    report = evaluate(out, root / "ground_truth.jsonl")
    assert report["cuts"]["tp"] + report["cuts"]["fn"] == sum(len(t.cuts) for t in truth)
    assert report["cuts"]["f1"] >= 0.9, json.dumps(report)
