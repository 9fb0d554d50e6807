"""The lexical index: BM25 over chunk text, in SQLite FTS5.

Chroma's own sparse index is not available in local or self-hosted Chroma, so
this index is ours. It is derived data: it records which revision of each
article it holds, follows the store incrementally (:meth:`apply`), catches up
with whatever changed while it was not looking (:meth:`sync`, which compares
revisions, not texts), and is rebuilt from Chroma when missing or damaged.
Terms are normalised and light-stemmed (:mod:`retrieval.arabic`) before they
reach FTS5, which then only splits on spaces.

Beside the terms it keeps each chunk's text, metadata and vector: a search's
candidates (from either side) are read from here in one indexed lookup instead
of a second round trip to Chroma, which costs more than the whole lexical
search.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.arabic import terms
from retrieval.evidence import is_citable
from retrieval.text import passage_text
from retrieval.types import ChunkRecord

log = logging.getLogger(__name__)

# 6: a chunk's terms include its article's title; 7: whether it may be cited;
# 8: its report's day and outlet
SCHEMA = 8
MAX_QUERY_TERMS = 32
# A term in more than this share of chunks says nothing about any of them, and its
# posting list is the costliest to rank: such terms are left out of queries.
MAX_DOC_SHARE = 0.25
# Ranking reads every posting of every query term: past this many postings the
# commonest remaining terms are left out, so that a query's cost stops growing
# with the corpus (on 300k chunks, 10,000 postings take about 6 ms to rank).
POSTING_BUDGET = 10_000


@dataclass(frozen=True)
class LexicalHit:
    chunk_id: str
    article_id: str
    bm25: float  # higher is better
    coverage: float  # 0..1: BM25 relative to a chunk holding every query term once


class LexicalIndex:
    def __init__(self, path: Path | None) -> None:
        """``path`` None keeps the index in memory (tests, a throwaway store)."""
        self.path = path
        self._lock = threading.RLock()
        self._db = self._open()
        # rows in the index, kept here: count(*) would walk the whole table
        self._total = int(self._db.execute("SELECT count(*) FROM docs").fetchone()[0])

    # -- lifecycle ---------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        target = ":memory:" if self.path is None else str(self.path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = self._connect(target)
            if self._schema(db) != SCHEMA:
                raise sqlite3.DatabaseError("old or missing schema")
            db.execute("SELECT count(*) FROM revisions").fetchone()
            return db
        except sqlite3.DatabaseError as exc:
            if self.path is None:
                raise
            log.warning("lexical index %s unusable (%s); rebuilding it", self.path, exc)
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            return self._connect(target)

    @staticmethod
    def _connect(target: str) -> sqlite3.Connection:
        db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(
            f"""
            -- the terms, searched; docs maps each row to its chunk and article (indexed
            -- by article so that replacing an article never scans the index) and
            -- holds the chunk itself: text, Chroma metadata (JSON), float32 vector
            CREATE VIRTUAL TABLE IF NOT EXISTS chunks USING fts5(
                terms, tokenize = "unicode61 remove_diacritics 0"
            );
            CREATE TABLE IF NOT EXISTS docs (
                id INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE, article_id TEXT NOT NULL,
                text TEXT NOT NULL, meta TEXT NOT NULL, vector BLOB, citable INTEGER NOT NULL,
                day INTEGER NOT NULL, source TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS docs_article ON docs (article_id);
            CREATE INDEX IF NOT EXISTS docs_day ON docs (day);
            -- each term's document frequency, kept by apply(): FTS5's own vocabulary
            -- table counts it by reading the whole posting list
            CREATE TABLE IF NOT EXISTS df (term TEXT PRIMARY KEY, n INTEGER NOT NULL)
                WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS revisions (article_id TEXT PRIMARY KEY, revision TEXT);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            INSERT OR IGNORE INTO meta VALUES ('schema', '{SCHEMA}');
            """
        )
        return db

    @staticmethod
    def _schema(db: sqlite3.Connection) -> int | None:
        row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        return int(row[0]) if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- state -------------------------------------------------------------
    def revisions(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT article_id, revision FROM revisions").fetchall())

    def count(self, days: tuple[int, int] | None = None, sources: Sequence[str] = ()) -> int:
        """Chunks held; with ``days`` or ``sources``, those of reports inside them."""
        if days is None and not sources:
            with self._lock:
                return self._total
        where, params = _within(days, sources)
        with self._lock:
            return int(
                self._db.execute(f"SELECT count(*) FROM docs WHERE {where}", params).fetchone()[0]
            )

    def document_frequencies(self, words: Sequence[str]) -> tuple[int, dict[str, int]]:
        """The chunks held, and how many of them hold each of ``words`` (terms as
        :func:`retrieval.arabic.terms` gives them); a word none holds is left out."""
        words = list(dict.fromkeys(words))
        found: dict[str, int] = {}
        with self._lock:
            for i in range(0, len(words), 10_000):  # under SQLite's limit on parameters
                part = words[i : i + 10_000]
                found.update(
                    self._db.execute(
                        f"SELECT term, n FROM df WHERE term IN ({','.join('?' * len(part))})", part
                    ).fetchall()
                )
            return self._total, found

    # -- updates -------------------------------------------------------------
    def follow(self, store: Any) -> None:
        """Keep up with ``store`` (a :class:`retrieval.store.chunks.Store`): every
        commit and removal it makes is applied here as it happens."""
        store.subscribe(self.apply)

    def apply(self, written: Sequence[ChunkRecord], removed: Iterable[str] = ()) -> None:
        """Replace the listed articles' chunks with ``written``, drop ``removed``."""
        by_article: dict[str, list[ChunkRecord]] = {}
        for rec in written:
            by_article.setdefault(rec.article_id, []).append(rec)
        gone = set(removed) | set(by_article)
        with self._lock:
            db = self._db
            total = self._total
            db.execute("BEGIN")
            try:
                for aid in gone:
                    rows = [
                        r[0] for r in db.execute("SELECT id FROM docs WHERE article_id = ?", (aid,))
                    ]
                    for (old,) in db.execute(
                        f"SELECT terms FROM chunks WHERE rowid IN ({','.join('?' * len(rows))})",
                        rows,
                    ).fetchall():
                        db.executemany(
                            "UPDATE df SET n = n - 1 WHERE term = ?",
                            [(t,) for t in set(old.split())],
                        )
                    db.executemany("DELETE FROM chunks WHERE rowid = ?", [(r,) for r in rows])
                    db.execute("DELETE FROM docs WHERE article_id = ?", (aid,))
                    db.execute("DELETE FROM revisions WHERE article_id = ?", (aid,))
                    total -= len(rows)
                for r in written:
                    vector = (
                        None
                        if r.vector is None
                        else np.asarray(r.vector, dtype=np.float32).tobytes()
                    )
                    cur = db.execute(
                        "INSERT INTO docs (chunk_id, article_id, text, meta, vector, citable,"
                        " day, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            r.chunk_id,
                            r.article_id,
                            r.text,
                            json.dumps(r.meta),
                            vector,
                            is_citable(r.text),
                            int(r.meta.get("day", 0)),
                            str(r.meta.get("source", "")),
                        ),
                    )
                    chunk_terms = terms(passage_text(r.title, r.text)[0])
                    db.execute(
                        "INSERT INTO chunks (rowid, terms) VALUES (?, ?)",
                        (cur.lastrowid, " ".join(chunk_terms)),
                    )
                    db.executemany(
                        "INSERT INTO df VALUES (?, 1) ON CONFLICT (term) DO UPDATE SET n = n + 1",
                        [(t,) for t in set(chunk_terms)],
                    )
                total += len(written)
                db.executemany(
                    "INSERT INTO revisions VALUES (?, ?)",
                    [(aid, recs[0].revision) for aid, recs in by_article.items()],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._total = total

    def clear(self) -> None:
        """Forget everything (the next :meth:`sync` rebuilds from the store)."""
        with self._lock:
            self._db.execute("DELETE FROM chunks")
            self._db.execute("DELETE FROM df")
            self._db.execute("DELETE FROM docs")
            self._db.execute("DELETE FROM revisions")
            self._total = 0

    def sync(self, live: dict[str, str], fetch: Any) -> tuple[int, int]:
        """Bring the index in step with ``live`` (article id → revision).

        ``fetch(article_ids)`` returns the live chunks of those articles. Only
        articles whose revision differs are touched. Returns (updated, removed).
        """
        have = self.revisions()
        stale = [aid for aid, rev in live.items() if have.get(aid) != rev]
        removed = [aid for aid in have if aid not in live]
        if removed:
            self.apply([], removed)
        for i in range(0, len(stale), 200):
            batch = stale[i : i + 200]
            records = [r for r in fetch(batch) if live.get(r.article_id) == r.revision]
            self.apply(records, batch)
        return len(stale), len(removed)

    def records(self, chunk_ids: Sequence[str]) -> list[ChunkRecord]:
        """The chunks held here among ``chunk_ids``, with their vectors (any
        revision: liveness is the caller's to judge); ``meta["citable"]`` says
        whether one may be cited (see :mod:`retrieval.evidence`)."""
        if not chunk_ids:
            return []
        with self._lock:
            rows = self._db.execute(
                "SELECT chunk_id, article_id, text, meta, vector, citable FROM docs WHERE chunk_id"
                f" IN ({','.join('?' * len(chunk_ids))}) AND vector IS NOT NULL",
                list(chunk_ids),
            ).fetchall()
        out = []
        for cid, aid, text, meta, vector, citable in rows:
            info = {**json.loads(meta), "citable": bool(citable)}
            vec = np.frombuffer(vector, dtype=np.float32)
            out.append(ChunkRecord(cid, aid, str(info.get("revision", "")), text, info, vec))
        return out

    # -- search --------------------------------------------------------------
    def search(
        self,
        query: str,
        n: int,
        days: tuple[int, int] | None = None,
        sources: Sequence[str] = (),
    ) -> list[LexicalHit]:
        """The ``n`` best chunks for ``query`` by BM25; only those of reports
        published within ``days`` (inclusive day numbers, YYYYMMDD) and by one of
        ``sources``, when given."""
        with self._lock:
            db = self._db
            plan = self._plan(query)
            if plan is None:
                return []
            match, ideal = plan
            within, params = "", list[object]([match])
            if days is not None or sources:
                where, more = _within(days, sources)
                within = f" AND rowid IN (SELECT id FROM docs WHERE {where})"
                params += more
            rows = db.execute(
                "SELECT d.chunk_id, d.article_id, -best.s FROM "
                f"(SELECT rowid, bm25(chunks) AS s FROM chunks WHERE chunks MATCH ?{within}"
                " ORDER BY s LIMIT ?) AS best JOIN docs d ON d.id = best.rowid ORDER BY best.s",
                (*params, n),
            ).fetchall()
        return [
            LexicalHit(cid, aid, float(s), min(1.0, float(s) / ideal) if ideal > 0 else 0.0)
            for cid, aid, s in rows
        ]

    def _plan(self, query: str) -> tuple[str, float] | None:
        """How :meth:`search` matches ``query``: the FTS5 query of its useful terms
        and the score of a chunk holding every query term once (FTS5's own idf,
        so that coverage is measured in the units bm25() uses); None when no term
        is useful. Called under the lock."""
        qterms = list(dict.fromkeys(terms(query)))[:MAX_QUERY_TERMS]
        total = self._total
        if not qterms or total == 0:
            return None
        marks = ",".join("?" * len(qterms))
        df = dict(
            self._db.execute(f"SELECT term, n FROM df WHERE term IN ({marks})", qterms).fetchall()
        )
        useful = [t for t in qterms if 0 < df.get(t, 0) <= max(1, MAX_DOC_SHARE * total)]
        if not useful:
            return None
        useful = within_budget(useful, df)
        ideal = sum(
            max(1e-6, math.log((total - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5))) for t in qterms
        )
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in useful)
        return match, ideal

    def coverages(self, query: str, article_id: str) -> dict[str, float]:
        """The coverage of ``query`` (as :meth:`search` measures it) of each chunk
        of ``article_id`` that holds one of its terms: what search gives the chunk
        when it is among the best, read from the article's own rows."""
        with self._lock:
            plan = self._plan(query)
            if plan is None:
                return {}
            match, ideal = plan
            ids = dict(
                self._db.execute(
                    "SELECT id, chunk_id FROM docs WHERE article_id = ?", (article_id,)
                ).fetchall()
            )
            if not ids:
                return {}
            # an article's rows are written together: FTS5 seeks their rowid range
            # (a join with docs, or a list of rowids, would rank each row apart)
            rows = self._db.execute(
                "SELECT rowid, -bm25(chunks) FROM chunks WHERE chunks MATCH ?"
                " AND rowid BETWEEN ? AND ?",
                (match, min(ids), max(ids)),
            ).fetchall()
        return {
            ids[i]: min(1.0, float(s) / ideal) if ideal > 0 else 0.0 for i, s in rows if i in ids
        }


def _within(days: tuple[int, int] | None, sources: Sequence[str]) -> tuple[str, list[object]]:
    """A condition on ``docs`` for reports within ``days`` and from ``sources``."""
    low, high = days or (0, 99991231)
    where, params = "day BETWEEN ? AND ?", list[object]([low, high])
    if sources:
        where += f" AND source IN ({','.join('?' * len(sources))})"
        params += list(sources)
    return where, params


def within_budget(useful: list[str], df: dict[str, int]) -> list[str]:
    """The rarest of ``useful`` whose postings fit :data:`POSTING_BUDGET` (at
    least one), in query order."""
    kept: set[str] = set()
    spent = 0
    for t in sorted(useful, key=lambda t: df[t]):
        if kept and spent + df[t] > POSTING_BUDGET:
            break
        kept.add(t)
        spent += df[t]
    return [t for t in useful if t in kept]
