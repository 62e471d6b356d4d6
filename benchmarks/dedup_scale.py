"""How the near-duplicate index scales: memory per clip, insert + query rate on one core, and the
recall of its hashed search against exhaustive search, as the index grows.

Simulated signatures (vcurate.analyze.signature's layout: 5 words a group, K groups as
filters.duplicate.frames says, all present): random trits and texture bits, random colours;
every `--copy-every`th clip is a planted near-duplicate of a random earlier clip, each of its code words with `flips` random bits flipped (drawn from the range real
copies show: vcurate.dedup's docstring) and its colour a level off. The stream is judged in batches
(SignatureIndex.judge, as the driver would decide it one clip at a time) in a single thread, and
at each checkpoint the rate over the last stretch and the index's memory are recorded. The recall
of the planted copies is counted per stretch: the share found as duplicates, against what an
exhaustive search finds (every planted copy is within the threshold of its original by design).

    .venv/bin/python benchmarks/dedup_scale.py [--clips 10000000] [--batch 4096] [--checkpoints 10]

Writes benchmarks/results/dedup_scale-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the driver has

import numpy as np

from vcurate.analyze.signature import WORDS_PER_FRAME
from vcurate.config import DuplicateFilter
from vcurate.dedup import SignatureIndex, distances

from results_io import save, stamp  # benchmarks/results_io.py

FRAMES = DuplicateFilter().frames
CHUNK = 1 << 16  # clips generated at a time


def memory() -> dict[str, int]:
    """This process's resident memory (kB): anonymous (the heap: the index's arrays), file-backed
    (pages of memory-mapped files in it: the signature store's recently read or written pages, which
    the OS may drop), and the peak."""
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) for k in ("RssAnon", "RssFile", "VmHWM")}


def random_signatures(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n signatures: layout and motion trits (+, 0, - equally likely), texture bits, colours."""
    words = np.empty((n, FRAMES, WORDS_PER_FRAME), np.uint64)
    for pair in ((0, 1), (2, 3)):
        plus = rng.integers(0, 2**63, (n, FRAMES), dtype=np.uint64) | (rng.integers(0, 2, (n, FRAMES), dtype=np.uint64) << np.uint64(63))
        minus = rng.integers(0, 2**63, (n, FRAMES), dtype=np.uint64) & ~plus  # a trit is never both
        words[..., pair[0]], words[..., pair[1]] = plus, minus
    words[..., 0] &= ~np.uint64(1)  # the layout DC
    words[..., 1] &= ~np.uint64(1)
    words[..., 4] = rng.integers(0, 2**63, (n, FRAMES), dtype=np.uint64)
    return words.reshape(n, FRAMES * WORDS_PER_FRAME), rng.integers(90, 166, (n, 2)).astype(np.int16)


def plant_copies(rng: np.random.Generator, words: np.ndarray, colours: np.ndarray, every: int, flips: tuple[int, int]):
    """Make every `every`th clip a copy of a random earlier original; returns the copies' indices."""
    copies = np.arange(every, len(words), every)
    originals = (rng.random(len(copies)) * copies).astype(np.int64)
    originals -= (originals % every == 0) & (originals > 0)  # never a copy of a copy
    words[copies] = words[originals]
    colours[copies] = colours[originals] + np.array([1, 0], np.int16)
    count = rng.integers(flips[0], flips[1] + 1, (len(copies), words.shape[1]))
    for flip in range(flips[1]):
        bit = np.uint64(1) << rng.integers(1, 64, (len(copies), words.shape[1]), dtype=np.uint64)
        words[copies] ^= np.where(flip < count, bit, np.uint64(0))
    for w in range(0, words.shape[1], WORDS_PER_FRAME):  # keep trits valid: + wins over -
        words[copies, w + 1] &= ~words[copies, w]
        words[copies, w + 3] &= ~words[copies, w + 2]
    return copies, originals


