"""Near-duplicates: signatures of re-encoded, resized, cropped and brightened copies stay close, other
shots (the same place with other action included) stay apart; the index answers as exhaustive search
does; the driver keeps the first copy in input order, across a kill and resume and against an earlier run."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction

import cv2
import numpy as np
import pandas as pd
import pytest

from tests.conftest import tiny_config
from tests.test_resume import _parts, config_file, killed_run
from vcurate.analyze.signature import ABSENT, WORDS_PER_FRAME, SignatureAnalyzer
from vcurate.config import DuplicateFilter, PipelineConfig
from vcurate.dedup import KEY_COEFFICIENTS, Deduplicator, SignatureIndex, distances, group_keys, present, stored_keys
from vcurate.analyze import StreamFacts
from vcurate.job import run_job
from vcurate.media.encode import write_mp4
from vcurate.media.frames import decode_pass
from vcurate.records import ClipRecord
from vcurate.synth.archive import make_archive, tiny_spec
from vcurate.synth.copies import CopyEdit

SIZE = (320, 180)
MIN_DISTANCE = DuplicateFilter().min_distance


def place(seed: int, size=SIZE) -> np.ndarray:
    """A still RGB background with layout at every scale: smooth colour fields, blocks, fine grain."""
    rng = np.random.default_rng(seed)
    w, h = size
    fields = [cv2.resize(rng.random((4, 6)).astype(np.float32), size, interpolation=cv2.INTER_CUBIC) for _ in range(3)]
    image = np.dstack(fields) * 200 + 20
    for _ in range(8):
        x, y = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 30))
        image[y : y + int(rng.integers(10, 30)), x : x + int(rng.integers(10, 40))] = rng.integers(0, 255, 3)
    return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def shot(background: np.ndarray, direction: tuple[int, int], frames: int = 40, start=(0.3, 0.5)):
    """The background with a person-sized dark figure walking across it in `direction`."""
    h, w = background.shape[:2]
    for i in range(frames):
        frame = background.copy()
        x = int(w * start[0] + direction[0] * i * w * 0.012)
        y = int(h * start[1] + direction[1] * i * h * 0.012)
        cv2.rectangle(frame, (x - 12, y - 30), (x + 12, y + 30), (30, 20, 25), -1)
        yield frame


def signature_of(path, cfg: PipelineConfig = PipelineConfig()) -> bytes:
    facts = StreamFacts(25.0, *SIZE, 0)
    analyzer = SignatureAnalyzer.build(cfg, facts)
    decoded = decode_pass(path, [analyzer], cfg.analysis.short_side, fps_hint=25.0)
    return analyzer.clip_columns(0, decoded.num_frames)["signature"]


def distance(a: bytes, b: bytes) -> float:
    dedup = Deduplicator(DuplicateFilter())
    dedup.remember([("a", a)])
    return dedup.judge_many([("b", b)])[0].distance


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Originals, their copies (each edit alone and all together), other places, the same place with
    other action; as written videos."""
    folder = tmp_path_factory.mktemp("shots")
    videos = {}

    def write(name, frames, size=SIZE, crf=18):
        write_mp4(folder / f"{name}.mp4", frames, size, Fraction(25), crf)
        videos[name] = signature_of(folder / f"{name}.mp4")

    rng = np.random.default_rng(0)
    for k in range(3):
        background = place(k)
        longer = list(shot(background, (1, 0), frames=60, start=(0.2 + 0.1 * k, 0.4 + 0.1 * k)))
        original = longer[:40]
        write(f"original{k}", iter(original))
        # the same frames cut elsewhere (a re-upload trimmed otherwise, a scene split a few frames off)
        write(f"shifted{k}", iter(longer[9:49]), crf=28)
        write(f"trimmed{k}", iter(longer[10:40]), crf=28)
        edits = {
            "reencoded": CopyEdit(SIZE, (0, 0, 0, 0), 1.0),
            "resized": CopyEdit((256, 144), (0, 0, 0, 0), 1.0),
            "cropped": CopyEdit(SIZE, (0.05, 0.0, 0.0, 0.05), 1.0),
            "brighter": CopyEdit(SIZE, (0, 0, 0, 0), 1.1),
            "darker": CopyEdit(SIZE, (0, 0, 0, 0), 0.9),
            "all": CopyEdit.draw(rng, (480, 270), 0.05, (0.9, 1.1)),
        }
        for name, edit in edits.items():
            write(f"{name}{k}", (edit.apply(f) for f in original), edit.size, crf=34 if name != "resized" else 28)
        write(f"other_action{k}", shot(background, (0, -1), start=(0.7, 0.8)))
    return videos


