"""Whole-pipeline benchmark (issue #9): vcurate against its decode floor and against what users run today.

On one fixed synthetic archive (made once into --cache; ground truth included), each measurement runs in
its own process while this one samples the peak RSS of that process and all its descendants (Ray's
raylet, GCS and workers included):
  decode     PyAV decode of every frame of every video, nothing else (vcurate's decode loop with no
             analyzer: same threads as the pipeline)
  analysis   vcurate's analysis pass (scene cuts and every analyzer on by default, CLIP off: the table
             names them), then the filters' rules, one video at a time
  pipeline   `vcurate run` as a job: tiny CLIP with random weights, encode, shards; Ray, all cores
  baseline   PySceneDetect's own CLI per video (`scenedetect -i V detect-content list-scenes
             split-video`), then a separate script that decodes every split clip again for blur
             (Laplacian variance) and shake (phase correlation between frames)
  p1, p2     the pipeline with 1 and 2 parallel video analyses (ray.analyze_concurrency), on a local
             Ray of that many CPUs
  rss-2x     the pipeline on an archive of --rss-videos videos, the first --videos of them the same
             (peak RSS must not grow with the archive)
  p1-2x, p2-2x  p1 and p2 on that larger archive: Ray's fixed start-up (worker processes, the CLIP
             actor importing torch) and the one-task tail weigh half as much, closer to a real job
  datajuicer Data-Juicer's scene-split mapper, motion-score and resolution filters at their defaults, in
             its own virtual environment (benchmarks/peer_datajuicer.py; made under --cache on first
             use); its split re-encodes every scene, so its job compares with the pipeline's
decode, analysis and the p1/p2 pairs run --repeat times, interleaved (a slow minute of a shared machine does not
hit every run of one measurement); their time is the best run, all runs are in the JSON.
Pipeline times start once Ray is up, Data-Juicer's once it is imported (both start-ups are reported
apart); cut F1 is scored against the archive's ground truth with vcurate.synth.eval's matching
(±2 frames) for vcurate, baseline and Data-Juicer alike. How the shake and motion rules treat each
kind of shot (shaky, panning, zooming, still camera, still picture) is tallied per clip, each clip
taken as the ground-truth shot it overlaps most.

    make bench                                               # 20 videos x 30 s at 640x360
    .venv/bin/python benchmarks/bench_pipeline.py --videos 4 --seconds 10 [--only decode,analysis]
    .venv/bin/python benchmarks/bench_pipeline.py --videos 8 --seconds 20 --size 1280x720 --only analysis,pipeline,datajuicer
    .venv/bin/python benchmarks/bench_pipeline.py --videos 4 --seconds 10 --profile 25

Writes benchmarks/results/bench_pipeline-<size>-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import psutil

from vcurate.config import PipelineConfig
from vcurate.stages.ingest import iter_tasks
from vcurate.synth.archive import SynthSpec, make_archive
from vcurate.synth.eval import evaluate, match_cuts, prf, shot_of
from vcurate.synth.truth import TruthShot, read_truth

import peer_datajuicer  # benchmarks/peer_datajuicer.py
from results_io import save, stamp  # benchmarks/results_io.py

MEASUREMENTS = ("decode", "analysis", "pipeline", "baseline", "p1", "p2", "rss-2x", "p1-2x", "p2-2x", "datajuicer")
REPEATED = ("decode", "analysis", "p1", "p2", "p1-2x", "p2-2x")  # the figures of the ratio targets
LARGER_ARCHIVE = ("rss-2x", "p1-2x", "p2-2x")
LABELS = {
    "decode": "1 decode floor (PyAV, every frame)",
    "analysis": "2 vcurate analysis pass (scenes + {analyzers}; CLIP off)",  # the analyzers it built
    "pipeline": "3 vcurate full pipeline (tiny CLIP, encode, shards; Ray)",
    "baseline": "4 PySceneDetect CLI split + naive blur/shake pass",
    "p1": "5 full pipeline, Ray parallelism 1",
    "p2": "5 full pipeline, Ray parallelism 2",
    "rss-2x": "full pipeline, larger archive (memory)",
    "p1-2x": "5 full pipeline, Ray parallelism 1, larger archive",
    "p2-2x": "5 full pipeline, Ray parallelism 2, larger archive",
    "datajuicer": "6 Data-Juicer {version}: scene split (re-encodes every scene) + motion + resolution filters",
}
TARGETS = {  # name: (numerator, denominator, target text, test); issue #25's acceptance, scaling from #9
    "analysis / decode (2÷1)": ("analysis", "decode", "≤ 1.6", lambda r: r <= 1.6),
    "pipeline / decode (3÷1)": ("pipeline", "decode", "≤ 2.0", lambda r: r <= 2.0),
    "baseline / pipeline (4÷3)": ("baseline", "pipeline", "≥ 5", lambda r: r >= 5),
    "scaling 1→2 (p1 / p2)": ("p1", "p2", "≥ 1.7", lambda r: r >= 1.7),
    "scaling 1→2, larger archive": ("p1-2x", "p2-2x", "≥ 1.7", lambda r: r >= 1.7),
    # their job (split with re-encode, two filters) against ours (analysis, filters, CLIP, encode, shards)
    "datajuicer / pipeline, job against job (6÷3)": ("datajuicer", "pipeline", "> 1", lambda r: r > 1),
    # against our analysis alone, which does more analysis but encodes nothing
    "datajuicer / analysis (6÷2)": ("datajuicer", "analysis", "", None),
}


# --- the archive -------------------------------------------------------------------------------------

def archive_spec(seconds: float, size: tuple[int, int]) -> SynthSpec:
    """Videos of about `seconds` at one size, 25-30 fps, cut into shots of about 3.3 s; every fault
    but low resolution can occur (the archive is all one size)."""
    shots = max(2, round(seconds / 3.3))
    mean = seconds / shots
    return replace(
        SynthSpec(), sizes=(size,), p_lowres_video=0.0, p_long_shot=0.0, shots=(shots, shots),
        frame_rates=(Fraction(25), Fraction(30000, 1001), Fraction(30)), shot_seconds=(0.6 * mean, 1.4 * mean),
    )


def ensure_archive(cache: Path, videos: int, seconds: float, size: tuple[int, int], seed: int) -> Path:
    """The archive for these parameters, made on first use; a half-written one is made again."""
    root = cache / f"{videos}x{seconds:g}s-{size[0]}x{size[1]}-seed{seed}"
    done = root / ".complete"
    if not done.exists():
        print(f"making {root} ...", file=sys.stderr, flush=True)
        make_archive(root, videos, seed, archive_spec(seconds, size))
        done.touch()
    return root


def archive_frames(root: Path) -> int:
    return sum(v.num_frames for v in read_truth(root / "ground_truth.jsonl"))


def cut_scores(detected: dict[str, list[int]], root: Path) -> dict:
    """Cut precision / recall / F1 of {video (relative to raw/): cut frames} against the ground truth,
    with vcurate.synth.eval's matching; a video missing from `detected` counts as no cut found."""
    tp = fp = fn = 0
    for video in read_truth(root / "ground_truth.jsonl"):
        found = detected.get(video.video, [])
        hits = match_cuts(found, video.cuts)
        tp, fp, fn = tp + hits, fp + len(found) - hits, fn + len(video.cuts) - hits
    return prf(tp, fp, fn)


