"""Near-duplicate clips, removed on the driver as kept clips stream in input order, exactly once.

The driver sees every clip row in input order (Ray Data with preserve_order, or the local engine), so
a clip is compared with the clips kept before it and nothing else: the first copy in input order is
kept, the later ones are rejected `duplicate` with `duplicate_of` naming it, on a laptop and on a
cluster alike. An interrupted job rebuilds the index from its committed parts before it goes on, so
it decides as an uninterrupted one would; `filters.duplicate.against` (`--dedup-against`) loads the
kept clips of earlier runs first, so a new batch of an archive is judged against what is curated.
Where CLIP runs, `filters.semantic_duplicate` (off by default) also compares the kept clips' CLIP
embeddings by cosine (EmbeddingIndex, exact), the same way and in the same pass (DuplicateJudges).

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

The index keeps each kept clip's code words (5 K uint64) in a memory-mapped temporary file
(SignatureStore: read only to verify a candidate, so the OS pages them in and out) and, in memory,
its colour (2 bytes) and, beyond `exhaustive_up_to` clips, its entries in one chained hash table:
a chain pointer for each of the keys it stores (the trits of the 16 lowest-frequency layout
coefficients of each of its middle STORED_GROUPS groups, 32 bits) and the table's bucket heads, whose
number doubles with the stored keys (BUCKET_LOAD of them a bucket at most). ~44-50 bytes a clip in all
(benchmarks/dedup_scale.py); the clips' keys (clip_key) are in temporary files too. Up to
`exhaustive_up_to` clips a query is compared with every one of them (numpy, vectorised: exact).
Beyond, it is compared only with the clips within the threshold in colour (colour alone puts the
others beyond it) that store one of its groups' keys (at any position: a copy's group k may be its
original's group k + 1), checked against the stored words, so bucket mates never count and the
clips compared do not depend on the table's size; a probe follows only the newest MAX_KEY_MATES links
whose fingerprint matches its key's (a key that popular is no evidence of duplication, and the
query's other keys still probe), so only a probe that reaches that cap can reach a little further in
a larger table. That is multi-index hashing on the stablest part
of the code: copies that differ in every group's lowest coefficients are missed
(benchmarks/dedup_scale.py measures the recall against exhaustive search). The table's size is a
function of the number of keys stored, and both searches depend only on the clips inserted and
their order, so any run that inserts the same clips in the same order (local or Ray, one at a time
or resumed from committed parts) decides the same.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from vcurate.analyze.signature import ABSENT, WORDS_PER_FRAME, unpack_signatures
from vcurate.config import DuplicateFilter, PipelineConfig, SemanticDuplicateFilter
from vcurate.errors import InputError
from vcurate.ledger import Ledger
from vcurate.records import ClipRecord
from vcurate.rules import rule_for
from vcurate.stages.align import unpack_embeddings
from vcurate.storage import locate

LAYOUT_BITS, MOTION_BITS = 126, 128  # code bits per frame: 63 AC trits, 64 trits
TEXTURE_WEIGHT = 2.0  # copies of real footage differ in <= 6 of 64 texture bits, other shots in 8 or more
COLOUR_WEIGHT = 3.0  # distance per level of mean Cr or Cb: copies differ by <= 3.2 levels; palettes 70 degrees of
# hue apart at low saturation by about 8
KEY_COEFFICIENTS = 16  # layout trits a group key holds (zigzag 1..16), as 32 bits
STORED_GROUPS = 8  # keys the index stores a clip: its middle 8 groups' (a query probes all of its groups')
BUCKET_LOAD = 4  # stored keys a bucket of the hash table, on average at most (the table doubles beyond)
MIN_TABLE_BITS = 12
FINGERPRINT_BITS = 5  # of a key's second hash, beside each link: 31 in 32 bucket mates passed over without reading
# their colour (a cache miss each); entry numbers keep 27 bits (16.7 M clips of 8 keys), 59 beyond
MAX_KEY_MATES = 64  # links a probe follows whose fingerprint matches, newest first: a key held by more clips
# than that (uneven trits make some keys popular) says little about duplication, and its older holders are left
# to the query's other groups' keys; a function of the clips inserted and their order, so runs decide alike
MIN_OVERLAP = 2 / 3  # of the shorter clip's groups that must overlap at an offset the distance considers

if hasattr(np, "bitwise_count"):
    popcount = np.bitwise_count
else:  # numpy < 2
    _BYTE_COUNTS = np.array([bin(i).count("1") for i in range(256)], np.uint8)

    def popcount(words: np.ndarray) -> np.ndarray:
        return _BYTE_COUNTS[words.view(np.uint8)].reshape(*words.shape, 8).sum(axis=-1, dtype=np.uint8)


def present(words: np.ndarray) -> np.ndarray:
    """(..., K) bool: which of the K described groups a signature has (ABSENT marks the others)."""
    per_frame = words.reshape(*words.shape[:-1], words.shape[-1] // WORDS_PER_FRAME, WORDS_PER_FRAME)
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


def group_keys(words: np.ndarray) -> np.ndarray:
    """(n, K) int64 key of each group: its KEY_COEFFICIENTS lowest layout trits as 32 bits (the "+"
    bits, then the "-" bits); -1 for a group the clip has not."""
    frames = words.shape[1] // WORDS_PER_FRAME
    per_frame = words.reshape(len(words), frames, WORDS_PER_FRAME)
    mask = np.uint64((1 << KEY_COEFFICIENTS) - 1)
    key = ((per_frame[..., 0] >> np.uint64(1)) & mask) | (((per_frame[..., 1] >> np.uint64(1)) & mask) << np.uint64(KEY_COEFFICIENTS))
    key = key.view(np.int64)  # < 2^32: the same value
    key[(per_frame[..., 0] & ABSENT) != 0] = -1
    return key


def stored_groups(words: np.ndarray) -> np.ndarray:
    """(n, STORED_GROUPS) int64: the groups whose keys the index stores for each clip, the middle
    STORED_GROUPS of those it has (a copy cut elsewhere shares its middle with its original), -1 in
    the slots of a clip with fewer."""
    have = present(words)
    if have.shape[1] >= STORED_GROUPS and have.all():  # the rule for clips long enough for every group: the same slots for each
        first = (have.shape[1] - STORED_GROUPS) // 2
        return np.broadcast_to(np.arange(first, first + STORED_GROUPS), (len(words), STORED_GROUPS))
    rank = np.cumsum(have, axis=1) - 1
    first = (have.sum(axis=1, keepdims=True) - STORED_GROUPS).clip(0) // 2
    slot = rank - first
    chosen = have & (slot >= 0) & (slot < STORED_GROUPS)
    groups = np.full((len(words), STORED_GROUPS), -1, np.int64)
    row, group = np.nonzero(chosen)
    groups[row, slot[row, group]] = group
    return groups


def stored_keys(words: np.ndarray) -> np.ndarray:
    """(n, STORED_GROUPS) int64 keys the index stores for each clip (group_keys of stored_groups), -1 none."""
    groups = stored_groups(words)
    if groups.strides[0] == 0 and len(words):  # every group present: a slice of columns
        chosen = words.reshape(len(words), -1, WORDS_PER_FRAME)[:, groups[0, 0] : groups[0, -1] + 1]
        return group_keys(chosen.reshape(len(words), -1))
    keys = np.take_along_axis(group_keys(words), groups.clip(0), axis=1)
    return np.where(groups >= 0, keys, -1)


def bucket_of(keys: np.ndarray, bits: int) -> np.ndarray:
    """Bucket of each key (int64 >= 0) in a table of 2^bits: Fibonacci hashing (the top bits of key x
    2^64 / golden ratio), so keys that differ in a few low trits spread."""
    return ((keys.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits)).view(np.int64)


def fingerprint(keys: np.ndarray) -> np.ndarray:
    """(n,) uint64 FINGERPRINT_BITS of a second hash of each key, kept in the table's links."""
    return (keys.view(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)) >> np.uint64(64 - FINGERPRINT_BITS)


