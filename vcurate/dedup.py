"""Near-duplicate clips, removed on the driver as kept clips stream in input order, exactly once.

The driver sees every clip row in input order (Ray Data with preserve_order, or the local engine), so
a clip is compared with the clips kept before it and nothing else: the first copy in input order is
kept, the later ones are rejected `duplicate` with `duplicate_of` naming it, on a laptop and on a
cluster alike. An interrupted job rebuilds the index from its committed parts before it goes on, so
it decides as an uninterrupted one would; `filters.duplicate.against` (`--dedup-against`) loads the
kept clips of earlier runs first, so a new batch of an archive is judged against what is curated.

Distance between two signatures (vcurate.analyze.signature), in bits per 64-bit code word, at a
whole-group offset (group k of one against group k + offset of the other): the largest of
- layout: differing layout bits over the overlapping groups x 64 / (126 bits a group);
- motion: differing motion bits over the overlapping groups that both have a next group x 64 / 128;
- texture: TEXTURE_WEIGHT x differing texture bits over the overlapping groups / their number;
- colour: COLOUR_WEIGHT x (|dCr| + |dCb|) of the mean colours, 0-255 levels;
and the distance is the least of those over the offsets at which at least MIN_OVERLAP of the shorter
clip's groups overlap. So a duplicate must look alike, move alike and have the same textures and
colours over most of the shorter clip, wherever its original's clip began. A clip closer than
`filters.duplicate.min_distance` to an earlier kept clip duplicates the nearest such clip. On the
calibration footage, re-encoded, resized, cropped (<= 5 %) and brightened (+-10 %) copies measured
2-16, copies cut at other frames (2/3 of the shorter clip or more shared) up to about 21, other
stretches of one static camera 17.6 or more (a scene where nothing moves looks the same at another
moment), other sources 28 or more (benchmarks/dedup_accuracy.py).

The index keeps each kept clip's code words (5 K uint64) and colour. Up to `exhaustive_up_to` clips
a query is compared with every one of them (numpy, vectorised: exact). Beyond, it is compared only
with the clips within the threshold in colour (colour alone puts the others beyond it) sharing one of
its groups' keys: the trits of the group's 16 lowest-frequency layout
coefficients (32 bits, folded into TABLE_BITS), kept in one chained hash table for the groups at
every position (a copy's group k may be its original's group k + 1; a head per bucket, a next
pointer per group). That is multi-index hashing on the stablest part of the code: copies that differ
in every group's lowest coefficients are missed (benchmarks/dedup_scale.py measures the recall
against exhaustive search). Both searches depend only on the clips inserted and their order, so any
run that inserts the same clips in the same order decides the same.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from vcurate.analyze.signature import ABSENT, WORDS_PER_FRAME, unpack_signatures
from vcurate.config import DuplicateFilter, PipelineConfig
from vcurate.errors import InputError
from vcurate.ledger import Ledger
from vcurate.records import ClipRecord
from vcurate.rules import rule_for
from vcurate.storage import locate

LAYOUT_BITS, MOTION_BITS = 126, 128  # code bits per frame: 63 AC trits, 64 trits
TEXTURE_WEIGHT = 2.0  # copies of real footage differ in <= 6 of 64 texture bits, other shots in 8 or more
COLOUR_WEIGHT = 3.0  # distance per level of mean Cr or Cb: copies differ by <= 3.2 levels; palettes 70 degrees of
# hue apart at low saturation by about 8
KEY_COEFFICIENTS = 16  # layout trits per frame key (zigzag 1..16): 12 left buckets of ~2^18 effective keys (trits are not
# uniform), too few for millions of clips
TABLE_BITS = 24  # buckets of the one hash table: 2^24 (64 MiB of heads), so its K entries a clip load it no more
# than K tables of 2^22 would
MIN_OVERLAP = 2 / 3  # of the shorter clip's groups that must overlap at an offset the distance considers

if hasattr(np, "bitwise_count"):
    popcount = np.bitwise_count
else:  # numpy < 2
    _BYTE_COUNTS = np.array([bin(i).count("1") for i in range(256)], np.uint8)

    def popcount(words: np.ndarray) -> np.ndarray:
        return _BYTE_COUNTS[words.view(np.uint8)].reshape(*words.shape, 8).sum(axis=-1, dtype=np.uint8)


def present(words: np.ndarray) -> np.ndarray:
    """(..., K) bool: which of the K described groups a signature has (ABSENT marks the others)."""
    per_frame = words.reshape(*words.shape[:-1], -1, WORDS_PER_FRAME)
    return (per_frame[..., 0] & ABSENT) == 0


def distances(words: np.ndarray, colours: np.ndarray, query_words: np.ndarray, query_colour: np.ndarray) -> np.ndarray:
    """(n,) float distances of n signatures (words (n, 5 K), colours (n, 2)) to one query (words (5 K,),
    colour (2,)) or to n queries, row by row: the least over the whole-group offsets at which at least
    MIN_OVERLAP of the shorter clip's groups overlap."""
    n, frames = len(words), words.shape[1] // WORDS_PER_FRAME
    stored = words.reshape(n, frames, WORDS_PER_FRAME)
    query = np.asarray(query_words).reshape(-1, frames, WORDS_PER_FRAME)
    have, query_have = (stored[..., 0] & ABSENT) == 0, (query[..., 0] & ABSENT) == 0
    moves, query_moves = have.copy(), query_have.copy()  # groups with a next group: their motion slot counts
    moves[:, :-1] &= have[:, 1:]
    query_moves[:, :-1] &= query_have[:, 1:]
    moves[:, -1], query_moves[:, -1] = False, False
    need = np.maximum(1, np.ceil(MIN_OVERLAP * np.minimum(have.sum(axis=1), query_have.sum(axis=1)) - 1e-9))
    colour = COLOUR_WEIGHT * np.abs(colours - query_colour).reshape(n, 2).sum(axis=1)
    best = np.full(n, np.inf)
    single = len(query) == 1
    for shift in sorted(range(1 - frames, frames), key=abs):  # stored group k against query group k + shift
        mine = slice(max(0, -shift), min(frames, frames - shift))
        theirs = slice(mine.start + shift, mine.stop + shift)
        both = have[:, mine] & query_have[:, theirs]
        overlap = both.sum(axis=1)
        # colour does not depend on the offset: a row already at its colour distance cannot get nearer
        rows = np.flatnonzero((overlap >= need) & (colour < best))
        if not len(rows):
            continue
        if len(rows) == n:  # every row (the first offset, as a rule): no copies
            rows = slice(None)
        q = query[:, theirs] if single else query[rows, theirs]
        bits = popcount(stored[rows, mine] ^ q)  # (r, c, 5) uint8
        both, counted = both[rows], overlap[rows]
        moving = moves[rows, mine] & (query_moves[:, theirs] if single else query_moves[rows, theirs])
        layout = (bits[..., 0] + bits[..., 1].astype(np.int32)) * both  # popcounts of a word fit uint8, not their sums
        layout = layout.sum(axis=1) * (64.0 / LAYOUT_BITS) / counted
        motion = ((bits[..., 2] + bits[..., 3].astype(np.int32)) * moving).sum(axis=1) * (64.0 / MOTION_BITS) / np.maximum(moving.sum(axis=1), 1)
        texture = (bits[..., 4] * both).sum(axis=1, dtype=np.int32) * TEXTURE_WEIGHT / counted
        best[rows] = np.minimum(best[rows], np.maximum.reduce([layout, motion, texture, colour[rows]]))
    return best


