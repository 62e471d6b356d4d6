"""The labelled archive's text cases: signs, the hard negative of scene text, move with the camera,
also when a reshoot films their scene again."""

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from vcurate.synth.archive import Shot, _palette, _reshoot, tiny_spec
from vcurate.synth.truth import TruthVideo


def test_a_reshoot_of_a_scene_with_signs_pans_again(tmp_path):
    """A reshoot draws its own camera, mostly still; a still camera would leave the signs where a
    subtitle or a watermark sits with nothing to tell them apart (held-out seeds 55 and 141), so a
    scene with signs is filmed panning again, its signs still labelled."""
    spec = replace(tiny_spec(), p_pan=0.0)  # every other reshoot keeps a still camera
    rng = np.random.default_rng(7)
    signs = Shot(num_frames=30, colour="red", shape="circle", direction="left", background="cloudy",
                 palette=_palette(rng, 40.0), texture_seed=11, camera="pan", pan_velocity=(2.0, 0.5),
                 scene_text=2, nuisances=["scene_text"])
    plain = replace(signs, scene_text=0, nuisances=[], texture_seed=12)
    original = TruthVideo(video="clip_0000.mp4", fps=25.0, num_frames=60, width=320, height=180,
                          caption_source="srt", shots=[])
    picked = [(original, 0, signs, Fraction(25)), (original, 1, plain, Fraction(25))]
    video = _reshoot(tmp_path, Path("reshoots", "clip_0001.mp4"), picked, spec, rng, [])
    again, plain_again = video.shots
    assert again.camera == "pan" and "scene_text" in again.nuisances and not again.defects
    assert plain_again.camera == "static"


def test_a_watermark_the_picture_hides_is_labelled_no_text():
    """A white half-transparent mark over a white sky changes the picture by a few grey levels: the footage
    does not show it, so its shot carries no `text` defect; over a darker, textured ground it does."""
    import cv2

    from vcurate.synth.footage import FootageShot
    from vcurate.synth.text import plan_overlay

    rng = np.random.default_rng(3)
    ground = cv2.resize(rng.random((27, 48)).astype(np.float32), (480, 270), interpolation=cv2.INTER_CUBIC)
    pictures = {"sky": np.full((270, 480, 3), 251, np.uint8),
                "ground": np.dstack([np.uint8(60 + 100 * ground)] * 3)}
    for name, picture in pictures.items():
        overlay = plan_overlay(np.random.default_rng(5), "watermark", 480, 270, 10, 25.0)
        shot = FootageShot(source=None, start=0, num_frames=10, size=(480, 270), overlay=overlay)
        assert "text" in shot.defects  # planned: the mark is drawn in every frame
        for i in range(10):
            overlay.apply(picture.copy(), i)
        shows = name == "ground"
        assert ("text" in shot.defects) == shows, name
        assert overlay.details()["text_shown_share"] == (1.0 if shows else 0.0), name
