"""Which torch device a setting of auto / cpu / cuda means here, with a clear error when CUDA is asked for but absent."""

from __future__ import annotations

import torch


def resolve_device(name: str, error: type[Exception] = ValueError, setting: str = "device") -> torch.device:
    """auto: CUDA when present, else CPU; cuda without a GPU raises `error` naming `setting`."""
    if name == "cuda" and not torch.cuda.is_available():
        raise error(f"{setting} is cuda but no CUDA device is available")
    return torch.device("cuda" if name in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