@pytest.mark.parametrize("edit", ["reencoded", "resized", "cropped", "brighter", "darker", "all", "shifted", "trimmed"])
def test_copies_stay_within_the_threshold(shots, edit):
    for k in range(3):
        assert distance(shots[f"original{k}"], shots[f"{edit}{k}"]) < MIN_DISTANCE


def test_other_places_and_other_action_stay_apart(shots):
    for k in range(3):
        for j in range(3):
            if j != k:
                assert distance(shots[f"original{k}"], shots[f"original{j}"]) > MIN_DISTANCE
        # same background, a figure walking up instead of right: layout alike, motion not
        assert distance(shots[f"original{k}"], shots[f"other_action{k}"]) > MIN_DISTANCE


def _popcount_distance(a_words, a_colour, b_words, b_colour) -> float:
    """The distance as vcurate.dedup documents it, written out with Python integers: the least over the
    group offsets where >= 2/3 of the shorter clip's groups overlap, of the largest part."""
    frames = len(a_words) // WORDS_PER_FRAME
    a = [[int(w) for w in a_words[k * WORDS_PER_FRAME : (k + 1) * WORDS_PER_FRAME]] for k in range(frames)]
    b = [[int(w) for w in b_words[k * WORDS_PER_FRAME : (k + 1) * WORDS_PER_FRAME]] for k in range(frames)]
    a_has, b_has = [not g[0] & 1 for g in a], [not g[0] & 1 for g in b]
    need = max(1, math.ceil(2 / 3 * min(sum(a_has), sum(b_has)) - 1e-9))
    colour = 3.0 * sum(abs(int(p) - int(q)) for p, q in zip(a_colour, b_colour))
    best = math.inf
    for shift in range(1 - frames, frames):
        pairs = [(k, k + shift) for k in range(frames) if 0 <= k + shift < frames and a_has[k] and b_has[k + shift]]
        if len(pairs) < need:
            continue
        moving = [(i, j) for i, j in pairs if i + 1 < frames and j + 1 < frames and a_has[i + 1] and b_has[j + 1]]
        count = lambda word, which: sum(bin(a[i][word] ^ b[j][word]).count("1") for i, j in which)  # noqa: E731
        layout = (count(0, pairs) + count(1, pairs)) * 64 / (126 * len(pairs))
        motion = (count(2, moving) + count(3, moving)) * 64 / (128 * max(1, len(moving)))
        best = min(best, max(layout, motion, 2.0 * count(4, pairs) / len(pairs), colour))
    return best


def _random_signatures(rng, n, frames=4):
    """Random trits and texture bits; a fifth of the clips short, their last groups absent."""
    words = rng.integers(0, 2**63, (n, WORDS_PER_FRAME * frames), dtype=np.uint64)
    for w in range(0, words.shape[1], WORDS_PER_FRAME):  # a trit is never + and - at once
        words[:, w + 1] &= ~words[:, w]
        words[:, w + 3] &= ~words[:, w + 2]
        words[:, w] &= ~np.uint64(1)
        words[:, w + 1] &= ~np.uint64(1)
    for i in np.flatnonzero(rng.random(n) < 0.2):
        used = int(rng.integers(1, frames))
        words[i, used * WORDS_PER_FRAME :] = 0
        words[i, used * WORDS_PER_FRAME :: WORDS_PER_FRAME] = ABSENT
    return words, rng.integers(100, 156, (n, 2)).astype(np.int16)


