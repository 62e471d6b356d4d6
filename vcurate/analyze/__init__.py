"""Per-frame analyzers of the single decode pass. Importing the package registers the built-in
clip analyzers, in the order their columns appear in clips.parquet."""

from vcurate.analyze.registry import (  # noqa: F401
    ANALYZERS, ClipAnalyzer, Column, StreamFacts, analyzer_columns, build_analyzers, register_analyzer,
    unregister_analyzer,
)
from vcurate.analyze import blank, sharpness, motion, scene_motion, text, signature  # noqa: F401,E402  (registers luma spread, blur/detail, shake, scene motion, text, signature)
