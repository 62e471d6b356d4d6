"""Where and how every benchmark leaves its figures: results/<name>-<date>-<host>.{json,md}."""

from __future__ import annotations

import json
import platform
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def stamp() -> dict:
    """The fields that say when and where a figure was measured."""
    return {"date": date.today().isoformat(), "host": platform.node()}


def save(name: str, summary: dict, markdown: list[str]) -> Path:
    """Write the JSON summary and the Markdown table side by side, and print the table."""
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"{name}-{summary['date']}-{summary['host']}"
    stem.with_name(stem.name + ".json").write_text(json.dumps(summary, indent=2) + "\n")
    stem.with_name(stem.name + ".md").write_text("\n".join(markdown) + "\n")
    print("\n".join(markdown))
    return stem
