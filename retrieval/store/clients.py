"""Chroma clients: the embedded one, locked to one process per data dir, and a
server's; and the store's errors, which say whether trying again can help."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chromadb.api import ClientAPI


class StoreError(RuntimeError):
    """A problem with the store; ``retryable`` says whether trying again can help."""

    retryable = False


class StoreLocked(StoreError):
    retryable = True


class ModelMismatch(StoreError):
    pass


class StoreUnavailable(StoreError):
    retryable = True


class StoreFull(StoreError):
    """The disk under the store is full: every later write would fail too."""


class StoreReadOnly(StoreError):
    """The store's folder refuses writes: every later write would fail too."""


# What Chroma (its SQLite, its compactor) and the OS say when the disk is full.
_FULL = ("disk is full", "no space left", "error in compaction")


def is_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return any(sign in str(exc).lower() for sign in _FULL)


# What the OS and SQLite (in Chroma) say when a folder or a database refuses writes.
_REFUSED = (errno.EROFS, errno.EACCES, errno.EPERM)
_READ_ONLY = ("readonly database", "read-only file system", "permission denied")


def why_read_only(exc: BaseException, folder: Path | None = None) -> str | None:
    """Why a write failed, if it failed because the store refuses writes: as the
    error says, or (Chroma's errors need not say it: "unable to open database
    file", "disk I/O error") as a new file in ``folder``, the store's own, is
    refused. None when writes are not refused."""
    if isinstance(exc, OSError) and exc.errno in _REFUSED:
        return exc.strerror or str(exc)
    said = str(exc).lower()
    if any(sign in said for sign in _READ_ONLY):
        return str(exc)
    if folder is not None and folder.is_dir():
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as probe:
            if probe.errno in _REFUSED:
                return probe.strerror
    return None


def read_only(data_dir: Path, why: str) -> StoreReadOnly:
    return StoreReadOnly(
        f"the data dir {data_dir} is read-only ({why}): rawi cannot keep its store there. "
        "Make it writable (check the disk and how it is mounted, and the folder's owner and "
        "permissions), or point RAWI_DATA_DIR (--data-dir) at a writable folder"
    )


class DataDirLock:
    """One process per embedded data dir: Chroma's embedded client is not safe for two."""

    def __init__(self, data_dir: Path) -> None:
        from filelock import FileLock

        self.path = data_dir / "rawi.lock"
        self._pid_file = data_dir / "rawi.pid"
        with self._writes():
            data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.path), thread_local=False)

    @contextlib.contextmanager
    def _writes(self) -> Iterator[None]:
        """A data dir that refuses writes is said so, plainly."""
        try:
            yield
        except OSError as exc:
            why = why_read_only(exc)
            if why is None:
                raise
            raise read_only(self.path.parent, why) from None

    def acquire(self) -> None:
        from filelock import Timeout

        try:
            with self._writes():
                self._lock.acquire(timeout=0)
        except Timeout:
            try:
                holder = f" (process {self._pid_file.read_text().strip()})"
            except OSError:
                holder = ""
            raise StoreLocked(
                f"the data dir {self.path.parent} is in use by another rawi process{holder}. "
                "Stop that process, or run a Chroma server (make chroma-server) and point "
                "every process at it with RAWI_CHROMA__HOST and RAWI_CHROMA__PORT."
            ) from None
        with self._writes():
            self._pid_file.write_text(str(os.getpid()))

    def held(self) -> bool:
        """Whether another process holds the data dir now."""
        from filelock import Timeout

        if not self.path.exists():
            return False
        try:
            with self._writes():
                self._lock.acquire(timeout=0)
        except Timeout:
            return True
        self._lock.release()
        return False

    def release(self) -> None:
        if self._lock.is_locked:
            with contextlib.suppress(OSError):
                self._pid_file.unlink()
            self._lock.release()


def embedded_client(data_dir: Path) -> ClientAPI:
    import chromadb

    return chromadb.PersistentClient(
        path=str(data_dir / "chroma"),
        settings=chromadb.Settings(anonymized_telemetry=False, allow_reset=False),
    )


def server_client(host: str, port: int, ssl: bool = False, wait: float = 10.0) -> ClientAPI:
    """A client of a Chroma server, once its heartbeat answers (or a clear error)."""
    import chromadb

    deadline = time.monotonic() + wait
    last: Exception | None = None
    while True:
        try:
            client = chromadb.HttpClient(
                host=host,
                port=port,
                ssl=ssl,
                settings=chromadb.Settings(anonymized_telemetry=False),
            )
            client.heartbeat()
            return client
        except Exception as exc:  # connection refused, DNS, HTTP errors
            last = exc
        if time.monotonic() >= deadline:
            raise StoreUnavailable(
                f"the Chroma server at {host}:{port} is unreachable ({last}); "
                "start it with `make chroma-server` or check RAWI_CHROMA__HOST/PORT"
            )
        time.sleep(0.25)


def is_unavailable(exc: BaseException) -> bool:
    """Whether an error means the Chroma server cannot be reached right now."""
    import httpx

    return isinstance(exc, (StoreUnavailable, httpx.TransportError, ConnectionError))
