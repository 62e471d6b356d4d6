"""Where data lives: a local path or a URI (`s3://`, `gs://`, `file://`), through pyarrow's filesystems.

Every read and write of the archive and of a run's output goes through `Location`, so the pipeline
runs unchanged on a laptop folder or an object store. Credentials come from the filesystem libraries'
own environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance role for S3;
GOOGLE_APPLICATION_CREDENTIALS for GCS), never from our config files.

An S3-compatible store other than AWS (MinIO, Ceph, a test server) is named by AWS_ENDPOINT_URL_S3 or
AWS_ENDPOINT_URL, as for the AWS CLI and boto3. pyarrow reads these variables in some entry points and
versions and not in others, so they are read here and passed on explicitly.

Writes are all-or-nothing: nothing appears under the final name unless the write completed (see
`AtomicOutput`).
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Iterator
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from vcurate.errors import InputError, VcurateError

SCHEMES = ("s3://", "gs://", "gcs://", "file://")
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
REMOTE_READ_BYTES = 4 << 20  # an object-store read is an HTTP request: read in large blocks
SPOOL_MEMORY_BYTES = 16 << 20  # an upload larger than this is spooled through a local temporary file
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

_HINTS = (
    (("ACCESS_DENIED", "INVALID_ACCESS_KEY_ID", "SIGNATURE_DOES_NOT_MATCH", "EXPIRED_TOKEN"),
     "check the credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance role "
     "for s3://, GOOGLE_APPLICATION_CREDENTIALS for gs://"),
    (("NO_SUCH_BUCKET", "RESOURCE_NOT_FOUND", "allow_bucket_creation"),
     "check the bucket name (vcurate never creates buckets)"),
    (("NETWORK_CONNECTION", "curlCode"),
     "check the network, and AWS_ENDPOINT_URL for an S3-compatible store other than AWS"),
)


class StorageError(VcurateError, OSError):
    """An object store that refused a request or could not be reached; the message says what to check."""


def is_uri(path: str | os.PathLike) -> bool:
    return _URI.match(os.fspath(path)) is not None


def locate(path_or_uri: str | os.PathLike) -> "Location":
    """A Location for a local path or a supported URI; unknown schemes are refused with the list we take."""
    text = os.fspath(path_or_uri)
    if not is_uri(text):
        return Location(pafs.LocalFileSystem(), os.path.abspath(text), text)
    if not text.startswith(SCHEMES):
        raise InputError(f"unsupported location {text!r}: use a local path or one of {', '.join(SCHEMES)}")
    if "?" in text or "#" in text:
        raise InputError(f"{text!r}: options in a URI are not supported (an S3 endpoint is set with "
                         f"{' or '.join(ENDPOINT_VARIABLES)})")
    scheme, rest = text.split("://", 1)
    if scheme == "file":
        try:
            fs, path = pafs.FileSystem.from_uri(text)
        except Exception as exc:  # pyarrow raises several types for malformed file URIs
            raise InputError(f"cannot use {text!r}: {exc} (a file URI is file:///absolute/path)") from exc
        return Location(fs, path, text)
    bucket = rest.split("/", 1)[0]
    if not bucket:
        raise InputError(f"{text!r} names no bucket ({scheme}://BUCKET/PATH)")
    endpoint = next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), None) if scheme == "s3" else None
    return Location(_filesystem(scheme, bucket, endpoint), rest.rstrip("/"), text.rstrip("/"))


@functools.lru_cache(maxsize=64)
def _filesystem(scheme: str, bucket: str, endpoint: str | None) -> pafs.FileSystem:
    """One filesystem per bucket and endpoint, kept: from_uri asks the store for the bucket's region."""
    try:
        if endpoint:
            url = urlsplit(endpoint)
            if url.scheme not in ("http", "https") or not url.netloc:
                raise InputError(f"S3 endpoint {endpoint!r} is not a URL such as http://127.0.0.1:9000")
            return pafs.S3FileSystem(endpoint_override=url.netloc, scheme=url.scheme)
        return pafs.FileSystem.from_uri(f"{scheme}://{bucket}")[0]
    except OSError as exc:
        raise StorageError(_explain(f"cannot open {scheme}://{bucket}", exc)) from exc


def _explain(what: str, exc: Exception) -> str:
    text = str(exc)
    hint = next((hint for needles, hint in _HINTS if any(n in text for n in needles)), None)
    return f"{what}: {text}" + (f" ({hint})" if hint else "")


