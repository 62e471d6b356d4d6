"""Training windows streamed from webdataset shards: tar → shuffle → decode mp4 (PyAV) → windows → batches.

Only the `mp4` and `txt` members of a sample are read, as raw bytes: nothing in a shard is ever
unpickled. Each clip is decoded once and gives `windows_per_clip` random windows, so decoding, the
costly part on CPU, is shared by several training samples.
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


def decode_clip(mp4: bytes, size: int, crop: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
                square: bool = True) -> np.ndarray:
    """All frames of an mp4 as uint8 (T, size, size, 3) RGB.

    The region used is the centred square of the frame (`square`) or the whole frame (squashed to a
    square), and within it `crop` = (x0, y0, w, h) in fractions. FFmpeg's area scaler resizes the
    whole frame so that this region comes out size x size, then the region is cut out."""
    frames = []
    with av.open(io.BytesIO(mp4)) as container:
        for frame in container.decode(video=0):
            if not frames:
                full_w, full_h, left, top = _scaled_region(frame.width, frame.height, size, crop, square)
            rgb = frame.reformat(width=full_w, height=full_h, format="rgb24", interpolation="AREA").to_ndarray()
            frames.append(rgb[top : top + size, left : left + size])
    if not frames:
        raise ValueError("no frames decoded")
    return np.stack(frames)


def _scaled_region(width: int, height: int, size: int, crop: tuple[float, float, float, float], square: bool):
    """Scaled frame size and the top-left corner of the size x size region inside it."""
    region_w, region_h = (min(width, height),) * 2 if square else (width, height)
    box_x = (width - region_w) / 2 + crop[0] * region_w
    box_y = (height - region_h) / 2 + crop[1] * region_h
    scale_x, scale_y = size / (crop[2] * region_w), size / (crop[3] * region_h)
    full_w, full_h = max(size, round(width * scale_x)), max(size, round(height * scale_y))
    left = min(max(0, round(box_x * scale_x)), full_w - size)
    top = min(max(0, round(box_y * scale_y)), full_h - size)
    return full_w, full_h, left, top


def window_starts(num_frames: int, frames: int, stride: int, count: int, rng: np.random.Generator) -> tuple[list[int], int]:
    """Random window starts and the stride actually used (smaller for clips shorter than a full window)."""
    stride = min(stride, (num_frames - 1) // (frames - 1))
    if stride < 1:
        return [], 0
    span = (frames - 1) * stride + 1
    return [int(s) for s in rng.integers(0, num_frames - span + 1, size=count)], stride


class ShardWindows(IterableDataset):
    """Endless (or `epochs`-long) stream of (frames uint8 (T, H, W, 3), tokens int64 (L,), caption)."""

    def __init__(self, shards: list[str], cfg: DataConfig, seed: int = 0, epochs: int | None = None, start_epoch: int = 0):
        self.shards, self.cfg, self.seed, self.epochs, self.start_epoch = shards, cfg, seed, epochs, start_epoch
        # Without random crops a clip always decodes to the same frames: keep them (per worker) while they fit.
        self.cache: dict[str, tuple[np.ndarray, torch.Tensor, str]] | None = {} if cfg.crop_scale == (1.0, 1.0) else None
        self.cache_bytes = 0

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
            clip = decode_clip(mp4, cfg.size, crop, square=cfg.aspect == "crop")
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
        decoded = self._decoded(sample, rng)
        if decoded is None:
            return
        clip, tokens, caption = decoded
        cfg = self.cfg
        starts, stride = window_starts(len(clip), cfg.frames, cfg.stride, cfg.windows_per_clip, rng)
        for start in starts:
            yield torch.from_numpy(clip[start : start + (cfg.frames - 1) * stride + 1 : stride].copy()), tokens, caption

    def _epoch(self, epoch: int, worker: int, workers: int) -> wds.DataPipeline:
        """One pass over the shards for this worker: whole shards when there are enough of them for every
        worker, else every worker reads all shards and keeps every Nth sample."""
        order = list(self.shards)
        random.Random(f"{self.seed}-{epoch}").shuffle(order)  # same order in every worker
        by_shard = len(order) >= workers
        rng = np.random.default_rng([self.seed, epoch, worker])
        size = self.cfg.shuffle_buffer
        return wds.DataPipeline(
            wds.SimpleShardList(order[worker::workers] if by_shard else order),
            tar_samples,
            lambda samples: (s for i, s in enumerate(samples) if by_shard or i % workers == worker),
            lambda samples: (w for s in samples for w in self._windows(s, rng)),
            wds.shuffle(size, initial=size, rng=random.Random(f"{self.seed}-{epoch}-{worker}")),
        )

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        epoch = self.start_epoch
        while self.epochs is None or epoch < self.start_epoch + self.epochs:
            yield from self._epoch(epoch, worker, workers)
            epoch += 1


def _skip_bad(exc: Exception) -> bool:
    """A damaged tar member is reported and skipped; training goes on with the rest."""
    log.warning("unreadable shard data skipped: %s", exc)
    return True


def _collate(batch):
    frames, tokens, captions = zip(*batch)
    return torch.stack(frames), torch.stack(tokens), list(captions)


def make_loader(shards: list[str], cfg: DataConfig, seed: int = 0, epochs: int | None = None, start_epoch: int = 0) -> DataLoader:
    dataset = ShardWindows(shards, cfg, seed=seed, epochs=epochs, start_epoch=start_epoch)
    return DataLoader(
        dataset, batch_size=cfg.batch_size, num_workers=cfg.workers, collate_fn=_collate,
        persistent_workers=False, prefetch_factor=4 if cfg.workers else None,
    )
