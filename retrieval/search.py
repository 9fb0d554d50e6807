"""Hybrid search: dense (Chroma) and lexical (FTS5) evidence, fused.

Both sides propose candidates; every candidate then gets both scores (its
cosine is computed from its stored vector when only the lexical side found it).
The fused score is absolute, in 0..1, so that one threshold can say "the
coverage has no answer":

    fused = w · dense + (1 − w) · lexical     when the query's script is the chunk's
    fused = dense                             otherwise

where ``dense`` is the cosine rescaled from the range e5 actually uses, and
``lexical`` is the chunk's BM25 relative to a chunk holding every query term
once. Lexical evidence across languages is noise (an English question shares no
words with Arabic text), so there the dense score stands alone instead of being
diluted. So it does in a store of a few chunks: BM25's idf,
log((N - n + 0.5) / (n + 0.5)), is zero or below for a term in half the chunks
or more, which there is most of a question's terms.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from retrieval.embeddings import Embedder, best_part_cosines
from retrieval.lexical import LexicalHit, LexicalIndex
from retrieval.store import Store
from retrieval.text import detect_language
from retrieval.types import ChunkRecord, Hit

log = logging.getLogger(__name__)

# e5 cosines between unrelated texts sit near 0.7 and rarely pass 0.95 for
# related ones: this range is stretched to 0..1.
COSINE_FLOOR = 0.70
COSINE_CEIL = 0.95
CANDIDATES = 40
# Below this many chunks the lexical side's idf says too little to count.
LEXICAL_MIN_CHUNKS = 10
# How a search shares the machine's cores. In a store of up to this many chunks,
# the lexical side takes a millisecond or two: the query's forward pass gets every
# core, its workers spinning between operators, and the two sides are then read
# side by side. In a larger one the lexical side is read during the forward pass,
# whose workers sleep between operators to leave it a core.
SMALL_STORE_CHUNKS = 20_000


@dataclass(frozen=True)
class SearchParams:
    dense_weight: float = 0.6
    threshold: float = 0.455
    cosine_floor: float = COSINE_FLOOR
    cosine_ceil: float = COSINE_CEIL
    # Across scripts (English question, Arabic text) cosines run lower: own range.
    cross_floor: float = 0.68
    cross_ceil: float = 0.88
    # Share of a chunk's dense score taken from its best sentence.
    sentence_weight: float = 0.5
    candidates: int = CANDIDATES


@dataclass(frozen=True)
class SearchResult:
    query: str
    language: str
    hits: list[Hit]
    answerable: bool
    vector: np.ndarray | None = None  # the query's embedding, for scoring sentences

    @property
    def top_score(self) -> float:
        return self.hits[0].score if self.hits else 0.0


class Searcher:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        lexical: LexicalIndex,
        params: SearchParams | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.lexical = lexical
        self.params = params or SearchParams()
        self._side = ThreadPoolExecutor(4, thread_name_prefix="rawi-search")
        self.small = True
        store.subscribe(self._changed)
        self._fit_to_size()

    def _changed(self, written: list[ChunkRecord], removed: list[str]) -> None:
        self.lexical.apply(written, removed)
        self._fit_to_size()

    def _fit_to_size(self) -> None:
        """How searches share the cores, from the store's size (see
        :data:`SMALL_STORE_CHUNKS`)."""
        self.small = self.lexical.count() <= SMALL_STORE_CHUNKS
        self.embedder.set_query_spinning(self.small)

    def sync(self) -> tuple[int, int]:
        """Bring the lexical index in step with the store (cheap when it is)."""
        updated, removed = self.lexical.sync(self.store.live_revisions(), self.store.chunk_records)
        if updated or removed:
            log.info("lexical index: %d articles updated, %d removed", updated, removed)
        self._fit_to_size()
        return updated, removed

    def candidates(
        self,
        query: str,
        vector: np.ndarray,
        lexical_hits: list[LexicalHit] | None = None,
        dense_ids: list[str] | None = None,
    ) -> list[Candidate]:
        """Everything either side proposes, with both of its raw scores
        (``lexical_hits``, ``dense_ids``: a side's proposals, when already read)."""
        n = self.params.candidates
        language = detect_language(query)
        if dense_ids is None:
            dense_ids = [cid for cid, _ in self.store.dense_ids(vector, n)]
        if lexical_hits is None:
            lexical_hits = self.lexical.search(query, n)
        lexical = {h.chunk_id: h for h in lexical_hits}
        lexical_counts = self.lexical.count() >= LEXICAL_MIN_CHUNKS
        # both sides' proposals, read from the local index; what it does not hold
        # yet (written by another process moments ago) comes from the store
        wanted = list(dict.fromkeys([*dense_ids, *lexical]))
        records = self.lexical.records(wanted)
        by_id = {h.chunk_id: h for h in self.store.hits_from(records, vector)}
        held = {r.chunk_id for r in records}
        missing = [cid for cid in wanted if cid not in held]
        if missing:
            by_id.update((h.chunk_id, h) for h in self.store.hits_by_id(missing, vector))
        out = []
        for hit in by_id.values():
            lex = lexical.get(hit.chunk_id)
            same_script = language in ("und", hit.language)
            coverage = (lex.coverage if lex else 0.0) if lexical_counts else None
            out.append(Candidate(hit, hit.score, coverage, same_script, vector))
        return out

    def search(self, query: str, k: int = 5) -> SearchResult:
        n = self.params.candidates
        if self.small:
            # the forward pass has the cores; then both sides are read at once
            vector = self.embedder.embed_query(query)
            lexical = self._side.submit(self.lexical.search, query, n)
            dense = [cid for cid, _ in self.store.dense_ids(vector, n)]
            candidates = self.candidates(query, vector, lexical.result(), dense)
        else:
            # The lexical side needs no vector: it is read while the embedding
            # thread runs the query's forward pass (both release the GIL).
            pending = self.embedder.embed_query_future(query)
            lexical_hits = self.lexical.search(query, n)
            vector = pending.result()
            candidates = self.candidates(query, vector, lexical_hits)
        return replace(rank(query, candidates, self.params, k), vector=vector)


@dataclass(frozen=True)
class Candidate:
    hit: Hit
    cosine: float
    coverage: float | None  # None: the lexical side has too few chunks to say
    same_script: bool
    query: np.ndarray | None = field(default=None, repr=False, compare=False)

    @cached_property
    def sentence_cosine(self) -> float:
        """The cosine of the chunk's best sentence (its own when it has one)."""
        return float(sentence_cosines([self])[0])


def sentence_cosines(candidates: Sequence[Candidate]) -> np.ndarray:
    """Each candidate's best sentence cosine (its own cosine for a one-sentence
    chunk), all scored at once: computed only when the fusion gives sentences a
    weight."""
    query = next((c.query for c in candidates if c.query is not None), None)
    own = np.array([c.cosine for c in candidates], dtype=np.float32)
    if query is None:
        return own
    best = best_part_cosines([c.hit.part_vectors if c.hit.parts else "" for c in candidates], query)
    return np.where(np.isnan(best), own, best)


def fused_score(c: Candidate, p: SearchParams, sentence: float | None = None) -> float:
    """``sentence``: the candidate's best sentence cosine, when already computed."""
    cosine = c.cosine
    if p.sentence_weight:
        if sentence is None:
            sentence = c.sentence_cosine
        cosine = (1 - p.sentence_weight) * cosine + p.sentence_weight * sentence
    if not c.same_script:
        return min(1.0, max(0.0, (cosine - p.cross_floor) / (p.cross_ceil - p.cross_floor)))
    d = min(1.0, max(0.0, (cosine - p.cosine_floor) / (p.cosine_ceil - p.cosine_floor)))
    if c.coverage is None:
        return d
    return p.dense_weight * d + (1 - p.dense_weight) * c.coverage


def rank(query: str, candidates: list[Candidate], p: SearchParams, k: int) -> SearchResult:
    sentences = sentence_cosines(candidates).tolist() if p.sentence_weight else None
    scored = [
        (round(fused_score(c, p, sentences[i] if sentences else None), 6), c.hit)
        for i, c in enumerate(candidates)
    ]
    scored.sort(key=lambda t: (-t[0], t[1].chunk_id))
    # only the hits returned are copied with their fused score
    hits = [replace(hit, score=score) for score, hit in scored[:k]]
    answerable = bool(hits) and hits[0].score >= p.threshold
    return SearchResult(query, detect_language(query), hits, answerable)
