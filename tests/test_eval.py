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


def test_clip_metrics_match_clips_to_their_main_shot():
    import pandas as pd

    from vcurate.synth.eval import clip_metrics
    from vcurate.synth.truth import TruthShot, TruthVideo

    def shot(a, b, defects, camera="static"):
        return TruthShot(start_frame=a, end_frame=b, true_caption="c", attached_caption="c", defects=defects,
                         camera=camera, colour="red", shape="circle", direction="left", background="striped")

    def scores(shake):
        return dict(shake_score=shake, blur_score=0.6, clip_score=None)

    truth = {"v.mp4": TruthVideo(video="v.mp4", fps=25, num_frames=300, width=640, height=360, caption_source="txt",
                                 shots=[shot(0, 100, ["shake"]), shot(100, 200, [], "pan"), shot(200, 300, ["blur"])])}
    clips = pd.DataFrame([
        dict(video="v.mp4", start_frame=0, end_frame=98, reasons=["shake"], status="rejected", **scores(2.0)),
        dict(video="v.mp4", start_frame=98, end_frame=200, reasons=["shake"], status="rejected", **scores(1.5)),  # mostly the pan
        dict(video="v.mp4", start_frame=200, end_frame=300, reasons=[], status="kept", **scores(0.1)),
    ])
    m = clip_metrics(clips, truth)
    assert (m["shake"]["tp"], m["shake"]["fp"], m["shake"]["fn"]) == (1, 1, 0)
    assert (m["blur"]["tp"], m["blur"]["fn"]) == (0, 1)
    assert m["clean_pan_kept"] == {"kept": 0, "total": 1, "fraction": 0.0}
    assert "mismatch" not in m  # no alignment scores: not evaluated


def test_an_upscale_caught_as_blur_counts_for_the_soft_group_only():
    """A 4x upscale is as soft as a defocus: rejected as blur it is a false blur and a missed
    upscale one by one, and a correct rejection for `soft` (blur or upscaled, either way)."""
    import pandas as pd

    from vcurate.synth.eval import clip_metrics
    from vcurate.synth.truth import TruthShot, TruthVideo

    def shot(a, b, defects):
        return TruthShot(start_frame=a, end_frame=b, true_caption="c", attached_caption="c", defects=defects, camera="static")

    truth = {"v.mp4": TruthVideo(video="v.mp4", fps=25, num_frames=300, width=640, height=360, caption_source="txt",
                                 shots=[shot(0, 100, ["lowres"]), shot(100, 200, ["blur"]), shot(200, 300, [])])}
    clips = pd.DataFrame([
        dict(video="v.mp4", start_frame=a, end_frame=a + 100, reasons=r, status="rejected" if r else "kept",
             blur_score=b, detail_score=0.5)
        for a, r, b in ((0, ["blur"], 0.3), (100, ["blur"], 0.2), (200, [], 0.9))
    ])
    m = clip_metrics(clips, truth)
    assert (m["blur"]["tp"], m["blur"]["fp"], m["blur"]["fn"]) == (1, 1, 0)
    assert (m["lowres"]["tp"], m["lowres"]["fn"]) == (0, 1)
    assert (m["soft"]["tp"], m["soft"]["fp"], m["soft"]["fn"]) == (2, 0, 0)


def test_a_clip_too_short_to_analyse_is_no_filter_miss():
    """A shaky shot cut too short to analyse is rejected before any filter sees it: not a shake miss,
    while a clean shot lost that way still counts against the clean clips kept."""
    import pandas as pd

    from vcurate.synth.eval import clip_metrics
    from vcurate.synth.truth import TruthShot, TruthVideo

    def shot(a, b, defects):
        return TruthShot(start_frame=a, end_frame=b, true_caption="c", attached_caption="c", defects=defects,
                         camera="static", colour="red", shape="circle", direction="left", background="striped")

    truth = {"v.mp4": TruthVideo(video="v.mp4", fps=25, num_frames=120, width=640, height=360, caption_source="txt",
                                 shots=[shot(0, 10, ["shake"]), shot(10, 100, ["shake"]), shot(100, 110, [])])}
    clips = pd.DataFrame([
        dict(video="v.mp4", start_frame=0, end_frame=10, reasons=["too_short"], status="rejected", shake_score=None),
        dict(video="v.mp4", start_frame=10, end_frame=100, reasons=[], status="kept", shake_score=0.2),
        dict(video="v.mp4", start_frame=100, end_frame=110, reasons=["too_short"], status="rejected", shake_score=None),
    ])
    m = clip_metrics(clips, truth)
    assert (m["shake"]["tp"], m["shake"]["fp"], m["shake"]["fn"]) == (0, 0, 1)  # only the analysed shaky clip
    assert m["clean_kept"] == {"kept": 0, "total": 1, "fraction": 0.0}


def test_cut_metrics_per_footage_source():
    """A true cut belongs to the source of the shot it starts; a false cut to the shot it falls in."""
    import pandas as pd

    from vcurate.synth.eval import cut_metrics
    from vcurate.synth.truth import TruthShot, TruthVideo

    def shot(start, end, source):
        return TruthShot(start_frame=start, end_frame=end, true_caption="x", attached_caption="x", defects=[],
                         camera="static", source=source)

    truth = {"v.mp4": TruthVideo(video="v.mp4", fps=25, num_frames=90, width=64, height=64, caption_source="txt",
                                 shots=[shot(0, 30, "a"), shot(30, 60, "b"), shot(60, 90, "a")])}
    videos = pd.DataFrame([{"video": "v.mp4", "status": "ok", "cuts": [31, 45]}])  # 60 missed, 45 false
    m = cut_metrics(videos, truth)
    assert (m[None]["tp"], m[None]["fp"], m[None]["fn"]) == (1, 1, 1)
    assert (m["b"]["tp"], m["b"]["fp"], m["b"]["fn"]) == (1, 1, 0)
    assert (m["a"]["tp"], m["a"]["fp"], m["a"]["fn"]) == (0, 0, 1)


def test_a_cut_at_a_slideshow_switch_is_not_scored_but_one_in_a_frozen_still_is():
    import pandas as pd

    from vcurate.synth.eval import cut_metrics
    from vcurate.synth.truth import TruthShot, TruthVideo

    def shot(start, end, still):
        return TruthShot(start_frame=start, end_frame=end, true_caption="x", attached_caption="x", defects=["static"],
                         camera="static", source="a", fault={"still": still})

    truth = {"v.mp4": TruthVideo(video="v.mp4", fps=25, num_frames=90, width=64, height=64, caption_source="txt",
                                 shots=[shot(0, 45, "slideshow"), shot(45, 90, "frozen")])}
    videos = pd.DataFrame([{"video": "v.mp4", "status": "ok", "cuts": [20, 45, 70]}])
    m = cut_metrics(videos, truth)[None]
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 0)  # 20 (a switch) unscored, 70 (inside the frozen still) false
