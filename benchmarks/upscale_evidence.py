"""What tells a 1.5-4x upscale from native footage once x264 has compressed it (issue #19), measured.

For every calibration source (benchmarks/footage_corpus.py; report sources are not read) one
stretch of 10 frames is made into variants, each encoded with libx264 at CRF 18, 23, 28, 35 and
40 and decoded back:
  negatives  the native frames, the same with Gaussian noise (sigma 4), and the area-downscaled
             renditions 640x360 and 480x270 where smaller than the source (how web versions are made);
  upscales   downscaled 1.5, 2, 3 and 4x (area) and scaled back up bilinear, bicubic and Lanczos.
Each candidate score is taken on the full-resolution luma of frames 3, 6 and 9, median per variant
(as the pipeline aggregates a clip), and judged at the most lenient threshold that rejects no
negative: the share of upscales it then catches, by factor and CRF. Candidates:
  detail       the shipped detail_score (vcurate.analyze.sharpness.native_detail): RMS of the
               0.19-0.31 over the 0.06-0.125 cycles/px band of the textured tiles' power spectrum;
  knee         the strongest spectral knee: over cut-offs 1/8-3/8 cycles/px, the drop in log power
               across the cut-off beyond the drop just below it (an upscale's cut-off at its
               source's Nyquist frequency is sharp, compression's roll-off gradual);
  tile_max     the detail band ratio of the single most detailed of the 16 most textured tiles (a
               native frame has some region in focus, an upscale none);
  periodicity  resampling traces (Popescu & Farid 2005, Kirchner 2008): the row- and column-mean
               local energy of a band-passed luma (0.7-2 px difference of Gaussians, squared) is
               periodic with the upscale's source pixel pitch; the strongest peak of its spectrum
               over the median, the geometric mean of the horizontal and vertical ones, with the
               harmonics of the codec's 8- and 16-pixel block grid counted only as far as they
               exceed its odd 1/8 and 3/8 harmonics.

    .venv/bin/python benchmarks/upscale_evidence.py [--cache benchmarks/cache/footage]

Writes benchmarks/results/upscale_evidence-<date>-<host>.{json,md}.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

from vcurate.analyze.sharpness import _WINDOW, TILE, native_detail, textured_tiles
from vcurate.media.encode import write_mp4

from footage_corpus import CACHE, fetch  # benchmarks/footage_corpus.py
from results_io import save, stamp  # benchmarks/results_io.py

CRFS = (18, 23, 28, 35, 40)
FACTORS = (1.5, 2.0, 3.0, 4.0)
KERNELS = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}
RENDITIONS = ((640, 360), (480, 270))
SCORED_FRAMES = (3, 6, 9)


def axis_profiles(tiles: np.ndarray) -> np.ndarray:
    """Per tile, windowed power by |fx| plus power by |fy|, bins 0..TILE/2 (cycles/px = bin / TILE)."""
    tiles = tiles - tiles.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.rfft2(tiles * _WINDOW)) ** 2
    rows = power.sum(axis=2)
    by_fy = rows[:, : TILE // 2 + 1].copy()
    by_fy[:, 1 : TILE // 2] += rows[:, : -TILE // 2 : -1]
    return power.sum(axis=1) + by_fy


def knee(luma: np.ndarray) -> float:
    """Minus the strongest knee of the 8 textured tiles' pooled log spectrum (high: no knee, native)."""
    p = axis_profiles(textured_tiles(luma, 8)).sum(axis=0)
    best = -np.inf
    for c in range(8, 25):
        prior, below, above = (np.log(p[a:b].mean()) for a, b in ((c - 6, c - 3), (c - 3, c), (c + 1, min(c + 5, 33))))
        best = max(best, (below - above) - max(0.0, prior - below))
    return float(-best)


def tile_max(luma: np.ndarray) -> float:
    p = axis_profiles(textured_tiles(luma, 16))
    return float(np.sqrt(p[:, 12:20].sum(1) / (p[:, 4:8].sum(1) + 1e-3)).max())


GRID = np.linspace(0, 0.5, 513)  # cycles/px