def table_bits(entries: int) -> int:
    """Bits of the hash table that holds `entries` keys: the fewest with at most BUCKET_LOAD a bucket
    on average (at least MIN_TABLE_BITS). A function of the count alone, so any run that has indexed
    the same clips has the same table, however it grew."""
    return max(MIN_TABLE_BITS, int(np.ceil(np.log2(max(1.0, entries / BUCKET_LOAD)))))


GROWTH = 1.25  # capacity of the index's arrays when full, x: at most a fifth of them spare


def _grown(array: np.ndarray, used: int, needed: int, fill) -> np.ndarray:
    """`array` with room for `needed` rows (GROWTH x its capacity or more), its first `used` rows kept."""
    if needed <= len(array):
        return array
    grown = np.full((max(needed, int(len(array) * GROWTH), 1024), *array.shape[1:]), fill, array.dtype)
    grown[:used] = array[:used]
    return grown


class SignatureStore:
    """The code words of the indexed clips in a memory-mapped temporary file (the OS keeps the pages
    read recently in its cache and may drop them: the index reads a clip's words only to verify a
    candidate), and their colours in memory (the colour check comes first and rules out most)."""

    def __init__(self, width: int, directory: str | None = None):
        self.width, self.size = width, 0
        # in TMPDIR unless told (8 x 5 K bytes a clip on disk: 3.2 GB for 10 M clips of K = 8)
        self.file = tempfile.TemporaryFile(dir=directory, prefix="vcurate-signatures-")
        self.map = np.zeros((0, width), np.uint64)
        self.colour_codes = np.zeros(0, np.uint16)  # Cr << 8 | Cb: one gather a colour check

    @property
    def words(self) -> np.ndarray:
        return self.map[: self.size]

    @property
    def colours(self) -> np.ndarray:
        return self.colours_at(slice(0, self.size))

    def colours_at(self, positions) -> np.ndarray:
        """(n, 2) int16 colours (Cr, Cb) of the clips at `positions`."""
        codes = self.colour_codes[positions].astype(np.int32)
        return np.stack([codes >> 8, codes & 255], axis=-1).astype(np.int16)

    def colour_distance(self, positions: np.ndarray, colours: np.ndarray) -> np.ndarray:
        """|dCr| + |dCb| of the clips at `positions` to `colours` ((2,) or one a position)."""
        codes = self.colour_codes[positions].astype(np.int32)
        return np.abs((codes >> 8) - colours[..., 0]) + np.abs((codes & 255) - colours[..., 1])

    @property
    def file_bytes(self) -> int:
        return self.size * self.width * 8

    def append(self, words: np.ndarray, colours: np.ndarray) -> None:
        first, last = self.size, self.size + len(words)
        if last > len(self.map):
            capacity = max(last, int(len(self.map) * GROWTH), 1024)
            self.file.truncate(capacity * self.width * 8)  # a sparse file: no disk or memory until written
            self.map = np.memmap(self.file, np.uint64, "r+", shape=(capacity, self.width))
        self.colour_codes = _grown(self.colour_codes, first, last, 0)
        self.map[first:last] = words
        self.colour_codes[first:last] = colours[:, 0].astype(np.uint16) << 8 | colours[:, 1].astype(np.uint16)
        self.size = last


