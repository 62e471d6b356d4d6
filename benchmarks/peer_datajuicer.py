"""A peer measured beside vcurate (issue #25): Data-Juicer's video scene split and its motion-score and
resolution filters, on bench_pipeline's archive.

Data-Juicer gets its own virtual environment (made on first use under the benchmark cache, reused
after), never vcurate's. Its wheel goes in without its dependencies, then torch from PyTorch's CPU
index (every op ends with torch.cuda.empty_cache(); PyPI's torch would bring CUDA's gigabytes), then
the list below: what its default executor imports, and what the three ops need. Left out: streamlit
(its web app), uv (its run-time installer), gitpython and mwparserfromhell (text ops). Data-Juicer
would install a missing module when first touched; benchmarks/datajuicer_driver.py refuses that, so
what ran is what `.installed` lists.

The job is what a Data-Juicer user writes for this: one sample per video, then
  video_split_by_scene_mapper  PySceneDetect's ContentDetector (threshold 27, min 15 frames), each scene
                               cut out with ffmpeg (its defaults: libx264, a re-encode of every frame)
  video_motion_score_filter    Farneback optical flow on frames 0.5 s apart (2 fps), keeps a video
                               when a clip's mean flow magnitude is in [0.25, inf) pixels
  video_resolution_filter      keeps videos of at least 1x1 pixels
all at their defaults, np = the machine's CPUs.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

DJ_VERSION = "1.6.1"
REQUIREMENTS = [
    # what `import data_juicer`, its config and its default executor import (its own pins kept)
    "loguru", "jsonargparse[signatures]", "jsonlines", "datasets>=4.7.0", "pydantic>=2.0", "numpy>=1.26.4",
    "pandas", "pillow", "psutil", "regex", "requests", "tabulate", "tqdm", "zstandard", "lz4", "dill==0.3.8",
    "multiprocess==0.70.16", "httpx", "fsspec>=2026.1.0", "tomli", "tomli-w", "dep-logic", "aiohttp", "wget",
    "emoji==2.2.0", "beautifulsoup4",
    "ray",  # data_juicer.core imports its Ray executor, which decorates with @ray.remote at import
    # the three ops: PySceneDetect (needs opencv-python), OpenCV's optical flow, an ffmpeg binary, and PyAV
    # at its "vision" extra's pin (its close_video calls a method later PyAV releases dropped)
    "scenedetect", "opencv-python", "imageio-ffmpeg", "av==13.1.0",
]
DRIVER = Path(__file__).with_name("datajuicer_driver.py")
TORCH = ["torch", "--index-url", "https://download.pytorch.org/whl/cpu", "--retries", "1", "--timeout", "20"]
PIP_TIMEOUT = 1800  # seconds for the whole install


class SetupError(Exception):
    """The Data-Juicer environment could not be made; the message is one line."""


class JobError(Exception):
    """The Data-Juicer job failed; the message is its log's last line (the log's end went to stderr)."""


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path) -> Path:
    """The Python of the Data-Juicer environment, made first if missing (a half-made one is made
    again, one made from another list of requirements is topped up); `.installed` lists what went in."""
    marker = venv / ".installed"
    wanted = f"# py-data-juicer=={DJ_VERSION} --no-deps, then: {' '.join(TORCH)}; {' '.join(REQUIREMENTS)}"
    if marker.exists() and marker.read_text().splitlines()[0] == wanted:
        return venv_python(venv)
    python = str(venv_python(venv))
    pip = [python, "-m", "pip", "install", "--quiet"]
    # PyTorch's CPU index where it is reachable, else the registry's torch (larger: CUDA libraries included)
    steps = [("pip install torch (CPU)", [*pip, *TORCH], [*pip, "torch"]),
             ("pip install of its requirements", [*pip, *REQUIREMENTS])]
    if not marker.exists():
        if venv.exists():
            shutil.rmtree(venv)
        steps[:0] = [(f"python -m venv {venv}", [sys.executable, "-m", "venv", str(venv)]),
                     (f"pip install py-data-juicer=={DJ_VERSION}", [*pip, "--no-deps", f"py-data-juicer=={DJ_VERSION}"])]
    print(f"installing Data-Juicer into {venv} (once) ...", file=sys.stderr, flush=True)
    deadline = time.monotonic() + PIP_TIMEOUT
    for what, *commands in steps:
        _first_that_works(what, commands, deadline)
    marker.write_text(f"{wanted}\n{freeze(Path(python))}")
    return Path(python)


def _first_that_works(what: str, commands: list[list[str]], deadline: float) -> None:
    """Run `commands` in turn until one succeeds; SetupError with the last one's last line if none does."""
    for attempt, step in enumerate(commands, 1):
        try:
            subprocess.run(step, check=True, capture_output=True, text=True, timeout=max(1, deadline - time.monotonic()))
            return
        except subprocess.TimeoutExpired:
            raise SetupError(f"Data-Juicer environment: `{what}` outlived the {PIP_TIMEOUT} s allowed") from None
        except subprocess.CalledProcessError as exc:
            if attempt < len(commands):
                continue
            lines = [line for line in (exc.stderr or exc.stdout or "").splitlines() if line.strip()
                     and not line.startswith("WARNING")]
            raise SetupError(f"Data-Juicer environment: `{what}` failed: {lines[-1] if lines else f'exit {exc.returncode}'}") from None


