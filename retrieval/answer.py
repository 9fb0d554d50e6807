"""Answers with citations: the interface, and the offline extractive answerer.

The extractive answerer quotes the one to three sentences of the evidence that
best answer the question, each followed by its citation marker ``[n]``; the
framing words are in the question's language, the quotes in the source's.
When search says the coverage has no answer, it says so plainly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from retrieval.arabic import normalise, terms
from retrieval.embeddings import Embedder, part_cosines
from retrieval.search import SearchResult
from retrieval.text import sentence_spans
from retrieval.types import Answer, Citation, Hit

# The one "cannot answer" sentence per language, shared by every answerer,
# the prompts and the tests.
NO_ANSWER = {
    "ar": "لا تتضمن التغطية المتاحة إجابة عن هذا السؤال.",
    "en": "The coverage does not answer this question.",
}
FRAMING = {"ar": "بحسب التغطية:", "en": "According to the coverage:"}
QUOTES = {"ar": ("«", "»"), "en": ("“", "”")}


def answer_language(language: str) -> str:
    """Framing languages are Arabic and English; anything else is framed in English."""
    return "ar" if language == "ar" else "en"


def no_answer(language: str) -> Answer:
    lang = answer_language(language)
    return Answer(NO_ANSWER[lang], (), False, lang)


class Answerer(Protocol):
    def answer(self, question: str, result: SearchResult) -> Answer: ...


@dataclass(frozen=True)
class Sentence:
    hit: Hit
    start: int  # in the article's text
    end: int
    text: str
    score: float = 0.0


def sentences_of(hit: Hit, query: np.ndarray) -> list[tuple[Sentence, float]]:
    """A hit's sentences with their cosine to the query."""
    if hit.parts and hit.part_vectors:
        dense = part_cosines(hit.part_vectors, query)
        return [
            (Sentence(hit, hit.start + a, hit.start + b, hit.text[a:b]), float(d))
            for (a, b), d in zip(hit.parts, dense, strict=True)
        ]
    # One sentence (or a store written before sentences were kept): the chunk is it.
    return [
        (Sentence(hit, hit.start + a, hit.start + b, hit.text[a:b]), hit.dense)
        for a, b in sentence_spans(hit.text)
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
    answer_type: float = 0.05


# What a question asks for, read from its question words (on normalised text),
# and what a sentence that gives it holds.
_ASKS_DATE = re.compile(
    r"\bمتي\b|\bفي اي (?:عام|سنه|تاريخ|يوم|شهر|قرن)\b|\bما (?:هو )?تاريخ\b"
    r"|\bwhen\b|\b(?:what|which) (?:year|date|century|month|day)\b"
)
_ASKS_QUANTITY = re.compile(
    r"\bكم\b|\bما (?:هو |هي )?(?:عدد|طول|مساحه|نسبه|حجم|ارتفاع|عمق|مده|سعر|قيمه|وزن|عمر)\b"
    r"|\bhow (?:many|much|long|old|tall|far|big|large|high)\b"
    r"|\bwhat (?:is|was|are|were) the (?:number|population|area|length|size|percentage|height)\b"
)
_DATE_WORDS = (
    "يناير|فبراير|مارس|ابريل|مايو|يونيو|يوليو|اغسطس|سبتمبر|اكتوبر|نوفمبر|ديسمبر"
    "|كانون|شباط|اذار|نيسان|ايار|حزيران|تموز|ايلول|تشرين"
    "|محرم|ربيع|جمادي|رجب|شعبان|رمضان|شوال|ذو القعده|ذو الحجه"
    "|january|february|march|april|june|july|august|september|october|november|december"
    # news dates its events by the day of the week and the hour
    "|الاحد|الاثنين|الثلاثاء|الاربعاء|الخميس|الجمعه|السبت|غدا|امس|صباحا|مساء|ظهرا"
    "|sunday|monday|tuesday|wednesday|thursday|friday|saturday|today|tomorrow|yesterday"
)
_HAS_DATE = re.compile(
    rf"\d|\b(?:[وبل]?(?:{_DATE_WORDS})|(?:[وبل]?(?:ال)?(?:عام|سنه|قرن))|year|century)\b"
)
_HAS_NUMBER = re.compile(
    r"\d|\b[وبل]?(?:ال)?(?:واحد|اثن|ثلاث|اربع|خمس|ست|سبع|ثمان|تسع|عشر|مئ|مائ|الف|الاف"
    r"|مليون|ملايين|مليار)(?:ه|ان|ين|ون|ات|ي|يه|ا)?\b"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|dozen|hundreds?|thousands?"
    r"|millions?|billions?)\b"
)


def expected_answer(question: str) -> re.Pattern[str] | None:
    """The pattern a sentence that answers ``question`` matches, when the question
    asks for a date or a quantity."""
    text = normalise(question)
    if _ASKS_DATE.search(text):
        return _HAS_DATE
    if _ASKS_QUANTITY.search(text):
        return _HAS_NUMBER
    return None


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
        max_sentences: int = 3,
        # Quote budget, passages read and the cutoff below the best sentence: tuned
        # with the weights on ARCD train (bench/eval.py --tune-answers).
        max_chars: int = 400,
        evidence_hits: int = 5,
        relative_cutoff: float = 0.8,
        weights: SentenceWeights | None = None,
    ) -> None:
        self.embedder = embedder
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
        best = ranked[0].score
        chosen: list[Sentence] = []
        quoted: set[str] = set()
        length = 0
        for s in ranked:
            if len(chosen) >= self.max_sentences or s.score < self.relative_cutoff * best:
                break
            # The same sentence in several articles (a wire story run by many
            # outlets, a passage quoted again) is quoted once: its best-placed copy.
            key = same_text(s.text)
            if key in quoted or (chosen and length + len(s.text) > self.max_chars):
                continue
            chosen.append(s)
            quoted.add(key)
            length += len(s.text)
        return compose(lang, chosen)


def compose(lang: str, chosen: Sequence[Sentence]) -> Answer:
    """Answer text and citations, numbered in the order the quotes appear."""
    open_q, close_q = QUOTES[lang]
    parts = [FRAMING[lang]]
    citations: list[Citation] = []
    for n, s in enumerate(chosen, start=1):
        parts.append(f"{open_q}{s.text}{close_q} [{n}]")
        citations.append(Citation.of(n, s.hit, s.start, s.end, s.text))
    evidence = tuple(dict.fromkeys(s.hit.chunk_id for s in chosen))
    return Answer(" ".join(parts), tuple(citations), True, lang, evidence)