class SignatureIndex:
    """The signatures of kept clips, in insertion order, and the search for the nearest earlier one.

    Memory a clip: its colour (2 bytes) and, once hashed, a chain pointer for each of its
    STORED_GROUPS stored keys (4 bytes each: 32) and its share of the bucket heads (4 bytes each, 2 to
    4 keys a bucket: 8-16), 42-50 bytes, with up to a fifth more as spare capacity. The code words
    (8 x 5 K bytes a clip) are in the SignatureStore's file."""

    def __init__(self, frames: int, exhaustive_up_to: int, colour_limit: float = np.inf, directory: str | None = None):
        # hashed search compares only clips within `colour_limit` in colour (the threshold: the colour
        # part alone puts any other clip beyond it), so chance key collisions cost no distance
        self.frames, self.exhaustive_up_to, self.colour_limit = frames, exhaustive_up_to, colour_limit
        self.store = SignatureStore(WORDS_PER_FRAME * frames, directory)
        # one table for the stored keys of every group position (a copy's group k may be its original's
        # group k + 1): entry = position * STORED_GROUPS + slot; the newest entry of each bucket, and
        # each entry's next older one in its bucket
        # a link: the entry's number in the low bits, FINGERPRINT_BITS of its key's second hash above
        # (bucket mates whose fingerprint differs are passed over unread); _end() at a chain's end
        self.heads: np.ndarray | None = None  # (2^bits,) links; None: exhaustive
        self.next = np.zeros((0, STORED_GROUPS), np.uint32)  # uint64 beyond 2^27 entries
        self.entries = 0  # stored keys linked

    @property
    def size(self) -> int:
        return self.store.size

    @property
    def words(self) -> np.ndarray:
        return self.store.words

    @property
    def hashed(self) -> bool:
        return self.heads is not None

    @property
    def nbytes(self) -> int:
        """Memory the index holds (arrays as allocated, spare capacity included; not the store's file)."""
        return self.store.colour_codes.nbytes + self.next.nbytes + (0 if self.heads is None else self.heads.nbytes)

    def _id_bits(self) -> int:
        return 8 * self.next.itemsize - FINGERPRINT_BITS

    def _end(self) -> int:
        return (1 << self._id_bits()) - 1

    def _link(self, first: int, last: int) -> None:
        """Put the stored keys of clips [first, last) into the table, in order: each bucket's chain
        runs from its newest entry to its oldest."""
        keys = stored_keys(np.asarray(self.store.words[first:last])).ravel()
        links = np.arange(first * STORED_GROUPS, last * STORED_GROUPS, dtype=np.uint64)
        links |= fingerprint(keys) << np.uint64(self._id_bits())
        live = keys >= 0
        # sorted by bucket, then entry: one sort of (bucket, entry) packed in a word (np.sort is SIMD, argsort is not)
        shift = np.uint64(64 - self.bits)
        packed = np.sort(bucket_of(keys[live], self.bits).view(np.uint64) << shift | np.flatnonzero(live).view(np.uint64))
        key, offset = (packed >> shift).view(np.int64), (packed & ((np.uint64(1) << shift) - np.uint64(1))).view(np.int64)
        link = links[offset].astype(self.next.dtype)
        opens = np.r_[True, key[1:] != key[:-1]]  # first of its bucket in this batch
        closes = np.r_[key[1:] != key[:-1], True]
        chain = self.next.reshape(-1)
        chain[offset + first * STORED_GROUPS] = np.where(opens, self.heads[key], np.r_[link[:1], link[:-1]])
        self.heads[key[closes]] = link[closes]

    def _rebuild(self, entries: int) -> None:
        """A table sized for `entries` keys, holding every stored clip's (read from the store in chunks)."""
        self.bits = table_bits(entries)
        self.heads = np.full(1 << self.bits, self._end(), self.next.dtype)
        for first in range(0, self.size, 1 << 20):
            self._link(first, min(self.size, first + (1 << 20)))

    def add(self, words: np.ndarray, colours: np.ndarray) -> None:
        """Append signatures (words (n, 5 K), colours (n, 2)) of clips kept, in order."""
        first = self.size
        self.store.append(words, colours)
        widen = self.next.dtype == np.uint32 and STORED_GROUPS * self.size >= (1 << (32 - FINGERPRINT_BITS)) - 1
        if widen:  # entry numbers no longer fit 27 bits: 64-bit links (8 bytes a stored key), all relinked
            self.next = self.next.astype(np.uint64)
        self.next = _grown(self.next, first, self.size, 0)
        self.entries += int((stored_keys(words) >= 0).sum())
        if self.heads is None and self.size <= self.exhaustive_up_to:
            return
        if self.heads is None or widen or table_bits(self.entries) != self.bits:
            self._rebuild(self.entries)
        else:
            self._link(first, self.size)

    def _stored_pairs(self, keys: np.ndarray, colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query, position) of every stored clip within the colour limit of a query that stores one
        of the query's group keys (keys (B, K)), once per pair, by query then position: exactly those,
        whatever the table's size (bucket mates are told apart by the keys in their stored words),
        except that a probe stops after MAX_KEY_MATES links whose fingerprint matches."""
        live = keys.ravel() >= 0
        query = np.repeat(np.arange(len(keys)), keys.shape[1])[live]
        probe = keys.ravel()[live]
        link = self.heads[bucket_of(probe, self.bits)]
        mark = fingerprint(probe).astype(self.next.dtype)
        chain = self.next.reshape(-1)
        id_bits, end = self.next.dtype.type(self._id_bits()), self.next.dtype.type(self._end())
        found_query, found_probe, found_entry = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        mates = np.zeros(len(link), np.int32)  # fingerprint matches each probe has followed
        while len(link):
            entry = link & end
            alive = (entry != end) & (mates < MAX_KEY_MATES)
            query, probe, mark, link, entry, mates = query[alive], probe[alive], mark[alive], link[alive], entry[alive], mates[alive]
            same = (link >> id_bits) == mark
            found_query.append(query[same])
            found_probe.append(probe[same])
            found_entry.append(entry[same].astype(np.int64))
            mates += same
            link = chain[entry]
        query, probe, entry = (np.concatenate(found) for found in (found_query, found_probe, found_entry))
        position = entry // STORED_GROUPS
        near = self._near_in_colour(position, colours[query])
        query, probe, entry, position = query[near], probe[near], entry[near], position[near]
        stored = stored_keys(np.asarray(self.store.map[position]))[np.arange(len(entry)), entry % STORED_GROUPS]
        same = stored == probe
        pairs = np.unique(query[same] << 32 | position[same])
        return pairs >> 32, pairs & 0xFFFFFFFF

    def _near_in_colour(self, position: np.ndarray, colours: np.ndarray) -> np.ndarray:
        """Which stored clips (positions) are within the colour limit of the query colours (one, or one a row)."""
        return COLOUR_WEIGHT * self.store.colour_distance(position, colours) < self.colour_limit

    def candidates(self, words: np.ndarray, colour: np.ndarray) -> np.ndarray:
        """Positions of the stored clips one query (words (5 K,), colour (2,)) is compared with, ascending."""
        if self.heads is None:
            return np.arange(self.size)
        return self._stored_pairs(group_keys(words[None]), np.asarray(colour)[None])[1]

    def nearest(self, words: np.ndarray, colour: np.ndarray) -> tuple[int, float] | None:
        """(position, distance) of the nearest stored clip compared with the query, the earliest on a
        tie; None when there is none."""
        if self.heads is None:  # every stored clip
            if not self.size:
                return None
            found = distances(np.asarray(self.store.words), self.store.colours, words, colour)
            best = int(np.argmin(found))  # argmin takes the first minimum: the earliest clip
            return best, float(found[best])
        positions = self.candidates(words, colour)
        if not len(positions):
            return None
        found = distances(np.asarray(self.store.map[positions]), self.store.colours_at(positions), words, colour)
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
        keys = group_keys(words)
        query, position = self._stored_pairs(keys, colours)
        found = distances(np.asarray(self.store.map[position]), self.store.colours_at(position), words[query], colours[query])
        order = np.lexsort((position, found, query))  # per query: nearest first, earliest on a tie
        first = order[np.r_[True, query[order][1:] != query[order][:-1]]]
        nearest[query[first]], distance[query[first]] = position[first], found[first]
        best = np.where(np.isnan(distance), np.inf, distance)
        rejected = np.asarray(duplicate(best), bool)
        earlier, later = _batch_pairs(stored_keys(words), keys)
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


def _batch_pairs(stored: np.ndarray, probed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(earlier, later) query indices of a batch where the later one probes a key the earlier one
    stores (stored (B, STORED_GROUPS), probed (B, K) keys, -1 none), once per pair, sorted by later
    then earlier."""
    live = stored.ravel() >= 0
    owner = np.repeat(np.arange(len(stored)), stored.shape[1])[live]
    key = stored.ravel()[live]
    order = np.argsort(key, kind="stable")
    key, owner = key[order], owner[order]
    live = probed.ravel() >= 0
    prober = np.repeat(np.arange(len(probed)), probed.shape[1])[live]
    probe = probed.ravel()[live]
    order = np.argsort(probe)  # sorted needles: searchsorted walks the keys once instead of jumping
    probe, prober = probe[order], prober[order]
    low, high = np.searchsorted(key, probe, "left"), np.searchsorted(key, probe, "right")
    hits = high - low
    later = np.repeat(prober, hits)
    earlier = owner[np.repeat(low - np.cumsum(hits) + hits, hits) + np.arange(hits.sum())]
    pairs = np.unique(later[earlier < later] << 32 | earlier[earlier < later])
    return pairs & 0xFFFFFFFF, pairs >> 32