def write(args, rows: list[dict], threshold: float) -> None:
    """The rows so far as JSON and Markdown (rewritten at each checkpoint)."""
    summary = {**stamp(), "python": sys.version.split()[0], "frames": FRAMES, "batch": args.batch,
               "copy_every": args.copy_every, "flips_per_word": list(args.flips), "threshold": threshold,
               "exhaustive_up_to": args.exhaustive_up_to, "rows": rows}
    lines = [f"# Near-duplicate index at scale ({args.clips:,} simulated clips, batches of {args.batch}, one core)", "",
             f"Planted copies: 1 in {args.copy_every}, {args.flips[0]}-{args.flips[1]} bits flipped per code word "
             f"({WORDS_PER_FRAME * FRAMES} words); threshold {threshold}. Rate: clips judged (and the kept ones inserted) a second "
             "of this single-threaded process's CPU time (the machine is shared: wall time, with the 1-minute load, apart). Index: the index's arrays in memory as allocated "
             "(spare capacity included); store: the code words in the memory-mapped file; RSS growth since the start, "
             "anonymous (heap) and file-backed (store pages the OS holds in memory, and may drop).", "",
             "| clips judged | indexed | search | table | clips/CPU-s (stretch) | clips/s wall (load) | index MiB | index bytes/clip | store file MiB | "
             "RSS anon growth MiB | RSS file growth MiB | peak RSS MiB | planted distance median / max | recall of copies |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    lines += [f"| {r['clips_judged']:,} | {r['indexed']:,} | {'hashed' if r['hashed'] else 'exhaustive'} | "
              f"{'2^%d' % r['table_bits'] if r['table_bits'] else '–'} | {r['clips_per_cpu_s']:,} | {r['clips_per_s']:,} ({r['load']:.1f}) | {r['index_mib']} | "
              f"{r['index_bytes_per_clip']} | {r['store_file_mib']} | {r['rss_anon_growth_mib']} | {r['rss_file_growth_mib']} | "
              f"{r['peak_rss_mib']} | {r['planted_distance_median']} / {r['planted_distance_max']} | {r['recall']:.3f} |" for r in rows]
    save(f"dedup_scale{args.name}", summary, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=4096, help="clips judged per call")
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--copy-every", type=int, default=50, help="one planted near-duplicate per this many clips")
    parser.add_argument("--flips", type=int, nargs=2, default=(2, 6), help="bits flipped per code word of a copy")
    parser.add_argument("--exhaustive-up-to", type=int, default=DuplicateFilter().exhaustive_up_to)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="", help="suffix of the results file name")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    threshold = DuplicateFilter().min_distance
    duplicate = lambda d: np.less(d, threshold)  # noqa: E731  (the rule: strictly below min_distance)

    index = SignatureIndex(FRAMES, args.exhaustive_up_to, colour_limit=threshold)
    marks = np.unique(np.geomspace(max(args.batch, 10_000), args.clips, args.checkpoints).astype(int))
    rows, done = [], 0
    baseline = memory()
    for mark in marks:
        copy_distances, planted, seconds, cpu = [], [], 0.0, 0.0
        for chunk in range(done, mark, CHUNK):  # generated a chunk at a time: the stream is not held in memory
            words, colours = random_signatures(rng, min(CHUNK, mark - chunk))
            copies, originals = plant_copies(rng, words, colours, args.copy_every, tuple(args.flips))
            if len(planted) < 200:  # the planted copies' distances to their originals, all below the threshold
                planted += [distances(words[o : o + 1], colours[o : o + 1], words[c], colours[c])[0]
                            for c, o in zip(copies[:50], originals[:50])]
            is_copy = np.zeros(len(words), bool)
            is_copy[copies] = True
            started, cpu_started = time.perf_counter(), time.process_time()
            for first in range(0, len(words), args.batch):
                part = slice(first, first + args.batch)
                _, distance = index.judge(words[part], colours[part], duplicate)
                copy_distances.append(distance[is_copy[part]])
            seconds += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
        # exhaustive search finds every planted copy (each is within the threshold of its original)
        recall = float(np.mean(np.nan_to_num(np.concatenate(copy_distances), nan=np.inf) < threshold))
        now = memory()
        rows.append({
            "clips_judged": int(mark), "indexed": int(index.size), "hashed": index.hashed,
            "clips_per_s": round((mark - done) / seconds), "seconds": round(seconds, 2),
            "clips_per_cpu_s": round((mark - done) / cpu), "cpu_seconds": round(cpu, 2), "load": os.getloadavg()[0],
            "index_bytes_per_clip": round(index.nbytes / max(1, index.size), 1),
            "index_mib": round(index.nbytes / 2**20, 1),
            "table_bits": int(index.bits) if index.hashed else None,
            "store_file_mib": round(index.store.file_bytes / 2**20, 1),
            "rss_anon_growth_mib": round((now["RssAnon"] - baseline["RssAnon"]) / 2**10, 1),
            "rss_file_growth_mib": round((now["RssFile"] - baseline["RssFile"]) / 2**10, 1),
            "peak_rss_mib": round(now["VmHWM"] / 2**10, 1),
            "planted_copies": int(sum(len(d) for d in copy_distances)),
            "planted_distance_median": round(float(np.median(planted)), 2),
            "planted_distance_max": round(float(np.max(planted)), 2), "recall": round(recall, 4),
        })
        done = mark
        print(rows[-1], flush=True)
        write(args, rows, threshold)

if __name__ == "__main__":
    main()
