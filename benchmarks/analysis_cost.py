"""What each analyzer of the single decode pass costs, against the decode floor.

Times, on the same synthetic videos and in one process: decode alone, decode + scene detection,
decode + each registered clip analyzer (vcurate.analyze) on its own, the whole analysis pass, and
the whole pass less each analyzer (what an analyzer adds to a job, where views of the frame that
another analyzer needs too are computed once);
scene detection and the whole pass once per `--detectors` value (split.detector), and, with
transnetv2 among them, TransNetV2 alone on the videos' own 48x27 frames. Each analyzer's cost is its
added time as a multiple of the decode floor; the issues that bring an analyzer name its budget
(e.g. "<= +0.1x the decode floor").

    .venv/bin/python benchmarks/analysis_cost.py [--videos 8] [--size 1280x720] [--repeat 3]
        [--detectors content transnetv2 hybrid] [--set split.transnet_device=cuda]
        [--scenes-only] [--from DIR] [--cpu-time]   # only decode and scene detection; an archive's videos;
                                                    # CPU seconds rather than wall time
        [--decoded-once]                            # each video decoded once, every pass fed its frames

Writes benchmarks/results/analysis_cost-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from vcurate.analyze import ANALYZERS, StreamFacts, build_analyzers
import torch

from vcurate.analyze.scenes import SceneAnalyzer, TransNetScenes, network_frame
from vcurate.config import PipelineConfig, parse_setting, with_settings
from vcurate.media.frames import AnalysisFrame, analysis_stride, decode_pass
from vcurate.media.probe import open_video
from vcurate.synth.archive import SynthSpec, make_archive

from results_io import save, stamp  # benchmarks/results_io.py


def all_on() -> PipelineConfig:
    """The default config with every filter switched on, so every analyzer is measured."""
    cfg = PipelineConfig()
    return with_settings(cfg, [(f"filters.{name}.enabled", True) for name, section in cfg.filters
                               if hasattr(section, "enabled")], "benchmark config")


def passes(cfg: PipelineConfig, stream: StreamFacts, detectors: list[str], scenes_only: bool = False) -> dict:
    """Pass name -> a function building its fresh list of analyzers. Scene detection and the whole
    pass once per detector; the default's passes carry no detector name."""
    def split(detector: str):
        return cfg.split.model_copy(update={"detector": detector})

    def named(name: str, detector: str) -> str:
        return name if detector == cfg.split.detector else f"{name} [{detector}]"

    out = {"decode": lambda: []}
    for d in detectors:
        out[named("decode+scenes", d)] = lambda d=d: [SceneAnalyzer(split(d), stream.fps)]
    if scenes_only:
        return out
    for cls in ANALYZERS:
        out[f"decode+{cls.__name__}"] = lambda cls=cls: [a for a in [cls.build(cfg, stream)] if a is not None]
    for d in dict.fromkeys([cfg.split.detector, *detectors]):  # the default's pass, which the "less" ones are taken from
        out[named("analysis pass", d)] = lambda d=d: [SceneAnalyzer(split(d), stream.fps), *build_analyzers(cfg, stream)]
    for cls in ANALYZERS:
        out[f"analysis pass less {cls.__name__}"] = lambda cls=cls: [
            SceneAnalyzer(cfg.split, stream.fps), *[a for a in build_analyzers(cfg, stream) if not isinstance(a, cls)]]
    return out


class NetworkFrames:
    """Keeps the 48x27 frames TransNetV2 would be fed, to time the network alone."""

    def __init__(self):
        self.frames = []

    def process(self, index, frame) -> None:
        self.frames.append(network_frame(frame))

    def finish(self, num_frames: int) -> None:
        pass


