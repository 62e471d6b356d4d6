from vcurate.config import FiltersConfig
from vcurate.records import ClipRecord
from vcurate.stages.filter import filter_clip


def clip(**scores):
    base = dict(video="v.mp4", clip_key="k", scene_index=0, start_frame=0, end_frame=50, start_s=0, end_s=2,
                fps=25.0, width=640, height=360, caption="a red circle")
    return ClipRecord(**{**base, **scores})


def test_clean_clip_is_kept():
    c = filter_clip(clip(shake_score=0.1, blur_score=1.2, detail_score=1.5), FiltersConfig())
    assert c.status == "kept" and c.reasons == []


def test_every_reason_that_applies_is_listed():
    c = filter_clip(clip(caption="", width=200, height=112, fps=8.0, shake_score=3.0, blur_score=0.2, detail_score=0.2), FiltersConfig())
    assert c.status == "rejected"
    assert c.reasons == ["no_caption", "low_resolution", "fps_out_of_range", "shake", "blur"]


def test_upscaled_only_when_switched_on_and_not_blurry():
    assert filter_clip(clip(blur_score=1.0, detail_score=0.05), FiltersConfig()).reasons == []  # off by default
    on = FiltersConfig.model_validate({"upscaled": {"enabled": True}})
    assert filter_clip(clip(blur_score=1.0, detail_score=0.05), on).reasons == ["upscaled"]
    assert filter_clip(clip(blur_score=0.2, detail_score=0.05), on).reasons == ["blur"]


def test_each_filter_can_be_switched_off():
    cfg = FiltersConfig.model_validate({
        "require_caption": False, "shake": {"enabled": False}, "blur": {"enabled": False},
        "resolution": {"enabled": False}, "upscaled": {"enabled": False}, "fps": {"enabled": False},
    })
    c = filter_clip(clip(caption="", width=200, height=112, fps=8.0, shake_score=3.0, blur_score=0.2, detail_score=0.2), cfg)
    assert c.status == "kept" and c.reasons == []


def test_missing_scores_reject_nothing():
    assert filter_clip(clip(), FiltersConfig()).status == "kept"
