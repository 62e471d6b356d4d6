"""TransNetV2 as `split.detector`: its cuts on a video with hard cuts, fed from the single decode pass,
its windows, and weights that cannot be used failing the job before any video is read."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.conftest import tiny_config
from vcurate.analyze import scenes as scenes_module
from vcurate.analyze.scenes import WINDOW, SceneAnalyzer, TransNetScenes, cuts_from_probabilities, hybrid_cuts
from vcurate.config import PipelineConfig, SplitConfig
from vcurate.job import run_job
from vcurate.models import transnet
from vcurate.models.transnet import TransNetError
from vcurate.stages import analyze
from vcurate.stages.ingest import VideoTask
from vcurate.synth.archive import clean_spec, make_archive, tiny_spec


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """One clean video of hard cuts, analysed in-process with TransNetV2, counting the decodes, the
    frames the detector saw and the network loads; then analysed again by the same process."""
    root = tmp_path_factory.mktemp("cuts")
    spec = replace(clean_spec(), sizes=tiny_spec().sizes, frame_rates=tiny_spec().frame_rates, shots=(3, 3),
                   shot_seconds=(1.0, 1.2), long_shot_seconds=(1.0, 1.2))
    truth = make_archive(root, videos=1, seed=5, spec=spec) * 2
    cfg = PipelineConfig.model_validate({"split": {"detector": "transnetv2"}, "align": {"enabled": False},
                                         "analysis": {"isolate": False}})
    counts = {"decodes": 0, "loads": 0}
    detectors: list[SceneAnalyzer] = []

    def counting_decode(*args, **kwargs):
        counts["decodes"] += 1
        return decode_frames(*args, **kwargs)

    def counting_load(*args, **kwargs):
        counts["loads"] += 1
        return load_network(*args, **kwargs)

    def keeping_scene_analyzer(*args):
        detectors.append(SceneAnalyzer(*args))
        return detectors[-1]

    decode_frames, load_network = analyze.decode_frames, transnet.load_network
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(analyze, "decode_frames", counting_decode)
        mp.setattr(transnet, "load_network", counting_load)
        mp.setattr(analyze, "SceneAnalyzer", keeping_scene_analyzer)
        mp.setattr(TransNetScenes, "_networks", {})
        first = analyze.analyze_video(VideoTask(str(root / "raw" / truth[0].video), truth[0].video), cfg)
        decodes_first = counts["decodes"]
        again = analyze.analyze_video(VideoTask(str(root / "raw" / truth[1].video), truth[1].video), cfg)
    return truth, [first, again], detectors, {**counts, "decodes_first": decodes_first}


def test_network_finds_the_hard_cuts(analysed):
    truth, results, _, _ = analysed
    for video, result in zip(truth, results):
        assert result.video.status == "ok", result.video.error
        assert result.video.cuts == video.cuts  # exact frames: the first frame of each new shot
        assert len(video.cuts) == 2
        assert result.video.scene_detector == "transnetv2"  # recorded with the video


def test_auto_is_the_cpu_detector_without_cuda_and_the_hybrid_with_it(monkeypatch):
    """`split.detector: auto` is resolved where the video is analysed: TransNetV2 costs 11-13x the decode
    on a CPU, so there the cheap detector runs; where the analysis sees CUDA, the hybrid."""
    assert SplitConfig().detector == "auto"
    monkeypatch.setattr(scenes_module, "cuda_visible", lambda: False)
    analyzer = SceneAnalyzer(SplitConfig(), 25.0)
    assert analyzer.detector == scenes_module.CPU_DETECTOR == "adaptive"
    assert isinstance(analyzer.source, scenes_module.DetectorScenes)
    assert isinstance(analyzer.source.detector, scenes_module.FastAdaptiveDetector)
    monkeypatch.setattr(scenes_module, "cuda_visible", lambda: True)
    assert scenes_module.resolve_detector(SplitConfig()) == "hybrid"
    assert scenes_module.resolve_detector(SplitConfig(transnet_device="cpu")) == "adaptive"
    assert scenes_module.resolve_detector(SplitConfig(detector="content")) == "content"


def test_no_cuda_is_told_without_importing_torch(monkeypatch):
    """A Ray task that reserves no GPU sees CUDA_VISIBLE_DEVICES empty: no torch import to say so."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: (_ for _ in ()).throw(AssertionError("torch asked")))
    assert scenes_module.cuda_visible() is False