def frame_keys(words: np.ndarray) -> np.ndarray:
    """(n, K) int64 bucket of each group: its KEY_COEFFICIENTS lowest layout trits, folded into
    TABLE_BITS bits; -1 for a group the clip has not."""
    frames = words.shape[1] // WORDS_PER_FRAME
    per_frame = words.reshape(len(words), frames, WORDS_PER_FRAME)
    mask = np.uint64((1 << KEY_COEFFICIENTS) - 1)
    key = ((per_frame[..., 0] >> np.uint64(1)) & mask) | (((per_frame[..., 1] >> np.uint64(1)) & mask) << np.uint64(KEY_COEFFICIENTS))
    mixed = (key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - TABLE_BITS)  # Fibonacci hashing
    return np.where(present(words), mixed.astype(np.int64), -1)


class SignatureIndex:
    """The signatures of kept clips, in insertion order, and the search for the nearest earlier one."""

    def __init__(self, frames: int, exhaustive_up_to: int, colour_limit: float = np.inf):
        # hashed search compares only clips within `colour_limit` in colour (the threshold: the colour
        # part alone puts any other clip beyond it), so chance key collisions cost no distance
        self.frames, self.exhaustive_up_to, self.colour_limit = frames, exhaustive_up_to, colour_limit
        self.size = 0
        self.words = np.zeros((1024, WORDS_PER_FRAME * frames), np.uint64)
        self.colours = np.zeros((1024, 2), np.int16)
        # one table for the groups at every position (a copy's group k may be its original's group k + 1):
        # entry position * K + group; the newest entry of each bucket, and each entry's next older one
        self.heads: np.ndarray | None = None  # (2^TABLE_BITS,) int32; None: exhaustive
        self.next = np.full((1024, frames), -1, np.int32)  # -1 at a chain's end

    @property
    def hashed(self) -> bool:
        return self.heads is not None

    @property
    def nbytes(self) -> int:
        """Memory the index holds (arrays as allocated, spare capacity included)."""
        return self.words.nbytes + self.colours.nbytes + self.next.nbytes + (0 if self.heads is None else self.heads.nbytes)

    def _grow(self, needed: int) -> None:
        capacity = len(self.words)
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2
        for name in ("words", "colours"):
            old = getattr(self, name)
            new = np.zeros((capacity, old.shape[1]), old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)
        grown = np.full((capacity, self.frames), -1, np.int32)
        grown[: self.size] = self.next[: self.size]
        self.next = grown

    def reserve(self, capacity: int) -> None:
        """Room for `capacity` clips in all (saves the copies of growing one batch at a time)."""
        self._grow(capacity)

    def _link(self, first: int, last: int) -> None:
        """Put clips [first, last) into the hash tables, in order: each bucket's chain runs from its
        newest clip to its oldest."""
        keys = frame_keys(self.words[first:last]).ravel()
        entries = np.arange(first * self.frames, last * self.frames, dtype=np.int32)[keys >= 0]
        keys = keys[keys >= 0]
        order = np.argsort(keys, kind="stable")
        key, entry = keys[order], entries[order]
        opens = np.r_[True, key[1:] != key[:-1]]  # first of its bucket in this batch
        closes = np.r_[key[1:] != key[:-1], True]
        chain = self.next.reshape(-1)
        chain[entry] = np.where(opens, self.heads[key], np.r_[-1, entry[:-1]])
        self.heads[key[closes]] = entry[closes]

    def add(self, words: np.ndarray, colours: np.ndarray) -> None:
        """Append signatures (words (n, 5 K), colours (n, 2)) of clips kept, in order."""
        first = self.size
        self._grow(first + len(words))
        self.words[first : first + len(words)] = words
        self.colours[first : first + len(words)] = colours
        self.size += len(words)
        if self.heads is None and self.size > self.exhaustive_up_to:
            self.heads = np.full(1 << TABLE_BITS, -1, np.int32)
            self._link(0, self.size)
        elif self.heads is not None:
            self._link(first, self.size)

    def _stored_pairs(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query, position) of every stored clip sharing a frame key with a query (keys (B, K)), once
        per pair, by query then position."""
        query = np.repeat(np.arange(len(keys)), self.frames)[keys.ravel() >= 0]
        entry = self.heads[keys.ravel()[keys.ravel() >= 0]]
        chain = self.next.reshape(-1)
        found_query, found_position = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        while len(entry):
            live = entry >= 0
            query, entry = query[live], entry[live]
            found_query.append(query)
            found_position.append(entry // self.frames)
            entry = chain[entry]
        pairs = np.unique(np.concatenate(found_query).astype(np.int64) << 32 | np.concatenate(found_position))
        return pairs >> 32, pairs & 0xFFFFFFFF

    def _near_in_colour(self, position: np.ndarray, colours: np.ndarray) -> np.ndarray:
        """Which stored clips (positions) are within the colour limit of the query colours (one, or one a row)."""
        return COLOUR_WEIGHT * np.abs(self.colours[position] - colours).sum(axis=-1) < self.colour_limit

    def candidates(self, words: np.ndarray, colour: np.ndarray) -> np.ndarray:
        """Positions of the stored clips one query (words (5 K,), colour (2,)) is compared with, ascending."""
        if self.heads is None:
            return np.arange(self.size)
        position = self._stored_pairs(frame_keys(words[None]))[1]
        return position[self._near_in_colour(position, colour)]

    def nearest(self, words: np.ndarray, colour: np.ndarray) -> tuple[int, float] | None:
        """(position, distance) of the nearest stored clip compared with the query, the earliest on a
        tie; None when there is none."""
        if self.heads is None:  # every stored clip, read in place
            if not self.size:
                return None
            found = distances(self.words[: self.size], self.colours[: self.size], words, colour)
            best = int(np.argmin(found))  # argmin takes the first minimum: the earliest clip
            return best, float(found[best])
        positions = self.candidates(words, colour)
        if not len(positions):
            return None
        found = distances(self.words[positions], self.colours[positions], words, colour)
        best = int(np.argmin(found))
        return int(positions[best]), float(found[best])

    def judge(self, words: np.ndarray, colours: np.ndarray, duplicate) -> tuple[np.ndarray, np.ndarray]:
        """Queries (words (B, 5 K), colours (B, 2)) judged in order, each against the stored clips and
        the queries before it that were kept, as if one at a time; `duplicate(distances)` says which
        nearest distances make a duplicate. The kept queries are added. Returns each query's nearest
        clip compared (position, -1 when none) and its distance (NaN when none); a duplicate is a
        query whose distance `duplicate` accepts."""
        count = len(words)
        nearest = np.full(count, -1, np.int64)
        distance = np.full(count, np.nan)
        if self.heads is None or count == 1:  # exhaustive: O(stored) a query anyway; batches add nothing
            for i in range(count):
                found = self.nearest(words[i], colours[i])
                if found is not None:
                    nearest[i], distance[i] = found
                if found is None or not duplicate(found[1]):
                    self.add(words[i : i + 1], colours[i : i + 1])
            return nearest, distance
        keys = frame_keys(words)
        query, position = self._stored_pairs(keys)
        near = self._near_in_colour(position, colours[query])
        query, position = query[near], position[near]
        found = distances(self.words[position], self.colours[position], words[query], colours[query])
        order = np.lexsort((position, found, query))  # per query: nearest first, earliest on a tie
        first = order[np.r_[True, query[order][1:] != query[order][:-1]]]
        nearest[query[first]], distance[query[first]] = position[first], found[first]
        best = np.where(np.isnan(distance), np.inf, distance)
        rejected = np.asarray(duplicate(best), bool)
        earlier, later = _shared_key_pairs(keys)  # pairs within the batch: earlier < later
        near = COLOUR_WEIGHT * np.abs(colours[earlier] - colours[later]).sum(axis=-1) < self.colour_limit
        earlier, later = earlier[near], later[near]
        if len(earlier):
            inner = distances(words[earlier], colours[earlier], words[later], colours[later])
            source = np.full(count, -1)  # the earlier query a query's nearest is, -1: a stored clip
            for i, j, d in zip(earlier.tolist(), later.tolist(), inner.tolist()):  # sorted by later, then earlier
                if not rejected[i] and d < best[j]:  # a stored clip, or a smaller i, wins a tie
                    best[j], source[j] = d, i
                    rejected[j] = bool(duplicate(d))
            base = self.size + np.cumsum(~rejected) - 1  # where each kept query lands
            picked = source >= 0
            nearest[picked], distance[picked] = base[source[picked]], best[picked]
        self.add(words[~rejected], colours[~rejected])
        return nearest, distance


def _shared_key_pairs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(earlier, later) query indices sharing a group key (at any positions), once per pair, sorted by
    later then earlier."""
    query = np.repeat(np.arange(len(keys)), keys.shape[1])[keys.ravel() >= 0]
    flat = keys.ravel()[keys.ravel() >= 0]
    order = np.argsort(flat, kind="stable")
    key, query = flat[order], query[order]
    same = np.flatnonzero(key[1:] == key[:-1])
    found = []
    if len(same):
        for run in np.split(same, np.flatnonzero(np.diff(same) > 1) + 1):  # rare: runs of equal keys
            members = np.unique(query[run[0] : run[-1] + 2])
            found += [(int(b), int(a)) for n, a in enumerate(members) for b in members[n + 1 :]]
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    later, earlier = np.unique(np.asarray(found, np.int64), axis=0).T
    return earlier, later


