"""Shards written straight from rendered clips (no curation run): a moving square of one colour per
clip, any frame size, one caption per clip, so a test knows which shard each window came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vcurate.media.encode import write_mp4
from vcurate.records import ClipRecord
from vcurate.stages.shard import ShardWriter


def moving_square(width: int, height: int, frames: int, seed: int) -> list[np.ndarray]:
    """A textured background with a bright square crossing it left to right."""
    rng = np.random.default_rng(seed)
    background = rng.integers(40, 120, (height, width, 3), dtype=np.uint8)
    side = max(4, min(width, height) // 4)
    colour = rng.integers(150, 256, 3, dtype=np.uint8)
    out = []
    for i in range(frames):
        frame = background.copy()
        x = (width - side) * i // max(1, frames - 1)
        frame[(height - side) // 2 : (height + side) // 2, x : x + side] = colour
        out.append(frame)
    return out


def write_clip_shards(folder: Path, clips: list[tuple[int, int, str]], per_shard: int, frames: int = 12) -> list[str]:
    """Clips given as (width, height, caption), written `per_shard` to a shard; returns the shard paths."""
    folder.mkdir(parents=True, exist_ok=True)
    with ShardWriter(folder, max_samples=per_shard, max_bytes=2**30) as writer:
        for i, (width, height, caption) in enumerate(clips):
            path = folder / f"clip-{i}.mp4"
            write_mp4(path, iter(moving_square(width, height, frames, seed=i)), (width, height), 12, crf=18)
            record = ClipRecord(video=f"v{i}.mp4", clip_key=f"clip{i:04d}", scene_index=0, start_frame=0,
                                end_frame=frames, start_s=0.0, end_s=frames / 12, fps=12.0, width=width,
                                height=height, caption=caption)
            record.set_encoded(width, height, 12.0, frames)
            writer.write(record, path.read_bytes())
            path.unlink()
    return sorted(str(p) for p in folder.glob("shard-*.tar"))
