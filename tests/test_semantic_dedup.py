"""Semantic duplicates (filters.semantic_duplicate, off by default): a kept clip whose CLIP embedding is
alike an earlier kept clip's is rejected naming it; the index holds only clips both duplicate judges
kept; a resumed judge decides as one that saw every clip; the job fills the columns end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import tiny_config
from vcurate.config import ConfigError, PipelineConfig, SemanticDuplicateFilter, load_config, with_settings
from vcurate.dedup import DuplicateJudges, EmbeddingIndex, SemanticDeduplicator
from vcurate.job import run_job
from vcurate.records import ClipRecord, Reason
from vcurate.stages.align import pack_embedding, unpack_embeddings


def clip(key: str, embedding: np.ndarray | None) -> ClipRecord:
    return ClipRecord(video="v.mp4", clip_key=key, scene_index=0, start_frame=0, end_frame=10, start_s=0.0,
                      end_s=1.0, fps=10.0, width=64, height=64,
                      clip_embedding=None if embedding is None else pack_embedding(embedding))


def embeddings(n: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """n random directions: in 64 dimensions any two are far below 0.95 alike."""
    return np.random.default_rng(seed).normal(size=(n, dim))


def test_embeddings_pack_as_unit_float16():
    e = embeddings(1)[0] * 7.0
    packed = pack_embedding(e)
    assert len(packed) == 2 * 64
    np.testing.assert_allclose(unpack_embeddings([packed])[0], e / np.linalg.norm(e), atol=1e-3)


def test_a_clip_like_an_earlier_kept_one_is_rejected_naming_it():
    base = embeddings(3)
    judge = DuplicateJudges(None, SemanticDeduplicator(SemanticDuplicateFilter(enabled=True, max_similarity=0.95)))
    near = base[0] + 0.1 * np.random.default_rng(1).normal(size=64)  # cosine ~0.99 to base[0]
    clips = [clip("a", base[0]), clip("b", base[1]), clip("c", near), clip("d", base[2]), clip("e", None)]
    for c in clips:
        judge.judge(c)
    assert [c.status for c in clips] == ["kept", "kept", "rejected", "kept", "kept"]
    assert clips[2].reasons == ["semantic_duplicate"] and clips[2].duplicate_of == "a"
    assert clips[2].semantic_similarity > 0.95
    assert clips[0].semantic_similarity is None  # nothing kept before it
    assert clips[1].semantic_similarity < 0.95 and clips[4].semantic_similarity is None  # no embedding: not judged


class RejectsNamed:
    """A signature judge that rejects the clips it is told to (the order of the judges is under test)."""

    def __init__(self, keys: set[str]):
        self.keys = keys

    def judge(self, record: ClipRecord) -> None:
        if record.status == "kept" and record.clip_key in self.keys:
            record.duplicate_of = "elsewhere"
            record.reject(Reason("duplicate"))


def test_a_clip_the_signature_judge_rejects_never_joins_the_semantic_index():
    base = embeddings(1)[0]
    semantic = SemanticDeduplicator(SemanticDuplicateFilter(enabled=True, max_similarity=0.95))
    judge = DuplicateJudges(RejectsNamed({"a"}), semantic)
    first, second = clip("a", base), clip("b", base)
    judge.judge(first)
    judge.judge(second)
    assert first.reasons == ["duplicate"] and second.status == "kept"  # "a" was no kept clip to duplicate
    assert semantic.index.size == 1


def test_a_resumed_judge_decides_as_one_that_saw_every_clip():
    rng = np.random.default_rng(4)
    base = embeddings(6, seed=2)
    stream = [base[i % 6] + (0.05 if i >= 6 else 0.0) * rng.normal(size=64) for i in range(12)]
    settings = SemanticDuplicateFilter(enabled=True, max_similarity=0.95)

    whole = [clip(f"k{i}", e) for i, e in enumerate(stream)]
    one = DuplicateJudges(None, SemanticDeduplicator(settings))
    for c in whole:
        one.judge(c)
    assert sum(c.status == "rejected" for c in whole) == 6

    again = [clip(f"k{i}", e) for i, e in enumerate(stream)]
    first = DuplicateJudges(None, SemanticDeduplicator(settings))
    for c in again[:7]:
        first.judge(c)
    resumed = DuplicateJudges(None, SemanticDeduplicator(settings))
    resumed.remember(again[:7])  # what the killed attempt committed
    for c in again[7:]:
        resumed.judge(c)
    assert [(c.status, c.duplicate_of) for c in again] == [(c.status, c.duplicate_of) for c in whole]


def test_embeddings_of_another_model_are_refused():
    index = EmbeddingIndex()
    index.add(np.ones((2, 64), np.float32) / 8)
    with pytest.raises(Exception, match="another align.model"):
        index.add(np.ones((1, 32), np.float32))


def test_semantic_duplicates_need_clip():
    with pytest.raises(ValueError, match="needs align.enabled"):
        PipelineConfig.model_validate({"filters": {"semantic_duplicate": {"enabled": True}}, "align": {"enabled": False}})
    with pytest.raises(ConfigError, match="needs align.enabled"):
        with_settings(load_config("pipelines/default.yaml"), [("filters.semantic_duplicate.enabled", True),
                                                              ("align.enabled", False)], "pipeline config")


@pytest.mark.slow
def test_job_fills_embeddings_and_rejects_semantic_duplicates(tiny_archive, tmp_path):
    """At max_similarity -1 every kept clip after the first duplicates an earlier one (the first): the
    columns are filled, the reasons and duplicate_of follow, and the shards hold only the first clip."""
    root, _ = tiny_archive
    cfg = tiny_config(root, tmp_path / "out", filters={"semantic_duplicate": {"enabled": True, "max_similarity": -1.0},
                                                         "duplicate": {"enabled": False}})
    summary = run_job(cfg, engine="local", progress=False)
    clips = pd.read_parquet(tmp_path / "out" / "clips.parquet")
    scored = clips[clips.clip_embedding.notna()]
    assert len(scored) >= 2 and (scored.clip_embedding.map(len) == 2 * 64).all()
    kept = clips[clips.status == "kept"]
    assert len(kept) == 1 and summary.kept == 1
    duplicates = clips[clips.reasons.map(lambda r: list(r) == ["semantic_duplicate"])]
    assert len(duplicates) >= 1 and (duplicates.duplicate_of == kept.clip_key.iloc[0]).all()
    assert duplicates.semantic_similarity.notna().all()
