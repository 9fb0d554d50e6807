"""Hybrid search: dense (Chroma) and lexical (FTS5) evidence, fused.

Both sides propose candidates; every candidate then gets both scores (its
cosine is computed from its stored vector when only the lexical side found it).
The fused score is absolute, in 0..1, so that a threshold can say "the coverage
has no answer":

    fused = w · dense + (1 − w) · lexical     when the query's script is the chunk's
    fused = dense                             otherwise

where ``dense`` is the cosine rescaled from the range e5 actually uses, and
``lexical`` is the chunk's BM25 relative to a chunk holding every query term
once. Lexical evidence across languages is noise (an English question shares no
words with Arabic text), so there the dense score stands alone instead of being
diluted. So it does in a store of a few chunks: BM25's idf,
log((N - n + 0.5) / (n + 0.5)), is zero or below for a term in half the chunks
or more, which there is most of a question's terms.

The coverage answers when the best passage scores above its threshold (one for
the same script, one across scripts), and the passages above theirs hold what
the question asks for (:func:`retrieval.asks.missing`: a year it names, a price,
a share). The best score of a question the coverage does not answer rises with
the number of passages it meets, so the thresholds rise with the store's size:
by ``threshold_per_decade`` per tenfold chunks. Passages that cannot be cited
(bylines, contact lines: :mod:`retrieval.evidence`) are never candidates.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from retrieval.asks import missing
from retrieval.evidence import is_citable
from retrieval.model.embedder import Embedder
from retrieval.scope import Scope, day_of
from retrieval.store.chunks import Store
from retrieval.store.lexical import LexicalHit, LexicalIndex
from retrieval.store.parts import best_sentence_cosines
from retrieval.text import detect_language
from retrieval.types import Hit

log = logging.getLogger(__name__)

CANDIDATES = 40
# Below this many chunks the lexical side's idf says too little to count.
LEXICAL_MIN_CHUNKS = 10
BELOW_THRESHOLD = "score"


# The store size at which the thresholds below apply as they are.
REFERENCE_CHUNKS = 10_000


@dataclass(frozen=True)
class SearchParams:
    """How candidates are scored and when they answer; the shipped values are in
    ``config/default.toml`` (``[search]``), where each is explained."""

    dense_weight: float
    # The fused score the best passage needs for the coverage to count as answering,
    # in a store of REFERENCE_CHUNKS: same script, and across scripts.
    threshold: float
    cross_threshold: float
    # An unrelated question's best score rises with the number of passages it is
    # compared with: both thresholds rise by this much per tenfold more chunks
    # (and fall as much per tenfold fewer).
    threshold_per_decade: float
    # e5 cosines between unrelated texts sit near 0.7 and rarely pass 0.95 for
    # related ones: this range is stretched to 0..1.
    cosine_floor: float
    cosine_ceil: float
    # Across scripts (English question, Arabic text) cosines run lower: own range.
    cross_floor: float
    cross_ceil: float
    # Share of a chunk's dense score taken from its best sentence.
    sentence_weight: float
    # "The latest": passages within this of the best score go first, newest first.
    latest_margin: float
    candidates: int = CANDIDATES

    def thresholds(self, chunks: int) -> tuple[float, float]:
        """(same script, across scripts) in a store of ``chunks`` chunks."""
        rise = self.threshold_per_decade * math.log10(max(chunks, 100) / REFERENCE_CHUNKS)
        return self.threshold + rise, self.cross_threshold + rise


@dataclass(frozen=True)
class SearchResult:
    query: str
    language: str
    hits: list[Hit]
    answerable: bool
    vector: np.ndarray | None = None  # the query's embedding, for scoring sentences
    threshold: float = 0.0  # the score a passage needs to count as evidence
    # Why the coverage does not answer: "score" (no passage close enough), or what
    # the passages lack that the question asks for (see retrieval.asks.missing)
    refusal: str | None = None
    scope: Scope | None = None  # the window, outlets and "latest" searched within

    @property
    def top_score(self) -> float:
        return self.hits[0].score if self.hits else 0.0


class Searcher:
    """Search over a store and the lexical index that follows it."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        lexical: LexicalIndex,
        params: SearchParams,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.lexical = lexical
        self.params = params
        self._side = ThreadPoolExecutor(4, thread_name_prefix="rawi-search")

    def sync(self) -> tuple[int, int]:
        """Bring the lexical index in step with the store (cheap when it is)."""
        updated, removed = self.lexical.sync(
            self.store.catalogue.revisions(), self.store.chunk_records
        )
        if updated or removed:
            log.info("lexical index: %d articles updated, %d removed", updated, removed)
        return updated, removed

    def candidates(
        self,
        query: str,
        vector: np.ndarray,
        lexical_hits: list[LexicalHit] | None = None,
        dense_ids: list[str] | None = None,
        language: str | None = None,
    ) -> Candidates:
        """Everything either side proposes, with both of its raw scores
        (``lexical_hits``, ``dense_ids``: a side's proposals, when already read)."""
        n = self.params.candidates
        language = language or detect_language(query)
        if dense_ids is None:
            dense_ids = [cid for cid, _ in self.store.dense_ids(vector, n)]
        if lexical_hits is None:
            lexical_hits = self.lexical.search(query, n)
        lexical = {h.chunk_id: h for h in lexical_hits}
        lexical_counts = self.lexical.count() >= LEXICAL_MIN_CHUNKS
        # both sides' proposals, read from the local index; what it does not hold
        # yet (written by another process moments ago) comes from the store
        wanted = list(dict.fromkeys([*dense_ids, *lexical]))
        # Chunks that cannot be cited (a byline, a contact line) are never evidence:
        # the local index leaves them out, and so does the check below.
        records = self.lexical.records(wanted)
        held = {r.chunk_id for r in records}
        records = [r for r in records if r.meta["citable"]]
        by_id = {h.chunk_id: h for h in self.store.hits_from(records, vector)}
        missing = [cid for cid in wanted if cid not in held]
        if missing:
            by_id.update(
                (h.chunk_id, h)
                for h in self.store.hits_by_id(missing, vector)
                if is_citable(h.text)
            )
        items = []
        for hit in by_id.values():
            lex = lexical.get(hit.chunk_id)
            same_script = language in ("und", hit.language)
            coverage = (lex.coverage if lex else 0.0) if lexical_counts else None
            items.append(Candidate(hit, hit.score, coverage, same_script))
        return Candidates(query, language, vector, items)

    def search(
        self,
        query: str,
        k: int = 5,
        language: str | None = None,
        scope: Scope | None = None,
        vector: np.ndarray | None = None,
    ) -> SearchResult:
        """The best ``k`` passages for ``query``, and whether they answer it; with a
        ``scope``, only passages of reports inside its window and outlets, and for
        "the latest" the newest of the relevant ones first (``vector``: the query's
        embedding, when an earlier search of it has one). The query's forward pass
        has the cores; then the lexical and the dense side are read at once."""
        n = self.params.candidates
        days = scope.days() if scope is not None and scope.dated else None
        sources = scope.sources if scope is not None else ()
        if vector is None:
            vector = self.embedder.embed_query(query)
        lexical = self._side.submit(self.lexical.search, query, n, days, sources)
        dense = [cid for cid, _ in self.store.dense_ids(vector, n, days, sources)]
        candidates = self.candidates(query, vector, lexical.result(), dense, language)
        latest = scope is not None and scope.latest
        # the thresholds follow the number of passages searched: those in the window
        chunks = self.lexical.count(days, sources)
        result = rank(candidates, self.params, k, chunks, latest=latest)
        return replace(result, scope=scope) if scope is not None else result


