"""The article catalogue: one Chroma record per article, naming its live revision.

A record holds the article whole (its document is the article as JSON) and, in
its metadata, what is known without the text: title, outlet, date, revision,
counts and when it was written. Switching a record to a new revision is how an
article's write is committed. A removed article leaves a tombstone, so that
processes following the catalogue (:meth:`Catalogue.changes`) see the removal.
The collection's own metadata records the embedding model and the store's
schema (see :class:`retrieval.store.chunks.Store`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.types import Article, ArticleInfo

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

CATALOGUE = "rawi_articles"
PAGE = 1000
TOMBSTONE = "deleted"
# Seconds of catalogue history re-read at each follow, for writers whose clocks lag.
FOLLOW_OVERLAP = 60.0
# Records per Chroma write call (below Chroma's own maximum batch size).
MAX_BATCH = 4000


class Catalogue:
    def __init__(self, client: ClientAPI, schema: int) -> None:
        self.client = client
        self._collection = client.get_or_create_collection(
            CATALOGUE, embedding_function=None, metadata={"schema": schema}
        )
        self._live: dict[str, ArticleInfo] | None = None
        self._cursor = 0.0  # newest catalogue change seen (its writer's clock)

    # -- the collection's own metadata ---------------------------------------------
    def meta(self) -> dict[str, Any]:
        """The collection's metadata, read fresh (another process may have set it)."""
        self._collection = self.client.get_collection(CATALOGUE, embedding_function=None)
        return dict(self._collection.metadata or {})

    def set_meta(self, meta: dict[str, Any]) -> None:
        self._collection.modify(metadata=meta)

    # -- what is live ------------------------------------------------------------------
    @property
    def live(self) -> dict[str, ArticleInfo]:
        if self._live is None:
            self._live = self._load()
        return self._live

    def refresh(self) -> None:
        """Forget cached state (another process may have written)."""
        self._live = None

    def _load(self) -> dict[str, ArticleInfo]:
        live: dict[str, ArticleInfo] = {}
        cursor = 0.0
        for aid, meta in self._all_records():
            cursor = max(cursor, _stamp(meta))
            if not meta.get(TOMBSTONE):
                live[aid] = ArticleInfo.from_meta(aid, meta)
        self._cursor = cursor
        return live

    def _all_records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every record's id and metadata (tombstones too), read fresh."""
        offset = 0
        while True:
            page = self._collection.get(include=["metadatas"], limit=PAGE, offset=offset)
            for aid, raw in zip(page["ids"], page["metadatas"] or [], strict=True):
                yield aid, dict(raw or {})
            if len(page["ids"]) < PAGE:
                return
            offset += PAGE

    def live_ids(self) -> list[str]:
        """The live articles' ids, read fresh from Chroma; unlike :meth:`refresh`,
        this leaves what :meth:`changes` will report untouched."""
        return [aid for aid, meta in self._all_records() if not meta.get(TOMBSTONE)]

    def changes(self) -> tuple[list[str], list[str]]:
        """What other processes wrote or removed since the last look: only records
        changed since then are read. Returns (articles changed, articles removed)
        and updates what is live."""
        if self._live is None:
            _ = self.live
            return [], []
        since = self._cursor - FOLLOW_OVERLAP  # writers' clocks may lag a little
        where: Any = {"updated_at": {"$gt": since}}
        got = self._collection.get(where=where, include=["metadatas"])
        live = self._live
        changed: list[str] = []
        removed: list[str] = []
        for aid, raw in zip(got["ids"], got["metadatas"] or [], strict=True):
            meta = dict(raw or {})
            self._cursor = max(self._cursor, _stamp(meta))
            if meta.get(TOMBSTONE):
                if live.pop(aid, None) is not None:
                    removed.append(aid)
                continue
            info = ArticleInfo.from_meta(aid, meta)
            known = live.get(aid)
            if known is None or known.revision != info.revision:
                live[aid] = info
                changed.append(aid)
        return changed, removed

    def revisions(self) -> dict[str, str]:
        # copied at once (dict.copy makes no object Python's collector could stop in,
        # so no other thread commits meanwhile; list(items()) makes a tuple per item,
        # and did fail): an admin's ingest or a feed's poll commits while questions read
        return {aid: info.revision for aid, info in self.live.copy().items()}

    def is_live(self, article_id: str, revision: object) -> bool:
        info = self.live.get(article_id)
        return info is not None and info.revision == revision

    # -- reading -----------------------------------------------------------------------
    def articles(self) -> list[ArticleInfo]:
        return sorted(self.live.values(), key=lambda a: (a.published or "", a.id))

    def info(self, article_id: str) -> ArticleInfo | None:
        return self.live.get(article_id)

    def coverage(self) -> dict[str, Any]:
        """What the store holds, for readers: counts, date range, outlets."""
        articles = list(self.live.values())
        dates = sorted(a.published[:10] for a in articles if a.published)
        return {
            "articles": len(articles),
            "first": dates[0] if dates else None,
            "last": dates[-1] if dates else None,
            "sources": sorted({a.source for a in articles if a.source}),
        }

    def get_article(self, article_id: str) -> Article | None:
        got = self._collection.get(ids=[article_id], include=["documents", "metadatas"])
        if not got["ids"] or (got["metadatas"] or [{}])[0].get(TOMBSTONE):
            return None
        return article_from_document((got["documents"] or [""])[0])

    def iter_articles(self) -> Iterator[Article]:
        offset = 0
        while True:
            page = self._collection.get(
                include=["documents", "metadatas"], limit=PAGE, offset=offset
            )
            for doc, meta in zip(page["documents"] or [], page["metadatas"] or [], strict=True):
                if not (meta or {}).get(TOMBSTONE):
                    yield article_from_document(doc)
            if len(page["ids"]) < PAGE:
                return
            offset += PAGE

    def records(self, article_ids: Sequence[str]) -> dict[str, tuple[Article, ArticleInfo]]:
        """These articles' live records, read fresh from Chroma: each article as
        stored, with what its record says of it (its live revision among it)."""
        got = self._collection.get(ids=list(article_ids), include=["documents", "metadatas"])
        return {
            aid: (article_from_document(doc), ArticleInfo.from_meta(aid, dict(meta)))
            for aid, doc, meta in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
            )
            if meta and not meta.get(TOMBSTONE)
        }

    def current_revisions(self, article_ids: Sequence[str]) -> dict[str, str]:
        """The live revision of each of these articles, read fresh from Chroma."""
        got = self._collection.get(ids=list(article_ids), include=["metadatas"])
        return {
            aid: str(meta["revision"])
            for aid, meta in zip(got["ids"], got["metadatas"] or [], strict=True)
            if meta and not meta.get(TOMBSTONE) and meta.get("revision")
        }

    # -- writing -------------------------------------------------------------------------
    def commit(self, entries: Sequence[tuple[Article, str, int]]) -> list[ArticleInfo]:
        """Point each article's record at its revision (article, revision, chunk
        count): the commit of its write."""
        metas = [_record_meta(article, rev, n) for article, rev, n in entries]
        for i in range(0, len(entries), MAX_BATCH):
            part = entries[i : i + MAX_BATCH]
            self._collection.upsert(
                ids=[article.id for article, _, _ in part],
                embeddings=[_placeholder_vector(article.id) for article, _, _ in part],
                documents=[
                    json.dumps(article.to_record(), ensure_ascii=False) for article, _, _ in part
                ],
                metadatas=metas[i : i + MAX_BATCH],  # type: ignore[arg-type]
            )
        infos = [
            ArticleInfo.from_meta(article.id, meta)
            for (article, _, _), meta in zip(entries, metas, strict=True)
        ]
        if self._live is not None:
            for info in infos:
                self._live[info.id] = info
        return infos

    def tombstone(self, article_id: str) -> None:
        """Mark an article removed (the commit of its removal)."""
        self._collection.upsert(
            ids=[article_id],
            embeddings=[_placeholder_vector(article_id)],
            documents=[""],
            metadatas=[{TOMBSTONE: True, "revision": "", "updated_at": time.time()}],
        )
        if self._live is not None:
            self._live.pop(article_id, None)


