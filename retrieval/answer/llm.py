"""Generated answers through a LangChain chat model, checked against the evidence.

The model sees the best passages, each inside ``<passage key="K1" ...>`` with its
title, outlet and date, and must answer only from them, in the question's
language, citing a key after every claim, or reply with the one "cannot answer"
constant. Article text is data: everything in it that could close a passage or
open a new one is escaped, no square bracket in it can pass for a key's (nor for
a chat template's ``[INST]``), its invisible characters are dropped, and the
prompt says instructions inside passages are not to be followed. The reader's
question is escaped the same way, so it cannot forge a passage either.

The reply is then checked: its invisible characters and any ``[n]`` the model
wrote itself are dropped, keys become ``[n]`` citations (the quote is the cited
passage, with its exact span), unknown keys are dropped, and a reply with no valid
citation is not shown as an answer: the extractive answer is, labelled as such.
Any failure of the model (timeouts, refused connections, HTTP errors, malformed
replies, after the client's own bounded retries) also falls back to the extractive
answer, with a one-line note. The extractive answer is the floor, never a crash.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

import prompts
from retrieval.answer import Answerer, answer_language, no_answer
from retrieval.scope import NO_OUTLETS, Outlets, format_day
from retrieval.search import SearchResult
from retrieval.types import Answer, Citation, Hit

log = logging.getLogger(__name__)

KEY_GROUP = re.compile(r"\[\s*(K\d+(?:\s*[,،;]\s*K\d+)*)\s*\]", re.IGNORECASE)
KEY = re.compile(r"K\d+", re.IGNORECASE)
MARKER = re.compile(r"\[\d+\]")
# "[2]" or "[1, 3]" written by the model itself: a citation of nothing it was given
BARE_MARKERS = re.compile(r"\[\s*\d+(?:\s*[,،;]\s*\d+)*\s*\]")
# square brackets are the keys' own: in article text they become parentheses
BRACKETS = str.maketrans("[]［］", "()()")
WORDS = re.compile(r"\w\w")  # an answer says something besides its markers

NOTES = {
    "unchecked": {
        "en": "Extractive answer: the generated answer could not be checked against the sources.",
        "ar": "إجابة مقتبسة: تعذّر التحقق من الإجابة المولَّدة مقابل المصادر.",
    },
    "failed": {
        "en": "Extractive answer: the language model is unavailable right now.",
        "ar": "إجابة مقتبسة: النموذج اللغوي غير متاح الآن.",
    },
}


def visible(text: str) -> str:
    """``text`` without its format characters (zero-width spaces and joiners, bidi
    controls): invisible, they can only hide or disguise what is written."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def escape_evidence(text: str) -> str:
    """Article text as inert data inside a passage: no tag can be closed or opened,
    and nothing in an article ("[K3]", "[\u200bK3]", "[INST]") can pass for a
    citation key or a chat template's marker."""
    return html.escape(visible(text), quote=False).translate(BRACKETS)


def _attr(value: str | None) -> str:
    return escape_evidence((value or "").replace("\n", " ")).replace('"', "&quot;")


@dataclass(frozen=True)
class Evidence:
    key: str
    hit: Hit
    outlet: str = ""  # the outlet's name in the answer's language

    def render(self) -> str:
        h = self.hit
        return (
            f'<passage key="{self.key}" title="{_attr(h.title)}"'
            f' outlet="{_attr(self.outlet or h.source)}"'
            f' date="{_attr((h.published or "")[:10])}">\n{escape_evidence(h.text)}\n</passage>'
        )


def evidence_for(
    result: SearchResult, n: int, lang: str = "en", outlets: Outlets = NO_OUTLETS
) -> list[Evidence]:
    return [
        Evidence(f"K{i}", hit, outlets.name(hit.source, lang))
        for i, hit in enumerate(result.hits[:n], start=1)
    ]


@dataclass(frozen=True)
class Checked:
    text: str  # keys replaced by [n]
    citations: tuple[Citation, ...]