def _near_copy(rng, words, colour, flips: int):
    """A signature `flips` random bits (never a key bit) and a colour level away."""
    copy = words.copy()
    for _ in range(flips):
        w = int(rng.integers(len(copy)))
        copy[w] ^= np.uint64(1) << np.uint64(int(rng.integers(KEY_COEFFICIENTS + 1 if w % WORDS_PER_FRAME < 2 else 0, 64)))
    return copy, colour + np.array([1, 0], np.int16)


def test_distances_match_their_definition():
    rng = np.random.default_rng(1)
    words, colours = _random_signatures(rng, 50)
    got = distances(words, colours, words[0], colours[0])
    assert got[0] == 0
    for i in range(50):
        assert got[i] == pytest.approx(_popcount_distance(words[0], colours[0], words[i], colours[i]))


@pytest.mark.parametrize("exhaustive_up_to", [10_000, 100])
def test_index_answers_as_exhaustive_search(exhaustive_up_to):
    """Exhaustive up to its limit, then hashed: each query gets the nearest of the clips a brute-force
    scan finds among those it must compare (all of them, or those sharing a frame key), earliest on a tie."""
    rng = np.random.default_rng(2)
    words, colours = _random_signatures(rng, 600)
    index = SignatureIndex(frames=4, exhaustive_up_to=exhaustive_up_to)
    index.add(words, colours)
    assert index.hashed == (600 > exhaustive_up_to)
    keys = stored_keys(words)
    queries = [(*_near_copy(rng, words[i], colours[i], 30), i) for i in rng.integers(0, 600, 40)]
    queries += [(*_random_signatures(rng, 1), None) for _ in range(10)]
    for query_words, query_colour, planted in queries:
        query_words, query_colour = query_words.reshape(-1), query_colour.reshape(-1)
        if index.hashed:
            query_keys = group_keys(query_words[None])[0]
            shared = np.isin(keys, query_keys[query_keys >= 0]) & (keys >= 0)
            shared = shared.any(axis=1)  # one table for every group position: a stored key of any group
            compared = np.flatnonzero(shared)
        else:
            compared = np.arange(600)
        expected = None
        for i in compared:
            d = _popcount_distance(query_words, query_colour, words[i], colours[i])
            if expected is None or d < expected[1]:
                expected = (int(i), d)
        found = index.nearest(query_words, query_colour)
        assert (found is None) == (expected is None)
        if found is not None:
            assert found[0] == expected[0] and found[1] == pytest.approx(expected[1])
        if planted is not None:  # a copy whose key bits survived is found in both modes
            assert found[0] == planted


def _clip(key: str, signature: bytes, status="kept") -> ClipRecord:
    return ClipRecord(video="v.mp4", clip_key=key, scene_index=0, start_frame=0, end_frame=1, start_s=0, end_s=1,
                      fps=25, width=1, height=1, status=status, signature=signature)


def test_first_in_order_is_kept_and_a_copy_of_a_copy_names_the_original(shots):
    dedup = Deduplicator(DuplicateFilter())
    clips = [_clip("a", shots["original0"]), _clip("b", shots["cropped0"]), _clip("c", shots["original1"]),
             _clip("d", shots["all0"]), _clip("e", shots["other_action0"]), _clip("f", shots["resized1"], "rejected")]
    for clip in clips:
        dedup.judge(clip)
    assert [c.status for c in clips] == ["kept", "rejected", "kept", "rejected", "kept", "rejected"]
    assert clips[1].reasons == ["duplicate"] and clips[1].duplicate_of == "a"
    assert clips[3].duplicate_of == "a"  # the rejected copy b joined no index
    assert clips[0].duplicate_distance is None and clips[4].duplicate_distance > MIN_DISTANCE
    assert clips[5].duplicate_distance is None and clips[5].reasons == []  # rejected before: never compared