def freeze(python: Path) -> str:
    return subprocess.run([str(python), "-m", "pip", "freeze", "--quiet"], check=True, capture_output=True,
                          text=True).stdout


def job_config(videos: list[Path], raw: Path, work: Path) -> Path:
    """The dataset (one sample per video) and the Data-Juicer config of the job; JSON, which is YAML."""
    dataset = work / "dataset.jsonl"
    with dataset.open("w") as f:
        for video in videos:
            f.write(json.dumps({"videos": [str(video)], "text": "<__dj__video>",
                                "video": video.relative_to(raw).as_posix()}) + "\n")
    config = {
        "project_name": "vcurate-bench", "dataset_path": str(dataset), "export_path": str(work / "kept.jsonl"),
        "np": os.cpu_count(), "keep_stats_in_res_ds": True, "skip_op_error": False, "open_monitor": False,
        "process": [
            {"video_split_by_scene_mapper": {"save_dir": str(work / "clips")}},
            {"video_motion_score_filter": {"stats_export_path": str(work / "motion.jsonl")}},
            {"video_resolution_filter": {}},
        ],
    }
    path = work / "job.yaml"
    path.write_text(json.dumps(config, indent=1))
    return path


def run_job(python: Path, raw: Path, work: Path) -> dict:
    """Run the job in the Data-Juicer environment: the driver's report, plus the CPU seconds of the
    whole process tree (this process adopts orphaned descendants, so forkserver workers count too)."""
    videos = sorted(raw.rglob("*.mp4"))
    config = job_config(videos, raw, work)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(work / "hf"), "DJ_PRODUCED_DATA_DIR": str(work / "produced")}
    adopt_orphans()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = work / "driver.json"
    with (work / "driver.log").open("w") as log:
        done = subprocess.run([str(python), str(DRIVER), str(config), str(result)], stdout=log,
                              stderr=subprocess.STDOUT, env=env, cwd=work)
    reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode or not result.exists():
        tail = [line for line in (work / "driver.log").read_text().splitlines() if line.strip()][-40:]
        print("the Data-Juicer job's log ends:", *tail, sep="\n", file=sys.stderr)
        raise JobError(f"exit {done.returncode}: {tail[-1] if tail else 'no output'}")
    report = json.loads(result.read_text())
    report["cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report["installed"] = (python.parent.parent / ".installed").read_text().splitlines()[1:]
    now = freeze(python).splitlines()
    report["installed_during_run"] = sorted(set(now) - set(report["installed"]))
    return report


PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> None:
    """Become the subreaper of this process's descendants (Linux), so their CPU time reaches
    RUSAGE_CHILDREN even when their own parent ended first."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # elsewhere the CPU time of orphans is left out


def reap_orphans(patience: float = 30.0) -> None:
    """Wait for the adopted descendants to end (forkserver workers shutting down), at most `patience` s."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # none left
        if pid == 0:
            time.sleep(0.1)
