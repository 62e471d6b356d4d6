"""One safe way to open a checkpoint file: tensors and plain containers only, never arbitrary pickles."""

from __future__ import annotations

from pathlib import Path

import torch


def load_weights_only(path: str | Path, error: type[Exception], what: str):
    """torch.load(weights_only=True) on the CPU; a missing or unreadable file raises `error` naming `what`."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged, truncated or foreign file
        raise error(f"cannot read {what} {path}: {type(exc).__name__}: {exc}") from None
