"""One call from a question to a cited answer, with follow-ups in context.

A follow-up ("and how many of them were children?") means little on its own, so
it is searched together with the conversation's previous question. Whether a
question is a follow-up is read from its form: it opens with "and"/"و"-style
connectives, or leans on a pronoun, or is too short to stand alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.answer import Answerer
from retrieval.arabic import normalise, terms
from retrieval.search import Searcher, SearchResult
from retrieval.text import detect_language
from retrieval.types import Answer

HISTORY_TURNS = 3

_EN_OPENERS = re.compile(r"^\s*(and|but|so|what about|how about|also|then)\b", re.I)
_EN_PRONOUNS = re.compile(
    r"\b(he|she|it|they|them|their|his|her|its|this|that|these|those)\b", re.I
)
# Arabic: a leading و/ف conjunction joined to a question word, "ماذا عن", or an
# attached pronoun on a short question (منهم, عنها, لديهم ...).
_AR_OPENERS = re.compile(r"^\s*(و|ف)(كم|ما|ماذا|من|متى|اين|هل|لماذا|كيف)|^\s*(ماذا|وماذا) عن")
_AR_PRONOUN_WORDS = re.compile(
    r"(^|\s)(منهم|منها|عنهم|عنها|لهم|لها|فيها|فيهم|بينهم|هو|هي|هم)(\s|$|[؟?])"
)


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str


def is_followup(question: str) -> bool:
    q = normalise(question)
    if _EN_OPENERS.search(q) or _AR_OPENERS.search(q):
        return True
    if _EN_PRONOUNS.search(q) or _AR_PRONOUN_WORDS.search(q):
        return True
    return len(terms(question)) <= 1


def search_query(question: str, history: Sequence[Turn]) -> str:
    """What to search for: the question, with the previous one if it follows on."""
    if history and is_followup(question):
        return f"{history[-1].question} {question}"
    return question


@dataclass(frozen=True)
class Reply:
    answer: Answer
    result: SearchResult
    query: str  # what was searched (the question, or it in context)


class QAService:
    """Search plus an answerer: the one service the CLI and the bot call."""

    def __init__(self, searcher: Searcher, answerer: Answerer, k: int = 5) -> None:
        self.searcher = searcher
        self.answerer = answerer
        self.k = k

    @property
    def streams(self) -> bool:
        """Whether answers can be shown while they are being written."""
        return hasattr(self.answerer, "stream")

    def query_for(self, question: str, history: Sequence[Turn]) -> str:
        """What to search for. An answerer that can rewrite follow-ups (a language
        model) does, with the history; otherwise the form of the question decides."""
        condense = getattr(self.answerer, "condense", None)
        if history and condense is not None:
            rewritten = condense(question, history)
            if rewritten:
                return str(rewritten)
        return search_query(question, history)

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        on_text: Callable[[str], None] | None = None,
    ) -> Reply:
        """Search and answer. With ``on_text``, a streaming answerer reports the
        text written so far as it goes."""
        query = self.query_for(question, history)
        result = self.searcher.search(query, self.k)
        if query != question:
            # the answer is framed in the language of the question actually asked
            language = detect_language(question)
            result = SearchResult(query, language, result.hits, result.answerable, result.vector)
        answerer: Any = self.answerer
        if on_text is not None and self.streams:
            return Reply(answerer.stream(query, result, on_text), result, query)
        return Reply(answerer.answer(query, result), result, query)
