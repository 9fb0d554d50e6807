"""The day's main stories: the day's articles grouped by story, most covered first.

No new embedding is made: each article of the day is represented by the vector
its lead chunk already has in the store (the first chunk, embedded with the
headline; with ``lead_chunks`` > 1, the mean of the first few). Articles are
grouped by average-linkage clustering on the cosine between those vectors, cut
at a threshold tuned on a day of SaudiNewsNet other than the one the digest is
measured on (see docs/decisions.md). Groups are ordered by the number of distinct outlets that
covered them, then by their size.

Each group gets a lead: by default the sentence of its articles' lead chunks
closest to the group's centroid, quoted as it stands (extractive, with its exact
span). With a chat model, the lead may be written by it from the group's lead
passages, checked as generated answers are (every sentence must cite a passage
it was given; anything else is dropped), and the quoted sentence stays the floor
whenever the model fails or its reply does not pass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np
from langchain_core.messages import HumanMessage, SystemMessage
from scipy.cluster.hierarchy import fcluster, linkage

import prompts
from retrieval.answer.llm import Evidence, checked_reply, describe_failure, reply_text
from retrieval.evidence import is_boilerplate
from retrieval.scope import NO_OUTLETS, Outlets, day_number
from retrieval.store.catalogue import PAGE
from retrieval.store.chunks import Store
from retrieval.text import sentence_spans
from retrieval.types import Citation, Hit

log = logging.getLogger(__name__)

# Chunks of an article read as its lead (the headline is embedded with each).
LEAD_CHUNKS = 1
# Average-linkage cosine above which articles tell the same story; tuned on
# 2015-07-26 of SaudiNewsNet (docs/decisions.md), not on the day measured.
THRESHOLD = 0.91
MAX_STORIES = 10
# A quoted lead: long enough to say something, short enough to read at a glance.
MIN_LEAD, MAX_LEAD = 40, 400
MAX_WRITTEN_EVIDENCE = 5


@dataclass(frozen=True)
class Report:
    """One article of the day, as a story lists it."""

    article_id: str
    title: str
    source: str | None
    url: str | None
    published: str | None


@dataclass(frozen=True)
class Lead:
    """A story's lead: a quoted sentence (one citation, ``text`` is its quote) or,
    when ``written``, a model's sentences with ``[n]`` markers for ``citations``."""

    text: str
    citations: tuple[Citation, ...]
    written: bool = False


@dataclass(frozen=True)
class Story:
    reports: tuple[Report, ...]  # the article the lead comes from first
    lead: Lead

    @property
    def outlets(self) -> list[str]:
        """The outlets that covered the story, in the order of their first report."""
        return list(dict.fromkeys(r.source for r in self.reports if r.source))


@dataclass(frozen=True)
class Digest:
    day: date
    articles: int  # the day's articles
    groups: int  # stories told by more than one article
    stories: tuple[Story, ...]  # the main ones, most covered first


@dataclass
class _Article:
    report: Report
    hits: list[Hit]  # its lead chunks, in order
    vectors: list[np.ndarray]  # theirs, unit length
    vector: np.ndarray  # their mean, unit length


