"""Ingestion: loaded articles → chunks → vectors → committed revisions.

Chunks of many articles are embedded together (the model sorts a batch by length,
so padding stays small); each article is then committed on its own, so a failure
touches one article only. A chunk is embedded after its article's title (see
:func:`retrieval.text.passage_text`): its tokens see the title, and its vector is
pooled from its own tokens; what is stored and cited is the chunk alone. A group
is written to the store while the next one is embedded (one write in flight, in
order): torch's forward pass releases the GIL, so most of the write's time is
hidden behind it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from retrieval.ingest.chunking import chunk_article
from retrieval.ingest.loaders import Loaded
from retrieval.ingest.reasons import Reason
from retrieval.model.embedder import Embedder
from retrieval.store.chunks import Store
from retrieval.store.clients import (
    StoreError,
    StoreFull,
    StoreReadOnly,
    StoreUnavailable,
    is_full,
    is_unavailable,
    why_read_only,
)
from retrieval.store.parts import ChunkParts, chunk_id, chunk_meta
from retrieval.text import passage_text, sentence_spans
from retrieval.types import Article, Chunk

log = logging.getLogger(__name__)

# Chunks embedded per call: large enough for full batches after length sorting.
EMBED_GROUP = 512


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (origin, reason)
    chunks: int = 0
    tokens: int = 0
    seconds: float = 0.0
    interrupted: bool = False  # stopped before the end; what it lists was committed

    def summary(self) -> str:
        return ("interrupted after " if self.interrupted else "") + (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.failed)} failed"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": [{"item": o, "reason": r} for o, r in self.failed],
            "chunks": self.chunks,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
        }


ProgressHook = Callable[[int], None]


class Ingestor:
    def __init__(self, store: Store, embedder: Embedder, max_chunk_tokens: int = 128) -> None:
        self.store = store
        self.embedder = embedder
        self.max_chunk_tokens = max_chunk_tokens

    def chunk(self, article: Article) -> list[Chunk]:
        limit = min(self.max_chunk_tokens, self.embedder.max_tokens - 8)
        return chunk_article(article, self.embedder.count_tokens, limit)

    def run(
        self,
        items: Iterable[Loaded],
        on_item: ProgressHook | None = None,
        report: IngestReport | None = None,
    ) -> IngestReport:
        """Ingest ``items``. A caller that passes its own ``report`` still holds
        what was committed when the run is interrupted."""
        report = IngestReport() if report is None else report
        started = time.perf_counter()
        try:
            self._run(items, on_item, report)
        finally:
            report.seconds = time.perf_counter() - started
        return report

    def _run(
        self, items: Iterable[Loaded], on_item: ProgressHook | None, report: IngestReport
    ) -> None:
        self.store.check_model()
        pending: list[tuple[str, Article, list[Chunk]]] = []
        pending_ids: set[str] = set()
        n_pending_chunks = 0
        writer = WriteBehind(on_item)

        def flush() -> None:
            nonlocal n_pending_chunks
            if pending:
                batch = list(pending)
                vectors, parts, tokens = self.embed(
                    [c for _, _, chunks in batch for c in chunks],
                    {article.id: article.title for _, article, _ in batch},
                )
                writer.submit(
                    lambda: self._write(batch, vectors, parts, tokens, report),
                    len(batch),
                    {article.id for _, article, _ in batch},
                )
            pending.clear()
            pending_ids.clear()
            n_pending_chunks = 0

        try:
            for item in items:
                if item.article is None:
                    report.failed.append((item.origin, item.error or Reason("unreadable")))
                    if on_item:
                        on_item(1)
                    continue
                article = item.article
                if article.id in pending_ids or article.id in writer.ids:
                    # the same id twice in one run: the later one must see the earlier
                    flush()
                    writer.wait()
                known = self.store.catalogue.info(article.id)
                if known is not None and known.content_hash == article.content_hash:
                    report.unchanged.append(article.id)
                    if on_item:
                        on_item(1)
                    continue
                try:
                    chunks = self.chunk(article)
                except Exception as exc:  # a bug on odd text must not stop the run
                    log.exception("chunking %s failed", item.origin)
                    report.failed.append((item.origin, Reason("chunking_failed", why=exc)))
                    continue
                pending.append((item.origin, article, chunks))
                pending_ids.add(article.id)
                n_pending_chunks += len(chunks)
                if n_pending_chunks >= EMBED_GROUP:
                    flush()
            flush()
        finally:
            writer.close()  # the write in flight ends and is accounted for, even on Ctrl-C

    def embed(
        self, chunks: list[Chunk], titles: Mapping[str, str]
    ) -> tuple[np.ndarray, list[ChunkParts], int]:
        """Chunk vectors and, from the same forward pass, their sentences' vectors,
        and the tokens the model read; ``titles`` maps each chunk's article id to
        its title."""
        spans = [sentence_spans(c.text) or [(0, len(c.text))] for c in chunks]
        texts, shifted, passages = [], [], []
        for c, chunk_spans in zip(chunks, spans, strict=True):
            text, offset = passage_text(titles[c.article_id], c.text)
            texts.append(text)
            shifted.append([(a + offset, b + offset) for a, b in chunk_spans])
            passages.append((offset, offset + len(c.text)))
        # the title is context: the chunk's vector is pooled from its own tokens
        vectors, part_vectors, tokens = self.embedder.embed_passages_and_parts(
            texts, shifted, passages
        )
        parts = [ChunkParts(tuple(s), pv) for s, pv in zip(spans, part_vectors, strict=True)]
        return vectors, parts, tokens

    def _write(
        self,
        batch: list[tuple[str, Article, list[Chunk]]],
        vectors: np.ndarray,
        parts: list[ChunkParts],
        tokens: int,
        report: IngestReport,
    ) -> None:
        """Commit one embedded group (on the writer thread) and account for it."""
        report.tokens += tokens
        pos = 0
        writes = []
        write_parts = []
        for _, article, chunks in batch:
            writes.append((article, chunks, vectors[pos : pos + len(chunks)]))
            write_parts.append(parts[pos : pos + len(chunks)])
            pos += len(chunks)
        existed = {article.id for article, _, _ in writes if self.store.catalogue.info(article.id)}
        try:
            self.store.write_many(writes, parts=write_parts)
        except Exception as exc:
            stop = None if is_full(exc) else self._stop(exc, report)
            if stop is not None:  # the store's trouble, not these articles': none failed
                raise stop from exc
            for origin, _, _ in batch:
                report.failed.append((origin, Reason("store_failed", why=exc)))
            if is_full(exc):  # every later write would fail too: stop, and say why
                log.error("the disk under the store is full: %s", exc)
                raise StoreFull(
                    f"the disk under the store is full ({exc}). The articles committed before "
                    "it are whole; free some space and run the same ingest again: it continues "
                    "where it stopped"
                ) from exc
            log.exception("writing a batch of %d articles failed", len(writes))
            return
        for article, chunks, _ in writes:
            report.chunks += len(chunks)
            (report.updated if article.id in existed else report.added).append(article.id)

    def _stop(self, exc: Exception, report: IngestReport) -> StoreError | None:
        """Why no later write can succeed either, when that is so, with what was
        committed before: the store refuses writes, or cannot be reached."""
        done = (
            f"after {len(report.added)} article(s) were added and {len(report.updated)} "
            "updated, each whole"
        )
        again = "run the same ingest again: it continues where it stopped"
        why = why_read_only(exc, self.store.folder)
        if why is not None:
            where = self.store.folder or "the Chroma server's store"
            return StoreReadOnly(
                f"{where} refuses writes ({why}) {done}. Make it writable (check the disk and "
                f"how it is mounted, and the folder's owner and permissions), then {again}"
            )
        if is_unavailable(exc):
            return StoreUnavailable(
                f"the Chroma server could not be reached ({exc}) {done}. Once it is back, {again}"
            )
        return None


class WriteBehind:
    """Runs one write at a time on its own thread while the caller prepares the
    next: a new write starts when the previous one has ended, so writes keep their
    order and at most two groups are held in memory. ``on_done`` hears, on the
    caller's thread, how many items each finished write covered."""

    def __init__(self, on_done: ProgressHook | None = None) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ingest-writer")
        self._inflight: tuple[Future[None], int, set[str]] | None = None
        self._on_done = on_done

    @property
    def ids(self) -> set[str]:
        """The ids the write in flight covers."""
        return self._inflight[2] if self._inflight else set()

    def submit(self, write: Callable[[], None], items: int, ids: set[str]) -> None:
        self.wait()
        self._inflight = (self._pool.submit(write), items, ids)

    def wait(self) -> None:
        """Until the write in flight has ended (its error, if any, is raised here)."""
        if self._inflight is None:
            return
        future, items, _ = self._inflight
        future.result()  # interrupted here, the write stays in flight for close()
        self._inflight = None
        if self._on_done:
            self._on_done(items)

    def close(self) -> None:
        """Wait for the write in flight, holding Ctrl-C until it ends, then stop."""
        try:
            with interrupts_deferred():
                self.wait()
        finally:
            self._pool.shutdown(wait=True)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then deliver them: a write
    that has begun finishes (a batch takes a second or two) and is accounted for.
    Signals reach only the main thread; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    if any(handler is None for handler in previous.values()):  # set outside Python
        yield
        return
    for sig in previous:
        signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            signal.raise_signal(held[0])


