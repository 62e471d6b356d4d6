"""clips.parquet / videos.parquet: records to Arrow with a schema derived from the record models, so a
column's type never depends on which values happened to occur (an all-null score is still float)."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Literal, get_args, get_origin

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

_SCALARS = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_()}


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
    fields = []
    for name, info in model.model_fields.items():
        arrow, nullable = _arrow_type(info.annotation)
        fields.append(pa.field(name, arrow, nullable=nullable))
    return pa.schema(fields)


def write_records(path: str | Path, records: list[BaseModel], model: type[BaseModel]) -> None:
    """Atomic parquet write: readers see the old file or the new one, never half of one."""
    path = Path(path)
    schema = arrow_schema(model)
    rows = [r.model_dump(mode="json") for r in records]
    table = pa.Table.from_pylist(rows, schema=schema)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def read_records(path: str | Path, model: type[BaseModel]) -> list[BaseModel]:
    return [model.model_validate(row) for row in pq.read_table(path).to_pylist()]
