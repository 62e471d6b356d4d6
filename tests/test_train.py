"""The bundled trainer: shards → windows, a learning step, exact resume, sampling, and the caption detector."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import webdataset as wds
import yaml

from vcurate.cli import main
from vcurate.config import ConfigError
from vcurate.synth.archive import COLOURS, DIRECTIONS, Shot, _palette, render_shot
from vcurate.train.config import TrainConfig, load_train_config
from vcurate.media.encode import write_mp4
from vcurate.storage import locate
from vcurate.train.data import (
    ShardError, ShardWindows, caption_vocabulary, decode_clip, make_loader, resolve_shards, tar_samples, tokenize,
    window_starts,
)
from vcurate.train.diffusion import drop_words, flow_loss, to_model_input
from vcurate.train.evalgen import PSNR_CAP, detect, parse_caption
from vcurate.train.sampling import generate, save_video
from vcurate.train.model import OOV, START_TOKEN
from vcurate.train.trainer import RunError, Trainer, build_model, load_ema, read_checkpoint, train

ROOT = Path(__file__).resolve().parents[1]


def tiny_train_config(shards: str | None = None, model: dict | None = None, **run) -> TrainConfig:
    """A model small enough for a few CPU steps per second: 4 frames of 16x16, one block."""
    return TrainConfig.model_validate({
        "data": {"shards": shards, "frames": 4, "stride": 2, "size": 16, "windows_per_clip": 2, "shuffle_buffer": 8,
                 "workers": 0, "batch_size": 4, "max_text_tokens": 16},
        "model": {"dim": 32, "depth": 1, "heads": 2, "patch": 4, "text_dim": 32, "text_depth": 1, **(model or {})},
        "diffusion": {"sample_steps": 3},
        "optim": {"warmup_steps": 0, "lr": 3e-3},
        "run": {"max_steps": 4, "log_every": 2, "checkpoint_every": 2, "sample_every": 100,
                "sample_prompts": ["a red circle moving left over a striped background"], **run},
    })


@pytest.fixture(scope="module")
def shards(curated):
    out, summary, _ = curated
    assert summary.as_dict()["kept"] > 0
    return str(out / "shards" / "*.tar")


def _shard_samples(pattern: str) -> list[dict]:
    return list(wds.DataPipeline(wds.SimpleShardList(resolve_shards(pattern)), tar_samples))


def _shard_captions(pattern: str) -> set[str]:
    return {s["txt"].decode() for s in _shard_samples(pattern)}


def test_loader_batches_have_the_configured_shape_and_real_captions(shards):
    cfg = tiny_train_config(shards)
    loader = make_loader(resolve_shards(shards), cfg.data, epochs=1)
    frames, tokens, captions = next(iter(loader))
    assert frames.shape == (4, 4, 16, 16, 3) and frames.dtype == torch.uint8
    assert tokens.shape == (4, 16) and tokens.dtype == torch.int64
    assert set(captions) <= _shard_captions(shards)
    assert frames.float().std() > 5  # real pictures, not blank frames
    assert (tokens[:, 0] == tokens[0, 0]).all() and (tokens != 0).sum(1).min() > 3  # start token + words


def test_two_workers_share_one_shard_without_duplicates(shards):
    cfg = tiny_train_config(shards).data.model_copy(update={"workers": 2, "windows_per_clip": 1})
    one = tiny_train_config(shards).data.model_copy(update={"windows_per_clip": 1})
    count = lambda c: sum(len(batch[2]) for batch in make_loader(resolve_shards(shards), c, epochs=1))  # noqa: E731
    assert count(cfg) == count(one) > 0


def test_shard_patterns_are_checked(tmp_path, shards):
    with pytest.raises(ShardError, match="no shards match"):
        resolve_shards(str(tmp_path / "*.tar"))
    with pytest.raises(ShardError, match="not found"):
        resolve_shards(str(tmp_path / "shard-{000000..000001}.tar"))
    for url in ("pipe:curl http://example.com/a.tar", "http://example.com/a.tar", "sftp://host/a.tar"):
        with pytest.raises(ShardError, match="unsupported URL scheme"):
            resolve_shards(url)
    folder = str(Path(resolve_shards(shards)[0]).parent)
    assert resolve_shards(folder) == resolve_shards(shards)
    assert resolve_shards(f"file://{folder}") == [f"file://{p}" for p in resolve_shards(shards)]


def test_shards_in_an_object_store_train_like_local_ones(shards, s3_bucket):
    local = resolve_shards(shards)
    folder = s3_bucket + "/out/shards"
    for path in local:
        locate(f"{folder}/{Path(path).name}").write_bytes(Path(path).read_bytes())
    names = [Path(p).name for p in local]
    assert resolve_shards(folder) == resolve_shards(folder + "/*.tar") == [f"{folder}/{n}" for n in names]
    assert resolve_shards(f"{folder}/shard-{{000000..{len(names) - 1:06d}}}.tar") == resolve_shards(folder)
    with pytest.raises(ShardError, match="not found"):
        resolve_shards(folder + "/shard-999999.tar")
    with pytest.raises(ShardError, match="only the file name"):
        resolve_shards(s3_bucket + "/*/shards/*.tar")
    assert _shard_captions(folder) == _shard_captions(shards)
    cfg = tiny_train_config(folder).data.model_copy(update={"workers": 2, "windows_per_clip": 1})
    count = lambda pattern, c: sum(len(batch[2]) for batch in make_loader(resolve_shards(pattern), c, epochs=1))  # noqa: E731
    assert count(folder, cfg) == count(shards, cfg) > 0  # forked DataLoader workers read the store too


def _quadrants_mp4(path: Path) -> bytes:
    """A 64x32 clip whose four quadrants are red, green, blue and white."""
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:16, :32], frame[:16, 32:], frame[16:, :32], frame[16:, 32:] = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
    write_mp4(path, iter([frame] * 3), (64, 32), 8, crf=0)
    return path.read_bytes()


def test_decode_clip_takes_the_centred_square_the_whole_frame_or_a_crop(tmp_path):
    mp4 = _quadrants_mp4(tmp_path / "q.mp4")
    red, green, white = (lambda p: p.argmax() == 0 and p.min() < 60), (lambda p: p.argmax() == 1 and p.min() < 60), (lambda p: p.min() > 200)  # noqa: E731
    square = decode_clip(mp4, 8)  # columns 16-48 of 64: red | green over blue | white
    assert square.shape == (3, 8, 8, 3)
    assert red(square[0, 1, 1]) and green(square[0, 1, 6]) and white(square[0, 6, 6])
    whole = decode_clip(mp4, 8, square=False)
    assert red(whole[0, 1, 1]) and green(whole[0, 1, 6]) and white(whole[0, 6, 6]) and whole[0, 6, 1].argmax() == 2
    for sq in (True, False):
        corner = decode_clip(mp4, 8, crop=(0.5, 0.5, 0.5, 0.5), square=sq)
        assert corner.shape == (3, 8, 8, 3) and corner.min() > 200  # only the white quadrant


def test_decoded_clips_are_cached_only_without_random_crops(shards):
    cfg = tiny_train_config(shards).data
    dataset = ShardWindows(resolve_shards(shards), cfg, epochs=2)
    windows = list(dataset)
    assert len(dataset.cache) == len(_shard_samples(shards)) and len(windows) > 0  # each clip decoded once
    cropped = ShardWindows(resolve_shards(shards), cfg.model_copy(update={"crop_scale": (0.5, 0.9)}), epochs=1)
    assert cropped.cache is None and len(list(cropped)) > 0


def test_short_clips_use_a_smaller_stride_or_are_skipped():
    rng = np.random.default_rng(0)
    starts, stride = window_starts(100, 8, 3, 5, rng)
    assert stride == 3 and all(0 <= s <= 100 - 22 for s in starts)
    assert window_starts(10, 8, 3, 5, rng)[1] == 1
    assert window_starts(5, 8, 3, 5, rng) == ([], 0)


def _fixed_batch(seed: int = 0):
    """Four videos of a bright square sliding over a gradient, each with its own colour and caption tokens."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(40, 160, 16)
    frames = ramp[None, None, :, None, None].expand(4, 4, 16, 16, 3).clone()
    for b in range(4):
        colour = torch.randint(0, 256, (3,), generator=g).float()
        for t in range(4):
            frames[b, t, 4:9, 2 + 2 * t : 7 + 2 * t] = colour
    tokens = torch.randint(1, 1000, (4, 16), generator=g)
    return frames.to(torch.uint8), tokens


