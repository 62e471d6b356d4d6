"""Analyse each video in a child process that can be killed: a decoder that hangs or crashes takes down
only the child; the video is marked failed with the reason, and the job goes on.

One long-lived child per worker process and module serves the calls (its imports are paid once); it is
started with `python -m vcurate.isolation` rather than `multiprocessing`, so no host program (a Ray
worker, a notebook) is re-imported in it. `prestart` launches it without waiting: a small job's driver
imports its own modules while the child imports the analysis stack (a second of each). While it
decodes, the child sends a heartbeat every `HEARTBEAT_S`; no heartbeat for `stall_s` seconds means a
hang, more than `time_limit_s` in total means a video too costly to finish. Calls and results travel as
pickles over a private pipe between this process and its own child, never from data files.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, Callable

HEARTBEAT_S = 0.5
STARTUP_S = 300  # importing torch, PyAV and OpenCV on a loaded node
ANALYSIS = "vcurate.stages.analyze"  # the module a job's children serve (vcurate.stages.analyze.SplitStage)


class IsolationError(RuntimeError):
    """The call did not come back: the child hung, ran out of time, or died."""


class Heartbeat:
    """A frame analyzer that only says 'still decoding' to the parent, at most every HEARTBEAT_S."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.last = time.monotonic()

    def process(self, index: int, frame) -> None:
        now = time.monotonic()
        if now - self.last >= HEARTBEAT_S:
            self.conn.send(("beat", index))
            self.last = now

    def finish(self, num_frames: int) -> None:
        pass


class IsolatedRunner:
    """Runs `module:function(*args, watchers=[Heartbeat])` in a child that first imports `preload`."""

    def __init__(self, preload: str):
        self.preload = preload  # module the child imports before its first call: start-up is not a hang
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._ready = False
        self._lock = threading.Lock()  # one call at a time: a job's background thread and a later job share the child

    def start(self) -> None:
        """Launch the child unless one is alive; returns at once (the first call waits for its imports)."""
        if self._proc is not None and self._proc.poll() is None:
            return
        self.stop()
        to_child_r, to_child_w = os.pipe()
        to_parent_r, to_parent_w = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "vcurate.isolation", str(to_child_r), str(to_parent_w), self.preload],
            pass_fds=(to_child_r, to_parent_w), env=env, stdin=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(to_parent_w)
        self._conn = _Duplex(to_parent_r, to_child_w)

    def _wait_ready(self) -> None:
        try:
            self._ready = self._conn.poll(STARTUP_S) and self._conn.recv() == ("ready", None)
        except (EOFError, OSError):
            self._ready = False
        if not self._ready:
            self.stop()
            raise IsolationError(f"the analysis process did not start within {STARTUP_S} s")

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._conn.close()
        self._proc = self._conn = None
        self._ready = False

    def call(self, target: str, *args, stall_s: float, time_limit_s: float | None = None) -> Any:
        """`target` is 'package.module:function'; raises IsolationError when no result comes back: no
        heartbeat for `stall_s` seconds (a hang) or more than `time_limit_s` in all."""
        with self._lock:
            return self._call(target, args, stall_s, time_limit_s)

    def _call(self, target: str, args: tuple, stall_s: float, time_limit_s: float | None) -> Any:
        self.start()
        if not self._ready:
            self._wait_ready()
        self._conn.send((target, args))
        started = last_beat = time.monotonic()
        while True:
            ready = self._conn.poll(min(HEARTBEAT_S, stall_s))
            now = time.monotonic()
            if ready:
                try:
                    kind, payload = self._conn.recv()
                except (EOFError, OSError):
                    kind, payload = "died", None
                if kind == "beat":
                    last_beat = now
                elif kind == "ok":
                    return payload
                elif kind == "error":
                    raise IsolationError(payload)
                else:
                    raise IsolationError(self._death())
            elif self._proc.poll() is not None:
                raise IsolationError(self._death())
            if now - last_beat > stall_s:
                self.stop()
                raise IsolationError(f"decoder hung: no progress for {stall_s:g} s (analysis.stall_s)")
            if time_limit_s is not None and now - started > time_limit_s:
                self.stop()
                raise IsolationError(f"analysis took longer than {time_limit_s:g} s (analysis.time_limit_s)")

    def _death(self) -> str:
        code = self._proc.wait()
        self.stop()
        if code < 0:
            return f"decoder process died ({signal.Signals(-code).name})"
        return f"decoder process exited with status {code}"


class _Duplex(Connection):
    """A Connection reading from one pipe and writing to another (os.pipe is one-way)."""

    def __init__(self, read_fd: int, write_fd: int):
        super().__init__(read_fd, readable=True, writable=False)
        self._writer = Connection(write_fd, readable=False, writable=True)

    def send(self, obj) -> None:
        self._writer.send(obj)

    def close(self) -> None:
        self._writer.close()
        super().close()


_RUNNERS: dict[str, IsolatedRunner] = {}  # this process's children, one per preloaded module


def runner_for(preload: str) -> IsolatedRunner:
    return _RUNNERS.setdefault(preload, IsolatedRunner(preload))


def prestart(preload: str = ANALYSIS) -> None:
    """Start this process's child for `preload` now, so its imports overlap whatever comes next."""
    runner_for(preload).start()


def stop_children() -> None:
    """Stop every child of this process (a job that went to Ray has no use for a prestarted one)."""
    for runner in _RUNNERS.values():
        runner.stop()


def resolve(target: str) -> Callable:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def serve(read_fd: int, write_fd: int, preload: str) -> None:
    """The child's loop: one call at a time until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn = _Duplex(read_fd, write_fd)
    try:
        importlib.import_module(preload)
        conn.send(("ready", None))
        while True:
            try:
                target, args = conn.recv()
            except EOFError:
                return
            try:
                conn.send(("ok", resolve(target)(*args, watchers=[Heartbeat(conn)])))
            except Exception as exc:  # the parent decides what a failure means
                conn.send(("error", f"unexpected {type(exc).__name__}: {exc}"))
    except BrokenPipeError:
        return  # the parent is gone (a job that stopped on an input error while this child imported): no one to tell


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
