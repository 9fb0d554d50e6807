"""The offline extractive answerer: it quotes the sentences of the evidence that
best answer the question, each paragraph under its citation marker ``[n]`` and
introduced with its report's date and outlet; the framing words are in the
question's language, the quotes in the source's. For "the latest", reports go
newest first and older ones are marked as earlier. When search says the coverage
has no answer, it says so plainly.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from retrieval.answer import answer_language, no_answer
from retrieval.arabic import normalise, terms
from retrieval.asks import expected_answer
from retrieval.evidence import is_boilerplate
from retrieval.model.embedder import Embedder
from retrieval.scope import NO_OUTLETS, Outlets, date_of, day_of, format_day
from retrieval.search import SearchResult
from retrieval.text import sentence_spans
from retrieval.types import Answer, Citation, Hit

FRAMING = {"ar": "بحسب التغطية:", "en": "According to the coverage:"}
QUOTES = {"ar": ("«", "»"), "en": ("“", "”")}
EARLIER = {"ar": "وقبل ذلك، ", "en": "Earlier, "}


@dataclass(frozen=True)
class Sentence:
    hit: Hit
    start: int  # in the article's text
    end: int
    text: str
    score: float = 0.0


def sentences_of(hit: Hit, query: np.ndarray) -> list[tuple[Sentence, float]]:
    """A hit's sentences that may be cited (see :mod:`retrieval.evidence`), with
    their cosine to the query."""
    if hit.parts and hit.part_vectors is not None:
        dense = hit.part_vectors @ query
        scored = [((a, b), float(d)) for (a, b), d in zip(hit.parts, dense, strict=True)]
    else:
        # One sentence (or a store written before sentences were kept): the chunk is it.
        scored = [((a, b), hit.dense) for a, b in sentence_spans(hit.text)]
    return [
        (Sentence(hit, hit.start + a, hit.start + b, hit.text[a:b]), d)
        for (a, b), d in scored
        if not is_boilerplate(hit.text[a:b])
    ]


@dataclass(frozen=True)
class SentenceWeights:
    """How a sentence's score mixes its own similarity to the question, the share
    of the question's terms it holds, its chunk's search score, and whether it
    holds the kind of answer the question asks for (a date, a number). Tuned on
    ARCD train (bench/eval.py)."""

    dense: float = 1.0
    overlap: float = 0.15
    chunk: float = 0.3
    answer_type: float = 0.2


def same_text(text: str) -> str:
    """A sentence's text as it compares with its copies elsewhere (a wire story run
    by several outlets, a passage quoted again): normalised, white space collapsed."""
    return " ".join(normalise(text).split())


def term_weights(qterms: set[str], sentences: Iterable[set[str]]) -> dict[str, float]:
    """Each question term weighed by how rare it is among the sentences read: the
    words of the topic, which every one of them shares, say little about which
    sentence answers."""
    read = list(sentences)
    return {t: math.log(1 + len(read) / (1 + sum(t in held for held in read))) for t in qterms}


# Shorter sentences are fragments (a dateline, "(Getty)", an e-mail address): they
# are quoted only when nothing else is left.
MIN_SENTENCE_CHARS = 25
_WORD = re.compile(r"[^\W\d_]{2,}")


class ExtractiveAnswerer:
    """Quotes the best sentences of the top evidence; offline and fast."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_sentences: int = 4,
        # Quote budget, passages read and the cutoff below the best sentence: tuned
        # with the weights on ARCD train (bench/eval.py --tune-answers).
        max_chars: int = 600,
        evidence_hits: int = 5,
        relative_cutoff: float = 0.8,
        weights: SentenceWeights | None = None,
        outlets: Outlets = NO_OUTLETS,
    ) -> None:
        self.embedder = embedder
        self.outlets = outlets  # the names the answers give the outlets
        self.max_sentences = max_sentences
        self.max_chars = max_chars
        self.evidence_hits = evidence_hits
        self.relative_cutoff = relative_cutoff
        self.weights = weights or SentenceWeights()

    def score_sentences(
        self, question: str, hits: Sequence[Hit], vector: np.ndarray | None = None
    ) -> list[Sentence]:
        """The hits' sentences, best first. A sentence's vector comes from its
        chunk's forward pass at ingestion (see ``Embedder.embed_passages_and_parts``),
        so scoring needs no model call beyond the query's."""
        q = self.embedder.embed_query(question) if vector is None else vector
        rows = [
            (hit, s, dense, same_text(s.text), set(terms(s.text)))
            for hit in hits
            for s, dense in sentences_of(hit, q)
        ]
        qterms = set(terms(question))
        # the same sentence read twice (a story run by several outlets) counts once
        distinct = {key: held for _, _, _, key, held in rows}
        weight = term_weights(qterms, distinct.values())
        total = sum(weight.values())
        expects = expected_answer(question)
        w = self.weights
        scored = []
        for hit, s, dense, key, held in rows:
            overlap = sum(weight[t] for t in qterms & held) / total if total else 0.0
            fragment = len(s.text) < MIN_SENTENCE_CHARS or len(_WORD.findall(s.text)) < 4
            typed = expects is not None and expects.search(key) is not None
            # The chunk's own score carries the context a sentence lacks.
            score = (
                w.dense * dense
                + w.overlap * overlap
                + w.chunk * hit.score
                + w.answer_type * typed
                - fragment
            )
            scored.append(replace(s, score=score))
        scored.sort(key=lambda s: -s.score)
        return scored

    def answer(self, question: str, result: SearchResult) -> Answer:
        lang = answer_language(result.language)
        if not result.answerable or not result.hits:
            return no_answer(lang)
        ranked = self.score_sentences(question, result.hits[: self.evidence_hits], result.vector)
        if not ranked:
            return no_answer(lang)
        best = ranked[0]
        latest = result.scope is not None and result.scope.latest
        forced = None
        if latest:
            # the newest relevant report (search put it first) is quoted, and first
            newest = result.hits[0].chunk_id
            forced = next((s for s in ranked if s.hit.chunk_id == newest), None)
            if forced is not None:
                ranked.remove(forced)
                ranked.insert(0, forced)
        chosen: list[Sentence] = []
        quoted: set[str] = set()
        length = 0
        for s in ranked:
            if len(chosen) >= self.max_sentences:
                break
            if s is not forced and s.score < self.relative_cutoff * best.score:
                break
            # No padding from a passage that would not count as evidence by itself
            # (another story that shares the question's words).
            if s.hit.score < result.threshold:
                continue
            # The same sentence in several articles (a wire story run by many
            # outlets, a passage quoted again) is quoted once: its best-placed copy.
            key = same_text(s.text)
            if key in quoted or (chosen and length + len(s.text) > self.max_chars):
                continue
            chosen.append(s)
            quoted.add(key)
            length += len(s.text)
        return compose(lang, chosen, self.outlets, latest)