class ClipKeys:
    """clip_key of every indexed clip, kept in two temporary files (the UTF-8 bytes one after another,
    and each key's end offset, 8 bytes a clip) and read back only for the duplicates: no memory a clip."""

    def __init__(self, directory: str | None = None):
        self.text = tempfile.TemporaryFile(dir=directory, prefix="vcurate-clip-keys-")
        self.ends = tempfile.TemporaryFile(dir=directory, prefix="vcurate-clip-key-ends-")
        self.size, self.length = 0, 0

    def extend(self, keys: list[str]) -> None:
        encoded = [key.encode("utf-8") for key in keys]
        ends = self.length + np.cumsum([len(e) for e in encoded], dtype=np.int64)
        os.pwrite(self.text.fileno(), b"".join(encoded), self.length)
        os.pwrite(self.ends.fileno(), ends.astype("<i8").tobytes(), 8 * self.size)
        self.size += len(keys)
        self.length = int(ends[-1]) if len(keys) else self.length

    def __getitem__(self, position: int) -> str:
        start, end = (np.frombuffer(os.pread(self.ends.fileno(), 16, 8 * (position - 1)), "<i8") if position
                      else (0, int.from_bytes(os.pread(self.ends.fileno(), 8, 0), "little")))
        return os.pread(self.text.fileno(), int(end) - int(start), int(start)).decode("utf-8")


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
            self.keys.extend([key for key, _ in batch])
            count += len(batch)
        return count

    def duplicate(self, distances):
        return self.rule.beyond(distances, self.settings.min_distance)

    def judge_many(self, clips: list[tuple[str, bytes]]) -> list[Verdict]:
        """(clip_key, signature) of kept clips in input order, judged as one at a time would judge
        them; those not duplicates join the index."""
        words, colours = unpack_signatures([signature for _, signature in clips], self.settings.frames)
        nearest, distance = self.index.judge(words, colours, self.duplicate)
        verdicts, kept = [], []
        for (key, _), position, d in zip(clips, nearest.tolist(), distance.tolist()):
            duplicate = position >= 0 and bool(self.duplicate(d))
            # a duplicate's nearest is a clip indexed before this batch, or a kept one of it (in `kept`)
            name = (self.keys[position] if position < self.keys.size else kept[position - self.keys.size]) if duplicate else None
            verdicts.append(Verdict(name, None if position < 0 else d))
            if not duplicate:
                kept.append(key)
        self.keys.extend(kept)
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


