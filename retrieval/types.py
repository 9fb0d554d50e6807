"""Typed domain objects that cross module boundaries.

One score convention everywhere: higher is better, in 0..1.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PARAGRAPH_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Article:
    """An article as stored: ``text`` is its paragraphs joined by a blank line."""

    id: str
    title: str
    paragraphs: tuple[str, ...]
    url: str | None = None
    source: str | None = None
    published: str | None = None  # ISO 8601 date or datetime
    author: str | None = None
    language: str = "und"

    @property
    def text(self) -> str:
        return PARAGRAPH_SEPARATOR.join(self.paragraphs)

    def paragraph_spans(self) -> list[tuple[int, int]]:
        spans, pos = [], 0
        for para in self.paragraphs:
            spans.append((pos, pos + len(para)))
            pos += len(para) + len(PARAGRAPH_SEPARATOR)
        return spans

    @property
    def content_hash(self) -> str:
        """Changes whenever anything a reader could see changes."""
        h = hashlib.blake2b(digest_size=16)
        for part in (
            self.title,
            self.text,
            self.url,
            self.source,
            self.published,
            self.author,
            self.language,
        ):
            h.update((part or "").encode())
            h.update(b"\x00")
        return h.hexdigest()

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "paragraphs": list(self.paragraphs),
            "url": self.url,
            "source": self.source,
            "published": self.published,
            "author": self.author,
            "language": self.language,
        }


@dataclass(frozen=True)
class Chunk:
    """A citable piece of one paragraph: ``article.text[start:end] == text``."""

    article_id: str
    index: int  # position of the chunk in the article, from 0
    paragraph: int  # from 1
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class ChunkRecord:
    """A stored chunk as the local index keeps it: for the lexical search, and
    (``meta``, ``vector``) to turn a candidate into a hit without asking Chroma."""

    chunk_id: str
    article_id: str
    revision: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)  # the chunk's Chroma metadata
    vector: Any = None  # its embedding (a float32 array), when known
    title: str = ""  # its article's title, indexed with the text


@dataclass(frozen=True)
class Hit:
    """A chunk found by search, with what a citation needs."""

    chunk_id: str
    article_id: str
    paragraph: int
    start: int
    end: int
    text: str
    score: float
    title: str
    source: str | None
    published: str | None
    url: str | None
    language: str = "und"
    dense: float = 0.0  # cosine similarity to the query, kept through fusion
    # The chunk's sentences: spans relative to ``text``, and their unit vectors
    # (none for a chunk of one sentence); see retrieval.store.parts.
    parts: tuple[tuple[int, int], ...] = ()
    part_vectors: np.ndarray | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "paragraph": self.paragraph,
            "chunk_id": self.chunk_id,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": round(self.score, 6),
            "title": self.title,
            "source": self.source,
            "published": self.published,
            "url": self.url,
        }


@dataclass(frozen=True)
class Citation:
    n: int
    article_id: str
    paragraph: int
    chunk_id: str
    start: int
    end: int
    quote: str
    title: str
    source: str | None
    published: str | None
    url: str | None
    # The passage the quote stands in (its chunk of the paragraph), for readers who
    # want the sentences around it; ``context[quote_at:quote_at + len(quote)] == quote``.
    context: str = ""
    quote_at: int = 0
    outlet: str = ""  # the outlet's name in the answer's language

    @classmethod
    def of(cls, n: int, hit: Hit, start: int, end: int, quote: str) -> Citation:
        """Citation ``n`` of the span ``start:end`` (``quote``) of ``hit``'s article."""
        return cls(
            n=n,
            article_id=hit.article_id,
            paragraph=hit.paragraph,
            chunk_id=hit.chunk_id,
            start=start,
            end=end,
            quote=quote,
            title=hit.title,
            source=hit.source,
            published=hit.published,
            url=hit.url,
            context=hit.text,
            quote_at=start - hit.start,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "article_id": self.article_id,
            "paragraph": self.paragraph,
            "chunk_id": self.chunk_id,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
            "title": self.title,
            "source": self.source,
            "outlet": self.outlet or self.source,
            "published": self.published,
            "url": self.url,
        }


# What an answer is: drawn from the coverage, a refusal (the coverage does not
# answer), or the bot's own reply to small talk ("hello", "who are you?").
ANSWERED, NOT_IN_COVERAGE, SMALLTALK = "answer", "not_in_coverage", "smalltalk"


@dataclass(frozen=True)
class Answer:
    text: str
    citations: tuple[Citation, ...]
    grounded: bool
    language: str
    evidence: tuple[str, ...] = field(default=())  # chunk ids the answer was drawn from
    note: str | None = None  # e.g. why a fallback answer was given
    kind: str = ANSWERED
    # why a generated answer gave way to the extractive one ("unchecked", "failed")
    fallback: str | None = None

    def sources(self) -> list[list[Citation]]:
        """The citations by source, one list per marker ``[n]`` (a paragraph may be
        quoted in several places), in the order of the markers."""
        by_n: dict[int, list[Citation]] = {}
        for c in self.citations:
            by_n.setdefault(c.n, []).append(c)
        return list(by_n.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "grounded": self.grounded,
            "language": self.language,
            "kind": self.kind,
            "fallback": self.fallback,
            "citations": [c.to_json() for c in self.citations],
        }


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