SHOT_KINDS = ("shaky", "pan", "zoom", "still camera", "still picture")


def shot_kind(shot: TruthShot) -> str:
    """What a motion rule sees in a shot: shake (a fault), a smooth pan or zoom, a still camera over a
    moving subject, or a still picture (frozen, slideshow, pan or zoom over a still: the static fault)."""
    if "shake" in shot.defects:
        return "shaky"
    if "static" in shot.defects:
        return "still picture"
    return {"pan": "pan", "zoom": "zoom"}.get(shot.camera, "still camera")


def tally_kinds(clips: list[tuple[str, int, int, float, bool]], root: Path) -> dict[str, dict]:
    """Per kind of shot, over clips (video, start frame, end frame, score, rejected), each clip taken as the
    shot it overlaps most: how many, their scores' median and range, and the share rejected."""
    truth = {video.video: video for video in read_truth(root / "ground_truth.jsonl")}
    kinds: dict[str, list[tuple[float, bool]]] = {kind: [] for kind in SHOT_KINDS}
    for video, start, end, score, rejected in clips:
        kinds[shot_kind(shot_of(truth[video], start, end))].append((score, rejected))
    table = {}
    for kind, rows in kinds.items():
        scores = np.array([score for score, _ in rows], dtype=float)
        finite = scores[np.isfinite(scores)]
        table[kind] = {"clips": len(rows), "rejected": sum(rejected for _, rejected in rows),
                       "median": round(float(np.median(finite)), 3) if finite.size else None,
                       "min": round(float(finite.min()), 3) if finite.size else None,
                       "max": round(float(finite.max()), 3) if finite.size else None}
    return table


