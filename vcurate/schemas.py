"""JSON schemas of configs, manifests and shard samples, generated from the models that the code uses.
The checked-in copies in schemas/ are compared with these by the test suite."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from vcurate.config import PipelineConfig
from vcurate.records import ClipRecord, RunInfo, ShardSample, VideoRecord
from vcurate.synth.truth import TruthVideo
from vcurate.train.config import TrainConfig

SCHEMAS: dict[str, type[BaseModel]] = {
    "pipeline.schema.json": PipelineConfig,
    "clips.schema.json": ClipRecord,
    "videos.schema.json": VideoRecord,
    "shard_sample.schema.json": ShardSample,
    "run.schema.json": RunInfo,
    "ground_truth.schema.json": TruthVideo,
    "train.schema.json": TrainConfig,
}


def schema_text(name: str) -> str:
    schema = SCHEMAS[name].model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = folder / name
        path.write_text(schema_text(name), encoding="utf-8")
        written.append(path)
    return written