class EmbeddingIndex:
    """Kept clips' unit CLIP embeddings as float16 rows (grown in place, 2 bytes a dimension: 1 KiB a
    clip of ViT-B-32), searched exactly by cosine with numpy a block of rows at a time, so a query never
    copies the index to float32 whole."""

    BLOCK = 65_536

    def __init__(self):
        self._rows = np.zeros((0, 0), np.float16)
        self.size = 0

    def add(self, embeddings: np.ndarray) -> None:
        if self.size == 0 and self._rows.shape[1] != embeddings.shape[1]:
            self._rows = np.zeros((0, embeddings.shape[1]), np.float16)
        if embeddings.shape[1] != self._rows.shape[1]:
            raise InputError(f"CLIP embeddings of {embeddings.shape[1]} dimensions cannot be compared with the "
                             f"{self._rows.shape[1]} of the clips kept before (another align.model?)")
        self._rows = _grown(self._rows, self.size, self.size + len(embeddings), 0)
        self._rows[self.size : self.size + len(embeddings)] = embeddings
        self.size += len(embeddings)

    def nearest(self, query: np.ndarray) -> tuple[int, float] | None:
        """(position, cosine) of the stored embedding most like the unit vector `query`; None when empty."""
        best, position = -np.inf, -1
        for start in range(0, self.size, self.BLOCK):
            sims = self._rows[start : min(self.size, start + self.BLOCK)].astype(np.float32) @ query
            i = int(np.argmax(sims))
            if sims[i] > best:
                best, position = float(sims[i]), start + i
        return None if position < 0 else (position, best)