# --- measurements (each runs in a child process, and imports only what it needs before the clock starts:
# the peak RSS of a decode must not include torch) ---------------------------------------------------------

def base_config(root: Path, out: Path | None = None) -> PipelineConfig:
    """The default pipeline on the archive, with the bundled tiny CLIP at random weights (no download)
    and a threshold no random score falls below."""
    cfg = PipelineConfig()
    cfg.input.path, cfg.output.path = str(root / "raw"), str(out) if out else None
    cfg.align.model, cfg.align.pretrained, cfg.align.min_score = "vcurate-tiny", None, -1.0
    return cfg


def measure_decode(root: Path, work: Path, args) -> dict:
    from vcurate.media.frames import decode_pass

    cfg = base_config(root)
    t0 = time.perf_counter()
    for task in iter_tasks(cfg.input):
        decode_pass(task.path, [], cfg.analysis.short_side, cfg.analysis.decode_threads)
    return {"seconds": time.perf_counter() - t0}


def analysis_config(root: Path) -> PipelineConfig:
    cfg = base_config(root)
    cfg.align.enabled = False
    return cfg


def analysis_pass(cfg: PipelineConfig) -> list:
    """vcurate's analysis of every video, one after the other, and the filters' rules on its clips."""
    from vcurate.stages.analyze import analyze_video
    from vcurate.stages.filter import filter_clip

    analyses = [analyze_video(task, cfg) for task in iter_tasks(cfg.input)]
    for analysis in analyses:
        for clip in analysis.clips:
            filter_clip(clip, cfg.filters)
    return analyses


def measure_analysis(root: Path, work: Path, args) -> dict:
    from vcurate.analyze.registry import ANALYZERS
    import vcurate.stages.analyze  # noqa: F401  (imported before the clock starts)

    cfg = analysis_config(root)
    t0 = time.perf_counter()
    analyses = analysis_pass(cfg)
    seconds = time.perf_counter() - t0
    shake = [(a.video.video, c.start_frame, c.end_frame, c.shake_score, "shake" in c.reasons)
             for a in analyses for c in a.clips]
    ran = [cls.__name__.removesuffix("Analyzer").lower() for cls in ANALYZERS  # those whose columns got values
           if any(c.score(column) is not None for a in analyses for c in a.clips for column in cls.columns)]
    return {"seconds": seconds, "cuts": cut_scores({a.video.video: a.video.cuts for a in analyses}, root),
            "analyzers": ran, "shake_filter": tally_kinds(shake, root), "shake_max_score": cfg.filters.shake.max_score}


def measure_pipeline(root: Path, work: Path, args) -> dict:
    import ray

    from vcurate.job import run_job
    from vcurate.engine import init_ray

    cfg = base_config(root, work / "out")
    if args.parallelism:  # p Ray CPUs (the CLIP actor on a CPU reserves none) and at most p analyses
        cfg.ray.num_cpus, cfg.ray.analyze_concurrency = args.parallelism, args.parallelism
    t0 = time.perf_counter()
    init_ray(cfg)
    started = time.perf_counter()
    summary = run_job(cfg, overwrite=True, engine="ray", progress=False)
    seconds = time.perf_counter() - started
    ray.shutdown()
    scores = evaluate(work / "out", root / "ground_truth.jsonl")
    return {
        "seconds": seconds, "ray_start_seconds": started - t0, "cuts": scores["cuts"],
        "clips": summary.clips, "kept": summary.kept, "shards": len(summary.shards),
    }