def test_auto_on_ray_checks_the_weights_only_where_the_analysis_tasks_reserve_gpus(tmp_path, monkeypatch):
    """On Ray the driver does not ask torch for a device (its workers' may differ): the config says
    whether the analysis may run the network."""
    checked = []
    monkeypatch.setattr(transnet, "load_network", lambda path, device: checked.append(path))
    monkeypatch.setattr(scenes_module, "cuda_visible", lambda: (_ for _ in ()).throw(AssertionError("device asked")))
    scenes_module.check_scene_detector(SplitConfig(), ray_analysis_gpus=False)
    assert checked == []
    scenes_module.check_scene_detector(SplitConfig(), ray_analysis_gpus=True)
    assert len(checked) == 1


def test_network_frames_come_from_the_one_decode_pass(analysed):
    truth, results, detectors, counts = analysed
    assert counts["decodes_first"] == 1 and counts["decodes"] == 2  # one decode per video
    for video, result, detector in zip(truth, results, detectors):
        assert result.video.num_frames == video.num_frames
        assert detector.source.frames_seen == video.num_frames  # every decoded frame, each once
        assert len(detector.source.cut_probabilities) == video.num_frames
    assert counts["loads"] == 1  # the second analysis reuses the process's network


class _Solid:
    """An analysis frame whose every pixel is `value`."""

    def __init__(self, value: int):
        self.value = value

    def bgr(self, factor: int = 1) -> np.ndarray:
        return np.full((54, 96, 3), self.value, np.uint8)

    area_bgr = bgr  # a uniform picture's area average is itself


class _Echo(torch.nn.Module):
    """A stand-in network whose cut probability at each window position encodes the pixel value of
    the frame `offset` positions later (clamped to the window), so the kept predictions show which frame
    the windowing put where."""

    def __init__(self, offset: int):
        super().__init__()
        self.offset = offset

    def forward(self, frames: torch.Tensor):
        assert frames.shape[1:] == (WINDOW, 27, 48, 3) and frames.dtype == torch.uint8
        positions = (torch.arange(WINDOW) + self.offset).clamp(0, WINDOW - 1)
        p = (frames[:, positions, 0, 0, 0].double() + 0.5) / 256
        return torch.log(p / (1 - p)).unsqueeze(-1), {}


@pytest.mark.parametrize("frames", [1, 49, 50, 51, 100, 137, 200])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("offset", [0, -10, 10])
def test_windows_keep_each_frames_own_prediction_and_pad_with_the_end_frames(monkeypatch, frames, batch, offset):
    monkeypatch.setattr(TransNetScenes, "network_for", classmethod(lambda cls, cfg: (_Echo(offset), torch.device("cpu"))))
    scenes = TransNetScenes(SplitConfig(detector="transnetv2", transnet_batch=batch))
    buffered = 0
    for i in range(frames):
        scenes.process(i, _Solid(i))
        buffered = max(buffered, len(scenes.frames))
    scenes.finish(frames)
    seen = np.round(scenes.cut_probabilities * 256 - 0.5).astype(int)
    expected = np.clip(np.arange(frames) + offset, 0, frames - 1)  # before frame 0: frame 0; after the end: the last
    assert seen.tolist() == expected.tolist()
    assert buffered <= WINDOW  # frames no later window needs are let go


def test_a_run_of_transition_frames_is_one_cut_after_it():
    p = np.zeros(200)
    p[[39, 99, 100, 101, 108, 150]] = [0.9, 0.6, 0.95, 0.7, 0.8, 0.3]
    assert cuts_from_probabilities(p, 0.5, 15) == [40, 102]  # 109 is within 15 frames of 102; 0.3 is no cut
    assert cuts_from_probabilities(p, 0.5, 5) == [40, 102, 109]
    assert cuts_from_probabilities(p, 0.2, 5) == [40, 102, 109, 151]
    p[5] = 0.9
    assert cuts_from_probabilities(p, 0.5, 15) == [40, 102]  # a cut at 6 would leave a 6-frame first scene