@pytest.fixture(scope="module")
def copied_archive(tmp_path_factory):
    """A tiny archive whose last videos re-upload clean shots of the first ones, and reshoot others."""
    root = tmp_path_factory.mktemp("copied")
    spec = replace(tiny_spec(), duplicate_videos=0.3, hard_negative_videos=0.2, p_shake=0.0, p_blur=0.0,
                   p_lowres_video=0.0, p_uncaptioned=0.0)
    truth = make_archive(root, videos=7, seed=4, spec=spec)
    return root, truth


def test_archive_copies_are_edits_of_their_originals(copied_archive):
    """Each labelled copy is its original's frames cropped, scaled and brightened as its truth says,
    within re-encoding error; the original carries no label; reshoots are clean and move otherwise."""
    import av

    root, truth = copied_archive
    videos = {v.video: v for v in truth}

    def frames(video, shot):
        with av.open(str(root / "raw" / video.video)) as c:
            decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        return decoded[shot.start_frame : shot.end_frame]

    copies = [(v, s) for v in truth for s in v.shots if s.copy_of]
    negatives = [(v, s) for v in truth for s in v.shots if s.negative_of]
    assert copies and negatives
    for video, copy in copies:
        name, index = copy.copy_of.rsplit("#", 1)
        original_video = videos[name]
        original = original_video.shots[int(index)]
        assert copy.defects == ["duplicate"] and original.defects == [] and video.video.startswith("reuploads/")
        edit = CopyEdit.from_description(copy.fault)
        assert sum(edit.crop[::2]) <= 0.05 and sum(edit.crop[1::2]) <= 0.05 and 0.9 <= edit.gain <= 1.1
        mine, theirs = frames(video, copy), frames(original_video, original)
        assert len(mine) == len(theirs)
        uncropped = CopyEdit(edit.size, (0, 0, 0, 0), edit.gain)
        for i in (0, len(mine) // 2, len(mine) - 1):  # what is left is the two encodings' error

            def error(e: CopyEdit) -> float:
                return float(np.abs(mine[i].astype(float) - e.apply(theirs[i]).astype(float)).mean())

            assert error(edit) < 10  # fine stroke patterns resample worst
            if max(edit.crop) > 0.01:
                assert error(edit) < error(uncropped)
    for video, negative in negatives:
        name, index = negative.negative_of.rsplit("#", 1)
        base = videos[name].shots[int(index)]
        assert negative.defects == [] and (negative.background, negative.colour, negative.shape) == (
            base.background, base.colour, base.shape) and negative.direction != base.direction


@pytest.mark.slow
def test_copies_rejected_against_an_earlier_run(copied_archive, tmp_path):
    """Curate the originals, then the re-uploads alone against that run: every copy is rejected and
    names the original's clip; a run of the re-uploads without it keeps them."""
    import shutil

    root, truth = copied_archive
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(root / "raw", first / "raw", ignore=shutil.ignore_patterns("reuploads", "reshoots"))
    shutil.copytree(root / "raw" / "reuploads", second / "raw" / "reuploads")
    earlier = tmp_path / "earlier-out"
    run_job(tiny_config(first, earlier, align={"enabled": False}), engine="local", progress=False)
    kept = pd.read_parquet(earlier / "clips.parquet")
    kept_keys = set(kept.clip_key[kept.status == "kept"])

    cfg = tiny_config(second, tmp_path / "against-out", align={"enabled": False})
    cfg.filters.duplicate.against = [str(earlier)]
    run_job(cfg, engine="local", progress=False)
    clips = pd.read_parquet(tmp_path / "against-out" / "clips.parquet")
    judged = clips[clips.reasons.map(lambda r: "duplicate" in r or len(r) == 0)]
    assert len(judged) and (judged.status == "rejected").all()
    assert set(judged.duplicate_of) <= kept_keys

    alone = tiny_config(second, tmp_path / "alone-out", align={"enabled": False})
    run_job(alone, engine="local", progress=False)
    assert not pd.read_parquet(tmp_path / "alone-out" / "clips.parquet").reasons.map(lambda r: "duplicate" in r).any()


@pytest.mark.slow
def test_kill_and_resume_decides_as_an_uninterrupted_run(copied_archive, tmp_path):
    """Killed after a few commits (one kept clip per shard), then resumed: the re-uploads, all after
    the kill, are judged against the originals the first attempt committed, as in one run."""
    root, _ = copied_archive
    reference = tmp_path / "reference"
    cfg = tiny_config(root, reference, align={"enabled": False})
    cfg.shards.max_samples = 1
    run_job(cfg, engine="local", progress=False)
    expected = pd.read_parquet(reference / "clips.parquet")
    assert (expected.reasons.map(lambda r: "duplicate" in r)).sum() >= 2

    out = tmp_path / "out"
    config = config_file(tmp_path, root, out)
    cmd = [sys.executable, "-m", "vcurate", "run", str(config), "--engine", "local", "--quiet",
           "--set", "align.enabled=false", "--set", "shards.max_samples=1"]
    killed_run(cmd, out, lambda o: len(_parts(o)) >= 3)
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "resumed:" in done.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(out / "clips.parquet"), expected)