def reindex(store: Store, ingestor: Ingestor, on_item: ProgressHook | None = None) -> int:
    """Re-embed every article from its stored text into a new chunks collection,
    then switch to it; the old vectors serve searches until the switch. As in
    ingestion, a group is written while the next one is embedded."""
    new = store.begin_reindex()
    articles = list(store.catalogue.iter_articles())
    live = {a.id: a for a in store.catalogue.articles()}
    counts: dict[str, int] = {}
    group: list[tuple[Article, list[Chunk]]] = []
    writer = WriteBehind(on_item)

    def flush() -> None:
        all_chunks = [c for _, chunks in group for c in chunks]
        vectors, parts, _ = ingestor.embed(all_chunks, {a.id: a.title for a, _ in group})
        ids: list[str] = []
        metas: list[dict[str, Any]] = []
        pos = 0
        for article, chunks in group:
            rev = live[article.id].revision
            counts[article.id] = len(chunks)
            for c in chunks:
                ids.append(chunk_id(article.id, rev, c.index))
                metas.append(chunk_meta(article, rev, c, parts[pos]))
                pos += 1
        texts = [c.text for c in all_chunks]

        def write() -> None:
            new.add(ids=ids, embeddings=np.asarray(vectors), documents=texts, metadatas=metas)  # type: ignore[arg-type]

        writer.submit(write, len(group), set())  # each article is read once: no id to wait on
        group.clear()

    size = 0
    try:
        for article in articles:
            if article.id not in live:
                continue
            chunks = ingestor.chunk(article)
            group.append((article, chunks))
            size += len(chunks)
            if size >= EMBED_GROUP:
                flush()
                size = 0
        if group:
            flush()
    finally:
        writer.close()  # every group embedded is written before the switch
    store.finish_reindex(new)
    store.catalogue.commit(
        [(a, live[a.id].revision, counts[a.id]) for a in articles if a.id in counts]
    )
    return len(counts)
