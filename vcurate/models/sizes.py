"""The input size of an open_clip model, read from its JSON config without importing torch or open_clip.

The decode pass needs the CLIP frame size in every worker; importing torch there would cost each
worker (and each isolated analysis process) about 1 GB of memory and seconds of start-up.
"""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path

BUNDLED_CONFIGS = Path(__file__).parent / "configs"


def _config_dirs() -> list[Path]:
    dirs = [BUNDLED_CONFIGS]
    spec = importlib.util.find_spec("open_clip")  # locates the package without running it
    if spec is not None and spec.submodule_search_locations:
        dirs.append(Path(list(spec.submodule_search_locations)[0]) / "model_configs")
    return dirs


@lru_cache(maxsize=None)
def image_size(name: str) -> int:
    for folder in _config_dirs():
        path = folder / f"{name}.json"
        if path.is_file():
            size = json.loads(path.read_text(encoding="utf-8"))["vision_cfg"]["image_size"]
            return int(size if isinstance(size, int) else size[0])
    from vcurate.models.clip import model_config  # other names (hub configs): open_clip's own lookup

    size = model_config(name)["vision_cfg"]["image_size"]
    return int(size if isinstance(size, int) else size[0])