def relabel(reply: str, evidence: Sequence[Evidence]) -> Checked:
    """Keys to ``[n]`` (numbered by first use), unknown keys dropped."""
    by_key = {e.key: e for e in evidence}
    numbers: dict[str, int] = {}

    def sub(match: re.Match[str]) -> str:
        marks = []
        for key in map(str.upper, KEY.findall(match.group(1))):
            if key not in by_key:
                continue
            n = numbers.setdefault(key, len(numbers) + 1)
            mark = f"[{n}]"
            if mark not in marks:
                marks.append(mark)
        return "".join(marks)

    text = KEY_GROUP.sub(sub, reply)
    text = re.sub(r"[ \t]+([.,،؛;:!?؟])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
    citations = []
    for key, n in numbers.items():
        e = by_key[key]
        h = e.hit
        citations.append(replace(Citation.of(n, h, h.start, h.end, h.text), outlet=e.outlet))
    return Checked(text, tuple(citations))


SENTENCE_BREAK = re.compile(r"(?<=[.!?؟…])\s+")
# a key written after its sentence's full stop ("… resigned. [K2]") belongs to it
KEY_AFTER_STOP = re.compile(r"([.!?؟…]+)\s*(\[\s*K\d+(?:\s*[,،;]\s*K\d+)*\s*\])", re.IGNORECASE)


def cited_sentences(reply: str, evidence: Sequence[Evidence]) -> str:
    """The sentences of ``reply`` that cite a passage that was given; one that
    cites nothing, or only keys never given, is dropped, whatever it says. What
    the reader could not see (format characters) goes first, and so does any
    ``[n]`` the model wrote itself: only keys become citations."""
    given = {e.key for e in evidence}
    reply = BARE_MARKERS.sub("", visible(reply))
    reply = KEY_AFTER_STOP.sub(r" \2\1", reply)
    lines = []
    for line in reply.split("\n"):
        kept = [
            sentence
            for sentence in SENTENCE_BREAK.split(line.strip())
            if any(
                k.upper() in given
                for group in KEY_GROUP.findall(sentence)
                for k in KEY.findall(group)
            )
        ]
        if kept:
            lines.append(" ".join(kept))
    return "\n".join(lines)


def checked_reply(reply: str, evidence: Sequence[Evidence]) -> Checked | None:
    """What may be shown of a model's ``reply``: its sentences that cite the
    ``evidence``, relabelled; None when it cites none or says it cannot answer."""
    if prompts.CANNOT_ANSWER in reply:
        return None
    checked = relabel(cited_sentences(reply, evidence), evidence)
    if not checked.citations or not WORDS.search(MARKER.sub("", checked.text)):
        return None
    return checked


def preview(partial: str, evidence: Sequence[Evidence]) -> str:
    """What a reader may see of a reply still being generated: its finished
    sentences that pass the check the whole reply will pass."""
    if prompts.CANNOT_ANSWER.startswith(partial.strip()[: len(prompts.CANNOT_ANSWER)]):
        return ""  # possibly the constant, which is never shown as such
    ends = [m.start() for m in re.finditer(r"(?<=[.!?؟…])\s|\n", partial)]
    finished = partial[: ends[-1]] if ends else ""
    return relabel(cited_sentences(finished, evidence), evidence).text


class LLMAnswerer:
    """Answers written by a chat model from the evidence, with the extractive
    answerer as the floor."""

    def __init__(
        self,
        model: BaseChatModel,
        fallback: Answerer,
        max_evidence: int = 5,
        outlets: Outlets = NO_OUTLETS,
    ) -> None:
        self.model = model
        self.fallback = fallback
        self.max_evidence = max_evidence
        self.outlets = outlets
        self.prompt = prompts.load("answer")
        self.condense_prompt = prompts.load("condense")

    # -- prompts -------------------------------------------------------------------
    def messages(
        self,
        question: str,
        language: str,
        evidence: Sequence[Evidence],
        today: date | None = None,
    ) -> list[Any]:
        system, user = self.prompt.render(
            language,
            cannot_answer=prompts.CANNOT_ANSWER,
            evidence="\n\n".join(e.render() for e in evidence),
            question=escape_evidence(question.strip()),
            today=format_day(today or date.today(), language),
        )
        return [SystemMessage(system), HumanMessage(user)]

    # -- answering -----------------------------------------------------------------
    def answer(self, question: str, result: SearchResult) -> Answer:
        return self.stream(question, result, None)

    def stream(
        self,
        question: str,
        result: SearchResult,
        on_text: Callable[[str], None] | None,
    ) -> Answer:
        """Generate (streaming the reader-visible text so far to ``on_text`` when
        given), then check. Never raises for a model failure."""
        lang = answer_language(result.language)
        if not result.answerable or not result.hits:
            return no_answer(lang)  # nothing to generate from
        evidence = evidence_for(result, self.max_evidence, lang, self.outlets)
        today = result.scope.today if result.scope is not None else None
        messages = self.messages(question, lang, evidence, today)
        try:
            reply = self._generate(messages, evidence, on_text)
        except Exception as exc:  # every model failure ends in the floor
            log.warning(
                "the language model failed (%s); answering extractively", describe_failure(exc)
            )
            return self._floor(question, result, "failed", lang)
        return self.check(reply, evidence, question, result)

    def check(
        self, reply: str, evidence: Sequence[Evidence], question: str, result: SearchResult
    ) -> Answer:
        lang = answer_language(result.language)
        if prompts.CANNOT_ANSWER in reply:
            return no_answer(lang)
        checked = checked_reply(reply, evidence)
        if checked is None:
            log.info("generated answer without a cited sentence; answering extractively")
            return self._floor(question, result, "unchecked", lang)
        evidence_ids = tuple(c.chunk_id for c in checked.citations)
        return Answer(checked.text, checked.citations, True, lang, evidence_ids)

    def _floor(self, question: str, result: SearchResult, why: str, lang: str) -> Answer:
        answer = self.fallback.answer(question, result)
        if not answer.grounded:
            return answer
        return replace(answer, note=NOTES[why][lang], fallback=why)

    def _generate(
        self,
        messages: list[BaseMessage],
        evidence: Sequence[Evidence],
        on_text: Callable[[str], None] | None,
    ) -> str:
        """The model's reply. The client retries connection errors, timeouts, 429
        and 5xx by itself (``max_retries``, with backoff); what still fails raises."""
        if on_text is None:
            text = reply_text(self.model.invoke(messages))
        else:
            text, shown = "", ""
            for chunk in self.model.stream(messages):
                text += reply_text(chunk)
                visible = preview(text, evidence)
                if visible != shown:
                    shown = visible
                    on_text(visible)
        if not text.strip():
            raise ValueError("empty reply")
        return text

    # -- follow-ups ------------------------------------------------------------------
    def condense(self, question: str, history: Sequence[Any]) -> str | None:
        """The follow-up rewritten to stand alone, or None when the model fails."""
        if not history:
            return question
        lines = []
        for turn in history:
            lines.append(f"Q: {turn.question.strip()}")
            lines.append(f"A: {turn.answer.strip()[:300]}")
        lang = answer_language(_language(question))
        system, user = self.condense_prompt.render(
            lang, history="\n".join(lines), question=question.strip()
        )
        try:
            rewritten = reply_text(self.model.invoke([SystemMessage(system), HumanMessage(user)]))
        except Exception as exc:
            log.warning("could not rewrite the follow-up (%s)", describe_failure(exc))
            return None
        rewritten = rewritten.strip().strip('"“”«»').strip()
        return rewritten if 0 < len(rewritten) <= 4 * max(len(question), 200) else None


def _language(text: str) -> str:
    from retrieval.text import detect_language

    return detect_language(text)


def reply_text(message: Any) -> str:
    """A chat model's message (or streamed chunk) as text."""
    content = getattr(message, "content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content)
    raise ValueError("malformed reply")


def describe_failure(exc: Exception) -> str:
    """A model failure for the log: its kind and HTTP status, never its message
    (which may echo the prompt)."""
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    return f"{name}, HTTP {status}" if status else name