class ClipKeys:
    """clip_key of every indexed clip, as one byte buffer and offsets (a list of str costs ~3x more)."""

    def __init__(self):
        self.buffer = bytearray()
        self.ends: list[int] = []

    def append(self, key: str) -> None:
        self.buffer += key.encode("utf-8")
        self.ends.append(len(self.buffer))

    def __getitem__(self, position: int) -> str:
        start = self.ends[position - 1] if position else 0
        return self.buffer[start : self.ends[position]].decode("utf-8")


@dataclass
class Verdict:
    duplicate_of: str | None
    distance: float | None


class Deduplicator:
    """The driver's judge: a kept clip is compared with the clips kept before it (and those of the
    runs in `against`); a duplicate is rejected, anything else joins the index."""

    def __init__(self, settings: DuplicateFilter):
        self.settings = settings
        self.rule = rule_for("duplicate")
        self.index = SignatureIndex(settings.frames, settings.exhaustive_up_to, colour_limit=settings.min_distance)
        self.keys = ClipKeys()

    def remember(self, kept: Iterable[tuple[str, bytes]], chunk: int = 10_000) -> int:
        """Index (clip_key, signature) of clips already kept, in order: an earlier run's, or those an
        interrupted attempt committed. Returns how many."""
        count, kept = 0, iter(kept)
        while batch := list(itertools.islice(kept, chunk)):
            words, colours = unpack_signatures([signature for _, signature in batch], self.settings.frames)
            self.index.add(words, colours)
            for key, _ in batch:
                self.keys.append(key)
            count += len(batch)
        return count

    def duplicate(self, distances):
        return self.rule.beyond(distances, self.settings.min_distance)

    def judge_many(self, clips: list[tuple[str, bytes]]) -> list[Verdict]:
        """(clip_key, signature) of kept clips in input order, judged as one at a time would judge
        them; those not duplicates join the index."""
        words, colours = unpack_signatures([signature for _, signature in clips], self.settings.frames)
        nearest, distance = self.index.judge(words, colours, self.duplicate)
        verdicts = []
        for (key, _), position, d in zip(clips, nearest.tolist(), distance.tolist()):
            duplicate = position >= 0 and bool(self.duplicate(d))
            verdicts.append(Verdict(self.keys[position] if duplicate else None, None if position < 0 else d))
            if not duplicate:
                self.keys.append(key)
        return verdicts

    def judge(self, clip: ClipRecord) -> None:
        """A kept clip about to be written: rejected as a duplicate, or remembered as kept."""
        signature = clip.score("signature")
        if clip.status != "kept" or signature is None:
            return
        verdict = self.judge_many([(clip.clip_key, signature)])[0]
        clip.duplicate_distance = None if verdict.distance is None else round(verdict.distance, 4)
        if verdict.duplicate_of is not None:
            clip.duplicate_of = verdict.duplicate_of
            clip.reject(self.rule.reason)


