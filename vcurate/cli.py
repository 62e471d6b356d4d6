"""`vcurate` command line: every command of the toolkit."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from vcurate.errors import InputError, VcurateError

console = Console(stderr=True)


def _synth(args) -> None:
    from dataclasses import replace

    from rich.progress import Progress

    if args.videos < 1:
        raise InputError("--videos must be at least 1")
    if args.from_footage:
        from vcurate.synth.footage import FootageSpec, footage_files, make_footage_archive

        if args.clean:
            raise InputError("--clean is for rendered archives; footage archives always carry faults")
        if args.balanced_subjects:
            raise InputError("--balanced-subjects is for rendered archives; footage shots show what their sources show")
        footage_files(args.from_footage)  # a wrong folder is one error before the progress bar
        spec = FootageSpec() if args.size is None else replace(FootageSpec(), sizes=(args.size,))

        def write(progress):
            return make_footage_archive(args.out, args.from_footage, args.videos, args.seed, spec, progress=progress,
                                        warn=lambda line: console.print(f"[yellow]{line}[/yellow]", highlight=False))
    else:
        from vcurate.synth.archive import SynthSpec, clean_spec, make_archive

        if args.size is not None:
            raise InputError("--size is for --from-footage archives")
        spec = replace(clean_spec() if args.clean else SynthSpec(), balanced_subjects=args.balanced_subjects)

        def write(progress):
            return make_archive(args.out, args.videos, args.seed, spec, progress=progress)

    with Progress(console=console, disable=args.quiet) as bar:
        task = bar.add_task("writing labelled videos", total=args.videos)
        truth = write(lambda done, _: bar.update(task, completed=done))
    shots = sum(len(v.shots) for v in truth)
    console.print(f"wrote {len(truth)} videos ({shots} shots) to {Path(args.out) / 'raw'}, truth in ground_truth.jsonl")


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 640x360, got {text!r}") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"size {text!r}: both sides must be even and at least 16")
    return width, height


def _clip_fit(args) -> None:
    from rich.progress import Progress, TextColumn

    from vcurate.clipfit import collect_pairs, fit_clip, save_checkpoint
    from vcurate.models.clip import model_config

    if args.steps < 1 or args.batch_size < 2:
        raise InputError("--steps must be >= 1 and --batch-size >= 2")
    if not 0 < args.min_kept <= 1:
        raise InputError("--min-kept must be a fraction in (0, 1]")
    model_config(args.model)
    with Progress(*Progress.get_default_columns(), TextColumn("{task.fields[loss]}"), console=console, disable=args.quiet) as bar:
        task = bar.add_task("reading frames", total=None, loss="")
        pairs = collect_pairs(args.input, args.model, progress=lambda d, t: bar.update(task, completed=d, total=t),
                              settings=args.set)
        if not pairs:
            raise InputError(f"no captioned clips found under {args.input}")
        bar.update(task, description=f"training on {len(pairs)} clips", completed=0, total=args.steps)
        clip, result = fit_clip(
            pairs, model_name=args.model, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
            max_minutes=args.max_minutes, min_kept=args.min_kept, progress=lambda d, t, loss: bar.update(task, completed=d, loss=f"loss {loss:.3f}"),
        )
    save_checkpoint(args.output, clip, result)
    console.print(f"wrote {args.output}: threshold {result.threshold:.4f}, held-out {result.calibration}")


def _run(args) -> None:
    if args.engine != "ray":  # a job run in-process decodes in its own child: its imports overlap ours
        from vcurate.isolation import prestart

        prestart()
    from vcurate.config import load_config, with_settings
    from vcurate.job import run_job

    options = (
        ("input.path", args.input), ("input.manifest", args.manifest), ("output.path", args.output),
        ("align.model", args.clip_model), ("align.pretrained", args.clip_pretrained),
        ("align.min_score", args.clip_min_score),
    )
    settings = [(path, value) for path, value in options if value is not None] + args.set
    if args.dedup_against:
        settings.append(("filters.duplicate.against", args.dedup_against))
    cfg = with_settings(load_config(args.config), settings, "pipeline config")
    summary = run_job(cfg, overwrite=args.overwrite, engine=args.engine, progress=not args.quiet)
    if summary.status == "complete":
        console.print(f"nothing to do: {summary.output} already holds this job, finished ({summary.kept} clips "
                      f"kept in {len(summary.shards)} shards); pass --overwrite to run it again")
        return
    if summary.status == "resumed":
        console.print(f"resumed: {summary.skipped} videos were committed by an earlier attempt")
    print_summary(summary)
    from vcurate.report.html import write_report

    console.print(f"report: {write_report(summary.output)}")


def _min_score(text: str):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a number or 'auto'") from None


def print_summary(summary) -> None:
    table = Table(title=f"vcurate run → {summary.output}")
    table.add_column("step")
    table.add_column("count", justify="right")
    counts = summary.as_dict()
    table.add_row("videos", str(counts["videos"]))
    table.add_row("  failed", str(counts["failed"]))
    skipped = summary.skipped_inputs
    if skipped.files:
        table.add_row("files skipped (not videos)", str(skipped.files))
    if skipped.manifest_rows:
        table.add_row("manifest rows without a video", str(skipped.manifest_rows))
    table.add_row("clips found", str(counts["clips"]))
    for reason, n in counts["reasons"].items():
        table.add_row(f"  rejected: {reason}", str(n))
    table.add_row("clips kept", str(counts["kept"]))
    table.add_row("shards", str(counts["shards"]))
    table.add_row("hours in / kept", f"{counts['hours_in']:.3f} / {counts['hours_kept']:.3f}")
    table.add_row("wall time (s)", f"{summary.seconds.get('wall', 0):.1f}")
    table.add_row("engine", summary.engine)
    console.print(table)
    shown = 10  # names in the terminal; run.json holds the first NAMES_KEPT

    def names(items: list[str], count: int) -> str:
        more = f", … ({count - shown} more; run.json lists {len(items)})" if count > shown else ""
        return ", ".join(items[:shown]) + more

    if skipped.files:
        kinds = ", ".join(f".{e} {n}" if e else f"no extension {n}" for e, n in skipped.extensions.most_common(shown))
        console.print(f"skipped {skipped.files} files whose extension is not in input.extensions ({kinds}): "
                      f"{names(skipped.file_names, skipped.files)}", highlight=False)
    if skipped.manifest_rows:
        console.print(f"{skipped.manifest_rows} caption manifest rows name no video under the input root: "
                      f"{names(skipped.manifest_names, skipped.manifest_rows)}", highlight=False)


def _eval(args) -> None:
    from vcurate.synth.eval import evaluate

    out = Path(args.output)
    if not (out / "videos.parquet").is_file():
        raise InputError(f"{out} holds no pipeline output (videos.parquet missing); run `vcurate run` first")
    truth = Path(args.truth)
    if not truth.is_file():
        raise InputError(f"ground truth not found: {truth}")
    print(json.dumps(evaluate(out, truth, args.tolerance), indent=2))


def _calibrate(args) -> None:
    from vcurate.calibrate import calibrate, curves_json, fragment_yaml
    from vcurate.storage import locate

    if not 0 < args.target_precision <= 1:
        raise InputError("--target-precision must be a fraction in (0, 1]")
    if not Path(args.truth).is_file():
        raise InputError(f"ground truth not found: {args.truth}")
    result = calibrate(args.output, args.truth, args.target_precision)
    table = Table(title=f"vcurate calibrate {args.output}: target precision {args.target_precision:g}")
    for column in ("filter", "score", "pos / neg", "now", "P", "R", "chosen", "P", "R"):
        table.add_column(column, justify="left" if column in ("filter", "score") else "right")
    fmt = lambda v, spec=".2f": "-" if v is None else format(v, spec)  # noqa: E731
    notes = []
    for r in result["rules"]:
        now, chosen = r.current or {}, r.chosen or {}
        table.add_row(r.rule.reason.value, f"{r.rule.score.removesuffix('_score')} {'>' if r.rule.side == 'above' else '<'}",
                      f"{r.positives} / {r.negatives}",
                      *(fmt(p.get(k), ".4g" if k == "threshold" else ".2f") for p in (now, chosen)
                        for k in ("threshold", "precision", "recall")))
        notes += [f"{r.rule.reason.value}: {n}" for n in (r.note, "" if r.enabled else "disabled in this run") if n]
    Console().print(table)
    for note in notes:
        Console().print(note)
    curves = locate(args.curves) if args.curves else locate(args.output) / "calibration.json"
    curves.write_bytes(json.dumps(curves_json(result), indent=1).encode("utf-8"))
    fragment = fragment_yaml(result)
    if args.fragment:
        Path(args.fragment).write_text(fragment, encoding="utf-8")
        console.print(f"wrote {args.fragment}: merge its keys into the pipeline YAML")
    else:
        print(fragment, end="", flush=True)
    console.print(f"precision/recall curves: {curves}")


def _train(args) -> None:
    from rich.progress import Progress, TextColumn

    from vcurate.config import with_settings
    from vcurate.train.config import TrainConfig, load_train_config
    from vcurate.train.distributed import ranks_from_env
    from vcurate.train.trainer import train

    main_rank = ranks_from_env().main  # under torchrun only rank 0 reports
    saved = Path(args.output) / "config.json"
    if args.resume and args.config is None and saved.is_file():  # resume with the run's own settings
        cfg = TrainConfig.model_validate_json(saved.read_text(encoding="utf-8"))
    else:
        cfg = load_train_config(args.config)
    options = (("data.shards", args.shards), ("run.max_minutes", args.max_minutes), ("run.max_steps", args.max_steps),
               ("run.device", args.device), ("data.workers", args.workers), ("data.batch_size", args.batch_size))
    cfg = with_settings(cfg, [(path, value) for path, value in options if value is not None] + args.set, "training config")
    columns = (*Progress.get_default_columns(), TextColumn("{task.fields[loss]}"))
    with Progress(*columns, console=console, disable=args.quiet or not main_rank) as bar:
        task = bar.add_task("training", total=cfg.run.max_steps, loss="")
        result = train(cfg, args.output, resume=args.resume,
                       progress=lambda step, total, loss: bar.update(task, completed=step, loss=f"loss {loss:.4f}"))
    if main_rank:
        ranks = f" x {result.ranks} ranks" if result.ranks > 1 else ""
        console.print(f"{result.steps} steps on {result.device}{ranks} ({result.steps_per_second:.2f} steps/s, stopped "
                      f"by {result.stopped}), loss {result.loss:.4f}; run in {args.output}")


def _sample(args) -> None:
    from vcurate.train.sampling import generate, load_frame, save_video
    from vcurate.train.trainer import load_ema

    if args.upscale < 1 or args.fps < 1:
        raise InputError("--upscale and --fps must be at least 1")
    model, cfg = load_ema(args.run, device=args.device)
    shapes = cfg.shapes()
    if args.aspect is not None and args.aspect not in shapes:
        raise InputError(f"--aspect {args.aspect}: the run's shapes are {', '.join(shapes)} (data.aspect "
                         f"{cfg.data.aspect}{', data.buckets' if cfg.data.aspect == 'bucket' else ''})")
    shape = shapes[args.aspect] if args.aspect else (cfg.data.size, cfg.data.size)
    first, last = (None if path is None else load_frame(path, *shape)[None] for path in (args.image, args.last_image))
    video = generate(model, cfg, [args.prompt], seed=args.seed, steps=args.steps, guidance=args.guidance,
                     shape=shape, first=first, last=last)[0]
    console.print(f"wrote {save_video(args.output, video, fps=args.fps, upscale=args.upscale)}")


def _eval_gen(args) -> None:
    from vcurate.train.evalgen import evaluate_first_frames, evaluate_generation

    if args.samples_per_prompt < 1 or args.windows < 1:
        raise InputError("--samples-per-prompt and --windows must be at least 1")
    result = evaluate_generation(args.run, samples_per_prompt=args.samples_per_prompt, seed=args.seed,
                                 steps=args.steps, guidance=args.guidance,
                                 videos_out=Path(args.videos) if args.videos else None)
    if args.first_frames:
        result["first_frames"] = evaluate_first_frames(args.run, args.first_frames, windows=args.windows, seed=args.seed,
                                                       steps=args.steps, guidance=args.guidance)
    text = json.dumps(result, indent=2)
    out = Path(args.output) if args.output else Path(args.run) / "eval-gen.json"
    out.write_text(text + "\n", encoding="utf-8")
    print(text)


def _report(args) -> None:
    from vcurate.report.html import write_report

    console.print(f"wrote {write_report(args.output)}")


def _stats(args) -> None:
    from vcurate.report.stats import funnel_steps, stats

    data = stats(args.output)
    if args.json:
        print(json.dumps(data, indent=2))
        return
    table = Table(title=f"vcurate stats: {data['output']}")
    for column in ("step", "count", "hours"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for _, label, count, hours in funnel_steps(data["funnel"]):
        table.add_row(label, str(count), "" if hours is None else f"{hours:.3f}")
    Console().print(table)
    scores = Table(title="scores")
    for column in ("score", "threshold", "rejects", "p05", "median", "p95"):
        scores.add_column(column)
    for name, v in data["scores"].items():
        scores.add_row(name, "-" if v["threshold"] is None else f"{v['threshold']:.3g}", v["rejects"],
                       f"{v['p05']:.3g}", f"{v['median']:.3g}", f"{v['p95']:.3g}")
    Console().print(scores)


def _schemas(args) -> None:
    from vcurate.schemas import write_schemas

    for path in write_schemas(Path(args.folder)):
        console.print(f"wrote {path}")


def _setting(text: str):
    from vcurate.errors import ConfigError
    from vcurate.settings import parse_setting

    try:
        return parse_setting(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="set any config key, e.g. --set filters.blur.min_score=0.4 --set align.enabled=false "
                        "(value read as YAML; validated like the config file; applied after the other options)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vcurate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write a labelled archive (rendered, or cut from your footage) with ground truth")
    p.add_argument("out", help="output folder (videos go to OUT/raw, truth to OUT/ground_truth.jsonl)")
    p.add_argument("--videos", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clean", action="store_true", help="no faults at all (e.g. to fit a domain CLIP on)")
    p.add_argument("--balanced-subjects", action="store_true",
                   help="every colour, shape, direction and background on about as many shots (e.g. to train on); "
                   "without it each is drawn on its own, and a seed's archive is the one it always was")
    p.add_argument("--from-footage", metavar="DIR",
                   help="cut shots from the clean videos under DIR and inject known faults (shake, blur, upscaling)")
    p.add_argument("--size", type=_size, metavar="WxH",
                   help="with --from-footage: every video at this size (default: a standard size each video's "
                   "sources fill without magnification)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=_synth)

    p = sub.add_parser("clip-fit", help="train a small open_clip model on an archive's frames and captions")
    p.add_argument("--input", required=True, help="raw archive folder (captions paired as in `vcurate run`)")
    p.add_argument("--output", required=True, help="checkpoint file to write (.pt)")
    p.add_argument("--model", default="vcurate-small", help="open_clip model config to train from scratch")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, help="stop training after this long")
    p.add_argument("--min-kept", type=float, default=0.97,
                   help="share of held-out true captions the calibrated threshold must keep (default 0.97)")
    _set_option(p)  # the pipeline settings that read the archive (split.*, analysis.*, input.*)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=_clip_fit)

    p = sub.add_parser("run", help="curate a raw archive into webdataset shards")
    p.add_argument("config", help="pipeline YAML, e.g. pipelines/default.yaml")
    p.add_argument("--input", help="raw archive folder (overrides input.path)")
    p.add_argument("--output", help="output folder (overrides output.path)")
    p.add_argument("--manifest", help="caption manifest CSV/parquet (overrides input.manifest)")
    p.add_argument("--clip-model", help="open_clip model name (overrides align.model)")
    p.add_argument("--clip-pretrained", help="pretrained tag or checkpoint path (overrides align.pretrained)")
    p.add_argument("--clip-min-score", type=_min_score, help="alignment threshold or 'auto' (overrides align.min_score)")
    p.add_argument("--overwrite", action="store_true",
                   help="start again, replacing the results of an earlier run in OUTPUT (without it, an "
                   "interrupted run of the same settings resumes and a finished one is left as it is)")
    p.add_argument("--engine", choices=("auto", "ray", "local"), default="auto",
                   help="auto (default): in-process for a job of a few small videos on no cluster (ray.local_max_videos, "
                   "ray.local_max_mb), where Ray's start-up costs more than it saves, else Ray; ray; or local (in-process)")
    p.add_argument("--dedup-against", action="append", metavar="OLD_OUT",
                   help="output folder of an earlier run: clips duplicating its kept clips are rejected as duplicate "
                   "(repeatable; sets filters.duplicate.against)")
    _set_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(fn=_run)

    p = sub.add_parser("eval", help="score a run against synthetic ground truth (JSON on stdout)")
    p.add_argument("output", help="output folder of `vcurate run`")
    p.add_argument("--truth", required=True, help="ground_truth.jsonl written by `vcurate synth`")
    p.add_argument("--tolerance", type=int, default=2, help="frames a detected cut may be off by")
    p.set_defaults(fn=_eval)

    p = sub.add_parser("calibrate", help="fit the score filters' thresholds on a run against ground truth")
    p.add_argument("output", help="output folder of `vcurate run` over a labelled archive")
    p.add_argument("--truth", required=True, help="ground_truth.jsonl of that archive")
    p.add_argument("--target-precision", type=float, default=0.95,
                   help="precision each filter must reach; the highest-recall threshold reaching it is chosen (default 0.95)")
    p.add_argument("--output", dest="fragment", help="YAML fragment to write (default: printed after the table)")
    p.add_argument("--curves", help="precision/recall curves JSON to write (default: OUTPUT/calibration.json)")
    p.set_defaults(fn=_calibrate)

    p = sub.add_parser("stats", help="funnel and per-reason counts of a run (terminal table, or --json)")
    p.add_argument("output", help="output folder of `vcurate run`")
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    p.set_defaults(fn=_stats)

    p = sub.add_parser("report", help="write OUTPUT/report.html (also written at the end of every run)")
    p.add_argument("output", help="output folder of `vcurate run`")
    p.set_defaults(fn=_report)

    p = sub.add_parser("train", help="train the bundled text-to-video diffusion model on webdataset shards")
    p.add_argument("--config", help="training YAML, e.g. pipelines/train-demo.yaml (default: built-in defaults)")
    p.add_argument("--shards", help="shard folder, glob or brace pattern, e.g. 'OUT/shards/*.tar' (overrides data.shards)")
    p.add_argument("--output", required=True, help="run folder: checkpoints, log.jsonl, samples/, summary.json")
    p.add_argument("--max-minutes", type=float, help="stop after this long (overrides run.max_minutes)")
    p.add_argument("--max-steps", type=int, help="stop at this step (overrides run.max_steps)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="overrides run.device")
    p.add_argument("--workers", type=int, help="DataLoader decode workers (overrides data.workers)")
    p.add_argument("--batch-size", type=int, help="overrides data.batch_size")
    p.add_argument("--resume", action="store_true", help="continue the run in OUTPUT from its last checkpoint")
    _set_option(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=_train)

    p = sub.add_parser("sample", help="generate a video from a caption with a trained run")
    p.add_argument("run", help="run folder of `vcurate train` (or a checkpoint file)")
    p.add_argument("--prompt", required=True)
    p.add_argument("--output", required=True, help="mp4 file to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, help="sampler steps (default: the run's diffusion.sample_steps)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the run's)")
    p.add_argument("--upscale", type=int, default=1, help="enlarge by pixel repetition for viewing")
    p.add_argument("--fps", type=int, default=8)
    p.add_argument("--aspect", help="one of the run's aspect buckets (data.buckets), e.g. 16:9; default: size x size")
    p.add_argument("--image", help="the video's first frame (PNG, JPEG, ...; centre-cropped to the video's shape); "
                   "needs a run trained with model.frame_condition")
    p.add_argument("--last-image", help="the video's last frame (with --image: a video from one to the other)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.set_defaults(fn=_sample)

    p = sub.add_parser("eval-gen", help="caption-following accuracy and jitter of a run's generated videos (JSON)")
    p.add_argument("run", help="run folder of `vcurate train`")
    p.add_argument("--samples-per-prompt", type=int, default=1, help="videos per vocabulary prompt (72 prompts)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--steps", type=int, help="sampler steps (default: the run's)")
    p.add_argument("--guidance", type=float, help="guidance scale (default: the run's)")
    p.add_argument("--videos", help="also write the generated videos (one per prompt) to this folder")
    p.add_argument("--first-frames", help="held-out shards (another archive's): also generate their windows' captions "
                   "with and without each window's first frame (frame-conditioned runs) and score both, with PSNR")
    p.add_argument("--windows", type=int, default=72, help="--first-frames: windows taken, one per clip")
    p.add_argument("--output", help="JSON file to write (default: RUN/eval-gen.json)")
    p.set_defaults(fn=_eval_gen)

    p = sub.add_parser("schemas", help="regenerate the JSON schemas of configs, manifests and shard samples")
    p.add_argument("--folder", default="schemas")
    p.set_defaults(fn=_schemas)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.fn(args)
    except VcurateError as exc:  # the user's to fix: one line; anything else is ours and keeps its traceback
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
