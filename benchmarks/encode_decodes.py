"""How many frames the encode stage decodes per frame it keeps (issue #25: one seek per kept clip or one
decode per video), on real footage with its own keyframe spacing.

Each source file of the footage corpus (benchmarks/footage_corpus.py, as published: no re-encode) is
analysed and filtered with the default pipeline (captions assumed present, CLIP off); its kept clips
are then counted three ways from the file's keyframe index, with no timing noise:
  seek   today: each kept clip is decoded from the keyframe at or before its start
  once   one decode of the video, from the first kept clip's keyframe to the last kept clip's end
  adjacent  one decode per run of kept clips that follow one another (no rejected frame between), a seek
         before each run: needs no keyframe index
  plan   one decode per run of clips whose keyframe spans overlap, a seek between runs (the least that
         decodes each kept frame)

    .venv/bin/python benchmarks/encode_decodes.py [--cache benchmarks/cache/footage]

Writes benchmarks/results/encode_decodes-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import bisect
from pathlib import Path

import av
import numpy as np

from footage_corpus import CACHE, fetch  # benchmarks/footage_corpus.py
from results_io import save, stamp

from vcurate.config import PipelineConfig
from vcurate.stages.analyze import analyze_video
from vcurate.stages.filter import filter_clip
from vcurate.stages.ingest import VideoTask

WAYS = ("seek", "once", "adjacent", "plan")


def frame_index(path: Path) -> tuple[np.ndarray, list[float]]:
    """Every frame's presentation time (sorted) and the keyframes' times, from the packets alone."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(float(p.pts * stream.time_base), p.is_keyframe) for p in container.demux(stream) if p.pts is not None]
    return np.sort([t for t, _ in packets]), sorted(t for t, key in packets if key)


def decoded_frames(times: np.ndarray, keys: list[float], clips: list[tuple[float, float]]) -> dict[str, int]:
    def count(start: float, end: float) -> int:
        return int(((times >= start - 1e-6) & (times < end - 1e-6)).sum())

    def keyframe_before(t: float) -> float:
        return keys[max(bisect.bisect_right(keys, t + 1e-6) - 1, 0)]

    spans = [(keyframe_before(start), end) for start, end in clips]
    runs: list[list[float]] = []
    for start, end in sorted(spans):
        if runs and start <= runs[-1][1] + 1e-6:
            runs[-1][1] = max(runs[-1][1], end)
        else:
            runs.append([start, end])
    adjacent: list[list[float]] = []
    for start, end in clips:
        if adjacent and abs(start - adjacent[-1][1]) < 1e-6:
            adjacent[-1][1] = end
        else:
            adjacent.append([start, end])
    return {
        "kept": sum(count(start, end) for start, end in clips),
        "adjacent": sum(count(keyframe_before(start), end) for start, end in adjacent),
        "seek": sum(count(start, end) for start, end in spans),
        "once": count(spans[0][0], clips[-1][1]),
        "plan": sum(count(start, end) for start, end in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=CACHE, help="the footage corpus (fetched there when missing)")
    args = parser.parse_args()
    root = fetch(args.cache)
    cfg = PipelineConfig()
    cfg.align.enabled = False
    rows = []
    for path in sorted(p for p in root.glob("*/*") if p.suffix not in (".json", ".md")):
        analysis = analyze_video(VideoTask(video=path.name, path=str(path)), cfg)
        for clip in analysis.clips:
            clip.caption = clip.caption or "a caption"  # the corpus has no captions: judge the pictures only
        kept = [(c.start_s, c.end_s) for c in (filter_clip(c, cfg.filters) for c in analysis.clips) if c.status == "kept"]
        times, keys = frame_index(path)
        gap = float(np.median(np.diff(keys))) if len(keys) > 1 else None
        row = {"file": f"{path.parent.name}/{path.name}", "clips": len(analysis.clips), "kept_clips": len(kept),
               "keyframe_gap_s": gap, **(decoded_frames(times, keys, kept) if kept else {})}
        rows.append(row)
        print(row, flush=True)
    counted = [r for r in rows if r.get("kept")]
    total = {k: sum(r[k] for r in counted) for k in ("kept", *WAYS)}
    summary = {**stamp(), "files": rows, "total": total}
    md = ["# Frames the encode stage decodes per kept frame (real footage, default filters, CLIP off)", "",
          "| file | clips | kept | keyframe gap s | " + " | ".join(WAYS) + " |", "|---|---:|---:|---:|" + "---:|" * len(WAYS)]
    for r in rows:
        ratios = " | ".join(f"{r[w] / r['kept']:.2f}" if r.get("kept") else "–" for w in WAYS)
        gap = "–" if r["keyframe_gap_s"] is None else f"{r['keyframe_gap_s']:.2f}"
        md.append(f"| {r['file']} | {r['clips']} | {r['kept_clips']} | {gap} | {ratios} |")
    md.append(f"| **all ({total['kept']} kept frames)** | | | | "
              + " | ".join(f"**{total[w] / total['kept']:.2f}**" for w in WAYS) + " |")
    md += ["", "seek: a clip decoded from the keyframe at or before its start (today); once: the video decoded once "
           "from the first kept clip to the last; adjacent: one decode per run of kept clips with no rejected frame between; plan: one decode per run of clips whose keyframe spans overlap."]
    save("encode_decodes", summary, md)


if __name__ == "__main__":
    main()