class SemanticDeduplicator:
    """Semantic duplicates: a kept clip whose CLIP embedding is closer than the threshold to an earlier
    kept clip's. Asked before the signature judge, told after it which clips stayed kept (`add`), so
    its index holds exactly the kept clips, as the signature index does."""

    def __init__(self, settings: SemanticDuplicateFilter):
        self.settings = settings
        self.rule = rule_for("semantic_duplicate")
        self.index, self.keys = EmbeddingIndex(), ClipKeys()

    def remember(self, kept: Iterable[tuple[str, bytes]], chunk: int = 10_000) -> int:
        """Index (clip_key, clip_embedding) of clips already kept, in order; returns how many."""
        count, kept = 0, iter(kept)
        while batch := list(itertools.islice(kept, chunk)):
            self.index.add(unpack_embeddings([embedding for _, embedding in batch]))
            self.keys.extend([key for key, _ in batch])
            count += len(batch)
        return count

    def check(self, clip: ClipRecord) -> None:
        """A kept clip with an embedding: its similarity to the nearest kept clip, rejected above the threshold."""
        if clip.status != "kept" or clip.clip_embedding is None:
            return
        found = self.index.nearest(unpack_embeddings([clip.clip_embedding])[0])
        if found is None:
            return
        position, similarity = found
        clip.semantic_similarity = round(similarity, 4)
        if self.rule.beyond(similarity, self.settings.max_similarity):
            clip.duplicate_of = self.keys[position]
            clip.reject(self.rule.reason)

    def add(self, clip: ClipRecord) -> None:
        if clip.status == "kept" and clip.clip_embedding is not None:
            self.remember([(clip.clip_key, clip.clip_embedding)])


