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
from typing import Any

from retrieval.answer import Answerer, answer_language
from retrieval.followup import is_followup
from retrieval.search import Searcher, SearchResult
from retrieval.smalltalk import reply as smalltalk_reply
from retrieval.smalltalk import smalltalk_kind, without_greeting
from retrieval.text import detect_language
from retrieval.types import SMALLTALK, Answer

HISTORY_TURNS = 3
# A question follows on from the reader's previous one only within this many seconds.
FOLLOWUP_WINDOW = 600.0
# An answer whose best passage scores less than this above the threshold is "weak":
# shown to the reader, and listed for the editors beside the refusals.
WEAK_MARGIN = 0.05


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
    ) -> None:
        self.searcher = searcher
        self.answerer = answerer
        self.k = k
        self.followup_window = followup_window
        self.coverage = coverage or searcher.store.catalogue.coverage
        self.clock = clock

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

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        on_text: Callable[[str], None] | None = None,
        language: str | None = None,
    ) -> Reply:
        """Search and answer. With ``on_text``, a streaming answerer reports the
        text written so far as it goes. ``language`` is the reader's, for a
        message whose own words do not tell (an emoji)."""
        asked = detect_language(question)
        lang = answer_language(asked if asked != "und" or language is None else language)
        kind = smalltalk_kind(question)
        if kind is not None:
            text = smalltalk_reply(kind, lang, self.coverage())
            return Reply(Answer(text, (), False, lang, kind=SMALLTALK), None, "", "")
        question = without_greeting(question)
        query, topic = self.query_for(question, history)
        result = self.searcher.search(query, self.k, language=asked if query == question else None)
        if result.language != lang:  # the answer is framed in the language of the question
            result = replace(result, language=lang)
        answerer: Any = self.answerer
        if on_text is not None and self.streams:
            answer = answerer.stream(query, result, on_text)
        else:
            answer = answerer.answer(query, result)
        weak = answer.grounded and result.top_score < result.threshold + WEAK_MARGIN
        return Reply(answer, result, query, topic, weak)
