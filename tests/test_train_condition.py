"""Frame conditioning of the bundled trainer: zero-initialised inputs, old checkpoints, the condition
draw, the sampler holding given frames, and `vcurate sample --image`."""

from __future__ import annotations

from collections import Counter

import av
import cv2
import numpy as np
import pytest
import torch

from tests.test_train import _fixed_batch, tiny_train_config
from vcurate.cli import main
from vcurate.train.config import ConditionKinds, TrainConfig
from vcurate.train.diffusion import draw_condition, draw_kinds, to_model_input
from vcurate.train.evalgen import PSNR_CAP, psnr_by_frame
from vcurate.train.model import FrameCondition
from vcurate.train.sampling import FrameImageError, generate, load_frame
from vcurate.train.trainer import Trainer, build_model, load_ema

PROMPT = "a red circle moving left over a striped background"


def _models(seed: int = 0):
    """A text-only and a frame-conditioned tiny model built from the same seed."""
    models = []
    for on in (False, True):
        torch.manual_seed(seed)
        models.append(build_model(tiny_train_config(model={"frame_condition": on})).eval())
    return models


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    frames, tokens = _fixed_batch(seed)
    x = torch.randn(4, 4, 3, 16, 16, generator=g)
    t = torch.rand(4, generator=g)
    mask = torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1], [1, 0, 0, 1], [0, 0, 0, 0]])
    given = FrameCondition(mask, to_model_input(frames) * mask.view(4, 4, 1, 1, 1))
    return x, t, tokens, given