@dataclass(frozen=True)
class Location:
    """A file or folder on some filesystem; `uri` is what the user wrote (or what was joined onto it)."""

    fs: pafs.FileSystem
    path: str
    uri: str

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def ref(self) -> str:
        """The string that finds this file again from another process: an absolute local path, or the URI."""
        return self.path if self.is_local else self.uri

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    def __truediv__(self, part: str) -> "Location":
        if self.is_local:
            return Location(self.fs, os.path.join(self.path, part), os.path.join(self.uri, part))
        return Location(self.fs, posixpath.join(self.path, part), self.uri + "/" + part)

    def with_suffix(self, suffix: str) -> "Location":
        """The file next to this one with the extension replaced (a video's caption sidecar)."""
        split = os.path.splitext if self.is_local else posixpath.splitext
        return Location(self.fs, split(self.path)[0] + suffix, split(self.uri)[0] + suffix)

    def __str__(self) -> str:
        return self.uri

    @contextmanager
    def _errors(self, doing: str):
        """Object-store failures carry what to check; local and not-found errors pass unchanged (callers
        say what was missing)."""
        try:
            yield
        except (FileNotFoundError, StorageError):
            raise
        except OSError as exc:
            if self.is_local:
                raise
            raise StorageError(_explain(f"cannot {doing} {self.uri}", exc)) from exc

    def info(self) -> pafs.FileInfo:
        with self._errors("read"):
            return self.fs.get_file_info(self.path)

    def exists(self) -> bool:
        return self.info().type != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        return self.info().type == pafs.FileType.Directory

    def is_file(self) -> bool:
        return self.info().type == pafs.FileType.File

    def mkdir(self) -> None:
        with self._errors("create"):
            self.fs.create_dir(self.path, recursive=True)

    def read_bytes(self) -> bytes:
        with self._errors("read"), self.fs.open_input_stream(self.path, compression=None) as stream:
            return stream.read()

    def open_input(self) -> BinaryIO:
        """A seekable binary file (PyAV and pyarrow read from it); on an object store every read is a
        ranged request, so readers should read in large blocks."""
        if self.is_local:
            return open(self.path, "rb")
        with self._errors("read"):
            return self.fs.open_input_file(self.path)

    def open_stream(self) -> BinaryIO:
        """A forward-only binary file read in large blocks, for whole-file readers such as tar."""
        if self.is_local:
            return open(self.path, "rb")
        with self._errors("read"):
            return self.fs.open_input_stream(self.path, compression=None, buffer_size=REMOTE_READ_BYTES)

    def write_bytes(self, data: bytes) -> None:
        """All-or-nothing write of a whole file."""
        with self.open_output() as out:
            out.write(data)

    def open_output(self) -> "AtomicOutput":
        return AtomicOutput(self)

    def delete(self) -> None:
        if self.exists():
            with self._errors("delete"):
                self.fs.delete_file(self.path)

    def iter_files(self, recursive: bool = True) -> Iterator["Location"]:
        """Files in this folder (and below it, when recursive) in path order (entries sorted by name, a
        subfolder's files where its name sorts), listed one folder at a time: memory follows the largest
        folder, not the archive. Links to folders are not followed, so a link loop cannot trap the walk."""
        for name, is_dir in self._entries():
            child = self / name
            if not is_dir:
                yield child
            elif recursive:
                yield from child.iter_files()

    def _entries(self) -> list[tuple[str, bool]]:
        """(name, is a folder) of this folder's own entries, sorted; links to folders left out."""
        if self.is_local:
            with os.scandir(self.path) as found:
                entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in found
                           if e.is_dir(follow_symlinks=False) or not e.is_dir()]
        else:
            with self._errors("list"):
                infos = self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
            entries = [(posixpath.basename(i.path), i.type == pafs.FileType.Directory) for i in infos]
        return sorted(entries)

    def relative_to(self, root: "Location") -> str:
        """POSIX path of this location below `root`."""
        if self.is_local:
            return os.path.relpath(self.path, root.path).replace(os.sep, "/")
        return posixpath.relpath(self.path, root.path)


class AllOrNothing:
    """A writer used as a context manager: a clean exit publishes what it wrote (`close`), an exception
    drops it (`abort`)."""

    def close(self):
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class AtomicOutput(AllOrNothing):
    """A writable file that appears under its final name only on a clean close: an exception or a crash
    leaves nothing there, and an earlier file of that name stays as it was.

    On a local disk the bytes go to a temporary name that is renamed on close. On an object store they
    are spooled locally (in memory, then in a temporary file) and uploaded on close: pyarrow cannot abort
    an upload once started (closing its stream, even from a destructor, publishes the object), so the
    upload starts only when the content is complete. `stream` is the underlying writable file, for
    writers that want a real file object (pyarrow's ParquetWriter)."""

    def __init__(self, target: Location):
        self.target = target
        self.bytes_written = 0
        if target.is_local:
            os.makedirs(os.path.dirname(target.path), exist_ok=True)
            self._temp: str | None = f"{target.path}.{uuid.uuid4().hex[:8]}.tmp"
            self.stream: BinaryIO = open(self._temp, "wb")
        else:
            self._temp = None
            self.stream = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)

    def write(self, data: bytes) -> int:
        self.stream.write(data)
        self.bytes_written += len(data)
        return len(data)

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        """Publish the file."""
        if self.stream.closed:
            return
        if self._temp is not None:
            self.stream.flush()
            os.fsync(self.stream.fileno())
            self.stream.close()
            os.replace(self._temp, self.target.path)
            return
        try:
            self.stream.seek(0)
            with self.target._errors("write"):
                upload = self.target.fs.open_output_stream(self.target.path)
                shutil.copyfileobj(self.stream, upload, REMOTE_READ_BYTES)
                upload.close()
        finally:
            self.stream.close()

    def abort(self) -> None:
        """Drop what was written; nothing appears under the final name."""
        if self.stream.closed:
            return
        self.stream.close()
        if self._temp is not None:
            os.unlink(self._temp)