def _near(f0: float, bins: float) -> np.ndarray:
    return np.abs(GRID - f0) <= bins * 0.5 / (len(GRID) - 1)


BLOCK_HARMONICS = np.any([_near(m / 16, 3) for m in range(1, 9)], axis=0)


def _energy_period_spectrum(luma: np.ndarray) -> np.ndarray:
    """Spectrum of the column-mean band-passed energy along x, over its median, max-pooled on GRID."""
    y = luma.astype(np.float32)
    band = cv2.GaussianBlur(y, (0, 0), sigmaX=0.7, sigmaY=0.01) - cv2.GaussianBlur(y, (0, 0), sigmaX=2.0, sigmaY=0.01)
    energy = (band * band).mean(axis=0)[16:-16]
    spectrum = np.abs(np.fft.rfft((energy - energy.mean()) * np.hanning(len(energy))))
    freq = np.fft.rfftfreq(len(energy))
    spectrum /= np.median(spectrum[freq > 0.05])
    pooled = np.zeros(len(GRID))
    np.maximum.at(pooled, np.clip(np.round(freq * 2 * (len(GRID) - 1)).astype(int), 0, len(GRID) - 1), spectrum)
    return pooled


def periodicity(luma: np.ndarray) -> float:
    both = np.sqrt(_energy_period_spectrum(luma) * _energy_period_spectrum(np.ascontiguousarray(luma.T)))
    blocks = max(both[_near(1 / 8, 1.5)].max(), both[_near(3 / 8, 1.5)].max(), 1.0)
    judged = np.where(BLOCK_HARMONICS, both / blocks, both)
    return float(judged[GRID > 0.06].max())


CANDIDATES = {  # name -> (score of one full-resolution luma, side rejected as upscaled)
    "detail": (lambda luma: native_detail(textured_tiles(luma)), "below"),
    "knee": (knee, "below"),
    "tile_max": (tile_max, "below"),
    "periodicity": (periodicity, "above"),
}