def test_a_batch_judges_as_one_clip_at_a_time():
    """Hashed batches (the benchmark's path) decide as the driver's one-at-a-time calls do, copies of
    clips earlier in the same batch and copies of rejected copies included."""
    rng = np.random.default_rng(3)
    words, colours = _random_signatures(rng, 300)
    stream = list(zip(words, colours))
    for _ in range(200):  # near copies (key bits kept) of anything earlier, inserted later in the stream
        i = int(rng.integers(len(stream)))
        copy = _near_copy(rng, *stream[i], int(rng.integers(5, 200)))  # some too far to count
        stream.insert(int(rng.integers(i + 1, len(stream) + 1)), copy)
    all_words = np.stack([w for w, _ in stream])
    all_colours = np.stack([c for _, c in stream])
    duplicate = lambda d: np.less(d, MIN_DISTANCE)  # noqa: E731

    one, batched = (SignatureIndex(4, exhaustive_up_to=60, colour_limit=MIN_DISTANCE) for _ in range(2))
    expected = [one.judge(all_words[i : i + 1], all_colours[i : i + 1], duplicate) for i in range(len(stream))]
    got = [batched.judge(all_words[i : i + 64], all_colours[i : i + 64], duplicate) for i in range(0, len(stream), 64)]
    np.testing.assert_array_equal(np.concatenate([n for n, _ in got]), np.concatenate([n for n, _ in expected]))
    np.testing.assert_array_equal(np.concatenate([d for _, d in got]), np.concatenate([d for _, d in expected]))
    rejected = duplicate(np.nan_to_num(np.concatenate([d for _, d in expected]), nan=np.inf))
    assert 50 < rejected.sum() < 200 and one.size == batched.size == len(stream) - rejected.sum()
    np.testing.assert_array_equal(one.words[: one.size], batched.words[: batched.size])


def _indexed(words, colours, exhaustive_up_to=0, chunk=None) -> SignatureIndex:
    index = SignatureIndex(4, exhaustive_up_to=exhaustive_up_to, colour_limit=MIN_DISTANCE)
    for first in range(0, len(words), chunk or len(words)):
        index.add(words[first : first + (chunk or len(words))], colours[first : first + (chunk or len(words))])
    return index


