"""Checked-in JSON schemas equal the ones generated from the code, and real outputs validate."""

import base64
import json
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

from vcurate.schemas import SCHEMAS, schema_text

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_checked_in_schema_has_not_drifted(name):
    checked_in = (ROOT / "schemas" / name).read_text()
    assert checked_in == schema_text(name), f"schemas/{name} is stale: run `vcurate schemas`"


def _validate(name, instance):
    jsonschema.validate(instance, json.loads(schema_text(name)))


def test_manifests_and_truth_validate(curated, tiny_archive):
    out, _, _ = curated
    root, _ = tiny_archive
    for table, schema in (("clips.parquet", "clips.schema.json"), ("videos.parquet", "videos.schema.json")):
        for row in pd.read_parquet(out / table).to_dict("records"):
            row = {k: base64.urlsafe_b64encode(v).decode() if isinstance(v, bytes) else v for k, v in row.items()}
            row = json.loads(pd.Series(row).to_json())  # numpy types and arrays to plain JSON (bytes as in JSON rows)
            _validate(schema, row)
    for line in (root / "ground_truth.jsonl").read_text().splitlines():
        _validate("ground_truth.schema.json", json.loads(line))
    run = json.loads((out / "run.json").read_text())
    _validate("run.schema.json", run)
    _validate("pipeline.schema.json", run["config"])


def test_schema_rejects_unknown_reason():
    row = {"video": "v", "clip_key": "k", "scene_index": 0, "start_frame": 0, "end_frame": 1, "start_s": 0,
           "end_s": 1, "fps": 1, "width": 1, "height": 1, "reasons": ["sunburn"]}
    with pytest.raises(jsonschema.ValidationError):
        _validate("clips.schema.json", row)
