"""clips.parquet / videos.parquet: records to Arrow with a schema derived from the record models, so a
column's type never depends on which values happened to occur (an all-null score is still float)."""

from __future__ import annotations

import types
import typing
from typing import Literal, get_args, get_origin

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from vcurate.records import ClipRecord
from vcurate.storage import AllOrNothing, Location

_SCALARS = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_(), bytes: pa.binary()}


def _arrow_type(annotation) -> tuple[pa.DataType, bool]:
    """(arrow type, nullable) of a pydantic field annotation."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _arrow_type(inner[0])[0], True
    if origin is Literal:
        return _SCALARS[type(args[0])], False
    if origin is list:
        return pa.list_(_arrow_type(args[0])[0]), False
    if annotation in _SCALARS:
        return _SCALARS[annotation], False
    if isinstance(annotation, type) and issubclass(annotation, str):
        return pa.string(), False
    raise TypeError(f"no arrow type for {annotation!r}")


def arrow_schema(model: type[BaseModel]) -> pa.Schema:
    """The model's fields, then the nullable columns it declares beyond them (`extra_columns`: the
    clip analyzers')."""
    fields = []
    for name, info in model.model_fields.items():
        arrow, nullable = _arrow_type(info.annotation)
        fields.append(pa.field(name, arrow, nullable=nullable))
    extra = getattr(model, "extra_columns", dict)()
    fields += [pa.field(name, _SCALARS[kind], nullable=True) for name, kind in extra.items()]
    return pa.schema(fields)


def shard_sample_schema() -> pa.Schema:
    """Arrow types of a shard sample as a columnar reader loads it: the KEY.mp4 bytes, the caption, and
    the KEY.json clip row as a struct (bytes fields as the base64 text the JSON holds). Readers that
    infer types from the first samples (Hugging Face datasets) fail on a score that is null there and
    a number later; given these types (`datasets.Features.from_arrow_schema`) they read every shard."""
    clip = [pa.field(f.name, pa.string() if f.type == pa.binary() else f.type) for f in arrow_schema(ClipRecord)]
    return pa.schema([pa.field("__key__", pa.string()), pa.field("__url__", pa.string()), pa.field("mp4", pa.binary()),
                      pa.field("txt", pa.string()), pa.field("json", pa.struct(clip))])


class RecordWriter(AllOrNothing):
    """clips.parquet / videos.parquet written a batch of records at a time (one row group per batch),
    so a manifest of millions of rows never sits in memory; the file appears only when closed."""

    def __init__(self, target: Location, model: type[BaseModel]):
        self.schema = arrow_schema(model)
        self._out = target.open_output()
        self._writer = pq.ParquetWriter(self._out.stream, self.schema)
        self.rows = 0

    def write(self, records: list[BaseModel]) -> None:
        rows = [r.model_dump() for r in records]
        self._writer.write_table(pa.Table.from_pylist(rows, schema=self.schema))
        self.rows += len(rows)

    def close(self) -> None:
        if self.rows == 0:  # an empty manifest still has the schema
            self._writer.write_table(self.schema.empty_table())
        self._writer.close()
        self._out.close()

    def abort(self) -> None:
        self._out.abort()
