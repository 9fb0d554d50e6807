"""Composition: the one place that turns settings into working parts."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from config.settings import Settings
from retrieval.embeddings import Embedder
from retrieval.ingest import Ingestor
from retrieval.store import DataDirLock, Store, embedded_client, server_client


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_embedder(settings: Settings, progress: Callable[[str], None] | None = _say) -> Embedder:
    return Embedder(
        model=settings.embedding.model,
        dtype=settings.embedding.dtype,
        cache_dir=settings.cache_dir / "models",
        batch_size=settings.embedding.batch_size,
        progress=progress,
    )


def open_store(settings: Settings, embedder: Embedder) -> Store:
    """The embedded store (locked to this process) or a client of a Chroma server."""
    if settings.chroma.host:
        client = server_client(settings.chroma.host, settings.chroma.port, settings.chroma.ssl)
        return Store(client, embedder)
    lock = DataDirLock(settings.data_dir)
    lock.acquire()
    try:
        return Store(embedded_client(settings.data_dir), embedder, lock=lock)
    except BaseException:
        lock.release()
        raise


def build_ingestor(settings: Settings, store: Store, embedder: Embedder) -> Ingestor:
    return Ingestor(store, embedder, max_chunk_tokens=settings.embedding.max_chunk_tokens)


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Libraries that are chatty at INFO; httpx would also log request URLs, and
    # the Bot API URL carries the bot token.
    for name in ("httpx", "httpcore", "chromadb", "sentence_transformers", "transformers"):
        logging.getLogger(name).setLevel(logging.WARNING)
