"""CLIP alignment plumbing with the bundled tiny config (random weights: no download, no meaning)."""

import numpy as np
import pandas as pd
import pytest
import torch

from vcurate.clipfit import calibrate, collect_pairs, drop_words, fit_clip, save_checkpoint, swapped_word
from vcurate.config import AlignConfig
from vcurate.models.clip import ClipModelError, load_clip
from vcurate.records import ClipRecord
from vcurate.stages.align import ClipAligner, check_align_config

TINY = dict(model="vcurate-tiny", pretrained=None)


def clip(caption="a red circle", key="k"):
    return ClipRecord(video="v.mp4", clip_key=key, scene_index=0, start_frame=0, end_frame=25, start_s=0, end_s=1,
                      fps=25, width=64, height=64, caption=caption)


def frames(n=3, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)


def test_scores_are_cosines_and_threshold_rejects():
    aligner = ClipAligner(AlignConfig(**TINY, min_score=2.0))  # nothing can reach 2: all rejected
    clips = [clip("a red circle", "a"), clip("a blue square", "b"), clip("", "c")]
    aligner.align(clips, [frames(3, 0), frames(2, 1), frames(2, 2)])
    for c in clips[:2]:
        assert -1 <= c.clip_score_min <= c.clip_score <= 1
        assert c.reasons == ["low_alignment"]
    assert clips[2].clip_score is None and clips[2].status == "kept"  # no caption: not scored


def test_text_embeddings_are_cached_per_caption():
    aligner = ClipAligner(AlignConfig(**TINY, min_score=-1.0))
    calls = []
    original = aligner.clip.encode_text
    aligner.clip.encode_text = lambda caps: calls.append(list(caps)) or original(caps)
    aligner.text_embeddings(["a", "b", "a"])
    aligner.text_embeddings(["b", "c"])
    assert calls == [["a", "b"], ["c"]]


def test_config_errors_come_before_any_video(tmp_path):
    with pytest.raises(ClipModelError, match="unknown open_clip model"):
        check_align_config(AlignConfig(model="no-such-model"))
    with pytest.raises(ClipModelError, match="not found"):
        check_align_config(AlignConfig(model="vcurate-tiny", pretrained=str(tmp_path / "missing.pt")))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ClipModelError, match="cannot read"):
        check_align_config(AlignConfig(model="vcurate-tiny", pretrained=str(bad)))
    with pytest.raises(ClipModelError, match="needs a checkpoint"):
        check_align_config(AlignConfig(**TINY, min_score="auto"))
    other = tmp_path / "other.pt"
    torch.save({"model": "vcurate-small", "state_dict": {}}, other)
    with pytest.raises(ClipModelError, match="holds a 'vcurate-small' model"):
        check_align_config(AlignConfig(model="vcurate-tiny", pretrained=str(other)))
    with pytest.raises(ClipModelError, match="no pretrained tag .*it has none.*align.pretrained=null"):
        check_align_config(AlignConfig(model="vcurate-tiny", pretrained="laion9000"))


def test_word_augmentations():
    rng = np.random.default_rng(0)
    assert drop_words("a red circle", 0.0, rng) == "a red circle"
    assert len(drop_words("a red circle", 1.0, rng).split()) == 1
    negative = swapped_word("a red circle", ["a blue circle"], rng)
    assert negative == "a blue circle"
    assert swapped_word("a red circle", ["a red circle", "two words"], rng) is None


def test_calibration_keeps_true_pairs_and_catches_wrong_ones():
    true = np.linspace(0.3, 0.9, 100)
    wrong = np.linspace(-0.5, 0.35, 100)
    threshold, stats = calibrate(true, wrong, min_kept=0.97)
    assert stats["true_kept"] >= 0.97
    assert 0.28 < threshold <= 0.32
    assert stats["wrong_caught"] > 0.9


def test_clip_fit_learns_and_its_checkpoint_drives_auto_threshold(tiny_archive, tmp_path):
    root, _ = tiny_archive
    pairs = collect_pairs(str(root / "raw"), "vcurate-tiny", every_s=0.25)
    assert len(pairs) >= 6 and all(p.frames.shape[1:] == (32, 32, 3) for p in pairs)
    model, result = fit_clip(pairs, "vcurate-tiny", steps=60, batch_size=8, seed=0, device="cpu")
    assert np.mean(result.losses[-10:]) < np.mean(result.losses[:10])
    path = tmp_path / "clip.pt"
    save_checkpoint(path, model, result)
    loaded = torch.load(path, weights_only=True)
    assert loaded["model"] == "vcurate-tiny" and loaded["threshold"] == result.threshold
    aligner = ClipAligner(AlignConfig(model="vcurate-tiny", pretrained=str(path), min_score="auto"))
    assert aligner.threshold == pytest.approx(result.threshold)
    a = load_clip("vcurate-tiny", str(path), "cpu")
    x = frames(2)
    assert torch.allclose(a.encode_frames(x), model.encode_frames(x), atol=1e-5)


