"""One call from a question to a cited answer, with follow-ups in context.

A follow-up ("and how many of them were children?") means little on its own, so
it is searched together with the conversation's previous question. Whether a
question is a follow-up is read from its form: it opens with "and"/"و"-style
connectives, or leans on a pronoun, or is too short to stand alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

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

    def ask(self, question: str, history: Sequence[Turn] = ()) -> Reply:
        query = search_query(question, history)
        result = self.searcher.search(query, self.k)
        if query != question:
            # the answer is framed in the language of the question actually asked
            language = detect_language(question)
            result = SearchResult(query, language, result.hits, result.answerable)
        return Reply(self.answerer.answer(query, result), result, query)
