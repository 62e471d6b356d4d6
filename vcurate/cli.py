"""`vcurate` command line: every command of the toolkit."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


class UserError(Exception):
    """Something the user can fix; printed as one clear line, exit status 2."""


def _synth(args) -> None:
    from rich.progress import Progress

    from vcurate.synth.archive import make_archive

    if args.videos < 1:
        raise UserError("--videos must be at least 1")
    with Progress(console=console, disable=args.quiet) as bar:
        task = bar.add_task("writing synthetic videos", total=args.videos)
        truth = make_archive(args.out, args.videos, args.seed, progress=lambda done, _: bar.update(task, completed=done))
    shots = sum(len(v.shots) for v in truth)
    console.print(f"wrote {len(truth)} videos ({shots} shots) to {Path(args.out) / 'raw'}, truth in ground_truth.jsonl")


def _run(args) -> None:
    from vcurate.config import load_config
    from vcurate.job import run_job

    cfg = load_config(args.config)
    for section, key, value in (("input", "path", args.input), ("input", "manifest", args.manifest), ("output", "path", args.output)):
        if value is not None:
            setattr(getattr(cfg, section), key, value)
    summary = run_job(cfg, overwrite=args.overwrite, engine=args.engine, progress=not args.quiet)
    print_summary(summary)


def print_summary(summary) -> None:
    table = Table(title=f"vcurate run → {summary.output}")
    table.add_column("step")
    table.add_column("count", justify="right")
    counts = summary.as_dict()
    table.add_row("videos", str(counts["videos"]))
    table.add_row("  failed", str(counts["failed"]))
    table.add_row("clips found", str(counts["clips"]))
    for reason, n in counts["reasons"].items():
        table.add_row(f"  rejected: {reason}", str(n))
    table.add_row("clips kept", str(counts["kept"]))
    table.add_row("shards", str(counts["shards"]))
    table.add_row("hours in / kept", f"{counts['hours_in']:.3f} / {counts['hours_kept']:.3f}")
    table.add_row("wall time (s)", f"{summary.seconds.get('wall', 0):.1f}")
    console.print(table)


def _eval(args) -> None:
    from vcurate.synth.eval import evaluate

    out = Path(args.output)
    if not (out / "videos.parquet").is_file():
        raise UserError(f"{out} holds no pipeline output (videos.parquet missing); run `vcurate run` first")
    truth = Path(args.truth)
    if not truth.is_file():
        raise UserError(f"ground truth not found: {truth}")
    print(json.dumps(evaluate(out, truth, args.tolerance), indent=2))


def _schemas(args) -> None:
    from vcurate.schemas import write_schemas

    for path in write_schemas(Path(args.folder)):
        console.print(f"wrote {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vcurate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write a synthetic captioned archive with ground truth")
    p.add_argument("out", help="output folder (videos go to OUT/raw, truth to OUT/ground_truth.jsonl)")
    p.add_argument("--videos", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=_synth)

    p = sub.add_parser("run", help="curate a raw archive into webdataset shards")
    p.add_argument("config", help="pipeline YAML, e.g. pipelines/default.yaml")
    p.add_argument("--input", help="raw archive folder (overrides input.path)")
    p.add_argument("--output", help="output folder (overrides output.path)")
    p.add_argument("--manifest", help="caption manifest CSV/parquet (overrides input.manifest)")
    p.add_argument("--overwrite", action="store_true", help="replace the results of an earlier run in OUTPUT")
    p.add_argument("--engine", choices=("ray", "local"), default="ray", help="ray (default) or local (in-process, for debugging)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(fn=_run)

    p = sub.add_parser("eval", help="score a run against synthetic ground truth (JSON on stdout)")
    p.add_argument("output", help="output folder of `vcurate run`")
    p.add_argument("--truth", required=True, help="ground_truth.jsonl written by `vcurate synth`")
    p.add_argument("--tolerance", type=int, default=2, help="frames a detected cut may be off by")
    p.set_defaults(fn=_eval)

    p = sub.add_parser("schemas", help="regenerate the JSON schemas of configs, manifests and shard samples")
    p.add_argument("--folder", default="schemas")
    p.set_defaults(fn=_schemas)
    return parser


def main(argv: list[str] | None = None) -> int:
    from vcurate.config import ConfigError
    from vcurate.job import OutputExistsError
    from vcurate.stages.captions import CaptionError

    args = build_parser().parse_args(argv)
    try:
        args.fn(args)
    except (UserError, ConfigError, OutputExistsError, CaptionError, ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
