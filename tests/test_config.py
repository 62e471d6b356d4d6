from pathlib import Path

import pytest
import yaml

from vcurate.config import ConfigError, PipelineConfig, load_config
from vcurate.train.config import load_train_config

ROOT = Path(__file__).resolve().parents[1]


def test_default_yaml_states_the_defaults():
    """pipelines/default.yaml documents every key with its default value; it must not drift."""
    raw = yaml.safe_load((ROOT / "pipelines" / "default.yaml").read_text())
    assert load_config(ROOT / "pipelines" / "default.yaml") == PipelineConfig()
    assert set(raw) == set(PipelineConfig.model_fields)
    for section, model in PipelineConfig.model_fields.items():
        assert set(raw[section]) == set(model.annotation.model_fields), section


def test_all_pipeline_yamls_load():
    """pipelines/train-*.yaml are training configs, every other YAML there a pipeline config."""
    for path in (ROOT / "pipelines").glob("*.yaml"):
        (load_train_config if path.name.startswith("train-") else load_config)(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("split:\n  treshold: 3\n", "split.treshold: Extra inputs are not permitted"),
        ("split:\n  threshold: -1\n", "split.threshold"),
        ("split:\n  min_clip_seconds: 5\n  max_clip_seconds: 2\n", "max_clip_seconds must be larger"),
        ("- a\n- b\n", "expected a mapping"),
        ("split: [\n", "not valid YAML"),
    ],
)
def test_bad_configs_say_where_and_why(tmp_path, text, message):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_unfiltered_yaml_turns_every_filter_off():
    """The ablation baseline differs from the defaults only in switched-off filters and alignment."""
    cfg = load_config(ROOT / "pipelines" / "unfiltered.yaml")
    f = cfg.filters
    assert not any(x.enabled for x in (f.shake, f.blur, f.resolution, f.upscaled, f.fps)) and not cfg.align.enabled
    default = PipelineConfig()
    assert (cfg.split, cfg.encode, cfg.shards, cfg.analysis) == (default.split, default.encode, default.shards, default.analysis)


def test_settings_from_the_command_line_are_validated_like_the_yaml():
    from vcurate.config import ConfigError, PipelineConfig, parse_setting, with_settings

    cfg = with_settings(PipelineConfig(), [parse_setting("filters.blur.min_score=0.4"), parse_setting("align.enabled=false"),
                                           parse_setting("input.extensions=[mp4, mxf]")], "pipeline config")
    assert cfg.filters.blur.min_score == 0.4 and cfg.align.enabled is False and cfg.input.extensions == ["mp4", "mxf"]
    with pytest.raises(ConfigError, match="filters.blur.min_scor"):  # a typo names the key
        with_settings(PipelineConfig(), [parse_setting("filters.blur.min_scor=0.4")], "pipeline config")
    with pytest.raises(ConfigError, match="filters.blur.min_score"):  # out of range
        with_settings(PipelineConfig(), [parse_setting("filters.blur.min_score=-1")], "pipeline config")
    with pytest.raises(ConfigError, match="not a section"):
        with_settings(PipelineConfig(), [parse_setting("align.enabled.x=1")], "pipeline config")
    for bad in ("filters.blur.min_score", "=3", "filters..x=1"):
        with pytest.raises(ConfigError, match="KEY.PATH=VALUE"):
            parse_setting(bad)


def test_cli_set_reaches_the_run_and_a_bad_one_is_one_error(tmp_path, capsys):
    from vcurate.cli import main

    assert main(["run", "pipelines/default.yaml", "--input", str(tmp_path), "--output", str(tmp_path / "o"),
                 "--set", "filters.shake.max_scor=2"]) == 2
    err = capsys.readouterr().err
    assert "filters.shake.max_scor" in err and "Traceback" not in err


def test_an_empty_clip_checkpoint_is_an_error_before_anything_runs(tmp_path, capsys):
    from vcurate.cli import main

    assert main(["run", "pipelines/default.yaml", "--input", str(tmp_path), "--output", str(tmp_path / "o"),
                 "--clip-model", "vcurate-tiny", "--clip-pretrained", ""]) == 2
    assert "align.pretrained is empty" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_user_errors_are_one_line_and_internal_ones_keep_their_traceback(monkeypatch, capsys):
    import vcurate.cli as cli
    from vcurate.storage import StorageError

    def storage_fails(args):
        raise StorageError("access denied to s3://bucket/raw (check the credentials)")

    def bug(args):
        raise ValueError("internal slip")

    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_fn(parser(), storage_fails))
    assert cli.main(["stats", "x"]) == 2
    assert capsys.readouterr().err.strip().endswith("(check the credentials)")
    monkeypatch.setattr(cli, "build_parser", lambda: _with_fn(parser(), bug))
    with pytest.raises(ValueError, match="internal slip"):
        cli.main(["stats", "x"])


def _with_fn(parser, fn):
    """The CLI parser with every command's function replaced by `fn`."""
    for action in parser._subparsers._group_actions:
        for sub in action.choices.values():
            sub.set_defaults(fn=fn)
    return parser
