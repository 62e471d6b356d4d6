"""Data-parallel training on the CPU with 2 gloo ranks: each rank reads its own shards, the ranks take
identical steps, a step is the step of one process on the global batch, and a run started on 2 ranks
by torchrun resumes in a single process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from tests.conftest import free_port
from tests.shardkit import write_clip_shards
from tests.test_train import tiny_train_config
from vcurate.train.data import ShardWindows, tokenize
from vcurate.train.distributed import LaunchError, Ranks, process_group, ranks_from_env
from vcurate.train.trainer import RunError, Trainer, rank_seed, read_checkpoint, train

WORLD, GLOBAL_BATCH, STEPS = 2, 4, 3


@pytest.fixture(scope="module")
def caption_shards(tmp_path_factory) -> list[str]:
    """Four shards of two 32x32 clips; every clip's caption names its shard."""
    folder = tmp_path_factory.mktemp("ddp-shards")
    clips = [(32, 32, f"a square in shard {i // 2} clip {i}") for i in range(8)]
    return write_clip_shards(folder, clips, per_shard=2)


def _shard_of(caption: str) -> int:
    return int(caption.split("shard ")[1].split()[0])


def test_each_rank_reads_its_own_shards_resampled_for_ever(caption_shards):
    cfg = tiny_train_config().data.model_copy(update={"windows_per_clip": 1, "shuffle_buffer": 1})
    seen = []
    for rank in range(WORLD):
        windows = ShardWindows(caption_shards, cfg, seed=0, batch_size=1, rank=rank, world=WORLD)
        captions = [batch[2][0] for batch, _ in zip(windows, range(24))]  # 24 windows from 4 clips: resampled
        seen.append({_shard_of(c) for c in captions})
    assert seen[0] and seen[1] and not seen[0] & seen[1]  # a partition of the shards
    assert seen[0] | seen[1] == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="epochs must be None"):
        ShardWindows(caption_shards, cfg, epochs=1, rank=0, world=WORLD)


def test_torchrun_environment_is_checked():
    assert ranks_from_env({}) == Ranks(0, 1, 0)
    assert ranks_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Ranks(3, 4, 1)
    for env in ({"RANK": "2", "WORLD_SIZE": "2"}, {"RANK": "x", "WORLD_SIZE": "2"}, {"WORLD_SIZE": "0"}):
        with pytest.raises(LaunchError):
            ranks_from_env(env)


def _global_batch() -> tuple[torch.Tensor, torch.Tensor]:
    frames = torch.randint(0, 256, (GLOBAL_BATCH, 4, 16, 16, 3), generator=torch.Generator().manual_seed(7), dtype=torch.uint8)
    tokens = tokenize([f"a caption number {i}" for i in range(GLOBAL_BATCH)], 16)
    return frames, tokens


def _config():
    cfg = tiny_train_config()
    cfg.diffusion.caption_dropout = 0.5  # the dropout draws are part of what must match
    return cfg


def _rank_steps(rank: int, port: int, out: str) -> None:
    """One rank: STEPS steps on its half of the fixed global batch; its losses and weights to `out`."""
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    ranks = Ranks(rank, WORLD, 0)
    with process_group(ranks, torch.device("cpu")):
        trainer = Trainer(_config(), device="cpu", ranks=ranks)
        frames, tokens = _global_batch()
        share = slice(rank * GLOBAL_BATCH // WORLD, (rank + 1) * GLOBAL_BATCH // WORLD)
        losses = [trainer.train_step(frames[share], tokens[share]) for _ in range(STEPS)]
    torch.save({"losses": losses, "model": trainer.model.state_dict()}, Path(out) / f"rank{rank}.pt")


def test_two_gloo_ranks_step_like_one_process_on_the_global_batch(tmp_path):
    mp.spawn(_rank_steps, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    for name, weight in ranks[0]["model"].items():  # the averaged gradients agree: identical weights
        assert torch.equal(weight, ranks[1]["model"][name]), name
    assert ranks[0]["losses"] == ranks[1]["losses"]  # both report the global batch's loss

    # One process, the whole global batch, each half with the noise its rank drew: the same steps.
    single = Trainer(_config(), device="cpu")
    generators = [torch.Generator().manual_seed(single.cfg.run.seed)]
    generators += [torch.Generator().manual_seed(rank_seed(single.cfg.run.seed, r, 0)) for r in range(1, WORLD)]
    frames, tokens = _global_batch()
    half = GLOBAL_BATCH // WORLD
    losses = []
    for _ in range(STEPS):
        loss = sum(single.batch_loss(frames[r * half : (r + 1) * half], tokens[r * half : (r + 1) * half], g)
                   for r, g in enumerate(generators)) / WORLD
        loss.backward()
        single.apply_gradients()
        losses.append(float(loss.detach()))
    assert ranks[0]["losses"] == pytest.approx(losses, rel=1e-5)
    assert losses[-1] < losses[0]  # it learns: the comparison is not between two idle models
    for name, weight in single.model.state_dict().items():
        torch.testing.assert_close(ranks[0]["model"][name], weight, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.slow
def test_torchrun_trains_on_two_ranks_and_resumes_in_one_process(caption_shards, tmp_path):
    cfg = tiny_train_config(str(Path(caption_shards[0]).parent), max_steps=2, checkpoint_every=2)
    config = tmp_path / "train.json"
    config.write_text(json.dumps(cfg.model_dump(mode="json")))
    run = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(WORLD), "--master_port",
               str(free_port()), "-m", "vcurate.cli", "train", "--config", str(config), "--output", str(run), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["ranks"] == WORLD and summary["steps"] == 2
    assert read_checkpoint(run / "checkpoints" / "last.pt")["step"] == 2
    assert sum(1 for _ in (run / "log.jsonl").open()) == 1  # written once, by rank 0

    resumed = train(cfg.model_copy(update={"run": cfg.run.model_copy(update={"max_steps": 3})}), run, resume=True)
    assert resumed.steps == 3 and resumed.ranks == 1


def test_global_batch_must_split_over_the_ranks(caption_shards, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(RunError, match="multiple of the 3 ranks"):
        train(tiny_train_config(caption_shards[0]), tmp_path / "run")
