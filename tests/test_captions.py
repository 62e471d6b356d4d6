import json

import pandas as pd
import pytest

from vcurate.stages.captions import (
    CaptionError,
    clean_text,
    find_manifest,
    load_manifest,
    parse_timed,
    sidecar_captions,
)
from vcurate.storage import locate
from vcurate.synth.archive import timed_captions


def _video(tmp_path, name="v.mp4"):
    path = tmp_path / name
    path.write_bytes(b"")
    return path


def test_txt_sidecar(tmp_path):
    video = _video(tmp_path)
    video.with_suffix(".txt").write_text("  a red circle\nmoving left  \n")
    caps = sidecar_captions(video)
    assert (caps.source, caps.for_clip(0, 1)) == ("txt", "a red circle moving left")


def test_json_sidecar_beats_txt(tmp_path):
    video = _video(tmp_path)
    video.with_suffix(".txt").write_text("from txt")
    video.with_suffix(".json").write_text(json.dumps({"caption": "from json"}))
    assert sidecar_captions(video).source == "json"
    assert sidecar_captions(video).text == "from json"


def test_json_without_caption_falls_back_to_txt(tmp_path):
    video = _video(tmp_path)
    video.with_suffix(".txt").write_text("from txt")
    video.with_suffix(".json").write_text(json.dumps({"title": "x"}))
    assert sidecar_captions(video).source == "txt"
    video.with_suffix(".json").write_text("{not json")
    assert sidecar_captions(video).source == "txt"


@pytest.mark.parametrize("kind", ["srt", "vtt"])
def test_timed_captions_cut_to_the_clip(tmp_path, kind):
    video = _video(tmp_path)
    cues = [(0.0, 2.0, "first shot"), (2.0, 5.0, "second shot"), (5.0, 6.0, "third shot")]
    video.with_suffix(f".{kind}").write_text(timed_captions(kind, cues))
    video.with_suffix(".txt").write_text("whole video")
    caps = sidecar_captions(video)
    assert caps.source == kind
    assert caps.for_clip(0.0, 2.0) == "first shot"
    assert caps.for_clip(1.5, 4.0) == "second shot"  # overlaps the second cue most
    assert caps.for_clip(4.9, 6.0) == "third shot"
    assert caps.for_clip(7.0, 8.0) == ""  # no overlap: no caption


def test_manifest_beats_every_sidecar(tmp_path):
    video = _video(tmp_path)
    video.with_suffix(".srt").write_text(timed_captions("srt", [(0, 1, "cue")]))
    caps = sidecar_captions(video, manifest_caption="from manifest")
    assert (caps.source, caps.text) == ("manifest", "from manifest")


def test_no_caption_is_marked_not_fatal(tmp_path):
    caps = sidecar_captions(_video(tmp_path))
    assert caps.source == "none" and caps.for_clip(0, 1) == ""


def test_vtt_with_settings_markup_and_hours():
    text = "WEBVTT\n\nNOTE a comment\n\nintro\n01:00:01.5 --> 01:00:03.250 align:start\n<b>bold</b> words\nsecond line\n"
    assert parse_timed(text) == [(3601.5, 3603.25, "bold words second line")]


def test_bad_bytes_and_control_characters(tmp_path):
    video = _video(tmp_path)
    video.with_suffix(".txt").write_bytes(b"caf\xe9 \x00\x07scene\x1b here")
    caps = sidecar_captions(video)
    assert caps.text == "caf\ufffd scene here"
    assert clean_text("a\tb\r\nc") == "a b c"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_manifest_files(tmp_path, fmt):
    table = pd.DataFrame({"path": ["./a.mp4", "sub/b.mp4"], "caption": ["cap a", "cap b"]})
    path = tmp_path / f"captions.{fmt}"
    table.to_csv(path, index=False) if fmt == "csv" else table.to_parquet(path)
    assert find_manifest(locate(tmp_path), None).path == str(path)
    assert load_manifest(locate(path)) == {"a.mp4": "cap a", "sub/b.mp4": "cap b"}


def test_manifest_errors_are_clear(tmp_path):
    with pytest.raises(CaptionError, match="not found"):
        find_manifest(locate(tmp_path), "missing.csv")
    path = tmp_path / "m.csv"
    path.write_text("file,text\na.mp4,x\n")
    with pytest.raises(CaptionError, match="lacks column"):
        load_manifest(locate(path))
    assert load_manifest(locate(path), "file", "text") == {"a.mp4": "x"}