def test_index_holds_few_bytes_a_clip_and_the_words_in_its_store():
    """The index's memory grows with the clips it holds, under 64 bytes a clip (chains, bucket heads
    sized to the keys, colours; the table of a fixed 2^24 heads alone was 64 MiB); the code words are
    in the store, as given."""
    rng = np.random.default_rng(5)
    words, colours = _random_signatures(rng, 20_000)
    index = _indexed(words, colours)
    assert index.hashed and index.nbytes / index.size <= 64
    np.testing.assert_array_equal(index.words, words)
    np.testing.assert_array_equal(index.store.colours, colours)


def test_compared_clips_do_not_depend_on_the_table_size(monkeypatch):
    """A query is compared with the clips storing one of its keys and nothing else, however many
    bucket mates a small table gives it: runs that index the same clips decide alike."""
    import vcurate.dedup as dedup

    rng = np.random.default_rng(6)
    words, colours = _random_signatures(rng, 3000)
    queries = [_near_copy(rng, words[i], colours[i], 30) for i in rng.integers(0, 3000, 30)]
    normal = _indexed(words, colours)
    monkeypatch.setattr(dedup, "table_bits", lambda entries: 6)  # 64 buckets: hundreds of mates each (a dozen
    # with a matching fingerprint, well under MAX_KEY_MATES)
    crowded = _indexed(words, colours)
    assert crowded.bits == 6 and normal.bits > 8
    for query_words, query_colour in queries:
        np.testing.assert_array_equal(crowded.candidates(query_words, query_colour), normal.candidates(query_words, query_colour))


def test_table_is_the_same_however_the_clips_came():
    """One at a time, in chunks (a resumed job's rebuild) or at once: the same table and chains."""
    rng = np.random.default_rng(7)
    words, colours = _random_signatures(rng, 5000)
    at_once, chunked, single = _indexed(words, colours), _indexed(words, colours, chunk=700), _indexed(words[:1500], colours[:1500], chunk=1)
    np.testing.assert_array_equal(at_once.heads, chunked.heads)
    np.testing.assert_array_equal(at_once.next[: at_once.size], chunked.next[: chunked.size])
    first = _indexed(words[:1500], colours[:1500])
    np.testing.assert_array_equal(single.heads, first.heads)
    np.testing.assert_array_equal(single.next[:1500], first.next[:1500])


def test_a_batch_names_an_original_of_the_same_batch(shots):
    """Clip keys live on disk: a duplicate names the kept clip it duplicates, indexed before the batch
    or earlier in it."""
    dedup = Deduplicator(DuplicateFilter())
    dedup.remember([(f"old{i}", shots[f"other_action{i}"]) for i in range(3)])
    verdicts = dedup.judge_many([("a", shots["original0"]), ("b", shots["cropped0"]), ("c", shots["brighter1"]),
                                 ("d", shots["original1"])])
    assert [v.duplicate_of for v in verdicts] == [None, "a", None, "c"]
    assert dedup.judge_many([("e", shots["resized0"]), ("f", shots["other_action2"])])[0].duplicate_of == "a"
    assert [dedup.keys[i] for i in range(dedup.keys.size)] == ["old0", "old1", "old2", "a", "c"]


def test_stored_keys_are_the_middle_groups():
    from vcurate.dedup import STORED_GROUPS, stored_groups

    rng = np.random.default_rng(8)
    words, _ = _random_signatures(rng, 50, frames=STORED_GROUPS + 4)
    groups = stored_groups(words)
    have = present(words)
    for row, chosen in zip(have, groups):
        expected = np.flatnonzero(row)
        skip = max(0, len(expected) - STORED_GROUPS) // 2
        expected = expected[skip : skip + STORED_GROUPS]
        assert chosen[: len(expected)].tolist() == expected.tolist() and (chosen[len(expected) :] == -1).all()


