"""Follows: which newly committed articles answer a reader's standing topic.

A topic is embedded once, when it is followed. Each new article is then scored
against every topic at once: one matrix product of the topics' vectors with the
article's chunk and sentence vectors (as stored) gives each topic's dense score on
each passage, which with the lexical side at the most the terms they share
could give (BM25 counts a term at most 2.2 times its idf) bounds the fused score
search would give it. Topics whose bound stays below the relevance threshold cannot be
answered by the article and are dropped. The few left get the passages' own BM25
for the topic, read from the article's rows of the lexical index, and are dropped
again if the fused score stays below. What is left is confirmed by the search the
answers use (:meth:`retrieval.search.Searcher.search`): a topic fires only when
the coverage answers it and one of the passages that answer is the new article's.
So a follow never fires on an article that would not answer it.

Which articles are new is read from the catalogue: every record says when it
was committed (``updated_at``, its writer's clock), and :class:`Arrivals` keeps
the newest moment seen.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from retrieval.arabic import terms
from retrieval.evidence import is_citable
from retrieval.search import LEXICAL_MIN_CHUNKS, Searcher
from retrieval.store.catalogue import FOLLOW_OVERLAP
from retrieval.store.chunks import Store
from retrieval.store.lexical import MAX_DOC_SHARE, MAX_QUERY_TERMS
from retrieval.store.parts import read_parts
from retrieval.text import detect_language, passage_text
from retrieval.types import ArticleInfo, ChunkRecord, Hit

log = logging.getLogger(__name__)

# The fused scores search compares are rounded to six places.
EPSILON = 1e-6
# BM25 (FTS5's: k1 = 1.2) gives a term at most (k1 + 1) times its idf, however often
# a passage repeats it.
BM25_TERM_MAX = 2.2


@dataclass(frozen=True)
class Topic:
    """A followed topic: its number (the follow's), its words and their vector."""

    id: int
    text: str
    vector: np.ndarray = field(repr=False, compare=False)


class Topics:
    """Every followed topic, ready to be scored together: their unit vectors in
    one matrix, the script each is written in, and which topics hold each term."""

    def __init__(self, topics: Sequence[Topic]) -> None:
        self.items = list(topics)
        if topics:
            matrix = np.stack([np.asarray(t.vector, dtype=np.float32) for t in topics])
        else:
            matrix = np.zeros((0, 0), dtype=np.float32)
        self.matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        self.languages = [detect_language(t.text) for t in topics]
        # each topic's query terms, as the lexical search takes them
        self.terms = [list(dict.fromkeys(terms(t.text)))[:MAX_QUERY_TERMS] for t in topics]
        self.by_term: dict[str, list[int]] = defaultdict(list)
        for i, words in enumerate(self.terms):
            for term in words:
                self.by_term[term].append(i)

    def __len__(self) -> int:
        return len(self.items)

    def weights(
        self, total: int, df: dict[str, int], touched: Iterable[int]
    ) -> tuple[dict[str, float], np.ndarray]:
        """For a lexical index of ``total`` chunks and these document frequencies:
        the idf (FTS5's) of each term the lexical search would match on (one in at
        most :data:`MAX_DOC_SHARE` of the chunks), and the ideal score (a passage
        holding every one of its terms once, the unit coverage counts in) of each
        ``touched`` topic; the others share no term with the passages scored."""
        counts = np.array(list(df.values()), dtype=np.float64)
        values = np.maximum(1e-6, np.log((total - counts + 0.5) / (counts + 0.5))).tolist()
        idf = dict(zip(df, values, strict=True))
        unseen = max(1e-6, math.log((total + 0.5) / 0.5))  # a term no chunk holds
        useful = {
            t: idf[t] for t, n in df.items() if t in self.by_term and 0 < n <= MAX_DOC_SHARE * total
        }
        ideal = np.ones(len(self.items), dtype=np.float32)
        for i in touched:
            ideal[i] = sum(idf.get(t, unseen) for t in self.terms[i])
        return useful, ideal

    def coverage_bound(
        self, words: Iterable[str], idf: dict[str, float], ideal: np.ndarray
    ) -> np.ndarray:
        """The most lexical coverage a passage of ``words`` can give each topic: its
        BM25 at most :data:`BM25_TERM_MAX` times the idf of each term it shares with
        the topic, over the topic's ideal score."""
        score = np.zeros(len(self.items), dtype=np.float32)
        for word in set(words):
            weight = idf.get(word)
            if weight:
                score[self.by_term[word]] += BM25_TERM_MAX * weight
        return np.minimum(1.0, score / np.maximum(ideal, 1e-6))


@dataclass(frozen=True)
class Match:
    """A topic a new article answers: the article's best passage for it (with its
    fused score) and, within the passage, the sentence that answers best."""

    topic: int  # the follow's number
    hit: Hit
    quote: tuple[int, int]  # the sentence's span within ``hit.text``


class Matcher:
    """Scores new articles against the followed topics (no Telegram here)."""

    def __init__(self, searcher: Searcher, k: int = 5) -> None:
        self.searcher = searcher
        self.k = k

    @property
    def store(self) -> Store:
        return self.searcher.store

    def embed(self, topic: str) -> np.ndarray:
        """A topic's vector, as a question's (it is searched as one)."""
        return np.asarray(self.searcher.embedder.embed_query(topic), dtype=np.float32)

    def check(self, topics: Topics, articles: Sequence[ArticleInfo]) -> list[Match]:
        """The topics each of ``articles`` answers, article by article."""
        if not len(topics) or not articles:
            return []
        by_article: dict[str, list[ChunkRecord]] = defaultdict(list)
        wanted = {a.id: a.revision for a in articles}
        for r in self.store.chunk_records(list(wanted)):
            if wanted.get(r.article_id) == r.revision and r.vector is not None:
                by_article[r.article_id].append(r)
        matches: list[Match] = []
        for info in articles:
            records = [r for r in by_article.get(info.id, []) if is_citable(r.text)]
            for i in self.candidates(topics, info, records):
                match = self.confirm(topics.items[i], info)
                if match is not None:
                    matches.append(match)
        return matches

    def lexicon(self, topics: Topics, words: Iterable[str]) -> tuple[dict[str, float], np.ndarray]:
        """What the lexical index says now of the topics that share a term with
        ``words``: the idf of each term a search would match on, and each such
        topic's ideal score (:meth:`Topics.weights`)."""
        lexical = self.searcher.lexical
        total, df = lexical.document_frequencies([w for w in set(words) if w in topics.by_term])
        # only the terms a search matches on give coverage: the topics holding one
        shared = [w for w, n in df.items() if n <= MAX_DOC_SHARE * total]
        touched = {i for w in shared for i in topics.by_term[w]}
        needed = {t for i in touched for t in topics.terms[i]} - df.keys()
        df.update(lexical.document_frequencies(sorted(needed))[1])
        return topics.weights(total, df, touched)

    def candidates(
        self,
        topics: Topics,
        info: ArticleInfo,
        records: Sequence[ChunkRecord],
    ) -> list[int]:
        """The topics (by position) that ``records``, the article's citable
        passages, might answer: those whose best passage's fused score reaches its
        threshold, first with the lexical side at the most the terms it shares with
        the topic can give (:meth:`Topics.coverage_bound`), then, for the topics
        that pass, with the passages' own BM25 (what search gives a passage among
        its best)."""
        if not records:
            return []
        chunks = self.searcher.lexical.count()
        p = self.searcher.params
        # every passage's vector, then its sentences' vectors: one product for all
        rows = [np.asarray(r.vector, dtype=np.float32) for r in records]
        rows = [v / max(float(np.linalg.norm(v)), 1e-12) for v in rows]
        n = len(records)
        spans: list[tuple[int, int, int]] = []  # (passage, its sentences' rows a:b)
        for j, r in enumerate(records):
            _, parts = read_parts(r.meta)
            if parts is not None and p.sentence_weight:
                spans.append((j, len(rows), len(rows) + len(parts)))
                rows.extend(parts)
        cosines = topics.matrix @ np.stack(rows).T  # topics x rows
        chunk = np.clip(cosines[:, :n], 0.0, 1.0)
        cosine = chunk
        if p.sentence_weight:
            # as search scores a passage: its best sentence's cosine, or its own
            sentence = chunk.copy()
            for j, a, b in spans:
                sentence[:, j] = cosines[:, a:b].max(axis=1)
            cosine = (1 - p.sentence_weight) * chunk + p.sentence_weight * sentence
        same_t, cross_t = p.thresholds(chunks)
        same_script = np.array([lang in ("und", info.language) for lang in topics.languages])
        dense = np.clip((cosine - p.cosine_floor) / (p.cosine_ceil - p.cosine_floor), 0, 1)
        cross = np.clip((cosine - p.cross_floor) / (p.cross_ceil - p.cross_floor), 0, 1)
        threshold = np.where(same_script, same_t, cross_t)
        if chunks < LEXICAL_MIN_CHUNKS:
            bound = np.where(same_script[:, None], dense, cross).max(axis=1)
            return [int(i) for i in np.flatnonzero(bound >= threshold - EPSILON)]
        words = [set(terms(passage_text(info.title, r.text)[0])) for r in records]
        idf, ideal = self.lexicon(topics, set().union(*words))
        coverage = np.stack([topics.coverage_bound(w, idf, ideal) for w in words], axis=1)
        fused = p.dense_weight * dense + (1 - p.dense_weight) * coverage
        bound = np.where(same_script[:, None], fused, cross).max(axis=1)
        kept = []
        for i in np.flatnonzero(bound >= threshold - EPSILON):
            if same_script[i]:
                # the bound let it through: the passages' own BM25 for the topic
                exact = self.searcher.lexical.coverages(topics.items[i].text, info.id)
                row = np.array([exact.get(r.chunk_id, 0.0) for r in records], dtype=np.float32)
                if (p.dense_weight * dense[i] + (1 - p.dense_weight) * row).max() < (
                    threshold[i] - EPSILON
                ):
                    continue
            kept.append(int(i))
        return kept

    def confirm(self, topic: Topic, info: ArticleInfo) -> Match | None:
        """The article's best passage for ``topic`` if the search the answers use
        finds the coverage answers the topic and that passage among the ones that
        do (above its threshold)."""
        result = self.searcher.search(topic.text, self.k, vector=topic.vector)
        if not result.answerable:
            return None
        same_t, cross_t = self.searcher.params.thresholds(self.searcher.lexical.count())
        for hit in result.hits:
            need = same_t if result.language in ("und", hit.language) else cross_t
            if hit.article_id == info.id and hit.score >= need - EPSILON:
                if not hit.chunk_id.startswith(f"{info.id}|{info.revision}|"):
                    return None  # replaced meanwhile: its new revision is checked in turn
                return Match(topic.id, hit, best_sentence(hit, topic.vector))
        return None


def best_sentence(hit: Hit, vector: np.ndarray) -> tuple[int, int]:
    """The span (within ``hit.text``) of the hit's sentence closest to ``vector``;
    the whole passage when it keeps no sentences."""
    if hit.part_vectors is None or not hit.parts:
        return 0, len(hit.text)
    best = int(np.argmax(hit.part_vectors @ vector))
    return hit.parts[best]


class Arrivals:
    """The articles committed since the last look, from the catalogue's record of
    when each was written. ``cursor``: the newest commit already seen (None: only
    what is committed from now on counts)."""

    def __init__(self, store: Store, cursor: float | None = None) -> None:
        self.store = store
        fresh_start = cursor is None
        if cursor is None:
            cursor = max((a.updated_at for a in self._live()), default=0.0)
        self.cursor = cursor
        # what was seen within the overlap, by revision: not looked at twice
        self._seen: dict[str, tuple[str, float]] = {}
        if fresh_start:  # what is live already is not new
            self.new()

    def _live(self) -> list[ArticleInfo]:
        """What is live, copied at once: other threads' commits change it meanwhile
        (a dict changed while it is iterated stops the iteration)."""
        return list(self.store.catalogue.live.values())

    @contextlib.contextmanager
    def looking(self) -> Iterator[list[ArticleInfo]]:
        """The articles :meth:`new` gives, counted as seen only when the block
        completes: a look that fails leaves them for the next one."""
        cursor, seen = self.cursor, dict(self._seen)
        try:
            yield self.new()
        except BaseException:
            self.cursor, self._seen = cursor, seen
            raise

    def new(self) -> list[ArticleInfo]:
        """The articles written since the last call, oldest first. Writers' clocks
        may lag a little: commits up to :data:`FOLLOW_OVERLAP` seconds older than
        the newest seen are looked at too, once."""
        since = self.cursor - FOLLOW_OVERLAP
        fresh = [
            a
            for a in self._live()
            if a.updated_at > since and self._seen.get(a.id, ("", 0.0))[0] != a.revision
        ]
        fresh.sort(key=lambda a: (a.updated_at, a.id))
        for a in fresh:
            self._seen[a.id] = (a.revision, a.updated_at)
            self.cursor = max(self.cursor, a.updated_at)
        since = self.cursor - FOLLOW_OVERLAP
        self._seen = {k: v for k, v in self._seen.items() if v[1] > since}
        return fresh
