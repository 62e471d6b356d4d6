"""Aspect buckets: clips keep their shape, each batch comes from one bucket at its own size, and the
model trains on any patch grid with the same weights."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
import torch

from tests.conftest import tiny_config
from tests.shardkit import write_clip_shards
from tests.test_train import _quadrants_mp4, tiny_train_config
from vcurate.cli import main
from vcurate.config import ConfigError
from vcurate.job import run_job
from vcurate.train.config import TrainConfig, load_train_config
from vcurate.train.data import decode_clip, make_loader, nearest_shape, resolve_shards
from vcurate.train.trainer import Trainer, train

WIDE, TALL, CLASSIC = (16, 32), (32, 16), (20, 28)  # (height, width) of 16:9, 9:16 and 4:3 at size 24, patch 4


def bucket_config(shards: str | None = None, **run) -> TrainConfig:
    cfg = tiny_train_config(shards, **run).model_dump()
    cfg["data"].update(size=24, aspect="bucket", buckets=["16:9", "4:3", "9:16"])
    return TrainConfig.model_validate(cfg)


def test_bucket_shapes_keep_the_pixel_count_in_patch_multiples():
    shapes = TrainConfig.model_validate({"data": {"aspect": "bucket"}}).shapes()
    assert list(shapes) == ["16:9", "4:3", "1:1", "3:4", "9:16"]
    for name, (height, width) in shapes.items():
        w, h = map(int, name.split(":"))
        assert height % 4 == width % 4 == 0
        assert abs(height * width / 24**2 - 1) < 0.2 and abs(np.log((width / height) / (w / h))) < 0.2
    assert bucket_config().shapes() == {"16:9": WIDE, "4:3": CLASSIC, "9:16": TALL}
    assert TrainConfig().shapes() == {"1:1": (24, 24)}  # no buckets: one square shape, as before


@pytest.mark.parametrize("buckets, message", [(["16x9"], "width:height"), (["0:4"], "width:height"), ([], "at least one"),
                                             (["16:9", "4:3"], "both come out")])
def test_bad_buckets_are_clear_errors(tmp_path, buckets, message):
    path = tmp_path / "train.yaml"
    path.write_text(json.dumps({"data": {"aspect": "bucket", "size": 16, "buckets": buckets}}))
    with pytest.raises(ConfigError, match=message):
        load_train_config(path)


def test_a_wide_clip_decodes_whole_into_the_wide_bucket(tmp_path):
    mp4 = _quadrants_mp4(tmp_path / "q.mp4")  # 64x32: red | green over blue | white
    clip = decode_clip(mp4, 24, shapes=[WIDE, CLASSIC, TALL])
    assert clip.shape == (3, *WIDE, 3)
    corners = [clip[0, 2, 2], clip[0, 2, -3], clip[0, -3, 2], clip[0, -3, -3]]
    expected = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
    assert all(np.abs(c.astype(int) - e).max() < 40 for c, e in zip(corners, expected))  # all four: no side cut off
    assert nearest_shape(48, 36, [WIDE, CLASSIC, TALL]) == CLASSIC and nearest_shape(9, 16, [WIDE, CLASSIC, TALL]) == TALL


@pytest.fixture(scope="module")
def mixed_shards(tmp_path_factory) -> str:
    """16:9, 9:16 and 4:3 clips mixed in two shards; each caption names its shape."""
    clips = [(64, 36, "wide"), (36, 64, "tall"), (48, 36, "classic")] * 3
    folder = tmp_path_factory.mktemp("mixed")
    write_clip_shards(folder, [(w, h, f"a {name} clip number {i}") for i, (w, h, name) in enumerate(clips)], per_shard=5)
    return str(folder)


def test_every_batch_comes_from_one_bucket_at_its_own_size(mixed_shards):
    cfg = bucket_config(mixed_shards)
    loader = make_loader(resolve_shards(mixed_shards), cfg.data, epochs=2, shapes=cfg.shapes().values())
    by_shape: dict[tuple, set[str]] = {}
    for frames, tokens, captions in loader:
        assert frames.shape[0] == tokens.shape[0] == len(captions) <= cfg.data.batch_size
        by_shape.setdefault(tuple(frames.shape[2:4]), set()).update(c.split()[1] for c in captions)
    assert by_shape == {WIDE: {"wide"}, TALL: {"tall"}, CLASSIC: {"classic"}}


def test_the_model_trains_on_every_bucket_with_the_same_weights():
    cfg = bucket_config()
    trainer = Trainer(cfg, device="cpu")
    tokens = torch.zeros(2, 16, dtype=torch.int64)
    tokens[:, :3] = torch.tensor([49406, 320, 49407])
    for first_pass in (True, False):  # the first steps open the zero-initialised gates
        for height, width in cfg.shapes().values():
            frames = torch.randint(0, 256, (2, 4, height, width, 3), dtype=torch.uint8,
                                   generator=torch.Generator().manual_seed(height))
            loss = trainer.batch_loss(frames, tokens, trainer.generator)
            loss.backward()
            if not first_pass:  # the one position table learns from every shape
                assert trainer.model.pos_space.grad.abs().sum() > 0
            trainer.apply_gradients()
            assert np.isfinite(float(loss.detach()))
            with torch.no_grad():
                out = trainer.model(torch.zeros(1, 4, 3, height, width), torch.tensor([0.5]), torch.zeros(1, 32))
            assert out.shape == (1, 4, 3, height, width)


def test_a_bucketed_run_trains_and_samples_in_any_of_its_shapes(mixed_shards, tmp_path, capsys):
    run = tmp_path / "run"
    result = train(bucket_config(mixed_shards, max_steps=3, checkpoint_every=3), run)
    assert result.steps == 3 and np.isfinite(result.loss)
    for aspect, (height, width) in (("16:9", WIDE), ("9:16", TALL), (None, (24, 24))):
        out = tmp_path / f"{aspect}.mp4"
        assert main(["sample", str(run), "--prompt", "a wide clip", "--output", str(out), "--steps", "2",
                     *(["--aspect", aspect] if aspect else [])]) == 0
        with av.open(str(out)) as container:
            stream = container.streams.video[0]
            assert (stream.height, stream.width, stream.frames) == (height, width, 4)
    assert main(["sample", str(run), "--prompt", "x", "--output", str(tmp_path / "x.mp4"), "--aspect", "21:9"]) == 2
    assert "the run's shapes are 16:9, 4:3, 9:16" in capsys.readouterr().err


@pytest.mark.slow
def test_an_archive_of_wide_tall_and_classic_videos_trains_without_square_crops(mixed_aspect_archive, tmp_path):
    """Curation keeps each video's shape in its shard clips; the trainer batches them in their buckets."""
    out = tmp_path / "out"
    run_job(tiny_config(mixed_aspect_archive, out), engine="local", progress=False)
    cfg = bucket_config(str(out / "shards"))
    aspects = set()
    for frames, _, _ in make_loader(resolve_shards(str(out / "shards")), cfg.data, epochs=1, shapes=cfg.shapes().values()):
        aspects.add(tuple(frames.shape[2:4]))
    assert aspects == {WIDE, TALL, CLASSIC}
    assert train(cfg.model_copy(update={"run": cfg.run.model_copy(update={"max_steps": 2})}), tmp_path / "run").steps == 2
