"""The article store on Chroma: chunks with their vectors, and the article catalogue.

Chroma has no transactions, so an article is committed by revision:

1. its chunks are written under a fresh revision id (invisible to search);
2. the catalogue record is switched to that revision: this is the commit;
3. the chunks of any other revision of the article are deleted.

A crash before 2 leaves the old revision live and whole; a crash after it leaves
only unreferenced chunks, which search ignores and :meth:`Store.resync` removes.
The catalogue's collection metadata records the embedding model, its dimension,
its prompts and the schema version; a store built with another model is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from retrieval.types import Article, Chunk, ChunkRecord, Hit

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
# What the current schema changed, for the message that asks an older store to reindex.
SCHEMA_CHANGE = "passages are embedded after their article's title"
CATALOGUE = "rawi_articles"
CHUNKS_PREFIX = "rawi_chunks_"
PAGE = 1000
# The most nearest neighbours one dense query asks for, dead revisions included.
DENSE_FETCH_MAX = 1000
# A removed article leaves a catalogue record with this flag, so that processes
# following the catalogue see the removal.
TOMBSTONE = "deleted"
# Seconds of catalogue history re-read at each follow, for writers whose clocks lag.
FOLLOW_OVERLAP = 60.0
# Records per Chroma write call (below Chroma's own maximum batch size).
MAX_BATCH = 4000


class StoreError(RuntimeError):
    """A problem with the store; ``retryable`` says whether trying again can help."""

    retryable = False


class StoreLocked(StoreError):
    retryable = True


class ModelMismatch(StoreError):
    pass


class StoreUnavailable(StoreError):
    retryable = True


# Told of every commit: the chunks written (live now) and the ids of removed articles.
ChangeListener = Callable[[list[ChunkRecord], list[str]], None]


class ModelInfoSource(Protocol):
    @property
    def model_id(self) -> str: ...
    @property
    def dim(self) -> int: ...
    @property
    def prompts(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class ArticleInfo:
    """A catalogue record: what is known of an article without its text."""

    id: str
    title: str
    revision: str
    content_hash: str
    url: str | None
    source: str | None
    published: str | None
    language: str
    paragraphs: int
    chunks: int
    updated_at: float

    @classmethod
    def from_meta(cls, article_id: str, meta: dict[str, Any]) -> ArticleInfo:
        return cls(
            id=article_id,
            title=str(meta.get("title", "")),
            revision=str(meta["revision"]),
            content_hash=str(meta.get("content_hash", "")),
            url=meta.get("url"),
            source=meta.get("source"),
            published=meta.get("published"),
            language=str(meta.get("language", "und")),
            paragraphs=int(meta.get("paragraphs", 0)),
            chunks=int(meta.get("chunks", 0)),
            updated_at=float(meta.get("updated_at", 0.0)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "url": self.url,
            "source": self.source,
            "published": self.published,
            "language": self.language,
            "paragraphs": self.paragraphs,
            "chunks": self.chunks,
        }


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


def chunk_id(article_id: str, revision: str, index: int) -> str:
    return f"{article_id}|{revision}|{index}"


@dataclass(frozen=True)
class ChunkParts:
    """A chunk's sentences: spans relative to the chunk, and their encoded vectors."""

    spans: tuple[tuple[int, int], ...]
    vectors: str


def chunk_meta(
    article_id: str, revision: str, chunk: Chunk, parts: ChunkParts | None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "article_id": article_id,
        "revision": revision,
        "paragraph": chunk.paragraph,
        "start": chunk.start,
        "end": chunk.end,
        "index": chunk.index,
        "written_at": time.time(),
    }
    if parts is not None and len(parts.spans) > 1:
        meta["parts"] = ";".join(f"{a},{b}" for a, b in parts.spans)
        meta["part_vectors"] = parts.vectors
    return meta


def _parse_parts(value: Any) -> tuple[tuple[int, int], ...]:
    if not value:
        return ()
    out = []
    for pair in str(value).split(";"):
        a, b = pair.split(",")
        out.append((int(a), int(b)))
    return tuple(out)