def test_pipeline_scores_captioned_clips(curated):
    out, _, _ = curated
    clips = pd.read_parquet(out / "clips.parquet")
    captioned = clips[clips.caption != ""]
    assert captioned.clip_score.notna().all()
    assert clips[clips.caption == ""].clip_score.isna().all()
    assert (captioned.clip_score_min <= captioned.clip_score + 1e-6).all()


def test_clip_fit_command(tiny_archive, tmp_path, capsys):
    from vcurate.cli import main

    root, _ = tiny_archive
    ckpt = tmp_path / "fit.pt"
    args = ["clip-fit", "--input", str(root / "raw"), "--output", str(ckpt), "--model", "vcurate-tiny",
            "--steps", "5", "--batch-size", "4", "--seed", "3", "--quiet"]
    assert main(args) == 0
    assert "threshold" in capsys.readouterr().err
    assert torch.load(ckpt, weights_only=True)["calibration"]["steps"] == 5
    assert main(["clip-fit", "--input", str(tmp_path), "--output", str(ckpt), "--model", "nope"]) == 2
    capsys.readouterr()
    assert main(["clip-fit", "--input", str(root / "raw"), "--output", str(ckpt), "--min-kept", "1.5"]) == 2
    assert "--min-kept" in capsys.readouterr().err
    assert main(["clip-fit", "--input", str(root / "raw"), "--output", str(ckpt), "--set", "split.treshold=9"]) == 2
    assert "treshold" in capsys.readouterr().err  # a pipeline setting checked like the YAML


def test_clip_fit_settings_change_how_the_archive_is_split(tiny_archive):
    from vcurate.clipfit import collect_pairs

    root, _ = tiny_archive
    default = collect_pairs(str(root / "raw"), "vcurate-tiny")
    one_second = collect_pairs(str(root / "raw"), "vcurate-tiny", settings=[("split.max_clip_seconds", 1.5)])
    assert len(one_second) > len(default)  # long scenes cut into 1.5 s chunks: more pairs


def test_stricter_min_kept_never_raises_the_threshold():
    rng = np.random.default_rng(0)
    true, wrong = rng.normal(0.5, 0.15, 99), rng.normal(-0.1, 0.15, 297)
    thresholds = [calibrate(true, wrong, min_kept=k)[0] for k in (0.9, 0.95, 0.97, 0.99)]
    assert thresholds == sorted(thresholds, reverse=True)
    assert (true >= thresholds[2]).mean() >= 0.97


def test_align_actor_gets_one_videos_rows_and_scores_them_in_model_batches(monkeypatch):
    """Ray hands the align stage a block at a time (one video's rows: the encode stage's unit of work
    after it); the model sees at most align.batch_size clips a pass. LocalDataset keeps Ray's blocks."""
    from vcurate.config import PipelineConfig
    from vcurate.engine import LocalDataset, apply
    from vcurate.records import VideoRecord
    from vcurate.rows import ClipRow, VideoRow, from_row
    from vcurate.stages.align import AlignStage

    cfg = PipelineConfig(align=AlignConfig(**TINY, min_score=-1.0, batch_size=2))
    clips_per_video = {"a.mp4": 5, "b.mp4": 1}

    def split(task):
        path = task["path"]
        return [VideoRow(path, VideoRecord(video=path)).to_row()] + [
            ClipRow(path, clip(key=f"{path}:{i}"), frames(2, i)).to_row() for i in range(clips_per_video[path])]

    passes, original = [], ClipAligner.align
    monkeypatch.setattr(ClipAligner, "align", lambda self, clips, f: passes.append([c.clip_key for c in clips]) or original(self, clips, f))
    ds = LocalDataset.from_items({"path": p} for p in clips_per_video).flat_map(split)
    rows = [from_row(r) for r in apply(ds, AlignStage(cfg)).iter_rows()]
    assert passes == [["a.mp4:0", "a.mp4:1"], ["a.mp4:2", "a.mp4:3"], ["a.mp4:4"], ["b.mp4:0"]]
    assert [type(r).__name__ for r in rows] == ["VideoRow"] + ["ClipRow"] * 5 + ["VideoRow", "ClipRow"]
    scored = [r for r in rows if isinstance(r, ClipRow)]
    assert all(r.clip.clip_score is not None for r in scored) and all(r.frames is None for r in scored)