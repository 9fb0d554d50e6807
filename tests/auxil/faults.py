"""Faults injected into real parts: a Chroma collection that fails where a crash
would stop a write; commits from another thread while the live articles are read."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from retrieval.store.chunks import Store
from retrieval.store.clients import StoreError, StoreUnavailable
from retrieval.types import ArticleInfo


class FailingUpserts:
    """A Chroma collection whose ``upsert`` fails; everything else is the real one's."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def upsert(self, *args: Any, **kwargs: Any) -> None:
        raise StoreError("simulated crash before commit")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@contextlib.contextmanager
def crash_before_commit(store: Store) -> Iterator[None]:
    """While inside, a write stops between its chunks and its commit (the
    catalogue's upsert), as a crash there would."""
    catalogue: Any = store.catalogue
    real = catalogue._collection
    catalogue._collection = FailingUpserts(real)
    try:
        yield
    finally:
        catalogue._collection = real


class UnreachableReads:
    """A Chroma collection whose reads fail as a server out of reach does."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("simulated: the Chroma server does not answer")

    query = get

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@contextlib.contextmanager
def unreachable_chunks(store: Store) -> Iterator[None]:
    """While inside, reading the store's chunks fails as an unreachable server would."""
    real = store.chunks
    store._chunks = UnreachableReads(real)  # type: ignore[assignment]
    try:
        yield
    finally:
        store._chunks = real


def churning(
    live: dict[str, ArticleInfo], look: Callable[[], object], seconds: float = 3.0
) -> None:
    """Call ``look`` again and again for ``seconds`` while another thread adds and
    removes live articles as commits do (an admin's ingest, a feed's poll, catching
    up with another process), threads switching as often as Python allows. The
    coverage is made large first, so that each look takes a while."""
    info = next(iter(live.values()))
    for i in range(20_000):
        live[f"old-{i}"] = replace(info, id=f"old-{i}", updated_at=0.0)
    stop = threading.Event()

    def commits() -> None:  # as Catalogue.commit and .tombstone change what is live
        i = 0
        while not stop.is_set():
            live[f"new-{i % 64}"] = replace(info, id=f"new-{i % 64}", updated_at=0.0)
            live.pop(f"new-{(i + 32) % 64}", None)
            i += 1

    writer = threading.Thread(target=commits)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    writer.start()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            look()
    finally:
        stop.set()
        writer.join()
        sys.setswitchinterval(switch)


class Unreachable:
    """A Chroma collection on a server out of reach: every call to it fails."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._real, name)
        if not callable(value):
            return value

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailable("simulated: the Chroma server does not answer")

        return fail


@contextlib.contextmanager
def unreachable_store(store: Store) -> Iterator[None]:
    """While inside, every read and write of the store fails as an unreachable
    server's would."""
    catalogue: Any = store.catalogue
    chunks, articles = store.chunks, catalogue._collection
    store._chunks, catalogue._collection = Unreachable(chunks), Unreachable(articles)  # type: ignore[assignment]
    try:
        yield
    finally:
        store._chunks, catalogue._collection = chunks, articles