FACTORIZED = {"attention": "factorized", "motion_bias": False, "rope": False, "local_mixing": False}


@pytest.mark.parametrize("variant", [{}, FACTORIZED, {**FACTORIZED, "rope": True, "local_mixing": True},
                                     {"motion_bias": False}])
def test_training_steps_decrease_the_loss_on_a_fixed_batch(variant):
    trainer = Trainer(tiny_train_config(model=variant), device="cpu")
    frames, tokens = _fixed_batch()
    before = trainer.evaluate_loss(frames, tokens)
    for _ in range(30):
        trainer.train_step(frames, tokens)
    assert trainer.evaluate_loss(frames, tokens) < 0.8 * before


@pytest.mark.parametrize("attention", ["factorized", "joint"])
def test_every_block_parameter_learns_after_the_zero_gates_open(attention):
    """adaLN-Zero gates start closed; a sub-layer whose own weights also started at zero would get no
    gradient through its gate, nor its gate through it, and never train."""
    options = {"attention": attention, "local_mixing": True, "rope": True, "motion_bias": attention == "joint"}
    trainer = Trainer(tiny_train_config(model=options), device="cpu")
    frames, tokens = _fixed_batch()
    for _ in range(3):
        trainer.train_step(frames, tokens)
    trainer.model.zero_grad()
    caption = trainer.model.caption_embedding(tokens)
    flow_loss(trainer.model, to_model_input(frames), caption, torch.Generator().manual_seed(0), trainer.cfg.diffusion).backward()
    dead = [name for name, p in trainer.model.blocks.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not dead


def test_motion_bias_channels_add_a_quadratic_form_of_the_token_offset_to_the_scores():
    from vcurate.train.model import Attention, offset_bias_features

    g = torch.Generator().manual_seed(0)
    batch, heads, n, head_dim = 2, 3, 30, 8
    coords, coef = torch.randn(n, 3, generator=g), torch.randn(batch, heads, 9, generator=g)
    attention = Attention(heads * head_dim, heads)
    x = torch.randn(batch, n, heads * head_dim, generator=g)
    dt, dr, dc = (coords[:, None, i] - coords[None, :, i] for i in range(3))  # query minus key, (n, n)
    # coef: the monomials dt², dt·dr, dt·dc, dr², dr·dc, dc², then dt, dr, dc
    monomials = torch.stack([dt * dt, dt * dr, dt * dc, dr * dr, dr * dc, dc * dc, dt, dr, dc])
    bias = torch.einsum("bhk,knm->bhnm", coef, monomials)
    q, k, v = attention.qkv(x).view(batch, n, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=bias).transpose(1, 2).reshape(batch, n, -1)
    assert torch.allclose(attention(x, None, offset_bias_features(coef, coords)), attention.out(expected), atol=1e-5)
    with pytest.raises(ValueError, match="motion_bias needs model.attention: joint"):
        tiny_train_config(model={"attention": "factorized", "motion_bias": True})


def test_motion_weight_adds_weight_only_to_the_error_that_changes_over_frames():
    from vcurate.train.config import DiffusionConfig

    x0 = torch.zeros(2, 4, 3, 8, 8)
    still = torch.full_like(x0, 0.3)  # the same error in every frame
    moving = still * torch.tensor([1.0, -1.0, 1.0, -1.0]).view(1, 4, 1, 1, 1)  # zero mean over frames

    def loss(offset, weight):
        model = lambda x, t, caption: x0 + offset  # noqa: E731 - a stand-in network with a fixed error
        return float(flow_loss(model, x0, None, torch.Generator().manual_seed(0), DiffusionConfig(motion_weight=weight)))

    assert loss(still, 3.0) == pytest.approx(loss(still, 0.0))
    assert loss(moving, 3.0) == pytest.approx(4 * loss(moving, 0.0))


def test_rotary_scores_depend_on_the_offset_between_tokens_only():
    from vcurate.train.model import rotary_angles, rotate

    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 12, generator=g), torch.randn(1, 12, generator=g)

    def score(at_q, at_k):
        return float((rotate(q, rotary_angles(torch.tensor([at_q]), 12)) * rotate(k, rotary_angles(torch.tensor([at_k]), 12))).sum())

    assert score([0, 1, 2], [1, 3, 2]) == pytest.approx(score([4, 2, 0], [5, 4, 0]), abs=1e-4)
    assert abs(score([0, 1, 2], [1, 3, 2]) - score([0, 1, 2], [2, 3, 2])) > 1e-3


