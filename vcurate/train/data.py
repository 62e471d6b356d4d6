"""Training windows streamed from webdataset shards: tar → shuffle → decode mp4 (PyAV) → windows → batches.

Only the `mp4` and `txt` members of a sample are read, as raw bytes: nothing in a shard is ever
unpickled. Each clip is decoded once and gives `windows_per_clip` random windows, so decoding, the
costly part on CPU, is shared by several training samples. Batches are formed here, each from windows
of one frame shape (one aspect bucket, data.aspect bucket).

One process reads the shards in passes (epochs). Under torchrun every rank reads its own shards (an
explicit node split, then a worker split) resampled with replacement, endlessly: no rank waits for
another's pass to end, and the run is counted in batches (optimizer steps), not passes.
"""

from __future__ import annotations

import fnmatch
import functools
import glob
import io
import logging
import random
import re
from typing import Iterable, Iterator

import av
import braceexpand
import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from webdataset.tariterators import group_by_keys, tar_file_expander
from webdataset.utils import make_seed

from vcurate.aspect import nearest as nearest_aspect
from vcurate.errors import VcurateError
from vcurate.storage import SCHEMES, is_uri, locate
from vcurate.train.config import DataConfig

log = logging.getLogger(__name__)
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class ShardError(VcurateError, ValueError):
    """A shard pattern that matches nothing usable."""


