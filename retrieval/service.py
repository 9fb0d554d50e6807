"""One call from a question to a cited answer, with follow-ups in context.

A follow-up ("and how many of them were children?") means little on its own, so
it is searched together with the question that opened its topic: the reader's
own previous question, asked within the last few minutes. Whether a question is
a follow-up is read from its form (:mod:`retrieval.followup`). Small talk
("hello", "who are you?") gets the bot's own reply (:mod:`retrieval.smalltalk`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from retrieval.answer import Answerer, answer_language, nothing_within
from retrieval.followup import is_followup
from retrieval.scope import Outlets, Scope, read_scope
from retrieval.search import Searcher, SearchResult
from retrieval.smalltalk import reply as smalltalk_reply
from retrieval.smalltalk import smalltalk_kind, without_greeting
from retrieval.text import detect_language, well_formed
from retrieval.types import SMALLTALK, Answer

HISTORY_TURNS = 3
# A question follows on from the reader's previous one only within this many seconds.
FOLLOWUP_WINDOW = 600.0
# An answer whose best passage scores less than this above the threshold is "weak":
# shown to the reader, and listed for the editors beside the refusals.
WEAK_MARGIN = 0.05
# How often the outlets readers may name are read again from the store (seconds).
OUTLETS_REFRESH = 30.0


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str
    topic: str  # the standalone question its follow-ups are searched with
    at: float  # when it was asked (seconds since the epoch)

    @property
    def anchor(self) -> str:
        return self.topic or self.question


def in_window(history: Sequence[Turn], now: float, window: float) -> list[Turn]:
    """The turns of ``history`` asked within ``window`` seconds of ``now``."""
    return [t for t in history if now - t.at <= window]


@dataclass(frozen=True)
class Reply:
    answer: Answer
    result: SearchResult | None  # None for small talk, which searches nothing
    query: str  # what was searched (the question, or it in context)
    topic: str  # the standalone question this one belongs to
    weak: bool = False  # answered, but only just above the threshold

    @property
    def score(self) -> float:
        return self.result.top_score if self.result is not None else 0.0


class QAService:
    """Search plus an answerer: the one service the CLI and the bot call."""

    def __init__(
        self,
        searcher: Searcher,
        answerer: Answerer,
        k: int = 5,
        *,
        followup_window: float = FOLLOWUP_WINDOW,
        coverage: Callable[[], Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
        outlets: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.searcher = searcher
        self.answerer = answerer
        self.k = k
        self.followup_window = followup_window
        self.coverage = coverage or searcher.store.catalogue.coverage
        self.clock = clock
        self._configured = dict(outlets or {})
        self._outlets = Outlets(self._configured)
        self._outlets_at = -OUTLETS_REFRESH

    def outlets(self) -> Outlets:
        """The outlets readers may name: the configured ones and the store's sources
        (looked up again every :data:`OUTLETS_REFRESH` seconds: it reads every
        article's record)."""
        if time.monotonic() - self._outlets_at >= OUTLETS_REFRESH:
            sources = self.coverage().get("sources") or ()
            self._outlets = Outlets(self._configured, sorted(sources))
            self._outlets_at = time.monotonic()
        return self._outlets

    @property
    def streams(self) -> bool:
        """Whether answers can be shown while they are being written."""
        return hasattr(self.answerer, "stream")

    def query_for(self, question: str, history: Sequence[Turn]) -> tuple[str, str]:
        """What to search for, and the topic the question belongs to. A follow-up
        is searched with its topic's question (or, by an answerer that can, such as
        a language model, rewritten from the history into a standalone one)."""
        recent = in_window(history, self.clock(), self.followup_window)
        if not recent or not is_followup(question):
            return question, question
        topic = recent[-1].anchor
        condense = getattr(self.answerer, "condense", None)
        if condense is not None:
            rewritten = condense(question, recent)
            if rewritten:
                return str(rewritten), topic
        return f"{topic} {question}", topic

    def scope_of(self, question: str, query: str, today: date) -> Scope:
        """What ``question`` asks of time and outlets, with ``query`` (the question,
        or a follow-up with its topic) as the search text, rid of the words that
        said it. A follow-up that names no date or outlet keeps its topic's."""
        outlets = self.outlets()
        own = read_scope(question, today, outlets)
        if query == question:
            return own
        whole = read_scope(query, today, outlets)
        if own.filters or own.latest:
            return replace(own, query=whole.query)
        return whole

    def search(
        self, question: str, k: int | None = None, today: date | None = None
    ) -> SearchResult:
        """The passages for ``question`` (no follow-up, no answer), within what it
        asks of time and outlets."""
        question = well_formed(question)
        today = today or date.fromtimestamp(self.clock())
        return self._search(self.scope_of(question, question, today), k or self.k, None, today)

    def _search(self, scope: Scope, k: int, language: str | None, today: date) -> SearchResult:
        """Search within ``scope``. A day's events are often reported the next
        morning: a one-day window with nothing that answers takes the next day's
        reports too."""
        result = self.searcher.search(scope.query, k, language=language, scope=scope)
        day = scope.since
        if not result.answerable and day is not None and day == scope.until and day < today:
            next_day = replace(scope, until=day + timedelta(days=1))
            later = self.searcher.search(
                scope.query, k, language=language, scope=next_day, vector=result.vector
            )
            if later.answerable:
                return later
        return result

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        on_text: Callable[[str], None] | None = None,
        language: str | None = None,
        today: date | None = None,
    ) -> Reply:
        """Search and answer. With ``on_text``, a streaming answerer reports the
        text written so far as it goes. ``language`` is the reader's, for a
        message whose own words do not tell (an emoji). ``today``: the reader's
        day, which "yesterday" and "the latest" count from (default: the clock's)."""
        question = well_formed(question)
        asked = detect_language(question)
        lang = answer_language(asked if asked != "und" or language is None else language)
        kind = smalltalk_kind(question)
        if kind is not None:
            text = smalltalk_reply(kind, lang, self.coverage())
            return Reply(Answer(text, (), False, lang, kind=SMALLTALK), None, "", "")
        question = without_greeting(question)
        query, topic = self.query_for(question, history)
        today = today or date.fromtimestamp(self.clock())
        scope = self.scope_of(question, query, today)
        searched = asked if query == question else None
        result = self._search(scope, self.k, searched, today)
        if result.language != lang:  # the answer is framed in the language of the question
            result = replace(result, language=lang)
        if not result.answerable and scope.filters:
            # nothing inside the window or from the outlet: say where the subject is
            wider = replace(scope, since=None, until=None, sources=(), latest=False)
            elsewhere = self.searcher.search(
                scope.query, self.k, language=searched, scope=wider, vector=result.vector
            )
            if elsewhere.answerable:
                answer = nothing_within(scope, elsewhere, lang, self.outlets())
                return Reply(answer, result, scope.query, topic)
        answerer: Any = self.answerer
        if on_text is not None and self.streams:
            answer = answerer.stream(scope.query, result, on_text)
        else:
            answer = answerer.answer(scope.query, result)
        weak = answer.grounded and result.top_score < result.threshold + WEAK_MARGIN
        return Reply(answer, result, scope.query, topic, weak)