def test_false_duplicates_counted_apart_for_fault_free_shots():
    """A clip of a blurred shot no filter caught, rejected as a duplicate of another shot, is a false
    duplicate, but not one of a fault-free shot (it is rejected either way)."""
    from vcurate.synth.eval import duplicate_metrics
    from vcurate.synth.truth import TruthShot, TruthVideo

    def shot(start, defects=(), copy_of=None):
        return TruthShot(start_frame=start, end_frame=start + 50, true_caption="x", attached_caption="x",
                         defects=list(defects), camera="static", copy_of=copy_of)

    truth = {"a.mp4": TruthVideo(video="a.mp4", fps=25, num_frames=200, width=64, height=64, caption_source="txt",
                                 shots=[shot(0), shot(50, ["duplicate"], "a.mp4#0"), shot(100), shot(150, ["blur"])])}
    rows = [("a.mp4", 0, "kept", [], None), ("a.mp4", 50, "rejected", ["duplicate"], 5.0),
            ("a.mp4", 100, "kept", [], 40.0), ("a.mp4", 150, "rejected", ["duplicate"], 19.0)]
    clips = pd.DataFrame([{"video": v, "start_frame": s, "end_frame": s + 50, "status": st, "reasons": r,
                           "duplicate_distance": d} for v, s, st, r, d in rows])
    metrics = duplicate_metrics(clips, truth)
    assert metrics["exactly_one_kept"] == 1
    assert (metrics["false_duplicates"]["duplicate"], metrics["false_duplicates"]["clips"]) == (1, 2)
    assert (metrics["false_duplicates_fault_free"]["duplicate"], metrics["false_duplicates_fault_free"]["clips"]) == (0, 1)


def test_links_widen_when_entry_numbers_outgrow_them(monkeypatch):
    """Past 2^27 stored keys (16.7 M clips) links become 64-bit; the clips compared stay the same
    (here with links of 8 bits for the entry number, so a few hundred clips outgrow them)."""
    import vcurate.dedup as dedup

    rng = np.random.default_rng(9)
    words, colours = _random_signatures(rng, 2000)
    queries = [_near_copy(rng, words[i], colours[i], 30) for i in rng.integers(0, 2000, 30)]
    normal = _indexed(words, colours, chunk=500)
    expected = [normal.candidates(query_words, query_colour) for query_words, query_colour in queries]
    monkeypatch.setattr(dedup, "FINGERPRINT_BITS", 24)
    wide = _indexed(words, colours, chunk=500)
    assert normal.next.dtype == np.uint32 and wide.next.dtype == np.uint64
    assert sum(len(e) for e in expected) >= len(queries)  # each finds its original at least
    for (query_words, query_colour), candidates in zip(queries, expected):
        np.testing.assert_array_equal(wide.candidates(query_words, query_colour), candidates)


def test_a_popular_key_is_followed_to_its_newest_holders_only():
    """A key every clip stores (a blank picture's, say) is no evidence: a probe follows MAX_KEY_MATES
    of its links, newest first, so a query sharing only that key is compared with the newest holders."""
    import vcurate.dedup as dedup

    rng = np.random.default_rng(9)
    n = 500
    words, colours = _random_signatures(rng, n)
    words[:, 0::WORDS_PER_FRAME] = words[:, 0::WORDS_PER_FRAME] & ~np.uint64((1 << 17) - 2) | np.uint64(0b1010 << 1)
    words[:, 1::WORDS_PER_FRAME] &= ~np.uint64((1 << 17) - 2)  # every present group: the same key
    words[:, 0::WORDS_PER_FRAME] &= ~np.uint64(ABSENT)  # all groups present: 4 stored keys a clip
    colours[:] = colours[0]
    index = _indexed(words, colours)
    stored = dedup.stored_keys(words)
    assert (stored >= 0).sum(axis=1).min() == 4 and len(np.unique(stored[stored >= 0])) == 1
    newest = np.arange(n - dedup.MAX_KEY_MATES // 4, n)
    np.testing.assert_array_equal(index.candidates(words[0], colours[0]), newest)
