"""Faults injected into real parts: a Chroma collection that fails where a crash
would stop a write."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from retrieval.store.chunks import Store
from retrieval.store.clients import StoreError, StoreUnavailable


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
