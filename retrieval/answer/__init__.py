"""Answers with citations: what every answerer shares.

An answerer turns a question and its search result into an :class:`Answer`:
the extractive one (:mod:`retrieval.answer.extractive`, offline, the default)
or one written by a language model (:mod:`retrieval.answer.llm`).
"""

from __future__ import annotations

from typing import Protocol

from retrieval.search import SearchResult
from retrieval.types import NOT_IN_COVERAGE, Answer

# The one "cannot answer" sentence per language, shared by every answerer,
# the prompts and the tests.
NO_ANSWER = {
    "ar": "لا تتضمن التغطية المتاحة إجابة عن هذا السؤال.",
    "en": "The coverage does not answer this question.",
}


def answer_language(language: str) -> str:
    """Framing languages are Arabic and English; anything else is framed in English."""
    return "ar" if language == "ar" else "en"


def no_answer(language: str) -> Answer:
    lang = answer_language(language)
    return Answer(NO_ANSWER[lang], (), False, lang, kind=NOT_IN_COVERAGE)


class Answerer(Protocol):
    def answer(self, question: str, result: SearchResult) -> Answer: ...
