"""Listing the archive: broadcast and legacy containers count as videos and decode through the pipeline;
files that are not videos and manifest rows naming no video are counted and named, never dropped silently."""

import json
import tarfile

import av
import numpy as np
import pandas as pd
import pytest

from tests.conftest import tiny_config
from vcurate.cli import print_summary
from vcurate.config import InputConfig
from vcurate.job import run_job
from vcurate.ledger import Ledger
from vcurate.stages import ingest
from vcurate.stages.ingest import SkippedInputs, iter_tasks


def write_video(path, container_format: str, codec: str, frames: int = 60, size=(256, 144), fps: int = 20) -> None:
    """Two shots (a cut half-way: the backdrop changes colour) of a textured square drifting over a
    gradient, so the clip after the cut is encoded from the middle of the file, after a seek."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    texture = np.random.default_rng(0).integers(0, 255, (h, w), dtype=np.uint8)
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            backdrop = 90 if i < frames // 2 else 230
            img = np.stack([(x * 255 // w), (y * 255 // h), np.full_like(x, backdrop)], -1).astype(np.uint8)
            if i >= frames // 2:
                img = 255 - img
            x0 = 20 + 2 * i
            img[40:100, x0 : x0 + 60] = texture[40:100, x0 : x0 + 60, None]
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_default_extensions_cover_broadcast_and_legacy_containers(tmp_path):
    names = ["a.mpg", "b.MPEG", "c.ts", "d.m2ts", "e.m4v", "f.flv", "g.wmv", "h.3gp", "i.ogv", "j.mp4"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    listed = [t.video for t in iter_tasks(InputConfig(path=str(tmp_path)))]
    assert listed == sorted(names)


def test_skipped_inputs_fill_as_the_listing_streams(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "NAMES_KEPT", 2)
    for name in ("a.mp4", "b.jpg", "c.mxf", "d.mxf", "z.mp4", "notes.txt", "a.srt", ".DS_Store", "readme"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "blob.bin").write_bytes(b"")
    pd.DataFrame({"path": ["a.mp4", "gone.mp4", "c.mxf"], "caption": ["x", "y", "z"]}).to_csv(tmp_path / "captions.csv", index=False)
    skipped = SkippedInputs()
    tasks = iter_tasks(InputConfig(path=str(tmp_path)), skipped)
    assert next(tasks).video == "a.mp4" and skipped.files == 0  # lazy: nothing listed beyond what was consumed
    assert [t.video for t in tasks] == ["z.mp4"]
    # b.jpg, c.mxf, d.mxf, readme (no extension); not: hidden files and folders, sidecars, the manifest
    assert skipped.as_dict() == {
        "files": {"count": 4, "by_extension": {"mxf": 2, "jpg": 1, "": 1}, "names": ["b.jpg", "c.mxf"]},
        "manifest_rows": {"count": 2, "names": ["gone.mp4", "c.mxf"]},
    }


@pytest.fixture(scope="module")
def mixed_archive(tmp_path_factory):
    """An MPEG-2 program stream, an MPEG transport stream, non-video files and a manifest with a stale row."""
    root = tmp_path_factory.mktemp("mixed")
    raw = root / "raw"
    (raw / "sub").mkdir(parents=True)
    write_video(raw / "night.mpg", "mpeg", "mpeg2video")
    write_video(raw / "sub" / "broadcast.ts", "mpegts", "libx264")
    (raw / "master.mxf").write_bytes(b"not decoded: mxf is not listed")
    (raw / "poster.jpg").write_bytes(b"\xff\xd8")
    pd.DataFrame({"path": ["night.mpg", "sub/broadcast.ts", "moved/away.mp4"],
                  "caption": ["a night street", "a news studio", "lost"]}).to_csv(raw / "captions.csv", index=False)
    out = root / "out"
    # both files hold the same frames: without the duplicate filter both are curated (and encoded)
    cfg = tiny_config(root, out, align={"enabled": False}, filters={"duplicate": {"enabled": False}})
    summary = run_job(cfg, engine="local", progress=False)
    return out, summary


def test_mpeg_program_and_transport_streams_decode_through_the_pipeline(mixed_archive):
    out, _ = mixed_archive
    videos = pd.read_parquet(out / "videos.parquet").set_index("video")
    assert sorted(videos.index) == ["night.mpg", "sub/broadcast.ts"]
    assert (videos.status == "ok").all(), videos.error.tolist()
    assert videos.loc["night.mpg", "codec"] == "mpeg2video" and videos.loc["sub/broadcast.ts", "codec"] == "h264"
    assert (videos.num_frames == 60).all() and (videos.width == 256).all()
    assert videos.cuts.map(list).tolist() == [[30], [30]]
    clips = pd.read_parquet(out / "clips.parquet")
    assert clips.groupby("video").size().to_dict() == {"night.mpg": 2, "sub/broadcast.ts": 2}
    assert clips.blur_score.notna().all() and clips.shake_score.notna().all()
    # these containers seek inexactly (or not at all): each clip is still re-decoded whole and encoded
    assert (clips.status == "kept").all(), clips.reasons.tolist()
    with tarfile.open(out / "shards" / clips.shard.iloc[0]) as tar:
        assert sorted(n for n in tar.getnames() if n.endswith(".mp4")) == sorted(f"{k}.mp4" for k in clips.clip_key)


def test_skipped_inputs_reported_in_run_json_and_summary(mixed_archive, capsys):
    out, summary = mixed_archive
    skipped = json.loads((out / "run.json").read_text())["skipped_inputs"]
    assert skipped == {
        "files": {"count": 2, "by_extension": {"mxf": 1, "jpg": 1}, "names": ["master.mxf", "poster.jpg"]},
        "manifest_rows": {"count": 1, "names": ["moved/away.mp4"]},
    }
    print_summary(summary)
    err = " ".join(capsys.readouterr().err.split())
    assert "files skipped (not videos) │ 2" in err and "manifest rows without a video │ 1" in err
    assert "(.mxf 1, .jpg 1): master.mxf, poster.jpg" in err and "name no video under the input root: moved/away.mp4" in err


def test_a_resumed_run_reports_the_whole_input(mixed_archive, tmp_path, monkeypatch):
    """The resumed attempt skips the committed videos but still lists the whole archive."""
    reference, _ = mixed_archive
    root = reference.parent
    cfg = tiny_config(root, tmp_path / "out", align={"enabled": False})
    cfg.shards.max_samples = 1  # a commit per kept clip
    commit = Ledger.commit

    def crash_on_second(self, *args):
        if self.state.parts == 1:
            raise RuntimeError("simulated crash")
        commit(self, *args)

    monkeypatch.setattr(Ledger, "commit", crash_on_second)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_job(cfg, engine="local", progress=False)
    monkeypatch.setattr(Ledger, "commit", commit)
    summary = run_job(cfg, engine="local", progress=False)
    assert summary.status == "resumed"
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["skipped_inputs"] == json.loads((reference / "run.json").read_text())["skipped_inputs"]
    assert summary.skipped_inputs.as_dict() == run["skipped_inputs"]


class _Frame:
    def __init__(self, time: float, corrupt: bool):
        self.time, self.is_corrupt = time, corrupt


class _BrokenKeyframes:
    """A container whose every keyframe but the first decodes corrupt after a seek (as some real files
    do: FFmpeg flags the frame, and the picture is garbage until a keyframe that is really one)."""

    def __init__(self, keyframes: list[float], frames: int, fps: float):
        self.keyframes, self.times = keyframes, [i / fps for i in range(frames)]
        self.start = 0.0
        self.seeks: list[float] = []

    def seek(self, offset, stream=None, backward=True):
        target = float(offset * stream.time_base) if stream is not None else 0.0
        self.seeks.append(target)
        self.start = max(k for k in self.keyframes if k <= target + 1e-9)

    def decode(self, stream):
        for t in self.times:
            if t >= self.start - 1e-9:
                yield _Frame(t, corrupt=self.start > 0 and t == self.start)


def test_a_seek_landing_on_a_corrupt_keyframe_decodes_from_further_back():
    from fractions import Fraction
    from types import SimpleNamespace

    from vcurate.media.encode import clip_frames

    container = _BrokenKeyframes(keyframes=[0.0, 3.0, 6.0], frames=250, fps=25.0)
    stream = SimpleNamespace(time_base=Fraction(1, 1000))
    frames = list(clip_frames(container, stream, 8.0, 8.4, 25.0))
    assert [round(f.time, 2) for f in frames] == [round(8.0 + i / 25, 2) for i in range(10)]
    assert not any(f.is_corrupt for f in frames)
    assert len(container.seeks) >= 2  # the first seek (to keyframe 6 s) was refused, not used