class DigestBuilder:
    """Builds a day's digest from the store; ``model`` (a LangChain chat model)
    writes the leads when given."""

    def __init__(
        self,
        store: Store,
        outlets: Outlets = NO_OUTLETS,
        *,
        threshold: float = THRESHOLD,
        max_stories: int = MAX_STORIES,
        lead_chunks: int = LEAD_CHUNKS,
        model: Any = None,
    ) -> None:
        self.store = store
        self.outlets = outlets
        self.threshold = threshold
        self.max_stories = max_stories
        self.lead_chunks = lead_chunks
        self.model = model
        self.prompt = prompts.load("digest") if model is not None else None

    # -- reading the day ---------------------------------------------------------------
    def articles_of(self, day: date) -> list[_Article]:
        """The live articles published on ``day``, with their lead chunks and vectors,
        in a stable order (by id)."""
        where: Any = {"$and": [{"day": day_number(day)}, {"index": {"$lt": self.lead_chunks}}]}
        by_article: dict[str, list[tuple[int, Hit, np.ndarray]]] = {}
        offset = 0
        while True:
            page = self.store.chunks.get(
                where=where,
                include=["documents", "metadatas", "embeddings"],
                limit=PAGE,
                offset=offset,
            )
            ids, docs = page["ids"], page["documents"] or []
            metas = page["metadatas"] or []
            vectors: Any = page["embeddings"] if page["embeddings"] is not None else []
            for cid, doc, meta, vector in zip(ids, docs, metas, vectors, strict=True):
                hit = self.store.hit_from(cid, doc or "", dict(meta or {}), 0.0)
                if hit is None:  # a revision no longer live
                    continue
                row = _unit(np.asarray(vector, dtype=np.float32))
                by_article.setdefault(hit.article_id, []).append(
                    (int(str((meta or {}).get("index", 0))), hit, row)
                )
            if len(ids) < PAGE:
                break
            offset += PAGE
        out = []
        for aid in sorted(by_article):
            chunks = sorted(by_article[aid], key=lambda c: c[0])
            mean = np.mean([v for _, _, v in chunks], axis=0)
            first = chunks[0][1]
            report = Report(aid, first.title, first.source, first.url, first.published)
            out.append(
                _Article(report, [h for _, h, _ in chunks], [v for _, _, v in chunks], _unit(mean))
            )
        return out

    # -- grouping ------------------------------------------------------------------------
    def group(self, articles: Sequence[_Article]) -> list[list[int]]:
        """Indices of ``articles`` by story, most covered first: by the number of
        outlets, then of articles (then by the earliest index, for a stable order)."""
        if not articles:
            return []
        if len(articles) == 1:
            return [[0]]
        matrix = np.stack([a.vector for a in articles])
        tree = linkage(matrix, method="average", metric="cosine")
        labels = fcluster(tree, t=1.0 - self.threshold, criterion="distance")
        groups: dict[int, list[int]] = {}
        for i, label in enumerate(labels):
            groups.setdefault(int(label), []).append(i)

        def rank(members: list[int]) -> tuple[int, int, int]:
            outlets = {articles[i].report.source for i in members}
            return (-len(outlets), -len(members), members[0])

        return sorted(groups.values(), key=rank)

    # -- leads -----------------------------------------------------------------------------
    def quoted_lead(self, members: Sequence[_Article], lang: str) -> tuple[Lead, int]:
        """The sentence of the members' lead chunks closest to their centroid, and
        the member it comes from (the first member's first sentence when none fits)."""
        centroid = _unit(np.mean([a.vector for a in members], axis=0))
        best: tuple[float, int, Hit, int, int] | None = None
        for m, article in enumerate(members):
            for hit, chunk_vector in zip(article.hits, article.vectors, strict=True):
                for (a, b), vector in _sentences(hit, chunk_vector):
                    text = hit.text[a:b]
                    if (
                        not MIN_LEAD <= len(text) <= MAX_LEAD
                        or text.endswith(":")  # "…said in a statement:": the lead is after it
                        or is_boilerplate(text)
                    ):
                        continue
                    score = float(vector @ centroid)
                    if best is None or score > best[0]:
                        best = (score, m, hit, a, b)
        if best is None:  # nothing quotable: the first sentence of the first lead chunk
            hit = members[0].hits[0]
            a, b = (sentence_spans(hit.text) or [(0, len(hit.text))])[0]
            best = (0.0, 0, hit, a, b)
        _, m, hit, a, b = best
        quote = hit.text[a:b]
        citation = replace(
            Citation.of(1, hit, hit.start + a, hit.start + b, quote),
            outlet=self.outlets.name(hit.source, lang),
        )
        return Lead(quote, (citation,)), m

    def written_lead(self, members: Sequence[_Article], lang: str) -> Lead | None:
        """The lead written by the model from the members' lead passages (one an
        outlet first), checked; None when the model fails or its reply does not pass."""
        if self.model is None or self.prompt is None:
            return None
        chosen: list[Hit] = []
        seen: set[str | None] = set()
        for article in members:  # one passage an outlet, then the rest
            if article.report.source not in seen:
                seen.add(article.report.source)
                chosen.append(article.hits[0])
        chosen += [a.hits[0] for a in members if all(a.hits[0] is not h for h in chosen)]
        evidence = [
            Evidence(f"K{i}", hit, self.outlets.name(hit.source, lang))
            for i, hit in enumerate(chosen[:MAX_WRITTEN_EVIDENCE], start=1)
        ]
        system, user = self.prompt.render(
            lang,
            cannot_answer=prompts.CANNOT_ANSWER,
            evidence="\n\n".join(e.render() for e in evidence),
        )
        try:
            reply = reply_text(self.model.invoke([SystemMessage(system), HumanMessage(user)]))
        except Exception as exc:  # every model failure ends in the quoted lead
            log.warning("the language model failed on a digest lead (%s)", describe_failure(exc))
            return None
        checked = checked_reply(reply, evidence)
        if checked is None:
            log.info("a digest lead without a cited sentence; quoting instead")
            return None
        return Lead(checked.text, checked.citations, written=True)

    # -- the digest ------------------------------------------------------------------------
    def build(self, day: date, lang: str = "ar") -> Digest:
        articles = self.articles_of(day)
        groups = self.group(articles)
        stories = []
        for members_idx in groups[: self.max_stories]:
            members = [articles[i] for i in members_idx]
            quoted, m = self.quoted_lead(members, lang)
            lead = self.written_lead(members, lang) or quoted
            ordered = [members[m], *(a for i, a in enumerate(members) if i != m)]
            stories.append(Story(tuple(a.report for a in ordered), lead))
        return Digest(
            day=day,
            articles=len(articles),
            groups=sum(len(g) > 1 for g in groups),
            stories=tuple(stories),
        )


def _unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v / max(float(np.linalg.norm(v)), 1e-12), dtype=np.float32)


def _sentences(hit: Hit, vector: np.ndarray) -> list[tuple[tuple[int, int], np.ndarray]]:
    """A chunk's sentences (spans in its text) with their unit vectors; a chunk of
    one sentence keeps none apart: it is that sentence, with the chunk's vector."""
    if hit.parts and hit.part_vectors is not None:
        return list(zip(hit.parts, hit.part_vectors, strict=True))
    return [(span, vector) for span in sentence_spans(hit.text)[:1]]
