"""Data-parallel training under torchrun: which rank this process is, the process group (NCCL on GPUs,
gloo on CPUs), and the few collective decisions the training loop needs.

A process started without torchrun (no WORLD_SIZE, or 1) is a world of one: nothing here touches
torch.distributed then, so a single process trains exactly as before.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vcurate.errors import VcurateError


class LaunchError(VcurateError, ValueError):
    """torchrun's environment is incomplete or contradicts itself."""


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local: int = 0  # this node's GPU index for the rank

    @property
    def main(self) -> bool:
        """The rank that writes the run folder (config, log, checkpoints, samples)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def ranks_from_env(env: dict[str, str] | None = None) -> Ranks:
    """RANK, WORLD_SIZE and LOCAL_RANK as torchrun sets them; a world of one without them."""
    env = os.environ if env is None else env
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank, local = int(env.get("RANK", "0")), int(env.get("LOCAL_RANK", env.get("RANK", "0")))
    except ValueError as exc:
        raise LaunchError(f"RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers ({exc})") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise LaunchError(f"RANK {rank} of WORLD_SIZE {world} (LOCAL_RANK {local}) is no rank of that world")
    return Ranks(rank, world, local)


def rank_device(ranks: Ranks, device: torch.device) -> torch.device:
    """Each rank's own GPU on a node (LOCAL_RANK); the CPU stays the CPU."""
    if device.type != "cuda" or not ranks.distributed:
        return device
    if ranks.local >= torch.cuda.device_count():
        raise LaunchError(f"LOCAL_RANK {ranks.local} but this node has {torch.cuda.device_count()} GPUs: start "
                          "torchrun with --nproc_per_node at most the GPU count")
    torch.cuda.set_device(ranks.local)
    return torch.device("cuda", ranks.local)


@contextlib.contextmanager
def process_group(ranks: Ranks, device: torch.device):
    """The default process group for the run's duration (torchrun's MASTER_ADDR/MASTER_PORT), unless a
    world of one or a caller set one up already."""
    if not ranks.distributed or dist.is_initialized():
        yield
        return
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=ranks.rank, world_size=ranks.world)
    try:
        yield
    finally:
        dist.destroy_process_group()


def mean_over_ranks(value: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """The mean of a scalar over all ranks (the loss of the global batch); itself in a world of one."""
    if not ranks.distributed:
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / ranks.world


def any_rank(flag: bool, ranks: Ranks, device: torch.device) -> bool:
    """True on every rank when it is true on one: all stop at the same step (a time limit read off each
    rank's own clock would otherwise stop one rank while the others wait for it in the next step)."""
    if not ranks.distributed:
        return flag
    value = torch.tensor(float(flag), device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier(ranks: Ranks) -> None:
    if ranks.distributed:
        dist.barrier()