def test_resume_gives_the_identical_next_step_loss(tmp_path):
    frames, tokens = _fixed_batch()
    trainer = Trainer(tiny_train_config(), device="cpu")
    for _ in range(3):
        trainer.train_step(frames, tokens)
    path = trainer.save(tmp_path / "ckpt.pt")
    expected = trainer.train_step(frames, tokens)
    resumed = Trainer.from_checkpoint(path, device="cpu")
    assert resumed.step == 3
    assert resumed.train_step(frames, tokens) == expected


def test_bad_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(RunError, match="not found"):
        read_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RunError, match="cannot read training checkpoint"):
        read_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(RunError, match="not a vcurate training checkpoint"):
        read_checkpoint(tmp_path / "other.pt")


def test_sampling_writes_a_decodable_video_of_the_configured_size(tmp_path):
    cfg = tiny_train_config()
    trainer = Trainer(cfg, device="cpu")
    videos = generate(trainer.ema, cfg, ["a blue square moving up over a dotted background"] * 2, seed=1)
    assert videos.shape == (2, 4, 16, 16, 3) and videos.dtype == np.uint8
    again = generate(trainer.ema, cfg, ["a blue square moving up over a dotted background"], seed=1)
    assert np.array_equal(again[0], videos[0])
    path = save_video(tmp_path / "x.mp4", videos[0])
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 4 and decoded[0].shape == (16, 16, 3)