def source_frames(path: Path, n: int = 10) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first = int((stream.frames or 100) * 0.5)
        frames = []
        for i, frame in enumerate(container.decode(stream)):
            if i >= first:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == n:
                break
    h, w = frames[0].shape[:2]
    size = (min(1280, w // 2 * 2), min(720, h // 2 * 2))
    return [np.ascontiguousarray(f[: size[1], : size[0]]) for f in frames]


def variants(frames: list[np.ndarray], rng: np.random.Generator):
    """(name, kind, factor, frames) of every variant of one stretch."""
    h, w = frames[0].shape[:2]
    yield "native", "native", None, frames
    yield "native+noise4", "native", None, [np.clip(f + rng.normal(0, 4, f.shape), 0, 255).astype(np.uint8) for f in frames]
    for rw, rh in RENDITIONS:
        if rw * rh < w * h and rw <= w and rh <= h:
            scale = min(rw / w, rh / h)
            cw, ch = int(rw / scale) // 2 * 2, int(rh / scale) // 2 * 2
            yield f"rendition{rw}x{rh}", "rendition", None, [cv2.resize(f[:ch, :cw], (rw, rh), interpolation=cv2.INTER_AREA) for f in frames]
    for k in FACTORS:
        small = [cv2.resize(f, (round(w / k), round(h / k)), interpolation=cv2.INTER_AREA) for f in frames]
        for name, flag in KERNELS.items():
            yield f"up{k:g}x-{name}", "upscaled", k, [cv2.resize(s, (w, h), interpolation=flag) for s in small]


def x264_luma(frames: list[np.ndarray], crf: int, work: Path) -> list[np.ndarray]:
    """The frames through libx264 at `crf`, decoded back: the Y planes the pipeline analyses."""
    h, w = frames[0].shape[:2]
    write_mp4(work / "v.mp4", iter(frames), (w, h), 25, crf)
    with av.open(str(work / "v.mp4")) as container:
        return [np.frombuffer(f.planes[0], np.uint8).reshape(-1, f.planes[0].line_size)[:h, :w]
                for i, f in enumerate(container.decode(video=0)) if i in SCORED_FRAMES]


def measure(split_dir: Path) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(p for p in split_dir.iterdir() if p.is_file() and p.suffix != ".json" and p.suffix != ".md"):
            for name, kind, factor, frames in variants(source_frames(path), rng):
                for crf in CRFS:
                    lumas = x264_luma(frames, crf, Path(tmp))
                    rows.append({"source": path.name, "variant": name, "kind": kind, "factor": factor, "crf": crf,
                                 **{c: float(np.median([f(l) for l in lumas])) for c, (f, _) in CANDIDATES.items()}})
            print(path.name, len(rows), flush=True)
    return rows


def judge(rows: list[dict]) -> dict:
    """Per candidate: the most lenient threshold rejecting no negative, and what it catches."""
    out = {}
    negatives = [r for r in rows if r["kind"] != "upscaled"]
    upscales = [r for r in rows if r["kind"] == "upscaled"]
    for name, (_, side) in CANDIDATES.items():
        sign = 1.0 if side == "below" else -1.0  # sign * score below sign * threshold is rejected
        threshold = min(sign * r[name] for r in negatives)
        worst = min(negatives, key=lambda r: sign * r[name])
        caught = [r for r in upscales if sign * r[name] < threshold]

        def share(pred):
            pool = [r for r in upscales if pred(r)]
            return [sum(r in caught for r in pool), len(pool)]

        out[name] = {"side": side, "threshold": sign * threshold, "set_by": f"{worst['source']} {worst['variant']} CRF {worst['crf']}",
                     "caught": share(lambda r: True),
                     "by_factor_crf": {f"{k:g}x CRF {c}": share(lambda r, k=k, c=c: r["factor"] == k and r["crf"] == c)
                                       for k in FACTORS for c in CRFS},
                     "2-3x CRF 23": share(lambda r: r["factor"] in (2.0, 3.0) and r["crf"] == 23),
                     "by_source_2-3x_crf_18-28": {s: share(lambda r, s=s: r["source"] == s and r["factor"] in (2.0, 3.0) and r["crf"] <= 28)
                                                  for s in sorted({r["source"] for r in rows})}}
    return out


def _pct(pair) -> str:
    part, whole = pair
    return f"{100 * part / whole:.0f} % ({part}/{whole})" if whole else "–"


def markdown(summary: dict) -> list[str]:
    judged = summary["candidates"]
    names = list(judged)
    lines = [f"# Upscale evidence on calibration footage ({summary['date']}, {summary['host']})", "",
             f"Calibration sources only ({len(summary['sources'])}): {', '.join(summary['sources'])}. Each variant's score is the median "
             "over 3 decoded frames; every candidate at the most lenient threshold that rejects no native, noisy-native or "
             "area-downscaled variant at any CRF. Share of upscales caught:", "",
             "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names),
             "| threshold (side) | " + " | ".join(f"{judged[n]['threshold']:.3g} ({judged[n]['side']})" for n in names) + " |",
             "| set by | " + " | ".join(judged[n]["set_by"] for n in names) + " |",
             "| all upscales | " + " | ".join(_pct(judged[n]["caught"]) for n in names) + " |",
             "| 2-3x at CRF 23 (the renditions criterion of #19) | " + " | ".join(_pct(judged[n]["2-3x CRF 23"]) for n in names) + " |"]
    for key in judged[names[0]]["by_factor_crf"]:
        lines.append(f"| {key} | " + " | ".join(_pct(judged[n]["by_factor_crf"][key]) for n in names) + " |")
    lines += ["", "2-3x upscales at CRF 18-28 caught, per source:", "",
              "| source | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for source in summary["sources"]:
        lines.append(f"| {source} | " + " | ".join(_pct(judged[n]["by_source_2-3x_crf_18-28"][source]) for n in names) + " |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--name", default="upscale_evidence")
    args = parser.parse_args()
    rows = measure(fetch(args.cache) / "calibration")
    summary = {**stamp(), "sources": sorted({r["source"] for r in rows}), "candidates": judge(rows), "rows": rows}
    save(args.name, summary, markdown(summary))


if __name__ == "__main__":
    main()
