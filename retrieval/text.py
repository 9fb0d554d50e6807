"""Plain-text helpers: paragraphs, sentences with their spans, script-based language."""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v\u00a0]*\n")
# A sentence ends at . ! ? … and the Arabic question mark and semicolon, with any
# closing quotes or brackets, followed by white space.
_SENTENCE_END = re.compile(r"[.!?…؟؛;]+[\"'»”’)\]]*(?=\s)|\n")
# Weaker split points for a sentence that is still too long: commas (Arabic too).
_CLAUSE_END = re.compile(r"[،,:]+(?=\s)")

# Letters of each script: the Arabic blocks also hold punctuation (؟ ، ؛), digits
# (٠-٩), diacritics and a zero-width space, which say nothing of the language.
_LETTER = r"(?=[^\W\d_])"
_ARABIC = re.compile(
    _LETTER + r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]"
)
_LATIN = re.compile(_LETTER + r"[A-Za-z\u00C0-\u024F]")


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def well_formed(text: str) -> str:
    """``text`` without what UTF-8 cannot carry (a lone surrogate, half of a broken
    emoji, which means nothing), so that no tokenizer, database or JSON encoder
    downstream fails on it."""
    return _SURROGATE.sub("", text)


def clean_paragraph(text: str) -> str:
    """One paragraph on one line: white space runs become one space, controls go."""
    text = well_formed(text)
    text = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
        for ch in unicodedata.normalize("NFC", text)
    )
    return _WS.sub(" ", text).strip()


def split_blank_lines(text: str) -> list[str]:
    """Paragraphs separated by blank lines (``.txt``/``.md``); lines inside join."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p for p in (clean_paragraph(part) for part in _BLANK_LINE.split(text)) if p]


def split_lines(text: str) -> list[str]:
    """Paragraphs separated by any line break (JSON news feeds)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p for p in (clean_paragraph(line) for line in text.split("\n")) if p]


def _split_at(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    spans, pos = [], start
    for m in pattern.finditer(text, start, end):
        if m.end() > pos:
            spans.append((pos, m.end()))
            pos = m.end()
    if pos < end:
        spans.append((pos, end))
    return [_strip(text, a, b) for a, b in spans if text[a:b].strip()]


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the sentences of ``text[start:end]``, stripped of white space."""
    return _split_at(text, start, len(text) if end is None else end, _SENTENCE_END)


def clause_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return _split_at(text, start, end, _CLAUSE_END)


def word_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text[:end]) if m.start() >= start]


def detect_language(text: str) -> str:
    """``ar`` or ``en`` by script, ``und`` when there is no letter of either.

    The product frames answers in Arabic or English, so telling the two scripts
    apart is what matters; Latin-script text is treated as English.
    """
    sample = text[:4000]
    arabic = len(_ARABIC.findall(sample))
    latin = len(_LATIN.findall(sample))
    if arabic == 0 and latin == 0:
        return "und"
    return "ar" if arabic >= latin else "en"


def passage_text(title: str, text: str) -> tuple[str, int]:
    """What a chunk is embedded and indexed as, and where the chunk starts in it:
    the article's title, then the chunk. A paragraph that names its subject only in
    the title ("It reopened on Tuesday" under "Port of Beirut") is then found by a
    question that names the subject, in either language."""
    head = f"{title.strip()}\n" if title.strip() else ""
    return head + text, len(head)
