"""Ingestion: loaded articles → chunks → vectors → committed revisions.

Chunks of many articles are embedded together (the model sorts a batch by length,
so padding stays small); each article is then committed on its own, so a failure
touches one article only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from retrieval.chunking import chunk_article
from retrieval.embeddings import Embedder
from retrieval.loaders import Loaded
from retrieval.store import Store, chunk_id
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

    def summary(self) -> str:
        return (
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
        }


ProgressHook = Callable[[int], None]


class Ingestor:
    def __init__(self, store: Store, embedder: Embedder, max_chunk_tokens: int = 200) -> None:
        self.store = store
        self.embedder = embedder
        self.max_chunk_tokens = max_chunk_tokens

    def chunk(self, article: Article) -> list[Chunk]:
        limit = min(self.max_chunk_tokens, self.embedder.max_tokens - 8)
        return chunk_article(article, self.embedder.count_tokens, limit)

    def run(self, items: Iterable[Loaded], on_item: ProgressHook | None = None) -> IngestReport:
        report = IngestReport()
        started = time.perf_counter()
        self.store.check_model()
        pending: list[tuple[str, Article, list[Chunk]]] = []
        pending_ids: set[str] = set()
        n_pending_chunks = 0

        def flush() -> None:
            nonlocal n_pending_chunks
            if pending:
                self._commit(pending, report)
                if on_item:
                    on_item(len(pending))
            pending.clear()
            pending_ids.clear()
            n_pending_chunks = 0

        for item in items:
            if item.article is None:
                report.failed.append((item.origin, item.error or "unreadable"))
                if on_item:
                    on_item(1)
                continue
            article = item.article
            if article.id in pending_ids:
                flush()  # the same id twice in one run: the later one must see the earlier
            known = self.store.info(article.id)
            if known is not None and known.content_hash == article.content_hash:
                report.unchanged.append(article.id)
                if on_item:
                    on_item(1)
                continue
            try:
                chunks = self.chunk(article)
            except Exception as exc:  # a bug on odd text must not stop the run
                log.exception("chunking %s failed", item.origin)
                report.failed.append((item.origin, f"chunking failed: {exc}"))
                continue
            pending.append((item.origin, article, chunks))
            pending_ids.add(article.id)
            n_pending_chunks += len(chunks)
            if n_pending_chunks >= EMBED_GROUP:
                flush()
        flush()
        report.seconds = time.perf_counter() - started
        return report

    def _commit(self, batch: list[tuple[str, Article, list[Chunk]]], report: IngestReport) -> None:
        texts = [c.text for _, _, chunks in batch for c in chunks]
        vectors = self.embedder.embed_passages(texts)
        report.tokens += sum(self.embedder.count_tokens_many(texts))
        pos = 0
        writes = []
        for _, article, chunks in batch:
            writes.append((article, chunks, vectors[pos : pos + len(chunks)]))
            pos += len(chunks)
        existed = {article.id for article, _, _ in writes if self.store.info(article.id)}
        try:
            self.store.write_many(writes)
        except Exception as exc:
            log.exception("writing a batch of %d articles failed", len(writes))
            for origin, _, _ in batch:
                report.failed.append((origin, f"store write failed: {exc}"))
            return
        for article, chunks, _ in writes:
            report.chunks += len(chunks)
            (report.updated if article.id in existed else report.added).append(article.id)


def reindex(store: Store, ingestor: Ingestor, on_item: ProgressHook | None = None) -> int:
    """Re-embed every article from its stored text into a new chunks collection,
    then switch to it; the old vectors serve searches until the switch."""
    new = store.begin_reindex()
    articles = list(store.iter_articles())
    live = {a.id: a for a in store.articles()}
    counts: dict[str, int] = {}
    group: list[tuple[Article, list[Chunk]]] = []

    def flush() -> None:
        texts = [c.text for _, chunks in group for c in chunks]
        vectors = ingestor.embedder.embed_passages(texts)
        ids: list[str] = []
        metas: list[dict[str, Any]] = []
        for article, chunks in group:
            rev = live[article.id].revision
            counts[article.id] = len(chunks)
            for c in chunks:
                ids.append(chunk_id(article.id, rev, c.index))
                metas.append(
                    {
                        "article_id": article.id,
                        "revision": rev,
                        "paragraph": c.paragraph,
                        "start": c.start,
                        "end": c.end,
                        "index": c.index,
                    }
                )
        new.add(ids=ids, embeddings=np.asarray(vectors), documents=texts, metadatas=metas)  # type: ignore[arg-type]
        if on_item:
            on_item(len(group))
        group.clear()

    size = 0
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
    store.finish_reindex(new)
    for article in articles:
        if article.id in counts:
            store.switch_revision(article, live[article.id].revision, counts[article.id])
    return len(counts)