def test_hybrid_keeps_the_networks_cuts_and_the_content_cuts_it_half_sees():
    cfg = SplitConfig(detector="hybrid", transnet_threshold=0.6, hybrid_confirm=0.005, min_scene_frames=15)
    p = np.zeros(300)
    p[49], p[118], p[200] = 0.9, 0.02, 0.001  # a clear cut at 50, a faint one at 120, nothing at 201
    assert hybrid_cuts([], p, cfg) == [50]
    assert hybrid_cuts([51, 120, 201], p, cfg) == [50, 120]  # 51 is the network's cut found again; 201 vetoed
    assert hybrid_cuts([120, 201], p, cfg.model_copy(update={"hybrid_confirm": 0.0})) == [50, 120, 201]
    assert hybrid_cuts([60], p, cfg) == [50]  # within min_scene_frames of the network's cut


class _Constant(torch.nn.Module):
    """A stand-in network that gives every frame the same cut probability."""

    def __init__(self, probability: float):
        super().__init__()
        self.logit = float(np.log(probability / (1 - probability)))

    def forward(self, frames: torch.Tensor):
        return torch.full((frames.shape[0], WINDOW, 1), self.logit), {}


@pytest.mark.parametrize("probability, cuts", [(0.001, []), (0.01, [60])])
def test_hybrid_runs_the_content_detector_and_the_network_on_the_same_frames(monkeypatch, probability, cuts):
    """A grey picture that turns light at frame 60 is a content cut; the network's probability decides."""
    monkeypatch.setattr(TransNetScenes, "network_for", classmethod(lambda cls, cfg: (_Constant(probability), torch.device("cpu"))))
    scenes = SceneAnalyzer(SplitConfig(detector="hybrid", hybrid_confirm=0.005), 25.0)
    for i in range(120):
        scenes.process(i, _Solid(40 if i < 60 else 200))
    scenes.finish(120)
    assert scenes.cuts == cuts
    assert scenes.source.network.frames_seen == 120


def _corrupt(path):
    path.write_bytes(b"PK\x03\x04 this is not a state dict")


def _wrong_shapes(path):
    torch.save({"fc1.weight": torch.zeros(3, 3)}, path)


def _object_in_pickle(path):
    torch.save({"fc1.weight": _Solid(1)}, path)  # unpickling it would import and build an object of this module


@pytest.mark.parametrize("detector", ["transnetv2", "hybrid", "auto"])
@pytest.mark.parametrize("spoil", [None, _corrupt, _wrong_shapes, _object_in_pickle])
def test_unusable_weights_fail_the_job_before_any_video_is_read(tmp_path, monkeypatch, spoil, detector):
    """auto: where the analysis sees a GPU (here: in-process, on a machine with CUDA), the hybrid runs;
    its weights are checked."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.mp4").write_bytes(b"never opened")
    weights = tmp_path / "weights.pth"
    if spoil:
        spoil(weights)

    def no_video(*args, **kwargs):
        raise AssertionError("a video was read")

    monkeypatch.setattr(analyze, "analyze_video", no_video)
    monkeypatch.setattr(analyze, "open_probed", no_video)
    monkeypatch.setattr(scenes_module.TransNetScenes, "_networks", {})
    cfg = tiny_config(tmp_path, tmp_path / "out", split={"detector": detector, "transnet_weights": str(weights)})
    cfg.align.enabled = False
    if detector == "auto":
        monkeypatch.setattr(scenes_module, "cuda_visible", lambda: True)
    with pytest.raises(TransNetError) as raised:
        run_job(cfg, engine="local", progress=False)
    assert str(weights) in str(raised.value)
    assert ("not found" if spoil is None else "weights") in str(raised.value)
    assert not (tmp_path / "out").exists()  # nothing written


def test_the_bundled_weights_load_tensors_only():
    """The package's file is a plain state dict: it loads with weights_only and fits the network."""
    network = transnet.load_network(transnet.bundled_weights(), torch.device("cpu"))
    assert not network.training
    assert sum(p.numel() for p in network.parameters()) > 7_000_000
