"""Shared fixtures: one tiny synthetic archive and one pipeline run over it, made once per session."""

from __future__ import annotations

import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never download weights; a stray hub call fails at once

from vcurate.config import PipelineConfig
from vcurate.job import run_job
from vcurate.synth.archive import make_archive, tiny_spec


def tiny_config(archive, out, **sections) -> PipelineConfig:
    cfg = PipelineConfig.model_validate(sections)
    cfg.input.path = str(archive / "raw")
    cfg.output.path = str(out)
    cfg.encode.max_short_side = 128
    cfg.filters.resolution.min_short_side = 120  # the tiny archive's normal videos are 180p; its small ones 90p
    cfg.align.model, cfg.align.pretrained = "vcurate-tiny", None  # random weights: plumbing only, no download
    cfg.align.min_score = -1.0  # random scores must not reject: the shard tests need kept clips
    return cfg


@pytest.fixture(scope="session")
def tiny_archive(tmp_path_factory):
    """Five small videos, one per caption source (txt, json, manifest, srt, vtt), every fault possible."""
    root = tmp_path_factory.mktemp("archive")
    truth = make_archive(root, videos=5, seed=3, spec=tiny_spec())
    return root, truth


@pytest.fixture(scope="session")
def curated(tiny_archive, tmp_path_factory):
    """The tiny archive curated in-process (engine=local): same stages as on Ray, no cluster start-up."""
    root, truth = tiny_archive
    out = tmp_path_factory.mktemp("out")
    summary = run_job(tiny_config(root, out), engine="local", progress=False)
    return out, summary, truth
