"""`--set KEY.PATH=VALUE` from a command line, read without importing the config models: the command
line is parsed before a job starts its analysis process, which should not wait on pydantic."""

from __future__ import annotations

import yaml

from vcurate.errors import ConfigError


def parse_setting(text: str) -> tuple[str, object]:
    """`section.key=value` from the command line; the value is read as YAML (0.4, true, null, [a, b])."""
    path, sep, value = text.partition("=")
    if not sep or not path.strip() or any(not part for part in path.strip().split(".")):
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE, e.g. filters.blur.min_score=0.4")
    try:
        return path.strip(), yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: value is not valid YAML: {exc}") from None