def report_label(hit: Hit, lang: str, outlets: Outlets = NO_OUTLETS) -> str:
    """ "6 November 2023, Al-Araby" / "6 نوفمبر 2023، العربي الجديد": what is known
    of when and where a passage was published."""
    day = date_of(hit.published)
    parts = [format_day(day, lang) if day else "", outlets.name(hit.source, lang)]
    return ("، " if lang == "ar" else ", ").join(p for p in parts if p)


def compose(
    lang: str, chosen: Sequence[Sentence], outlets: Outlets = NO_OUTLETS, latest: bool = False
) -> Answer:
    """Answer text and citations. A paragraph is one source, numbered in the order
    of its best quote (for the ``latest``, newest report first), introduced with its
    report's date and outlet: its quoted sentences are shown together under one
    marker, in their order in the paragraph (with an ellipsis where text between
    them is left out); each sentence is a citation of its own exact span."""
    open_q, close_q = QUOTES[lang]
    groups: dict[tuple[str, int], list[Sentence]] = {}
    for s in chosen:
        groups.setdefault((s.hit.article_id, s.hit.paragraph), []).append(s)
    ordered = list(groups.values())
    if latest:
        ordered.sort(key=lambda g: -day_of(g[0].hit.published))  # stable: best first on a day
    newest = day_of(ordered[0][0].hit.published) if ordered else 0
    parts = [FRAMING[lang]]
    citations: list[Citation] = []
    previous = ""
    for n, group in enumerate(ordered, start=1):
        group.sort(key=lambda s: s.start)
        shown = group[0].text
        for prev, s in itertools.pairwise(group):
            between = s.hit.text[prev.end - s.hit.start : s.start - s.hit.start]
            adjacent = prev.hit.chunk_id == s.hit.chunk_id and not between.strip()
            shown += (" " if adjacent else " … ") + s.text
        hit = group[0].hit
        label = report_label(hit, lang, outlets)
        if latest and 0 < day_of(hit.published) < newest:
            label = EARLIER[lang] + label
        # a report's next paragraph goes on under the label already given
        intro = f"{label}: " if label and hit.article_id != previous else ""
        previous = hit.article_id
        parts.append(f"{intro}{open_q}{shown}{close_q} [{n}]")
        outlet = outlets.name(group[0].hit.source, lang)
        citations.extend(
            replace(Citation.of(n, s.hit, s.start, s.end, s.text), outlet=outlet) for s in group
        )
    evidence = tuple(dict.fromkeys(s.hit.chunk_id for s in chosen))
    return Answer(" ".join(parts), tuple(citations), True, lang, evidence)
