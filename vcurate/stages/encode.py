"""The encode stage: each kept clip's own frames decoded again and written as an H.264 MP4 in memory
(vcurate.media.encode); rejected clips are never encoded. A clip that cannot be decoded or encoded
is rejected `encode_failed`, never the end of the job."""

from __future__ import annotations

import time

from vcurate.config import PipelineConfig
from vcurate.media.encode import encode_clip
from vcurate.media.probe import MediaError
from vcurate.records import Reason
from vcurate.rows import ClipRow
from vcurate.stages.base import ClipStage, Resources


class EncodeStage(ClipStage):
    name = "encode"

    def __init__(self, cfg: PipelineConfig):
        self.cfg = cfg

    def resources(self) -> Resources:
        return Resources(num_cpus=self.cfg.ray.encode_num_cpus)

    def process_clip(self, row: ClipRow) -> ClipRow:
        clip = row.clip
        if clip.status != "kept":
            return row
        started = time.perf_counter()
        try:
            encoded = encode_clip(row.path, clip.start_s, clip.end_s, clip.fps, clip.num_frames, self.cfg.encode)
        except MediaError:
            clip.reject(Reason.ENCODE_FAILED)
            row.mp4 = b""
        else:
            row.mp4 = encoded.mp4
            clip.set_encoded(encoded.width, encoded.height, encoded.fps, encoded.num_frames)
        row.encode_seconds = time.perf_counter() - started
        return row