@dataclass(frozen=True)
class Candidate:
    hit: Hit
    cosine: float
    coverage: float | None  # None: the lexical side has too few chunks to say
    same_script: bool


@dataclass(frozen=True)
class Candidates:
    """A query's candidates, with the query's language and vector."""

    query: str
    language: str
    vector: np.ndarray = field(repr=False)
    items: list[Candidate]


def fused_score(c: Candidate, p: SearchParams, sentence: float) -> float:
    """``sentence``: the candidate's best sentence cosine (its own cosine when it
    keeps no sentences)."""
    cosine = c.cosine
    if p.sentence_weight:
        cosine = (1 - p.sentence_weight) * cosine + p.sentence_weight * sentence
    if not c.same_script:
        return min(1.0, max(0.0, (cosine - p.cross_floor) / (p.cross_ceil - p.cross_floor)))
    d = min(1.0, max(0.0, (cosine - p.cosine_floor) / (p.cosine_ceil - p.cosine_floor)))
    if c.coverage is None:
        return d
    return p.dense_weight * d + (1 - p.dense_weight) * c.coverage


def rank(
    candidates: Candidates, p: SearchParams, k: int, chunks: int = 0, latest: bool = False
) -> SearchResult:
    """The best ``k`` candidates, and whether they answer: the best one must score
    above its threshold (for a store of ``chunks`` chunks), and the passages that
    do must hold what the question asks for (a year it names, a price...). For
    the ``latest`` reports, the passages that score nearly as well as the best go
    first, newest first."""
    items = candidates.items
    if p.sentence_weight:
        sentences = best_sentence_cosines([c.hit for c in items], candidates.vector).tolist()
    else:
        sentences = [c.cosine for c in items]
    scored = [
        (round(fused_score(c, p, sentence), 6), c)
        for c, sentence in zip(items, sentences, strict=True)
    ]
    scored.sort(key=lambda t: (-t[0], t[1].hit.chunk_id))
    same, cross = p.thresholds(chunks)
    if latest and scored:
        scored = newest_first(scored, scored[0][0] - p.latest_margin, same, cross)
    # only the hits returned are copied with their fused score
    best = [
        (replace(c.hit, score=score), same if c.same_script else cross) for score, c in scored[:k]
    ]
    hits = [hit for hit, _ in best]
    refusal = why_not(candidates.query, best)
    return SearchResult(
        candidates.query,
        candidates.language,
        hits,
        refusal is None,
        vector=candidates.vector,
        threshold=best[0][1] if best else same,
        refusal=refusal,
    )


def newest_first(
    scored: list[tuple[float, Candidate]], floor: float, same: float, cross: float
) -> list[tuple[float, Candidate]]:
    """``scored`` (best first) with the candidates that are evidence (above their
    threshold) and score at least ``floor`` moved to the front, newest report
    first; the rest keep their order."""

    def relevant(score: float, c: Candidate) -> bool:
        return score >= floor and score >= (same if c.same_script else cross)

    front = [t for t in scored if relevant(*t)]
    front.sort(key=lambda t: (-day_of(t[1].hit.published), -t[0]))
    return front + [t for t in scored if not relevant(*t)]


def why_not(query: str, best: Sequence[tuple[Hit, float]]) -> str | None:
    """Why the hits (best first, each with the threshold it needs) do not answer
    ``query``: :data:`BELOW_THRESHOLD`, or what the passages above their thresholds
    lack that the question asks for; None when they answer."""
    if not best or best[0][0].score < best[0][1]:
        return BELOW_THRESHOLD
    evidence = [hit for hit, t in best if hit.score >= t]
    return missing(query, [h.text for h in evidence], [(h.published or "")[:4] for h in evidence])