def _rendered(colour: str, direction: str, seed: int) -> np.ndarray:
    """A static-camera synthetic shot, resized to 32x32 and strided as the trainer sees it."""
    rng = np.random.default_rng(seed)
    shot = Shot(num_frames=24, colour=colour, shape="circle", direction=direction, background="cloudy",
                palette=_palette(rng, rng.uniform(0, 360)), texture_seed=seed)
    frames = [cv2.resize(f, (32, 32), interpolation=cv2.INTER_AREA) for f in render_shot(shot, 320, 180, rng)]
    return np.stack(frames[::3])


def test_detector_reads_colour_and_direction_of_rendered_shots():
    cases = [(c, d) for c in COLOURS for d in DIRECTIONS]
    hits = [detect(_rendered(c, d, i)) for i, (c, d) in enumerate(cases)]
    colour = np.mean([h.colour == c for h, (c, _) in zip(hits, cases)])
    direction = np.mean([h.direction == d for h, (_, d) in zip(hits, cases)])
    assert colour >= 0.95 and direction >= 0.95, (colour, direction)
    assert all(h.jitter is not None and h.jitter < 2 for h in hits)


def test_detector_finds_nothing_in_grey_noise_and_high_jitter_in_a_hopping_object():
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.integers(90, 160, (8, 32, 32, 1), dtype=np.uint8), 3, axis=3)
    assert detect(grey).colour is None
    hopping = np.full((8, 32, 32, 3), 120, np.uint8)
    for i in range(8):
        x, y = 4 + 3 * i, int(rng.integers(2, 26))
        hopping[i, y : y + 5, x : x + 5] = COLOURS["green"]
    found = detect(hopping)
    assert found.colour == "green" and found.direction == "right" and found.jitter > 5


