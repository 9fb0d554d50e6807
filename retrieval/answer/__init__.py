"""Answers with citations: what every answerer shares.

An answerer turns a question and its search result into an :class:`Answer`:
the extractive one (:mod:`retrieval.answer.extractive`, offline, the default)
or one written by a language model (:mod:`retrieval.answer.llm`).
"""

from __future__ import annotations

from typing import Protocol

from retrieval.scope import Outlets, Scope, date_of, describe, format_day
from retrieval.search import SearchResult
from retrieval.types import NOT_IN_COVERAGE, Answer, Hit

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


def nothing_within(
    scope: Scope, elsewhere: SearchResult, language: str, outlets: Outlets
) -> Answer:
    """The coverage has nothing in ``scope``'s window (or from its outlets), but
    ``elsewhere`` (the same search without them) answers: say so, and name the
    dates and outlets nearest to the window that have the subject."""
    lang = answer_language(language)
    evidence = [h for h in elsewhere.hits if h.score >= elsewhere.threshold]

    def distance(hit: Hit) -> int:
        """Days from the window (the newest first when there is none)."""
        d = date_of(hit.published)
        if d is None:
            return 10**6
        if not scope.dated:
            return -d.toordinal()
        if scope.since is not None and d < scope.since:
            return (scope.since - d).days
        if scope.until is not None and d > scope.until:
            return (d - scope.until).days
        return 0

    seen: dict[str, str] = {}
    for h in sorted(evidence, key=distance):
        when = date_of(h.published)
        key = format_day(when, lang) if when else ""
        name = outlets.name(h.source, lang)
        if key not in seen:
            seen[key] = name
        if len(seen) == 3:
            break
    places = [f"{k} ({v})" if k and v else k or v for k, v in seen.items() if k or v]
    names = [outlets.name(s, lang) for s in scope.sources]
    sep = "، " if lang == "ar" else ", "
    if lang == "ar":
        where = f" في {' أو '.join(names)}" if names else ""
        text = f"لا تتضمن التغطية شيئًا عن هذا{where} {describe(scope, lang)}".rstrip() + "."
        if places:
            text += " تناولته التغطية في: " + sep.join(places) + "."
    else:
        where = f" from {' or '.join(names)}" if names else ""
        text = f"The coverage has nothing on this{where} {describe(scope, lang)}".rstrip() + "."
        if places:
            text += " It covers it on: " + sep.join(places) + "."
    return Answer(text, (), False, lang, kind=NOT_IN_COVERAGE)