def measure_baseline(root: Path, work: Path, args) -> dict:
    """What users run today: PySceneDetect's CLI to split, then a second script for blur and shake."""
    import imageio_ffmpeg

    tools = work / "bin"
    tools.mkdir()
    (tools / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}
    scenedetect = Path(sys.executable).with_name("scenedetect")
    raw = root / "raw"
    videos = sorted(raw.rglob("*.mp4"))
    t0 = time.perf_counter()
    cuts = {}
    for i, video in enumerate(videos):
        out = work / "split" / str(i)
        subprocess.run([str(scenedetect), "-i", str(video), "-o", str(out), "-q",
                        "detect-content", "list-scenes", "split-video"], env=env, check=True, capture_output=True)
        cuts[video.relative_to(raw).as_posix()] = scene_starts(next(out.glob("*-Scenes.csv")))[1:]
    split_seconds = time.perf_counter() - t0
    clips = sorted((work / "split").rglob("*-Scene-*.mp4"))
    scores = [naive_blur_shake(clip) for clip in clips]
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "split_seconds": split_seconds, "clips": len(clips),
            "frames_decoded_again": sum(n for n, _, _ in scores), "cuts": cut_scores(cuts, root)}


def scene_starts(scenes_csv: Path) -> list[int]:
    """First frame (0-based) of each scene in a `list-scenes` CSV (1-based there, after a cut-list line)."""
    with scenes_csv.open(newline="") as f:
        next(f)
        return [int(row["Start Frame"]) - 1 for row in csv.DictReader(f)]