def test_parse_caption():
    assert parse_caption("a Purple triangle moving down over a dotted background") == ("purple", "triangle", "down")
    assert parse_caption("a cat on a sofa") is None


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text(yaml.safe_dump({"data": {"size": 30}, "model": {"patch": 4}}))
    with pytest.raises(ConfigError, match="multiple of model.patch"):
        load_train_config(bad)
    bad.write_text(yaml.safe_dump({"data": {"crop_scale": [0.5, 2.0]}}))
    with pytest.raises(ConfigError, match="crop_scale"):
        load_train_config(bad)
    bad.write_text(yaml.safe_dump({"optim": {"lr": 0.1, "momentum": 0.9}}))
    with pytest.raises(ConfigError, match="optim.momentum"):
        load_train_config(bad)


def test_demo_config_states_the_defaults():
    """pipelines/train-demo.yaml lists every key with its default value; it must not drift."""
    raw = yaml.safe_load((ROOT / "pipelines" / "train-demo.yaml").read_text())
    assert load_train_config(ROOT / "pipelines" / "train-demo.yaml") == TrainConfig()
    for section, model in TrainConfig.model_fields.items():
        assert set(raw[section]) == set(model.annotation.model_fields), section


@pytest.mark.slow
def test_cli_train_resume_sample_and_eval_gen(shards, tmp_path, capsys):
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(tiny_train_config(model={"frame_condition": True}).model_dump(mode="json")))
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--shards", shards, "--output", str(run), "--quiet"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["device"] == "cpu"
    assert [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()] == [2, 4]
    assert sorted(p.name for p in (run / "samples" / "step-000004").glob("*.mp4")) == ["00.mp4"]

    capsys.readouterr()
    assert main(["train", "--config", str(config), "--shards", shards, "--output", str(run), "--quiet"]) == 2
    assert "--resume" in capsys.readouterr().err
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(tiny_train_config(model={"dim": 48}).model_dump(mode="json")))
    assert main(["train", "--config", str(other), "--shards", shards, "--output", str(run), "--quiet", "--resume",
                 "--max-steps", "6"]) == 2
    assert "another model" in capsys.readouterr().err
    assert main(["train", "--output", str(run), "--quiet", "--resume", "--max-steps", "6"]) == 0  # RUN/config.json
    assert read_checkpoint(run / "checkpoints" / "last.pt")["step"] == 6

    video = tmp_path / "x.mp4"
    assert main(["sample", str(run), "--prompt", "a red circle moving left", "--output", str(video), "--upscale", "2"]) == 0
    with av.open(str(video)) as container:
        assert container.streams.video[0].width == 32
    model, cfg = load_ema(run)
    assert cfg.data.size == 16 and not model.training

    capsys.readouterr()
    assert main(["eval-gen", str(run), "--steps", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["prompts"] == 72 and result["all"]["videos"] == 72
    assert result["real_windows_reference"]["videos"] > 0
    assert json.loads((run / "eval-gen.json").read_text()) == result

    capsys.readouterr()  # the shards stand in for a held-out archive's
    assert main(["eval-gen", str(run), "--steps", "2", "--first-frames", shards, "--windows", "3"]) == 0
    held = json.loads(capsys.readouterr().out)["first_frames"]
    assert 0 < held["windows"] <= 3 and set(held) >= {"text_only", "first_frame", "first_frame_model", "real_windows"}
    assert held["first_frame"]["psnr_by_frame"][0] == PSNR_CAP  # held by the sampler
    assert held["first_frame_model"]["psnr_by_frame"][0] < PSNR_CAP
    assert len(held["text_only"]["psnr_by_frame"]) == cfg.data.frames


def test_cli_train_errors(tmp_path, capsys):
    assert main(["train", "--output", str(tmp_path / "run"), "--quiet"]) == 2
    assert "no shards given" in capsys.readouterr().err
    assert main(["train", "--shards", str(tmp_path / "none-*.tar"), "--output", str(tmp_path / "run"), "--quiet"]) == 2
    assert "no shards match" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "nothing"), "--prompt", "x", "--output", str(tmp_path / "x.mp4")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_no_member_is_unpickled_and_unsafe_names_are_refused(tmp_path):
    """A foreign shard: a pickle member is never loaded, a member named with `..` is skipped."""
    import pickle

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    mp4 = io.BytesIO()
    frames = np.random.default_rng(0).integers(0, 255, (6, 16, 16, 3), dtype=np.uint8)
    write_mp4(tmp_path / "c.mp4", iter(frames), (16, 16), 8, crf=20)
    mp4.write((tmp_path / "c.mp4").read_bytes())
    with wds.TarWriter(str(tmp_path / "s.tar")) as tar:
        tar.write({"__key__": "../escape", "mp4": mp4.getvalue(), "txt": b"a path outside the shard"})
        tar.write({"__key__": "a", "mp4": mp4.getvalue(), "txt": b"a red circle", "pyd": pickle.dumps(Boom())})
    cfg = tiny_train_config(str(tmp_path / "s.tar"))
    batches = list(make_loader(resolve_shards(cfg.data.shards), cfg.data, epochs=1))
    captions = [c for _, _, cs in batches for c in cs]
    assert set(captions) == {"a red circle"} and batches[0][0].shape[1:] == (4, 16, 16, 3)


def test_resume_takes_the_run_settings_it_is_given(tmp_path):
    """A checkpoint saved with run.device cuda resumes on the CPU when the new run says cpu: the saved
    run settings must not pick the device before the override applies."""
    frames, tokens = _fixed_batch()
    trainer = Trainer(tiny_train_config(), device="cpu")
    trainer.cfg = trainer.cfg.model_copy(update={"run": trainer.cfg.run.model_copy(update={"device": "cuda", "precision": "bf16"})})
    path = trainer.save(tmp_path / "ckpt.pt")
    resumed = Trainer.from_checkpoint(path, run=tiny_train_config(device="cpu").run)
    assert resumed.device.type == "cpu" and not resumed.bf16


def test_shards_with_nothing_usable_stop_with_a_clear_error(tmp_path):
    """Samples without a caption give no window: the endless stream says so instead of looping for ever."""
    shard = tmp_path / "shard-000000.tar"
    with tarfile.open(shard, "w") as tar:
        for i in range(3):
            data = b"not a video"
            info = tarfile.TarInfo(f"clip{i:03d}.mp4")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    cfg = tiny_train_config(str(shard)).data
    with pytest.raises(ShardError, match="nothing to train on"):
        next(iter(ShardWindows([str(shard)], cfg)))
    with pytest.raises(ShardError, match="nothing to train on"):  # resampled across ranks: no pass ever ends
        next(iter(ShardWindows([str(shard)], cfg, rank=0, world=2)))


def test_a_run_s_thread_setting_applies_when_its_model_is_loaded(tmp_path):
    """run.threads (make demo's config: 1) is what sampling from the run uses too; null leaves torch's default."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        Trainer(tiny_train_config(), device="cpu").save(tmp_path / "default.pt")
        Trainer(tiny_train_config(threads=1), device="cpu").save(tmp_path / "one.pt")
        load_ema(tmp_path / "default.pt", device="cpu")
        assert torch.get_num_threads() == 2
        load_ema(tmp_path / "one.pt", device="cpu")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_make_demo_s_quick_config_loads():
    """pipelines/train-quick.yaml (make demo) is a valid config that trains on one thread with a compact
    caption vocabulary."""
    cfg = load_train_config(ROOT / "pipelines" / "train-quick.yaml")
    assert cfg.run.threads == 1 and cfg.model.dim < TrainConfig().model.dim and cfg.model.caption_vocab == "shards"


CAPTIONS = ["a red circle moving left over a striped background", "a blue square moving up over a dotted background"]


def test_a_compact_caption_vocabulary_round_trips_through_a_checkpoint(tmp_path):
    """model.caption_vocab shards: the token list is saved with the weights (no pickle), so sampling from
    the checkpoint and resuming map captions exactly as training did."""
    vocab = caption_vocabulary(CAPTIONS, 16)
    trainer = Trainer(tiny_train_config(model={"caption_vocab": "shards"}), device="cpu", vocab=vocab)
    assert trainer.model.text.embed.num_embeddings == len(vocab) + 2 < 30
    frames, _ = _fixed_batch()
    tokens = tokenize(CAPTIONS * 2, 16)
    for _ in range(2):
        trainer.train_step(frames, tokens)
    path = trainer.save(tmp_path / "ckpt.pt")
    expected = trainer.train_step(frames, tokens)
    model, cfg = load_ema(path, device="cpu")
    assert torch.equal(model.text.vocab, vocab)
    prompts = CAPTIONS + ["a magenta blob drifting"]
    saved = Trainer.from_checkpoint(path, device="cpu")
    with torch.no_grad():
        assert torch.equal(model.caption_embedding(tokenize(prompts, 16)), saved.ema.caption_embedding(tokenize(prompts, 16)))
    assert np.array_equal(generate(model, cfg, prompts, seed=3), generate(saved.ema, cfg, prompts, seed=3))
    assert saved.train_step(frames, tokens) == expected


def test_tokens_outside_a_compact_vocabulary_share_one_out_of_vocabulary_row():
    vocab = caption_vocabulary(["a red circle"], 8)
    model = build_model(tiny_train_config(model={"caption_vocab": "shards"}), vocab).eval()
    tokens = tokenize(["a red circle", "a green circle", "a blue circle"], 8)
    rows = model.text.rows(tokens)
    assert rows[0, :5].unique().numel() == 5 and (rows[0, :5] > OOV).all() and (rows[:, 5:] == 0).all()  # start, a, red, circle, end
    assert rows[1, 2] == rows[2, 2] == OOV and torch.equal(rows[1], rows[2])
    with torch.no_grad():
        assert torch.equal(model.caption_embedding(tokens[1:2]), model.caption_embedding(tokens[2:3]))
    with pytest.raises(ValueError, match="caption_vocab"):
        build_model(tiny_train_config(model={"caption_vocab": "shards"}))


def test_a_run_with_caption_vocab_shards_embeds_its_shards_captions_tokens(shards, tmp_path):
    train(tiny_train_config(shards, model={"caption_vocab": "shards"}, max_steps=2), tmp_path / "run")
    model, _ = load_ema(tmp_path / "run", device="cpu")
    assert torch.equal(model.text.vocab, caption_vocabulary(_shard_captions(shards), 16))
    assert model.text.embed.num_embeddings == len(model.text.vocab) + 2


def test_word_dropout_blanks_word_tokens_and_keeps_the_start_and_end():
    tokens = tokenize(CAPTIONS * 100, 16)
    out = drop_words(tokens, 0.3, torch.Generator().manual_seed(0))
    words = (tokens > 0) & (tokens < START_TOKEN)
    assert torch.equal(out[~words], tokens[~words]) and (tokens[:, :2] == torch.tensor([START_TOKEN, 320])).all()
    assert ((out == tokens) | (out == 0)).all() and 0.25 < (out[words] == 0).float().mean() < 0.35
    assert torch.equal(out, drop_words(tokens, 0.3, torch.Generator().manual_seed(0)))