def _nudge(model) -> None:
    """Open the zero-initialised gates and output layer, so the outputs depend on the inputs at all."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name != "frame_embed.weight" and p.abs().max() == 0:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(name)))


def test_zeroed_frame_inputs_leave_the_text_only_output_unchanged():
    text_only, conditioned = _models()
    _nudge(text_only), _nudge(conditioned)
    x, t, tokens, given = _inputs()
    with torch.no_grad():
        caption = text_only.caption_embedding(tokens)
        assert torch.equal(caption, conditioned.caption_embedding(tokens))
        expected = text_only(x, t, caption)
        assert expected.abs().max() > 0
        assert torch.equal(conditioned(x, t, caption), expected)
        assert torch.allclose(conditioned(x, t, caption, given), expected, atol=1e-6)
        conditioned.frame_embed.weight.fill_(0.01)  # once they learn, the given frames change the output
        assert not torch.allclose(conditioned(x, t, caption, given), expected, atol=1e-4)


def test_frames_given_to_a_text_only_model_are_refused():
    text_only, _ = _models()
    x, t, tokens, given = _inputs()
    with pytest.raises(ValueError, match="frame_condition"):
        text_only(x, t, text_only.caption_embedding(tokens), given)
    with pytest.raises(FrameImageError, match="without frame conditioning"):
        generate(text_only, tiny_train_config(), [PROMPT], first=np.zeros((1, 16, 16, 3), np.uint8))


def test_a_checkpoint_saved_before_frame_conditioning_loads_as_a_text_only_model(tmp_path):
    cfg = tiny_train_config(model={"frame_condition": False})
    trainer = Trainer(cfg, device="cpu")
    frames, tokens = _fixed_batch()
    for _ in range(2):
        trainer.train_step(frames, tokens)
    state = trainer.state_dict()
    del state["config"]["model"]["frame_condition"]  # as written before the option existed
    torch.save(state, tmp_path / "old.pt")
    model, loaded_cfg = load_ema(tmp_path / "old.pt", device="cpu")
    assert not loaded_cfg.model.frame_condition and model.frame_embed is None
    x, t, tokens, _ = _inputs()
    with torch.no_grad():
        caption = trainer.ema.caption_embedding(tokens)
        expected = trainer.ema(x, t, caption)
        assert torch.equal(model(x, t, caption), expected)
        # its weights also start a frame-conditioned model, whose new inputs begin at zero
        conditioned = build_model(cfg.model_copy(update={"model": cfg.model.model_copy(update={"frame_condition": True})}))
        conditioned.load_state_dict(state["ema"])
        assert conditioned.frame_embed.weight.abs().max() == 0
        assert torch.equal(conditioned.eval()(x, t, caption), expected)
    resumed = Trainer.from_checkpoint(tmp_path / "old.pt", device="cpu")  # and the old run resumes
    assert resumed.step == 2 and resumed.train_step(frames, tokens) == trainer.train_step(frames, tokens)


def test_condition_kinds_are_drawn_with_the_configured_weights():
    g = torch.Generator().manual_seed(0)
    counts = Counter(draw_kinds(20000, ConditionKinds(none=1, first=0, last=3, first_last=0), torch.device("cpu"), g))
    assert set(counts) == {"none", "last"}
    assert abs(counts["last"] / 20000 - 0.75) < 0.02
    counts = Counter(draw_kinds(20000, ConditionKinds(none=0.4, first=0.3, last=0.15, first_last=0.15),
                                torch.device("cpu"), g))
    for kind, share in (("none", 0.4), ("first", 0.3), ("last", 0.15), ("first_last", 0.15)):
        assert abs(counts[kind] / 20000 - share) < 0.02, kind
    with pytest.raises(ValueError, match="at least one weight"):
        ConditionKinds(none=0, first=0, last=0, first_last=0)


def test_drawn_conditions_give_the_kinds_frames_lightly_noised():
    frames, _ = _fixed_batch()
    x0 = to_model_input(frames).repeat(50, 1, 1, 1, 1)
    cfg = TrainConfig().diffusion
    given = draw_condition(x0, cfg, torch.Generator().manual_seed(0))
    first, last, middle = given.mask[:, 0].bool(), given.mask[:, -1].bool(), given.mask[:, 1:-1]
    assert middle.abs().max() == 0 and first.any() and last.any() and (first & last).any() and (~first & ~last).any()
    assert given.frames[~given.mask.bool()].abs().max() == 0
    shown = given.mask.bool()
    offset = (given.frames - x0)[shown]
    assert 0 < offset.std() < cfg.condition_noise


def test_the_sampler_holds_given_frames_exactly():
    cfg = tiny_train_config(model={"frame_condition": True})
    trainer = Trainer(cfg, device="cpu")
    frames, tokens = _fixed_batch()
    for _ in range(3):
        trainer.train_step(frames, tokens)
    first, last = frames[:, 0].numpy(), frames[:, -1].numpy()
    prompts = [PROMPT] * 4
    both = generate(trainer.ema, cfg, prompts, seed=3, first=first, last=last)
    assert np.array_equal(both[:, 0], first) and np.array_equal(both[:, -1], last)
    start = generate(trainer.ema, cfg, prompts, seed=3, first=first)
    assert np.array_equal(start[:, 0], first) and not np.array_equal(start[:, -1], last)
    assert psnr_by_frame(start, frames.numpy())[0] == PSNR_CAP
    free = generate(trainer.ema, cfg, prompts, seed=3, first=first, replace=False)
    assert not np.array_equal(free[:, 0], first)  # 3 steps have not taught the model to copy it


def test_load_frame_crops_the_centre_to_the_video_shape(tmp_path):
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 20:60] = (0, 0, 255)  # red (BGR) centre square, black sides
    cv2.imwrite(str(tmp_path / "wide.png"), image)
    frame = load_frame(tmp_path / "wide.png", 16, 16)
    assert frame.shape == (16, 16, 3) and (frame == (255, 0, 0)).all()
    with pytest.raises(FrameImageError, match="image not found"):
        load_frame(tmp_path / "missing.png", 16, 16)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(FrameImageError, match="not a readable image"):
        load_frame(tmp_path / "junk.png", 16, 16)


def test_cli_sample_starts_at_the_given_image(tmp_path, capsys):
    checkpoint = Trainer(tiny_train_config(model={"frame_condition": True}), device="cpu").save(tmp_path / "run.pt")
    image = np.zeros((16, 16, 3), np.uint8)
    image[4:12, 4:12] = (40, 200, 240)  # an orange square (BGR) on black
    cv2.imwrite(str(tmp_path / "first.png"), image)
    out = tmp_path / "x.mp4"
    assert main(["sample", str(checkpoint), "--prompt", PROMPT, "--output", str(out), "--image", str(tmp_path / "first.png"),
                 "--last-image", str(tmp_path / "first.png"), "--device", "cpu"]) == 0
    with av.open(str(out)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    want = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    ends = np.stack([decoded[0], decoded[-1]])[None]
    assert len(decoded) == 4 and min(psnr_by_frame(ends, np.stack([want, want])[None])) > 30  # H.264 at crf 12
    capsys.readouterr()
    assert main(["sample", str(checkpoint), "--prompt", PROMPT, "--output", str(out), "--image",
                 str(tmp_path / "nope.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "image not found" in err and len(err.splitlines()) == 1