def resolve_shards(pattern: str) -> list[str]:
    """Shards of a folder, glob or brace pattern (`out/shards/shard-{000000..000003}.tar`), on a local disk
    or in an object store (`s3://bucket/out/shards`, `gs://bucket/out/shards/*.tar`). Other URL schemes
    (pipe:, http:) are refused: a shard list must never run a command or reach an arbitrary host."""
    if _URL_SCHEME.match(pattern) and not pattern.startswith(SCHEMES):
        raise ShardError(f"{pattern}: unsupported URL scheme; shards are local paths or {', '.join(SCHEMES)} URIs")
    if "{" not in pattern and not glob.has_magic(pattern) and locate(pattern).is_dir():
        pattern = pattern.rstrip("/") + "/*.tar"
    paths: list[str] = []
    named: list[str] = []  # listed by the user rather than matched, so not yet known to exist
    for piece in braceexpand.braceexpand(pattern):
        if glob.has_magic(piece):
            matches = _matches(piece)
        else:
            matches = [piece]
            named.append(piece)
        paths += [p for p in matches if p not in paths]
    missing = [p for p in named if not locate(p).is_file()]
    if missing:
        raise ShardError(f"shard not found: {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    if not paths:
        raise ShardError(f"no shards match {pattern!r}")
    return paths


def _matches(piece: str) -> list[str]:
    """Files matching a glob: any part of a local path may hold wildcards, only the file name of a URI."""
    if not is_uri(piece):
        return sorted(glob.glob(piece))
    folder, name = piece.rsplit("/", 1)
    if glob.has_magic(folder):
        raise ShardError(f"{piece}: in an object store only the file name may hold wildcards")
    return [f.uri for f in locate(folder).iter_files(recursive=False) if fnmatch.fnmatchcase(f.name, name)]


def tar_samples(sources: Iterable[dict]) -> Iterator[dict]:
    """webdataset's tar-to-samples stage, with each shard opened through vcurate.storage (a local file or
    an object-store stream) instead of webdataset's opener, which hands URLs to shell commands (gs:// to
    gsutil, pipe: to the shell). A shard that cannot be opened or read is reported and skipped."""
    return group_by_keys(tar_file_expander(_open_shards(sources), handler=_skip_bad), handler=_skip_bad)


def _open_shards(sources: Iterable[dict]) -> Iterator[dict]:
    for source in sources:
        try:
            stream = locate(source["url"]).open_stream()
        except (OSError, ValueError) as exc:
            _skip_bad(exc)
            continue
        with stream:  # the expander reads the whole tar before asking for the next shard
            yield {**source, "stream": stream}


@functools.lru_cache(maxsize=4)
def _tokenizer(context: int):
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer(context_length=context)


def tokenize(captions: list[str], context: int) -> torch.Tensor:
    """CLIP BPE token ids (N, context), zero-padded: the caption encoder's input."""
    return _tokenizer(context)(captions)


def caption_vocabulary(captions: Iterable[str], context: int) -> torch.Tensor:
    """The sorted CLIP token ids the captions use (model.caption_vocab shards), padding excluded; with no
    caption at all the start and end tokens, so the loader reports the shards' missing captions."""
    ids = torch.unique(tokenize(list(captions) or [""], context))
    return ids[ids != 0]


def shard_captions(shards: list[str]) -> list[str]:
    """Every caption in the shards, read from the `txt` members alone (no video decoding)."""
    pipeline = wds.DataPipeline(wds.SimpleShardList(shards), tar_samples)
    return [s["txt"].decode("utf-8", errors="replace").strip() for s in pipeline if "txt" in s]


def decode_clip(mp4: bytes, size: int, crop: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
                square: bool = True, shapes: Iterable[tuple[int, int]] = ()) -> np.ndarray:
    """All frames of an mp4 as uint8 (T, size, size, 3) RGB, or (T, height, width, 3) in the one of
    `shapes` (height, width) nearest the frame's aspect ratio.

    The region used is the largest centred box of the output's aspect (the centred square unless
    `shapes`), or with `square` False the whole frame (squashed), and within it `crop` = (x0, y0, w, h)
    in fractions. FFmpeg's area scaler resizes the whole frame so that this region comes out at the
    output size, then the region is cut out."""
    frames = []
    with av.open(io.BytesIO(mp4)) as container:
        for frame in container.decode(video=0):
            if not frames:
                out_h, out_w = nearest_shape(frame.width, frame.height, list(shapes)) if shapes else (size, size)
                full_w, full_h, left, top = _scaled_region(frame.width, frame.height, (out_w, out_h), crop, square)
            rgb = frame.reformat(width=full_w, height=full_h, format="rgb24", interpolation="AREA").to_ndarray()
            frames.append(rgb[top : top + out_h, left : left + out_w])
    if not frames:
        raise ValueError("no frames decoded")
    return np.stack(frames)


def nearest_shape(width: int, height: int, shapes: list[tuple[int, int]]) -> tuple[int, int]:
    """The (height, width) whose aspect ratio is nearest the frame's: the bucket that crops least."""
    return shapes[nearest_aspect(width / height, [w / h for h, w in shapes])]


def _scaled_region(width: int, height: int, out: tuple[int, int], crop: tuple[float, float, float, float], keep_aspect: bool):
    """Scaled frame size and the top-left corner of the out = (width, height) region inside it."""
    out_w, out_h = out
    if keep_aspect:  # the largest centred box of the output's shape (the square of the short side for a square)
        aspect = out_w / out_h
        region_w, region_h = (height * aspect, height) if width / height > aspect else (width, width / aspect)
    else:
        region_w, region_h = width, height
    box_x = (width - region_w) / 2 + crop[0] * region_w
    box_y = (height - region_h) / 2 + crop[1] * region_h
    scale_x, scale_y = out_w / (crop[2] * region_w), out_h / (crop[3] * region_h)
    full_w, full_h = max(out_w, round(width * scale_x)), max(out_h, round(height * scale_y))
    left = min(max(0, round(box_x * scale_x)), full_w - out_w)
    top = min(max(0, round(box_y * scale_y)), full_h - out_h)
    return full_w, full_h, left, top


def window_starts(num_frames: int, frames: int, stride: int, count: int, rng: np.random.Generator) -> tuple[list[int], int]:
    """Random window starts and the stride actually used (smaller for clips shorter than a full window)."""
    stride = min(stride, (num_frames - 1) // (frames - 1))
    if stride < 1:
        return [], 0
    span = (frames - 1) * stride + 1
    return [int(s) for s in rng.integers(0, num_frames - span + 1, size=count)], stride


class ShardWindows(IterableDataset):
    """Endless (or `epochs`-long) stream of batches (frames uint8 (B, T, H, W, 3), tokens int64 (B, L),
    captions) of `batch_size` windows of one shape; `shapes` are the buckets' (height, width), none for
    size x size. `rank` of `world` > 1: this rank's share of the shards, resampled (`epochs` must be None)."""

    def __init__(self, shards: list[str], cfg: DataConfig, seed: int = 0, epochs: int | None = None, start_epoch: int = 0,
                 shapes: Iterable[tuple[int, int]] = (), batch_size: int | None = None, rank: int = 0, world: int = 1):
        if world > 1 and epochs is not None:
            raise ValueError("shards are resampled endlessly across ranks: epochs must be None")
        self.shards, self.cfg, self.seed, self.epochs, self.start_epoch = shards, cfg, seed, epochs, start_epoch
        self.shapes, self.batch_size = list(shapes), batch_size or cfg.batch_size
        self.rank, self.world = rank, world
        # Without random crops a clip always decodes to the same frames: keep them (per worker) while they fit.
        self.cache: dict[str, tuple[np.ndarray, torch.Tensor, str]] | None = {} if cfg.crop_scale == (1.0, 1.0) else None
        self.cache_bytes = 0
        self.samples_read = self.windows_made = 0  # so a stream of nothing but unusable samples stops

    def _decoded(self, sample: dict, rng: np.random.Generator) -> tuple[np.ndarray, torch.Tensor, str] | None:
        """(frames, tokens, caption) of a sample, from the cache or decoded; None for an unusable sample."""
        key = f"{sample.get('__url__')}/{sample.get('__key__')}"
        if self.cache is not None and key in self.cache:
            return self.cache[key]
        cfg = self.cfg
        name = str(sample.get("__key__", ""))
        if name.startswith("/") or ".." in name.split("/") or "\0" in name:
            log.warning("sample with unsafe member name %r refused", name)
            return None
        mp4, txt = sample.get("mp4"), sample.get("txt")
        if mp4 is None or txt is None:
            log.warning("sample %s lacks mp4 or txt; skipped", sample.get("__key__"))
            return None
        scale = rng.uniform(*cfg.crop_scale)
        crop = (rng.uniform(0, 1 - scale), rng.uniform(0, 1 - scale), scale, scale)
        try:
            clip = decode_clip(mp4, cfg.size, crop, square=cfg.aspect != "squash", shapes=self.shapes)
        except (av.FFmpegError, ValueError) as exc:
            log.warning("sample %s: mp4 not decodable (%s); skipped", sample.get("__key__"), exc)
            return None
        caption = txt.decode("utf-8", errors="replace").strip()
        decoded = clip, tokenize([caption], cfg.max_text_tokens)[0], caption
        if self.cache is not None and self.cache_bytes + clip.nbytes <= cfg.cache_mb * 2**20:
            self.cache[key] = decoded
            self.cache_bytes += clip.nbytes
        return decoded

    def _windows(self, sample: dict, rng: np.random.Generator):
        self.samples_read += 1
        decoded = self._decoded(sample, rng)
        if decoded is not None:
            clip, tokens, caption = decoded
            cfg = self.cfg
            starts, stride = window_starts(len(clip), cfg.frames, cfg.stride, cfg.windows_per_clip, rng)
            for start in starts:
                self.windows_made += 1
                yield torch.from_numpy(clip[start : start + (cfg.frames - 1) * stride + 1 : stride].copy()), tokens, caption
        if not self.windows_made and self.samples_read >= _UNUSABLE_LIMIT:
            raise ShardError(_nothing_to_train_on(self.samples_read))

    def _epoch(self, epoch: int, worker: int, workers: int) -> wds.DataPipeline:
        """One pass over the shards for this worker: whole shards when there are enough of them for every
        worker, else every worker reads all shards and keeps every Nth sample."""
        order = list(self.shards)
        random.Random(f"{self.seed}-{epoch}").shuffle(order)  # same order in every worker
        by_shard = len(order) >= workers
        return self._pipeline(
            wds.SimpleShardList(order[worker::workers] if by_shard else order),
            lambda samples: (s for i, s in enumerate(samples) if by_shard or i % workers == worker),
            np.random.default_rng([self.seed, epoch, worker]), f"{self.seed}-{epoch}-{worker}",
        )

    def _resampled(self, worker: int, workers: int) -> wds.DataPipeline:
        """This rank's and worker's shards (whole shards each where there are enough, else all of them),
        drawn with replacement for ever; seeded by the rank, the worker and the start step."""
        order = list(self.shards)
        random.Random(self.seed).shuffle(order)  # the same order on every rank, so the split is a partition
        mine = order[self.rank :: self.world] if len(order) >= self.world else order  # explicit node splitter
        mine = mine[worker::workers] if len(mine) >= workers else mine
        reader = self.rank * workers + worker
        return self._pipeline(
            wds.ResampledShards(mine, seed=make_seed(self.seed, self.start_epoch), deterministic=True,
                                worker_seed=lambda: reader),
            lambda samples: samples,
            np.random.default_rng([self.seed, self.start_epoch, reader]), f"{self.seed}-{self.start_epoch}-{reader}",
        )

    def _pipeline(self, shards, keep, rng: np.random.Generator, shuffle_seed: str) -> wds.DataPipeline:
        """shards → tar samples → those `keep` lets through → windows (crops and starts from `rng`) →
        shuffle buffer."""
        size = self.cfg.shuffle_buffer
        return wds.DataPipeline(
            shards, tar_samples, keep,
            lambda samples: (w for s in samples for w in self._windows(s, rng)),
            wds.shuffle(size, initial=size, rng=random.Random(shuffle_seed)),
        )

    def _stream(self, worker: int, workers: int):
        if self.world > 1:
            yield from self._resampled(worker, workers)
            return
        epoch = self.start_epoch
        while self.epochs is None or epoch < self.start_epoch + self.epochs:
            yield from self._epoch(epoch, worker, workers)
            if not self.windows_made:  # a whole pass gave nothing: another would not either
                raise ShardError(_nothing_to_train_on(self.samples_read))
            epoch += 1

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        pending: dict[tuple, list] = {}  # windows by frame shape until a batch of them is complete
        for window in self._stream(worker, workers):
            batch = pending.setdefault(window[0].shape, [])
            batch.append(window)
            if len(batch) == self.batch_size:
                yield _collate(pending.pop(window[0].shape))
        for batch in pending.values():  # the last, partial batch of each shape
            yield _collate(batch)


_UNUSABLE_LIMIT = 1000  # resampled shards never end: after this many samples without a single window, stop


def _nothing_to_train_on(samples: int) -> str:
    return (f"no training window in {samples} samples of the shards (each lacks a readable mp4 or a txt caption, "
            "or is shorter than one window): nothing to train on")


def _skip_bad(exc: Exception) -> bool:
    """A damaged tar member is reported and skipped; training goes on with the rest."""
    log.warning("unreadable shard data skipped: %s", exc)
    return True


def _collate(batch):
    frames, tokens, captions = zip(*batch)
    return torch.stack(frames), torch.stack(tokens), list(captions)


def make_loader(shards: list[str], cfg: DataConfig, seed: int = 0, epochs: int | None = None, start_epoch: int = 0,
                shapes: Iterable[tuple[int, int]] = (), rank: int = 0, world: int = 1) -> DataLoader:
    """Batches of cfg.batch_size windows; with `world` ranks each rank's batch is its share of that global
    batch (a multiple of `world`: the trainer checks)."""
    dataset = ShardWindows(shards, cfg, seed=seed, epochs=epochs, start_epoch=start_epoch, shapes=shapes,
                           batch_size=cfg.batch_size // world, rank=rank, world=world)
    return DataLoader(
        dataset, batch_size=None, num_workers=cfg.workers,
        persistent_workers=False, prefetch_factor=4 if cfg.workers else None,
    )