class DuplicateJudges:
    """The streamed rules (vcurate.rules, streamed=True) as a kept clip meets them on the driver: the
    semantic judge asks first and the signature judge decides next, so a clip joins both indexes only
    when both kept it."""

    def __init__(self, signature: Deduplicator | None, semantic: SemanticDeduplicator | None):
        self.signature, self.semantic = signature, semantic

    def remember(self, clips: Iterable[ClipRecord]) -> None:
        """Clips already judged (an earlier attempt's committed parts), in order."""
        clips = list(clips)
        if self.signature is not None:
            self.signature.remember(kept_values(clips, "signature"))
        if self.semantic is not None:
            self.semantic.remember(kept_values(clips, "clip_embedding"))

    def judge(self, clip: ClipRecord) -> None:
        if self.semantic is not None:
            self.semantic.check(clip)
        if self.signature is not None:
            self.signature.judge(clip)
        if self.semantic is not None:
            self.semantic.add(clip)


def kept_values(clips: Iterable[ClipRecord], column: str) -> Iterable[tuple[str, bytes]]:
    """(clip_key, value of `column`) of the kept clips that have one, in order."""
    return ((c.clip_key, c.score(column)) for c in clips if c.status == "kept" and c.score(column) is not None)


def kept_values_of_run(output: str, column: str, missing: str) -> Iterable[tuple[str, bytes]]:
    """(clip_key, value of `column`) of a finished run's kept clips, in its order (one row group at a
    time); `missing` says why a run may lack the column."""
    import pyarrow.parquet as pq

    target = locate(output) / "clips.parquet"
    if not target.is_file():
        raise InputError(f"--dedup-against {output}: no clips.parquet there (not a finished vcurate run)")
    with target.open_input() as f:
        parquet = pq.ParquetFile(f)
        if column not in parquet.schema_arrow.names:
            raise InputError(f"--dedup-against {output}: its clips.parquet holds no {column} ({missing})")
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group, columns=["clip_key", "status", column])
            for key, status, value in zip(*(table.column(n).to_pylist() for n in ("clip_key", "status", column))):
                if status == "kept" and value is not None:
                    yield key, value


def open_deduplicator(cfg: PipelineConfig, ledger: Ledger) -> DuplicateJudges | None:
    """The job's duplicate judges (None when both filters are off), holding the kept clips of the runs in
    `filters.duplicate.against`, then those this job's earlier attempts committed, in order."""
    filters = cfg.filters
    signature = Deduplicator(filters.duplicate) if filters.duplicate.enabled else None
    semantic = SemanticDeduplicator(filters.semantic_duplicate) if filters.semantic_duplicate.enabled else None
    if signature is None and semantic is None:
        return None
    for output in filters.duplicate.against:
        if signature is not None:
            signature.remember(kept_values_of_run(output, "signature", "run without filters.duplicate, or by an older vcurate"))
        if semantic is not None:
            semantic.remember(kept_values_of_run(output, "clip_embedding", "run without filters.semantic_duplicate"))
    judges = DuplicateJudges(signature, semantic)
    for part in ledger.parts():
        judges.remember(part.clips)
    return judges