def kept_signatures(clips: Iterable[ClipRecord]) -> Iterable[tuple[str, bytes]]:
    """(clip_key, signature) of the kept clips that have a signature, in order."""
    return ((c.clip_key, c.score("signature")) for c in clips if c.status == "kept" and c.score("signature") is not None)


def kept_signatures_of_run(output: str) -> Iterable[tuple[str, bytes]]:
    """(clip_key, signature) of a finished run's kept clips, in its order (one row group at a time)."""
    import pyarrow.parquet as pq

    target = locate(output) / "clips.parquet"
    if not target.is_file():
        raise InputError(f"--dedup-against {output}: no clips.parquet there (not a finished vcurate run)")
    with target.open_input() as f:
        parquet = pq.ParquetFile(f)
        if "signature" not in parquet.schema_arrow.names:
            raise InputError(f"--dedup-against {output}: its clips.parquet holds no signatures (run without "
                             "filters.duplicate, or by an older vcurate)")
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group, columns=["clip_key", "status", "signature"])
            for key, status, signature in zip(*(table.column(n).to_pylist() for n in ("clip_key", "status", "signature"))):
                if status == "kept" and signature is not None:
                    yield key, signature


def open_deduplicator(cfg: PipelineConfig, ledger: Ledger) -> Deduplicator | None:
    """The job's deduplicator (None when the filter is off), holding the kept clips of the runs in
    `filters.duplicate.against`, then those this job's earlier attempts committed, in order."""
    settings = cfg.filters.duplicate
    if not settings.enabled:
        return None
    dedup = Deduplicator(settings)
    for output in settings.against:
        dedup.remember(kept_signatures_of_run(output))
    for part in ledger.parts():
        dedup.remember(kept_signatures(part.clips))
    return dedup
