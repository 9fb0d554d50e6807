"""The article store on Chroma: chunks with their vectors, committed by revision.

Chroma has no transactions, so an article is committed by revision:

1. its chunks are written under a fresh revision id (invisible to search);
2. its catalogue record is switched to that revision: this is the commit;
3. the chunks of any other revision of the article are deleted.

A crash before 2 leaves the old revision live and whole; a crash after it leaves
only unreferenced chunks, which search ignores and :meth:`Store.resync` removes.
The catalogue's collection metadata records the embedding model, its dimension,
its prompts and the schema version; a store built with another model is refused.
Listeners (the lexical index) are told of every commit and removal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from retrieval.store import schema
from retrieval.store.catalogue import MAX_BATCH, PAGE, Catalogue
from retrieval.store.clients import DataDirLock, ModelMismatch
from retrieval.store.parts import (
    ChunkParts,
    chunk_id,
    chunk_meta,
    read_parts,
    split_chunk_id,
)
from retrieval.types import Article, ArticleInfo, Chunk, ChunkRecord, Hit

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

log = logging.getLogger(__name__)

CHUNKS_PREFIX = "rawi_chunks_"
# The most nearest neighbours one dense query asks for, dead revisions included.
DENSE_FETCH_MAX = 1000
# Told of every commit: the chunks written (live now) and the ids of removed articles.
ChangeListener = Callable[[list[ChunkRecord], list[str]], None]


class ModelInfoSource(Protocol):
    @property
    def model_id(self) -> str: ...
    @property
    def dim(self) -> int: ...
    @property
    def prompts(self) -> dict[str, str]: ...


class Store:
    def __init__(self, client: ClientAPI, model: ModelInfoSource, lock: DataDirLock | None = None):
        self.client = client
        self.model = model
        settings = client.get_settings()
        # the embedded store's own folder (a server's is out of sight)
        self.folder = Path(settings.persist_directory) if settings.is_persistent else None
        self._lock = lock
        self._write_lock = threading.RLock()
        self.catalogue = Catalogue(client, schema.VERSION)
        self._chunks: Collection | None = None
        self._checked = False
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

    def _model_meta(self) -> dict[str, Any]:
        return {
            "schema": schema.VERSION,
            "model": self.model.model_id,
            "dim": self.model.dim,
            "prompts": json.dumps(self.model.prompts, sort_keys=True),
        }

    def recorded_model(self) -> dict[str, Any]:
        meta = self.catalogue.meta()
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
            metadata={"model": meta["model"], "dim": meta["dim"], "created": time.time()},
            configuration={"hnsw": {"space": "cosine"}},
        )

    def check_model(self) -> None:
        """Refuse a store built with another model; set one up on first use."""
        if self._checked:
            return
        with self._write_lock:
            meta = self.catalogue.meta()
            want = self._model_meta()
            if "chunks_collection" not in meta:
                chunks = self._new_chunks_collection(want, first=True)
                self.catalogue.set_meta({**want, "chunks_collection": chunks.name})
                meta = self.catalogue.meta()
            have = {k: meta.get(k) for k in want}
            if have != want:
                raise ModelMismatch(schema.mismatch(have, want))
            self._chunks = self.client.get_collection(
                str(meta["chunks_collection"]), embedding_function=None
            )
            self._checked = True

    @property
    def chunks(self) -> Collection:
        self.check_model()
        assert self._chunks is not None
        return self._chunks

    def follow(self) -> tuple[int, int]:
        """Catch up with what other processes wrote or removed since the last look
        (see :meth:`Catalogue.changes`); listeners get the changed chunks.
        Returns (articles changed, articles removed)."""
        changed, removed = self.catalogue.changes()
        if changed or removed:
            records = [
                r
                for r in self.chunk_records(changed)
                if self.catalogue.is_live(r.article_id, r.revision)
            ]
            self._notify(records, removed)
        return len(changed), len(removed)

    def count_chunks(self) -> int:
        return int(self.chunks.count())

    # -- writing ---------------------------------------------------------
    def write(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray) -> ArticleInfo:
        """Write one article as a new revision and commit it (see the module doc)."""
        return self.write_many([(article, chunks, vectors)])[0]

    def write_many(
        self,
        batch: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]],
        *,
        parts: Sequence[Sequence[ChunkParts | None]] | None = None,
    ) -> list[ArticleInfo]:
        """Write several articles, each as a new revision, and commit them.

        Each Chroma call has a fixed cost far above its per-record cost, so the
        chunks of all the articles go in together, then one catalogue upsert
        switches every article to its new revision. ``parts`` gives, per article
        and chunk, its sentences' spans and vectors (for quoting).
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
                metas.append(chunk_meta(article, revision, c, cp))
            vecs.append(np.asarray(vectors, dtype=np.float32))
        if not batch:
            return []
        entries = [
            (article, rev, len(chunks))
            for (article, chunks, _), rev in zip(batch, revisions, strict=True)
        ]
        return self._commit(entries, ids, docs, metas, np.concatenate(vecs))

    def write_stored(
        self, batch: Sequence[tuple[Article, Sequence[ChunkRecord]]]
    ) -> list[ArticleInfo]:
        """Commit articles whose chunks were read whole from a store (a backup):
        each keeps its revision, chunk ids, texts, metadata and vectors, so that
        nothing is embedded; committed as :meth:`write_many` commits."""
        ids: list[str] = []
        docs: list[str] = []
        metas: list[dict[str, Any]] = []
        vecs: list[np.ndarray] = []
        entries: list[tuple[Article, str, int]] = []
        seen: set[str] = set()
        for article, records in batch:
            if not records:
                raise ValueError(f"article {article.id} has no chunk")
            if article.id in seen:
                raise ValueError(f"article {article.id} twice in one write")
            seen.add(article.id)
            revision = records[0].revision
            for r in records:
                # the id and the metadata each name the article and revision
                named = {
                    split_chunk_id(r.chunk_id),
                    (r.meta.get("article_id"), r.meta.get("revision")),
                }
                if named != {(article.id, revision)} or r.vector is None:
                    raise ValueError(f"chunk {r.chunk_id} is not one of article {article.id}")
                ids.append(r.chunk_id)
                docs.append(r.text)
                metas.append(dict(r.meta))
                vecs.append(np.asarray(r.vector, dtype=np.float32))
            entries.append((article, revision, len(records)))
        if not batch:
            return []
        return self._commit(entries, ids, docs, metas, np.stack(vecs))

    def _commit(
        self,
        entries: Sequence[tuple[Article, str, int]],
        ids: list[str],
        docs: list[str],
        metas: list[dict[str, Any]],
        all_vectors: np.ndarray,
    ) -> list[ArticleInfo]:
        """Write the chunks of new revisions (invisible until committed), switch
        each article's record to its revision (the commit), then delete the
        revisions replaced. ``entries``: (article, revision, chunk count)."""
        titles = {article.id: article.title for article, _, _ in entries}
        revisions = [rev for _, rev, _ in entries]
        with self._write_lock:
            coll = self.chunks
            for i in range(0, len(ids), MAX_BATCH):
                coll.add(
                    ids=ids[i : i + MAX_BATCH],
                    embeddings=all_vectors[i : i + MAX_BATCH],
                    documents=docs[i : i + MAX_BATCH],
                    metadatas=metas[i : i + MAX_BATCH],  # type: ignore[arg-type]
                )
            # The revisions being replaced, read fresh: another process may have
            # committed since this one last looked.
            replaced = self.catalogue.current_revisions([article.id for article, _, _ in entries])
            infos = self.catalogue.commit(entries)
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

    def remove(self, article_id: str) -> bool:
        with self._write_lock:
            old = self.catalogue.current_revisions([article_id]).get(article_id)
            if old is None:
                return False
            # The commit: a tombstone, so that other processes following the
            # catalogue see the removal; search stops at once.
            self.catalogue.tombstone(article_id)
            where: Any = {"$and": [{"article_id": article_id}, {"revision": old}]}
            self.chunks.delete(where=where)
            self._notify([], [article_id])
            return True

    def resync(self, min_age: float = 0.0) -> int:
        """Delete chunks that belong to no live revision; return how many. On a
        shared server, ``min_age`` (seconds) spares chunks so recent that their
        writer may still be about to commit them."""
        with self._write_lock:
            self.catalogue.refresh()
            orphans: list[str] = []
            offset = 0
            cutoff = time.time() - min_age
            while True:
                page = self.chunks.get(include=["metadatas"], limit=PAGE, offset=offset)
                for cid, raw in zip(page["ids"], page["metadatas"] or [], strict=True):
                    meta = dict(raw or {})
                    live = self.catalogue.is_live(str(meta.get("article_id")), meta.get("revision"))
                    written = meta.get("written_at")
                    recent = isinstance(written, (int, float)) and written > cutoff
                    if not live and not recent:
                        orphans.append(cid)
                if len(page["ids"]) < PAGE:
                    break
                offset += PAGE
            for i in range(0, len(orphans), PAGE):
                self.chunks.delete(ids=orphans[i : i + PAGE])
            return len(orphans)

    def drop_unused_collections(self, min_age: float = 0.0) -> int:
        """Delete chunk collections that are not the live one: a reindex killed
        before its switch leaves a whole one behind. ``min_age`` (seconds) spares
        those so recent that another process may still be filling them."""
        with self._write_lock:
            live = self.catalogue.meta().get("chunks_collection")
            dropped = 0
            for coll in self.client.list_collections():
                name = coll if isinstance(coll, str) else coll.name
                if not name.startswith(CHUNKS_PREFIX) or name == live:
                    continue
                created = (self.client.get_collection(name).metadata or {}).get("created")
                if isinstance(created, (int, float)) and created > time.time() - min_age:
                    continue
                self.client.delete_collection(name)
                dropped += 1
            return dropped

    # -- reading chunks ----------------------------------------------------
    def hit_from(self, cid: str, text: str, meta: dict[str, Any], score: float) -> Hit | None:
        """A search hit, or None when the chunk is not of its article's live revision."""
        info = self.catalogue.info(str(meta.get("article_id")))
        if info is None or info.revision != meta.get("revision"):
            return None
        spans, vectors = read_parts(meta)
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
            parts=spans,
            part_vectors=vectors,
        )

    def dense_ids(
        self,
        vector: np.ndarray,
        n: int,
        days: tuple[int, int] | None = None,
        sources: Sequence[str] = (),
    ) -> list[tuple[str, float]]:
        """Ids and cosines of the nearest live chunks, best first; only those of
        reports published within ``days`` (inclusive day numbers, YYYYMMDD) and by
        one of ``sources``, when given. Only distances come back from the index:
        liveness is read from the id itself, and text and metadata are fetched
        afterwards for the few that are kept."""
        conditions: list[dict[str, Any]] = []
        if days is not None:
            conditions += [{"day": {"$gte": days[0]}}, {"day": {"$lte": days[1]}}]
        if sources:
            conditions.append({"source": {"$in": list(sources)}})
        where: dict[str, Any] | None = None
        if conditions:
            where = {"$and": conditions} if len(conditions) > 1 else conditions[0]
        # A small margin for chunks of dead revisions, which live only until an
        # article's replacement is cleaned up; when more than that are met, the
        # query is asked again for more (the index's cost grows with the count).
        fetch = n + 10
        while True:
            res = self.chunks.query(
                query_embeddings=[vector],
                n_results=fetch,
                include=["distances"],
                where=where,
            )
            ids = res["ids"][0]
            out: list[tuple[str, float]] = []
            for cid, dist in zip(ids, (res["distances"] or [[]])[0], strict=True):
                if self.catalogue.is_live(*split_chunk_id(cid)):
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
        return [
            ChunkRecord(
                cid,
                str(meta["article_id"]),
                str(meta["revision"]),
                doc or "",
                dict(meta),
                None if vector is None else np.asarray(vector, dtype=np.float32),
                info.title if (info := self.catalogue.info(str(meta["article_id"]))) else "",
            )
            for cid, doc, meta, vector in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], vectors, strict=True
            )
            if meta
        ]

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

    # -- migrating -----------------------------------------------------------
    def needs_metadata_only(self) -> bool:
        """Whether this store differs from the current schema only in what a
        chunk's metadata holds, so that `rawi reindex` need not re-embed."""
        have, want = self.recorded_model(), self._model_meta()
        same_model = all(have[k] == want[k] for k in want if k != "schema")
        return same_model and have["schema"] == schema.METADATA_ONLY_FROM

    def add_report_meta(self, on_page: Callable[[int], None] | None = None) -> int:
        """Give every chunk its report's day and outlet (from the catalogue), then
        record the current schema. Returns how many chunks were updated."""
        with self._write_lock:
            meta = self.catalogue.meta()
            chunks = self.client.get_collection(
                str(meta["chunks_collection"]), embedding_function=None
            )
            done = schema.add_report_meta(chunks, self.catalogue.live, on_page)
            self.catalogue.set_meta({**meta, "schema": schema.VERSION})
            self._checked = False
            return done

    # -- re-embedding ------------------------------------------------------
    def begin_reindex(self) -> Collection:
        """A fresh chunks collection for the configured model (not yet live)."""
        return self._new_chunks_collection(self._model_meta())

    def finish_reindex(self, new: Collection) -> None:
        with self._write_lock:
            old = self.catalogue.meta().get("chunks_collection")
            self.catalogue.set_meta({**self._model_meta(), "chunks_collection": new.name})
            self._chunks = new
            self._checked = True
            for coll in self.client.list_collections():
                name = coll if isinstance(coll, str) else coll.name
                if name.startswith(CHUNKS_PREFIX) and name != new.name:
                    self.client.delete_collection(name)
            log.info("reindexed into %s (was %s)", new.name, old)
