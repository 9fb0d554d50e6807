"""Answers as Telegram messages: pure functions, no Telegram import.

An answer becomes HTML (Telegram's subset): the answer with its ``[n]`` markers,
then the numbered sources (title linked, outlet, date, paragraph), each with its
cited passage in an expandable blockquote. Every piece of article or user text
is escaped. Messages are split under Telegram's 4,096-character limit between
blocks, so no tag and no citation is ever cut; a single block too long for one
message is cut between words and its tags closed and reopened. The same content
is available as plain text for when Telegram rejects the formatting.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from retrieval.types import Answer, Citation

MAX_MESSAGE = 4096
SOURCES = {"ar": "المصادر", "en": "Sources"}
PARAGRAPH = {"ar": "الفقرة", "en": "¶"}


def _meta(c: Citation, lang: str) -> str:
    parts = [p for p in (c.outlet or c.source, (c.published or "")[:10]) if p]
    para = f"{PARAGRAPH[lang]} {c.paragraph}" if lang == "ar" else f"¶{c.paragraph}"
    return " · ".join([*parts, para])


def _passage(quotes: list[Citation], answer_text: str) -> str | None:
    """The passage around a source's quotes, the quotes in bold, as HTML; None when
    the answer already shows all of it."""
    first = quotes[0]
    inside = sorted(
        (c.quote_at, c.quote_at + len(c.quote)) for c in quotes if c.chunk_id == first.chunk_id
    )
    context = first.context
    if not context or context.strip() in answer_text:
        return None
    out, pos = [], 0
    for a, b in inside:
        out.append(f"{html.escape(context[pos:a])}<b>{html.escape(context[a:b])}</b>")
        pos = b
    out.append(html.escape(context[pos:]))
    return "".join(out)


def source_block(
    quotes: list[Citation], lang: str, answer_text: str = "", passages: bool = True
) -> str:
    """A source line, and (with ``passages``) the passage around its quotes in an
    expandable quote."""
    c = quotes[0]
    title = html.escape(c.title)
    if c.url:
        title = f'<a href="{html.escape(c.url, quote=True)}">{title}</a>'
    head = f"<b>[{c.n}]</b> {title} — {html.escape(_meta(c, lang))}"
    passage = _passage(quotes, answer_text) if passages else None
    return head if passage is None else f"{head}\n<blockquote expandable>{passage}</blockquote>"


def answer_blocks(answer: Answer, passages: bool = True) -> list[str]:
    """The answer's blocks; without ``passages``, its sources are their lines alone."""
    lang = "ar" if answer.language == "ar" else "en"
    blocks = [html.escape(answer.text)]
    if answer.note:
        blocks.append(f"<i>{html.escape(answer.note)}</i>")
    if answer.citations:
        blocks.append(f"<b>{SOURCES[lang]}</b>")
        blocks.extend(
            source_block(quotes, lang, answer.text, passages) for quotes in answer.sources()
        )
    return blocks


def render_html(answer: Answer, limit: int = MAX_MESSAGE) -> list[str]:
    return pack(answer_blocks(answer), limit)


def render_plain(answer: Answer, limit: int = MAX_MESSAGE) -> list[str]:
    """The same content without markup."""
    lang = "ar" if answer.language == "ar" else "en"
    blocks = [answer.text]
    if answer.note:
        blocks.append(answer.note)
    if answer.citations:
        blocks.append(SOURCES[lang])
    for quotes in answer.sources():
        c = quotes[0]
        line = f"[{c.n}] {c.title} — {_meta(c, lang)}"
        if c.url:
            line += f"\n{c.url}"
        if _passage(quotes, answer.text) is not None:
            line += f"\n“{c.context}”"
        blocks.append(line)
    return pack(blocks, limit, html_blocks=False)


def pack(
    blocks: Iterable[str],
    limit: int = MAX_MESSAGE,
    html_blocks: bool = True,
    separator: str = "\n\n",
) -> list[str]:
    """Join blocks (with blank lines, or ``separator``) into as few messages as fit
    under ``limit``."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        pieces = [block] if len(block) <= limit else _cut(block, limit, html_blocks)
        for piece in pieces:
            joined = f"{current}{separator}{piece}" if current else piece
            if len(joined) <= limit:
                current = joined
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages


_TAG = re.compile(r"<(/?)([a-z]+)[^>]*>")
# Room kept in each piece for the tags closed at its end and reopened in the next.
_TAG_ROOM = 80


def _open_tags(html_text: str) -> list[tuple[str, str]]:
    """The elements still open at the end of ``html_text``, outermost first: each
    opening tag and the tag's name."""
    stack: list[tuple[str, str]] = []
    for m in _TAG.finditer(html_text):
        if m.group(1):
            if stack:
                stack.pop()
        else:
            stack.append((m.group(0), m.group(2)))
    return stack


def _cut(block: str, limit: int, html_block: bool) -> list[str]:
    """Cut one over-long block between words. In HTML, the elements open at a cut
    (a blockquote, bold inside it) are closed there and reopened after it."""
    room = limit - (_TAG_ROOM if html_block else 0) - 1
    pieces: list[str] = []
    rest = block
    while len(rest) > limit:
        cut = rest.rfind(" ", 0, room)
        cut = cut if cut > room // 2 else room
        # never inside an entity such as &amp; or a tag
        amp, semi = rest.rfind("&", 0, cut), rest.rfind(";", 0, cut)
        if amp > semi:
            cut = amp
        lt, gt = rest.rfind("<", 0, cut), rest.rfind(">", 0, cut)
        if lt > gt:
            cut = lt
        head, rest = rest[:cut], rest[cut:].lstrip(" ")
        still_open = _open_tags(head) if html_block else []
        pieces.append(head + "".join(f"</{name}>" for _, name in reversed(still_open)))
        rest = "".join(tag for tag, _ in still_open) + rest
    pieces.append(rest)
    return pieces