def _stamp(meta: dict[str, Any]) -> float:
    value = meta.get("updated_at")
    return float(value) if isinstance(value, (int, float)) else 0.0


def _placeholder_vector(article_id: str) -> np.ndarray:
    """Chroma gives every record a vector; the catalogue's are placeholders, spread
    out (not all equal) so that its index stays cheap to maintain."""
    digest = hashlib.blake2b(article_id.encode(), digest_size=4).digest()
    return np.frombuffer(digest, dtype=np.uint8).reshape(2, 2).astype(np.float32) @ np.array(
        [1 / 255, 1 / 65025], dtype=np.float32
    )


def _record_meta(article: Article, revision: str, chunks: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "title": article.title,
        "revision": revision,
        "content_hash": article.content_hash,
        "language": article.language,
        "paragraphs": len(article.paragraphs),
        "chunks": chunks,
        "updated_at": time.time(),
    }
    for key in ("url", "source", "published", "author"):
        value = getattr(article, key)
        if value:
            meta[key] = value
    return meta


def article_from_document(doc: str | None) -> Article:
    return article_from_record(json.loads(doc or "{}"))


def article_from_record(record: dict[str, Any]) -> Article:
    """An article from what :meth:`Article.to_record` made of it."""
    return Article(
        id=record["id"],
        title=record["title"],
        paragraphs=tuple(record["paragraphs"]),
        url=record.get("url"),
        source=record.get("source"),
        published=record.get("published"),
        author=record.get("author"),
        language=record.get("language", "und"),
    )