def network_fps(paths: list[Path], cfg: PipelineConfig, stream: StreamFacts) -> dict:
    """TransNetV2 alone (its windows, batches and transfers, no decode) over the videos' own frames."""
    split = cfg.split.model_copy(update={"detector": "transnetv2"})
    inputs = []
    for path in paths:
        inputs.append(NetworkFrames())
        decode_pass(path, [inputs[-1]], cfg.analysis.short_side, fps_hint=stream.fps)
    TransNetScenes(split)  # loads the network: not timed
    t0 = time.perf_counter()
    for frames in inputs:
        scenes = TransNetScenes(split)
        for small in frames.frames:
            scenes.add(small)
        scenes.finish(len(frames.frames))
    seconds = time.perf_counter() - t0
    count = sum(len(f.frames) for f in inputs)
    return {"device": str(scenes.device), "threads": torch.get_num_threads(), "batch": split.transnet_batch,
            "frames": count, "seconds": round(seconds, 3), "fps": round(count / seconds, 1)}


def summarise(best: dict[str, float], frames: dict[str, int]) -> dict[str, dict]:
    """Each pass's seconds, frames/s and cost over the decode floor; each analyzer's share of the whole pass."""
    floor = best["decode"]
    out = {name: {"seconds": round(t, 3), "frames": frames[name], "fps": round(frames[name] / t, 1),
                  "added_x_decode": round((t - floor) / floor, 3)} for name, t in best.items()}
    if "analysis pass" in best:
        whole = best["analysis pass"]
        for cls in ANALYZERS:
            less = best[f"analysis pass less {cls.__name__}"]
            out[f"decode+{cls.__name__}"]["in_pass_x_decode"] = round((whole - less) / floor, 3)
    return out


def measure(paths: list[Path], cfg: PipelineConfig, stream: StreamFacts, repeat: int, detectors: list[str],
            scenes_only: bool = False, clock=time.perf_counter) -> dict[str, dict]:
    """Best-of-`repeat` time of each pass, the passes interleaved so a slow minute hits them all."""
    built = passes(cfg, stream, detectors, scenes_only)
    best, frames = dict.fromkeys(built, float("inf")), {}
    for _ in range(repeat):
        for name, make in built.items():
            t0, count = clock(), 0
            for path in paths:
                count += decode_pass(path, make(), cfg.analysis.short_side, fps_hint=stream.fps).num_frames
            best[name], frames[name] = min(best[name], clock() - t0), count
    return summarise(best, frames)