def naive_blur_shake(clip: Path) -> tuple[int, float, float]:
    """(frames, median Laplacian variance, RMS frame-to-frame jitter in pixels) of one clip, the usual
    way: OpenCV decode, grey, Laplacian on the full frame, phase correlation at half size."""
    capture = cv2.VideoCapture(str(clip))
    sharpness, shifts, previous, window = [], [], None, None
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        sharpness.append(cv2.Laplacian(grey, cv2.CV_64F).var())
        small = cv2.resize(grey, (grey.shape[1] // 2, grey.shape[0] // 2), interpolation=cv2.INTER_AREA).astype(np.float32)
        if previous is None:
            window = cv2.createHanningWindow(small.shape[::-1], cv2.CV_32F)
        else:
            shifts.append(cv2.phaseCorrelate(previous, small, window)[0])
        previous = small
    capture.release()
    steps = np.asarray(shifts).reshape(-1, 2)
    jitter = float(np.sqrt((np.diff(steps, axis=0) ** 2).sum(axis=1).mean())) if len(steps) > 1 else 0.0
    return len(sharpness), float(np.median(sharpness)) if sharpness else 0.0, jitter


def measure_datajuicer(root: Path, work: Path, args) -> dict:
    """Data-Juicer's job (peer_datajuicer) on the archive: its clips' cuts against the ground truth, and
    its motion scores per kind of shot, with what its default range [0.25, inf) keeps."""
    try:
        report = peer_datajuicer.run_job(args.dj_python, root / "raw", work)
    except peer_datajuicer.JobError as exc:
        return {"error": f"Data-Juicer job failed ({exc})"}
    low, high = report["motion_default_range"]
    cuts, clips = {}, []
    for video in report["videos"]:
        ends = np.cumsum(video["frames"]).tolist()
        cuts[video["video"]] = ends[:-1]
        for start, end, score in zip([0, *ends[:-1]], ends, video["motion_score"]):
            clips.append((video["video"], start, end, score, not low <= score <= high))
    return {
        "seconds": report["seconds"], "cpu_seconds": round(report["cpu_seconds"], 2),
        "start_seconds": round(report["start_seconds"], 2), "op_seconds": report["op_seconds"],
        "cuts": cut_scores(cuts, root), "clips": len(clips),
        "videos_kept": sum(v["kept"] for v in report["videos"]), "videos": len(report["videos"]),
        "motion_filter": tally_kinds(clips, root), "motion_default_range": [low, high],
        "installed": report["installed"], "installed_during_run": report["installed_during_run"],
    }


CHILD = {"decode": measure_decode, "analysis": measure_analysis, "pipeline": measure_pipeline,
         "baseline": measure_baseline, "datajuicer": measure_datajuicer}


# --- the parent: run each measurement in a process, sample its memory ----------------------------------

def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of a process and all its descendants (shared pages count in each process)."""
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass  # ended between listing and reading
    return total


def kill_tree(process: psutil.Process) -> None:
    procs = [process, *process.children(recursive=True)]
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass  # already gone
    psutil.wait_procs(procs, timeout=10)


def run_measured(kind: str, root: Path, parallelism: int | None, timeout: float, extra: list[str] = ()) -> dict:
    """Run one measurement in a child process: its result plus the peak RSS of its process tree, or
    {"error": why} when it fails or outlives `timeout` (a stalled Ray job must not stall the benchmark)."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        result, log = Path(tmp, "result.json"), Path(tmp, "child.log")
        cmd = [sys.executable, __file__, "--child", kind, "--archive", str(root), "--work", tmp,
               "--parallelism", str(parallelism or 0), *extra]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # model hubs are unreachable: fail at once, never wait
        with log.open("w") as out:
            child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
            tree, peak, deadline = psutil.Process(child.pid), 0, time.monotonic() + timeout
            while child.poll() is None and time.monotonic() < deadline:
                try:
                    peak = max(peak, tree_rss(tree))
                except psutil.Error:
                    pass  # the child itself just ended
                time.sleep(0.2)
            if child.poll() is None:
                kill_tree(tree)
                child.wait()
                why = f"timed out after {timeout:.0f} s"
            else:
                why = f"exit {child.returncode}"
        if child.returncode or not result.exists():
            print(f"{kind} failed ({why}); its log ends:\n{log.read_text()[-3000:]}", file=sys.stderr)
            return {"error": why}
        return {**json.loads(result.read_text()), "peak_rss_mib": round(peak / 2**20, 1)}


def profile_analysis(root: Path, top: int) -> None:
    """cProfile of the analysis pass in this process, by own time."""
    import cProfile
    import pstats

    import vcurate.stages.analyze  # noqa: F401  (imports stay out of the profile)

    profiler = cProfile.Profile()
    profiler.runcall(analysis_pass, root)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def fmt(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def report(args, roots: dict[str, Path], frames: dict[str, int], results: dict[str, dict]) -> None:
    ok = {name: r for name, r in results.items() if "error" not in r}
    for name, r in ok.items():
        r["frames"] = frames["rss" if name in LARGER_ARCHIVE else "main"]
        r["frames_per_s"] = round(r["frames"] / r["seconds"], 1)
        r["seconds"] = round(r["seconds"], 3)
    ratios = {}
    for name, (num, den, target, test) in TARGETS.items():
        if num in ok and den in ok:
            value = ok[num]["seconds"] / ok[den]["seconds"]
            ratios[name] = {"value": round(value, 3), "target": target, "met": None if test is None else test(value)}
    if "pipeline" in ok and "rss-2x" in ok:
        value = ok["rss-2x"]["peak_rss_mib"] / ok["pipeline"]["peak_rss_mib"]
        ratios[f"peak RSS {args.rss_videos} ÷ {args.videos} videos"] = {
            "value": round(value, 3), "target": "≤ 1.10", "met": value <= 1.10}
    if "pipeline" in ok and "baseline" in ok:
        value = ok["pipeline"]["cuts"]["f1"] - ok["baseline"]["cuts"]["f1"]
        ratios["cut F1 vcurate − baseline"] = {"value": round(value, 4), "target": "≥ 0", "met": value >= 0}
    ours = next((name for name in ("pipeline", "analysis") if name in ok), None)
    if ours and "datajuicer" in ok:
        value = ok[ours]["cuts"]["f1"] - ok["datajuicer"]["cuts"]["f1"]
        ratios[f"cut F1 vcurate ({ours}) − Data-Juicer"] = {"value": round(value, 4), "target": "", "met": None}
    summary = {
        **stamp(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
        "archive": {"videos": args.videos, "seconds": args.seconds, "size": args.size, "seed": args.seed,
                    "frames": frames["main"], "path": str(roots["main"])},
        "rss_archive": {"videos": args.rss_videos, "frames": frames.get("rss")} if "rss" in roots else None,
        "repeat": args.repeat, "results": results, "ratios": ratios,
        "load_average": {"start": args.load_start, "end": os.getloadavg()},  # others' work on a shared machine
    }
    lines = [f"# Pipeline benchmark ({args.videos} videos × ~{args.seconds:g} s at {args.size}, "
             f"{frames['main']} frames; {os.cpu_count()} CPUs)", "",
             "| measurement | wall s | frames/s | peak RSS MiB | cut F1 |", "|---|---:|---:|---:|---:|"]
    for name, r in results.items():
        label = LABELS[name].format(analyzers=", ".join(r.get("analyzers", [])), version=peer_datajuicer.DJ_VERSION)
        if "error" in r:
            lines.append(f"| {label} | failed: {r['error']} | | | |")
            continue
        f1 = r.get("cuts", {}).get("f1")
        lines.append(f"| {label} | {r['seconds']:.2f} | {r['frames_per_s']:.0f} | {r['peak_rss_mib']:.0f} | {fmt(f1, 3)} |")
    lines += ["", "| ratio | value | target | met |", "|---|---:|---|---|"]
    for name, r in ratios.items():
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {name} | {r['value']:.2f} | {r['target']} | {met} |")
    starts = [r["ray_start_seconds"] for r in ok.values() if "ray_start_seconds" in r]
    if starts:
        lines += ["", f"Pipeline times exclude Ray start-up ({min(starts):.1f}–{max(starts):.1f} s per job). "
                  "Parallelism p: p Ray CPUs for analysis and encoding (the CLIP actor on a CPU reserves none)."]
    if "baseline" in ok:
        b = ok["baseline"]
        lines.append(f"Baseline: PySceneDetect CLI {b['split_seconds']:.1f} s, then {b['clips']} clips "
                     f"({b['frames_decoded_again']} frames) decoded again for blur and shake.")
    if "datajuicer" in ok:
        lines += datajuicer_lines(ok["datajuicer"], ok.get("analysis"))
    if args.repeat > 1:
        lines.append(f"{', '.join(REPEATED)}: best of {args.repeat} interleaved runs (every run in the JSON).")
    lines.append("Peak RSS sums the resident memory of the measured process and all its descendants. Load average "
                 f"(1, 5, 15 min) at the start {fmt_load(args.load_start)}, at the end {fmt_load(os.getloadavg())}.")
    save(f"bench_pipeline-{args.size}", summary, lines)


def datajuicer_lines(dj: dict, analysis: dict | None) -> list[str]:
    """The peer's footnote, and how its motion filter and our shake filter treat each kind of shot."""
    ops = ", ".join(f"{name.removeprefix('video_')} {seconds:.1f} s" for name, seconds in dj["op_seconds"].items())
    installed = ", ".join(dj["installed_during_run"]) or "nothing"
    low, high = dj["motion_default_range"]
    keeps = f"≥ {low:g}" if high >= sys.float_info.max else f"in [{low:g}, {high:g}]"
    lines = [f"Data-Juicer: its time starts after its imports ({dj['start_seconds']:.1f} s); {dj['cpu_seconds']:.0f} "
             f"CPU-s for its whole process tree, imports included; per op: {ops}. {dj['clips']} clips; "
             f"{dj['videos_kept']} of {dj['videos']} videos kept (a video stays when any of its clips passes); "
             f"installed at run time: {installed}. Its job re-encodes every scene and runs two filters; 6÷3 sets it "
             "against our whole job (which encodes the kept clips and scores blur, text, CLIP, duplicates too), 6÷2 "
             "against our analysis pass, which encodes nothing.", "",
             f"Motion per kind of shot: Data-Juicer's motion score (mean optical-flow magnitude, pixels) and its "
             f"default rule (keep a clip scoring {keeps})"
             + (f"; vcurate's shake score and its rule (reject above {analysis['shake_max_score']:g})." if analysis else "."),
             "", "| shot kind | DJ clips | DJ motion score median (min–max) | DJ drops |"
             + (" vcurate clips | shake score median (min–max) | rejected for shake |" if analysis else ""),
             "|---|" + "---:|" * (6 if analysis else 3)]
    for kind, d in dj["motion_filter"].items():
        row = f"| {kind} | {d['clips']} | {spread(d)} | {d['rejected']} |"
        if analysis:
            v = analysis["shake_filter"][kind]
            row += f" {v['clips']} | {spread(v)} | {v['rejected']} |"
        lines.append(row)
    return lines + [""]


def fmt_load(load: tuple[float, ...]) -> str:
    return "/".join(f"{value:.1f}" for value in load)


def spread(d: dict) -> str:
    return "–" if d["median"] is None else f"{d['median']:.2f} ({d['min']:.2f}–{d['max']:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0, help="about this long each")
    parser.add_argument("--size", default="640x360", help="WxH of every video")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--cache", type=Path, default=Path(__file__).parent / "cache",
                        help="where archives are made once and kept")
    parser.add_argument("--rss-videos", type=int, help="videos of the larger archive for the memory and scaling checks "
                        "(default 2 x --videos; 0 skips it)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one measurement may take")
    parser.add_argument("--repeat", type=int, default=2, help=f"runs of {', '.join(REPEATED)} (the best counts)")
    parser.add_argument("--dj-venv", type=Path, help="Data-Juicer's own virtual environment, made on first use "
                        "(default CACHE/dj-venv)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(MEASUREMENTS)}")
    parser.add_argument("--profile", type=int, metavar="N", help="print the top N functions of a cProfile of "
                        "the analysis pass instead of measuring")
    parser.add_argument("--child", choices=sorted(CHILD), help=argparse.SUPPRESS)
    parser.add_argument("--archive", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--parallelism", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--dj-python", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.load_start = os.getloadavg()
    if args.child:
        result = CHILD[args.child](args.archive, args.work, args)
        Path(args.work, "result.json").write_text(json.dumps(result))
        return

    size = tuple(int(v) for v in args.size.lower().split("x"))
    args.rss_videos = 2 * args.videos if args.rss_videos is None else args.rss_videos
    wanted = args.only.split(",") if args.only else list(MEASUREMENTS)
    unknown = set(wanted) - set(MEASUREMENTS)
    if unknown:
        parser.error(f"unknown measurement(s): {', '.join(sorted(unknown))}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not args.rss_videos:
        wanted = [name for name in wanted if name not in LARGER_ARCHIVE]
    roots = {"main": ensure_archive(args.cache, args.videos, args.seconds, size, args.seed)}
    if args.profile:
        profile_analysis(roots["main"], args.profile)
        return
    if set(wanted) & set(LARGER_ARCHIVE):
        roots["rss"] = ensure_archive(args.cache, args.rss_videos, args.seconds, size, args.seed)
    frames = {key: archive_frames(root) for key, root in roots.items()}
    for root in roots.values():  # from the page cache from now on, for every measurement alike
        for path in (root / "raw").rglob("*.mp4"):
            path.read_bytes()
    plan = {"decode": ("decode", None), "analysis": ("analysis", None), "pipeline": ("pipeline", None),
            "baseline": ("baseline", None), "p1": ("pipeline", 1), "p2": ("pipeline", 2),
            "rss-2x": ("pipeline", None), "p1-2x": ("pipeline", 1), "p2-2x": ("pipeline", 2),
            "datajuicer": ("datajuicer", None)}
    runs: dict[str, list[dict]] = {name: [] for name in wanted}
    extra = []
    if "datajuicer" in wanted:
        try:
            extra = ["--dj-python", str(peer_datajuicer.ensure_venv((args.dj_venv or args.cache / "dj-venv").absolute()))]
        except peer_datajuicer.SetupError as exc:
            print(f"datajuicer: {exc}", file=sys.stderr)
            runs["datajuicer"].append({"error": str(exc)})
            wanted.remove("datajuicer")
    for round_ in range(args.repeat):
        for name in wanted if round_ == 0 else [n for n in wanted if n in REPEATED]:
            kind, parallelism = plan[name]
            print(f"measuring {name} (run {round_ + 1}) ...", file=sys.stderr, flush=True)
            root = roots["rss" if name in LARGER_ARCHIVE else "main"]
            runs[name].append(run_measured(kind, root, parallelism, args.timeout, extra if kind == "datajuicer" else []))
    report(args, roots, frames, {name: best_run(r) for name, r in runs.items()})


def best_run(runs: list[dict]) -> dict:
    """The fastest successful run, with every run's time and the highest peak RSS of them all."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    best = min(ok, key=lambda r: r["seconds"])
    return {**best, "peak_rss_mib": max(r["peak_rss_mib"] for r in ok),
            "runs_seconds": [round(r["seconds"], 3) if "error" not in r else r["error"] for r in runs]}


if __name__ == "__main__":
    main()