class Store:
    def __init__(self, client: ClientAPI, model: ModelInfoSource, lock: DataDirLock | None = None):
        self.client = client
        self.model = model
        self._lock = lock
        self._write_lock = threading.RLock()
        self._catalogue = client.get_or_create_collection(
            CATALOGUE, embedding_function=None, metadata={"schema": SCHEMA_VERSION}
        )
        self._chunks: Collection | None = None
        self._checked = False
        self._live: dict[str, ArticleInfo] | None = None
        self._cursor = 0.0  # newest catalogue change seen (its writer's clock)
        self._listeners: list[ChangeListener] = []

    def subscribe(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def _notify(self, written: list[ChunkRecord], removed: list[str]) -> None:
        for listener in self._listeners:
            try:
                listener(written, removed)
            except Exception:  # derived data; it catches up at the next sync
                log.exception("a store listener failed")

    # -- opening ---------------------------------------------------------
    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _meta(self) -> dict[str, Any]:
        self._catalogue = self.client.get_collection(CATALOGUE, embedding_function=None)
        return dict(self._catalogue.metadata or {})

    def _model_meta(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "model": self.model.model_id,
            "dim": self.model.dim,
            "prompts": json.dumps(self.model.prompts, sort_keys=True),
        }

    def recorded_model(self) -> dict[str, Any]:
        meta = self._meta()
        return {k: meta.get(k) for k in ("schema", "model", "dim", "prompts")}

    def _new_chunks_collection(self, meta: dict[str, Any], first: bool = False) -> Collection:
        """A collection for chunk vectors. The first one of a store has a name fixed
        by the model, so that processes starting on an empty server at the same
        moment agree on it (get-or-create is atomic on the server); later ones
        (reindexing) get a fresh name."""
        if first:
            key = f"{meta['model']}\x00{meta['dim']}".encode()
            name = f"{CHUNKS_PREFIX}{hashlib.blake2b(key, digest_size=6).hexdigest()}"
        else:
            name = f"{CHUNKS_PREFIX}{uuid.uuid4().hex[:12]}"
        return self.client.get_or_create_collection(
            name,
            embedding_function=None,
            metadata={"model": meta["model"], "dim": meta["dim"]},
            configuration={"hnsw": {"space": "cosine"}},
        )

    def check_model(self) -> None:
        """Refuse a store built with another model; set one up on first use."""
        if self._checked:
            return
        with self._write_lock:
            meta = self._meta()
            want = self._model_meta()
            if "chunks_collection" not in meta:
                chunks = self._new_chunks_collection(want, first=True)
                self._catalogue.modify(metadata={**want, "chunks_collection": chunks.name})
                meta = self._meta()
            have = {k: meta.get(k) for k in want}
            if have != want:
                if have["schema"] != want["schema"] and {
                    k: have[k] for k in want if k != "schema"
                } == {k: want[k] for k in want if k != "schema"}:
                    raise ModelMismatch(
                        f"this store was written with store schema {have['schema']}; this version"
                        f" of rawi uses schema {want['schema']} ({SCHEMA_CHANGE}). Run"
                        " `rawi reindex` to re-embed every article."
                    )
                if {k: have[k] for k in ("model", "dim")} == {k: want[k] for k in ("model", "dim")}:
                    raise ModelMismatch(
                        f"this store was built with the embedding model {have['model']!r} using"
                        f" other prompts ({have['prompts']}, configured: {want['prompts']}) or"
                        " another store schema. Run `rawi reindex` to re-embed every article."
                    )
                raise ModelMismatch(
                    f"this store was built with the embedding model {have['model']!r} "
                    f"(dimension {have['dim']}), not {want['model']!r} (dimension {want['dim']}). "
                    "Run `rawi reindex` to re-embed every article with the configured model."
                )
            self._chunks = self.client.get_collection(
                str(meta["chunks_collection"]), embedding_function=None
            )
            self._checked = True

    @property
    def chunks(self) -> Collection:
        self.check_model()
        assert self._chunks is not None
        return self._chunks

    # -- catalogue -------------------------------------------------------
    def _load_catalogue(self) -> dict[str, ArticleInfo]:
        live: dict[str, ArticleInfo] = {}
        offset = 0
        cursor = 0.0
        while True:
            page = self._catalogue.get(include=["metadatas"], limit=PAGE, offset=offset)
            for aid, raw in zip(page["ids"], page["metadatas"] or [], strict=True):
                meta = dict(raw or {})
                cursor = max(cursor, _stamp(meta))
                if not meta.get(TOMBSTONE):
                    live[aid] = ArticleInfo.from_meta(aid, meta)
            if len(page["ids"]) < PAGE:
                self._cursor = cursor
                return live
            offset += PAGE

    def follow(self) -> tuple[int, int]:
        """Catch up with what other processes wrote or removed since the last look:
        only catalogue records changed since then are read (removals leave a
        tombstone), and listeners (the lexical index) get the changed chunks.
        Returns (articles changed, articles removed)."""
        if self._live is None:
            _ = self.live
            return 0, 0
        since = self._cursor - FOLLOW_OVERLAP  # writers' clocks may lag a little
        where: Any = {"updated_at": {"$gt": since}}
        got = self._catalogue.get(where=where, include=["metadatas"])
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
        if changed or removed:
            records = [
                r
                for r in self.chunk_records(changed)
                if (i := live.get(r.article_id)) is not None and i.revision == r.revision
            ]
            self._notify(records, removed)
        return len(changed), len(removed)

    @property
    def live(self) -> dict[str, ArticleInfo]:
        if self._live is None:
            self._live = self._load_catalogue()
        return self._live

    def refresh(self) -> None:
        """Forget cached catalogue state (another process may have written)."""
        self._live = None

    def articles(self) -> list[ArticleInfo]:
        return sorted(self.live.values(), key=lambda a: (a.published or "", a.id))

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

    def info(self, article_id: str) -> ArticleInfo | None:
        return self.live.get(article_id)

    def get_article(self, article_id: str) -> Article | None:
        got = self._catalogue.get(ids=[article_id], include=["documents", "metadatas"])
        if not got["ids"] or (got["metadatas"] or [{}])[0].get(TOMBSTONE):
            return None
        return article_from_document((got["documents"] or [""])[0])

    def iter_articles(self) -> Iterator[Article]:
        offset = 0
        while True:
            page = self._catalogue.get(
                include=["documents", "metadatas"], limit=PAGE, offset=offset
            )
            for doc, meta in zip(page["documents"] or [], page["metadatas"] or [], strict=True):
                if not (meta or {}).get(TOMBSTONE):
                    yield article_from_document(doc)
            if len(page["ids"]) < PAGE:
                return
            offset += PAGE

    def count_chunks(self) -> int:
        return int(self.chunks.count())

    # -- writing ---------------------------------------------------------
    def write(
        self,
        article: Article,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        *,
        crash_before_commit: bool = False,
    ) -> ArticleInfo:
        """Write one article as a new revision and commit it (see the module doc)."""
        return self.write_many(
            [(article, chunks, vectors)], crash_before_commit=crash_before_commit
        )[0]

    def write_many(
        self,
        batch: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]],
        *,
        parts: Sequence[Sequence[ChunkParts | None]] | None = None,
        crash_before_commit: bool = False,
    ) -> list[ArticleInfo]:
        """Write several articles, each as a new revision, and commit them.

        Each Chroma call has a fixed cost far above its per-record cost, so the
        chunks of all the articles go in together, then one catalogue upsert
        switches every article to its new revision. ``parts`` gives, per article
        and chunk, its sentences' spans and encoded vectors (for quoting).
        """
        ids: list[str] = []
        docs: list[str] = []
        metas: list[dict[str, Any]] = []
        vecs: list[np.ndarray] = []
        revisions: list[str] = []
        seen: set[str] = set()
        for pos, (article, chunks, vectors) in enumerate(batch):
            article_parts = parts[pos] if parts is not None else [None] * len(chunks)
            if len(chunks) != len(vectors) or len(article_parts) != len(chunks):
                raise ValueError("one vector per chunk")
            if not chunks:
                raise ValueError(f"article {article.id} has no chunk")
            if article.id in seen:
                raise ValueError(f"article {article.id} twice in one write")
            seen.add(article.id)
            revision = uuid.uuid4().hex[:12]
            revisions.append(revision)
            for c, cp in zip(chunks, article_parts, strict=True):
                ids.append(chunk_id(article.id, revision, c.index))
                docs.append(c.text)
                metas.append(chunk_meta(article.id, revision, c, cp))
            vecs.append(np.asarray(vectors, dtype=np.float32))
        if not batch:
            return []
        all_vectors = np.concatenate(vecs)
        titles = {article.id: article.title for article, _, _ in batch}
        with self._write_lock:
            coll = self.chunks
            for i in range(0, len(ids), MAX_BATCH):
                coll.add(
                    ids=ids[i : i + MAX_BATCH],
                    embeddings=all_vectors[i : i + MAX_BATCH],
                    documents=docs[i : i + MAX_BATCH],
                    metadatas=metas[i : i + MAX_BATCH],  # type: ignore[arg-type]
                )
            if crash_before_commit:  # for tests: the state a crash here leaves behind
                raise StoreError("simulated crash before commit")
            # The revisions being replaced, read fresh: another process may have
            # committed since this one last looked.
            replaced = self._current_revisions([article.id for article, _, _ in batch])
            infos = self._commit_catalogue(
                [
                    (article, rev, len(chunks))
                    for (article, chunks, _), rev in zip(batch, revisions, strict=True)
                ]
            )
            # Only the replaced revisions go: a concurrent writer's chunks are left
            # alone, so whichever commit lands last finds its chunks whole. (A
            # revision that lost the race stays as orphans until `rawi resync`.)
            old = sorted(set(replaced.values()) - set(revisions))
            if old:
                stale: Any = {
                    "$and": [
                        {"article_id": {"$in": list(replaced)}},
                        {"revision": {"$in": old}},
                    ]
                }
                self.chunks.delete(where=stale)
            self._notify(
                [
                    ChunkRecord(
                        cid,
                        str(meta["article_id"]),
                        str(meta["revision"]),
                        doc,
                        meta,
                        vector,
                        titles[str(meta["article_id"])],
                    )
                    for cid, meta, doc, vector in zip(ids, metas, docs, all_vectors, strict=True)
                ],
                [],
            )
            return infos

    def _current_revisions(self, article_ids: Sequence[str]) -> dict[str, str]:
        got = self._catalogue.get(ids=list(article_ids), include=["metadatas"])
        return {
            aid: str(meta["revision"])
            for aid, meta in zip(got["ids"], got["metadatas"] or [], strict=True)
            if meta and not meta.get(TOMBSTONE) and meta.get("revision")
        }

    def _commit_catalogue(self, entries: Sequence[tuple[Article, str, int]]) -> list[ArticleInfo]:
        """Point each article's catalogue record at its revision (the commit)."""
        metas = [_catalogue_meta(article, rev, n) for article, rev, n in entries]
        for i in range(0, len(entries), MAX_BATCH):
            part = entries[i : i + MAX_BATCH]
            self._catalogue.upsert(
                ids=[article.id for article, _, _ in part],
                embeddings=[_catalogue_vector(article.id) for article, _, _ in part],
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

    def remove(self, article_id: str) -> bool:
        with self._write_lock:
            old = self._current_revisions([article_id]).get(article_id)
            if old is None:
                return False
            # The commit: a tombstone, so that other processes following the
            # catalogue see the removal; search stops at once.
            self._catalogue.upsert(
                ids=[article_id],
                embeddings=[_catalogue_vector(article_id)],
                documents=[""],
                metadatas=[{TOMBSTONE: True, "revision": "", "updated_at": time.time()}],
            )
            if self._live is not None:
                self._live.pop(article_id, None)
            where: Any = {"$and": [{"article_id": article_id}, {"revision": old}]}
            self.chunks.delete(where=where)
            self._notify([], [article_id])
            return True

    def resync(self, min_age: float = 0.0) -> int:
        """Delete chunks that belong to no live revision; return how many. On a
        shared server, ``min_age`` (seconds) spares chunks so recent that their
        writer may still be about to commit them."""
        with self._write_lock:
            self.refresh()
            live = self.live
            orphans: list[str] = []
            offset = 0
            cutoff = time.time() - min_age
            while True:
                page = self.chunks.get(include=["metadatas"], limit=PAGE, offset=offset)
                for cid, raw in zip(page["ids"], page["metadatas"] or [], strict=True):
                    meta = dict(raw or {})
                    info = live.get(str(meta.get("article_id")))
                    written = meta.get("written_at")
                    recent = isinstance(written, (int, float)) and written > cutoff
                    if (info is None or info.revision != meta.get("revision")) and not recent:
                        orphans.append(cid)
                if len(page["ids"]) < PAGE:
                    break
                offset += PAGE
            for i in range(0, len(orphans), PAGE):
                self.chunks.delete(ids=orphans[i : i + PAGE])
            return len(orphans)

    # -- reading chunks ----------------------------------------------------
    def hit_from(self, cid: str, text: str, meta: dict[str, Any], score: float) -> Hit | None:
        """A search hit, or None when the chunk is not of its article's live revision."""
        info = self.live.get(str(meta.get("article_id")))
        if info is None or info.revision != meta.get("revision"):
            return None
        return Hit(
            chunk_id=cid,
            article_id=info.id,
            paragraph=int(meta["paragraph"]),
            start=int(meta["start"]),
            end=int(meta["end"]),
            text=text,
            score=score,
            title=info.title,
            source=info.source,
            published=info.published,
            url=info.url,
            language=info.language,
            dense=score,
            parts=_parse_parts(meta.get("parts")),
            part_vectors=str(meta.get("part_vectors") or ""),
        )

    def dense_ids(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Ids and cosines of the nearest live chunks, best first. Only distances
        come back from the index: liveness is read from the id itself, and text and
        metadata are fetched afterwards for the few that are kept."""
        # A small margin for chunks of dead revisions, which live only until an
        # article's replacement is cleaned up; when more than that are met, the
        # query is asked again for more (the index's cost grows with the count).
        fetch = n + 10
        while True:
            res = self.chunks.query(
                query_embeddings=[vector], n_results=fetch, include=["distances"]
            )
            ids = res["ids"][0]
            out: list[tuple[str, float]] = []
            for cid, dist in zip(ids, (res["distances"] or [[]])[0], strict=True):
                article_id, revision, _ = cid.rsplit("|", 2)
                info = self.live.get(article_id)
                if info is not None and info.revision == revision:
                    out.append((cid, 1.0 - float(dist)))
                    if len(out) >= n:
                        return out
            if len(ids) < fetch or fetch >= DENSE_FETCH_MAX:
                return out  # the whole index was read, or as much as is sensible
            fetch = min(DENSE_FETCH_MAX, fetch * 4)

    def dense(self, vector: np.ndarray, n: int) -> list[Hit]:
        """Nearest live chunks, best first; score = cosine similarity clipped to 0..1."""
        hits = self.hits_by_id([cid for cid, _ in self.dense_ids(vector, n)], vector)
        return sorted(hits, key=lambda h: -h.score)

    def hits_by_id(self, ids: Sequence[str], vector: np.ndarray) -> list[Hit]:
        """Live chunks by id (in the order given), scored by cosine against ``vector``."""
        if not ids:
            return []
        records = self._records(ids=list(ids))
        found = {h.chunk_id: h for h in self.hits_from(records, vector)}
        return [found[cid] for cid in ids if cid in found]

    def hits_from(self, records: Sequence[ChunkRecord], vector: np.ndarray) -> list[Hit]:
        """The live ones of ``records`` (which carry their vectors) as hits, scored
        by cosine against ``vector``."""
        if not records:
            return []
        matrix = np.asarray([r.vector for r in records], dtype=np.float32)
        cosines = (matrix @ vector) / np.maximum(np.linalg.norm(matrix, axis=1), 1e-12)
        out = []
        for r, cosine in zip(records, cosines, strict=True):
            hit = self.hit_from(r.chunk_id, r.text, r.meta, max(0.0, min(1.0, float(cosine))))
            if hit is not None:
                out.append(hit)
        return out

    def chunk_records(self, article_ids: Sequence[str]) -> list[ChunkRecord]:
        """The stored chunks (any revision) of these articles."""
        if not article_ids:
            return []
        where: Any = {"article_id": {"$in": list(article_ids)}}
        return self._records(where=where)

    def _records(self, **query: Any) -> list[ChunkRecord]:
        """Chunks read from Chroma (``get`` by ids or where) with their vectors,
        and their articles' titles from the catalogue."""
        got = self.chunks.get(**query, include=["documents", "metadatas", "embeddings"])
        vectors = got["embeddings"] if got["embeddings"] is not None else [None] * len(got["ids"])
        live = self.live
        return [
            ChunkRecord(
                cid,
                str(meta["article_id"]),
                str(meta["revision"]),
                doc or "",
                dict(meta),
                None if vector is None else np.asarray(vector, dtype=np.float32),
                info.title if (info := live.get(str(meta["article_id"]))) else "",
            )
            for cid, doc, meta, vector in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], vectors, strict=True
            )
            if meta
        ]

    def live_revisions(self) -> dict[str, str]:
        return {aid: info.revision for aid, info in self.live.items()}

    def iter_chunks(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        offset = 0
        while True:
            page = self.chunks.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
            for cid, doc, meta in zip(
                page["ids"], page["documents"] or [], page["metadatas"] or [], strict=True
            ):
                yield cid, doc or "", dict(meta or {})
            if len(page["ids"]) < PAGE:
                return
            offset += PAGE

    # -- re-embedding ------------------------------------------------------
    def begin_reindex(self) -> Collection:
        """A fresh chunks collection for the configured model (not yet live)."""
        return self._new_chunks_collection(self._model_meta())

    def finish_reindex(self, new: Collection) -> None:
        with self._write_lock:
            old = self._meta().get("chunks_collection")
            self._catalogue.modify(metadata={**self._model_meta(), "chunks_collection": new.name})
            self._chunks = new
            self._checked = True
            for coll in self.client.list_collections():
                name = coll if isinstance(coll, str) else coll.name
                if name.startswith(CHUNKS_PREFIX) and name != new.name:
                    self.client.delete_collection(name)
            log.info("reindexed into %s (was %s)", new.name, old)

    def set_revisions(self, entries: Sequence[tuple[Article, str, int]]) -> None:
        """Record (article, revision, chunk count) in the catalogue, in one write."""
        self._commit_catalogue(entries)


def _stamp(meta: dict[str, Any]) -> float:
    value = meta.get("updated_at")
    return float(value) if isinstance(value, (int, float)) else 0.0


def _catalogue_vector(article_id: str) -> np.ndarray:
    """Chroma gives every record a vector; the catalogue's are placeholders, spread
    out (not all equal) so that its index stays cheap to maintain."""
    digest = hashlib.blake2b(article_id.encode(), digest_size=4).digest()
    return np.frombuffer(digest, dtype=np.uint8).reshape(2, 2).astype(np.float32) @ np.array(
        [1 / 255, 1 / 65025], dtype=np.float32
    )


def _catalogue_meta(article: Article, revision: str, chunks: int) -> dict[str, Any]:
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
    record = json.loads(doc or "{}")
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