class DecodedVideo:
    """One video's frames decoded into memory, so every pass is fed the same frames without decoding again."""

    def __init__(self, path: Path, short_side: int, repeat: int, clock):
        self.decode_seconds = float("inf")
        for _ in range(repeat):  # the decode floor: best of `repeat`, the frames of the last decode kept
            t0 = clock()
            with open_video(path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"  # as the analysis pass decodes
                self.frames = list(container.decode(stream))
            self.decode_seconds = min(self.decode_seconds, clock() - t0)
        self.stride = analysis_stride(self.frames[0].width, self.frames[0].height, short_side)

    def feed(self, analyzers: list, clock) -> float:
        """Seconds the analyzers take over the frames, one shared view of each frame (as in the pass)."""
        t0 = clock()
        for index, frame in enumerate(self.frames):
            view = AnalysisFrame(frame, self.stride)
            for analyzer in analyzers:
                analyzer.process(index, view)
        for analyzer in analyzers:
            analyzer.finish(len(self.frames))
        return clock() - t0


def measure_decoded_once(paths: list[Path], cfg: PipelineConfig, stream: StreamFacts, repeat: int,
                         detectors: list[str], scenes_only: bool = False, clock=time.process_time) -> dict[str, dict]:
    """As `measure`, but each video is decoded once into memory and each pass timed on those frames (best of
    `repeat`, interleaved, per video): the decoder's own run-to-run spread, as large as a small analyzer's
    cost on a shared machine, no longer lands in the analyzers' figures. A pass's seconds are the decode
    floor plus its analyzers' time. Holds one video's frames at a time (~0.7 GB for 20 s of 720p)."""
    built = passes(cfg, stream, detectors, scenes_only)
    seconds, frames = dict.fromkeys(built, 0.0), dict.fromkeys(built, 0)
    for path in paths:
        video = DecodedVideo(path, cfg.analysis.short_side, repeat, clock)
        best = dict.fromkeys(built, float("inf"))
        best["decode"] = 0.0
        for _ in range(repeat):
            for name, make in built.items():
                if name != "decode":
                    best[name] = min(best[name], video.feed(make(), clock))
        for name in built:
            seconds[name] += video.decode_seconds + best[name]
            frames[name] += len(video.frames)
    return summarise(seconds, frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--size", default="1280x720", help="WxH of the synthetic videos")
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings")
    parser.add_argument("--detectors", nargs="*", default=["content", "transnetv2"],
                        help="split.detector values to time scene detection and the whole pass with")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a pipeline setting, e.g. split.transnet_device=cuda (repeatable)")
    parser.add_argument("--name", help="results file name (default analysis_cost-SIZE)")
    parser.add_argument("--scenes-only", action="store_true", help="time decode and scene detection only")
    parser.add_argument("--cpu-time", action="store_true",
                        help="this process's CPU seconds (all its threads) instead of wall time: steadier on a "
                             "machine shared with other jobs")
    parser.add_argument("--decoded-once", action="store_true",
                        help="decode each video once into memory and time every pass on those frames (CPU "
                             "seconds): the analyzers' figures without the decoder's run-to-run spread")
    parser.add_argument("--from", dest="source", type=Path, metavar="DIR",
                        help="time the .mp4 videos under DIR (e.g. a footage archive with shaky shots) instead of "
                             "synthetic ones (--videos, --seed, --size then unused)")
    args = parser.parse_args()
    width, height = map(int, args.size.lower().split("x"))
    spec = replace(SynthSpec(), sizes=((width, height),), p_lowres_video=0.0)
    cfg = with_settings(all_on(), [parse_setting(s) for s in args.set], "--set")
    stream = StreamFacts(fps=25.0, width=width, height=height, expected_frames=0)  # the synthetic videos' rate
    with tempfile.TemporaryDirectory() as tmp:
        if args.source:
            paths = sorted(args.source.rglob("*.mp4"))
        else:
            make_archive(tmp, args.videos, args.seed, spec)
            paths = sorted(Path(tmp, "raw").rglob("*.mp4"))
        clock = time.process_time if args.cpu_time or args.decoded_once else time.perf_counter
        timer = measure_decoded_once if args.decoded_once else measure
        results = timer(paths, cfg, stream, args.repeat, args.detectors, args.scenes_only, clock)
        network = network_fps(paths, cfg, stream) if "transnetv2" in args.detectors else None
    videos, size = (len(paths), f"videos of {args.source}") if args.source else (args.videos, args.size)
    timing = "CPU seconds" if args.cpu_time or args.decoded_once else "seconds"
    if args.decoded_once:
        timing += ", frames decoded once"
    summary = {**stamp(), "python": sys.version.split()[0], "videos": videos, "size": size, "timing": timing,
               "settings": args.set, "results": results, "transnetv2_alone": network}
    lines = [f"# Analysis pass cost ({videos} videos, {size}, best of {args.repeat}, {timing})", "",
             f"| pass | {timing} | frames/s | added (x decode floor) | added to the whole pass |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {k} | {v['seconds']} | {v['fps']} | +{v['added_x_decode']:.2f} | "
              + (f"+{v['in_pass_x_decode']:.2f} |" if "in_pass_x_decode" in v else "|") for k, v in results.items()]
    if network:
        lines += ["", f"TransNetV2 alone (no decode; {network['device']}, {network['threads']} torch threads, "
                      f"batch {network['batch']}): {network['fps']} frames/s"]
    save(args.name or f"analysis_cost-{args.size}", summary, lines)


if __name__ == "__main__":
    main()
