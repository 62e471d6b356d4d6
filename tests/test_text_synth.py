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
