"""Chroma clients: the embedded one, locked to one process per data dir, and a
server's; and the store's errors, which say whether trying again can help."""

from __future__ import annotations

import contextlib
import errno
import os
import time
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


# What Chroma (its SQLite, its compactor) and the OS say when the disk is full.
_FULL = ("disk is full", "no space left", "error in compaction")


def is_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return any(sign in str(exc).lower() for sign in _FULL)


class DataDirLock:
    """One process per embedded data dir: Chroma's embedded client is not safe for two."""

    def __init__(self, data_dir: Path) -> None:
        from filelock import FileLock

        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "rawi.lock"
        self._pid_file = data_dir / "rawi.pid"
        self._lock = FileLock(str(self.path), thread_local=False)

    def acquire(self) -> None:
        from filelock import Timeout

        try:
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
        self._pid_file.write_text(str(os.getpid()))

    def held(self) -> bool:
        """Whether another process holds the data dir now."""
        from filelock import Timeout

        if not self.path.exists():
            return False
        try:
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
