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
from collections.abc import Iterable

from retrieval.types import Answer, Citation

MAX_MESSAGE = 4096
SOURCES = {"ar": "المصادر", "en": "Sources"}
PARAGRAPH = {"ar": "الفقرة", "en": "¶"}


def _meta(c: Citation, lang: str) -> str:
    parts = [p for p in (c.source, (c.published or "")[:10]) if p]
    para = f"{PARAGRAPH[lang]} {c.paragraph}" if lang == "ar" else f"¶{c.paragraph}"
    return " · ".join([*parts, para])


def source_block(c: Citation, lang: str) -> str:
    title = html.escape(c.title)
    if c.url:
        title = f'<a href="{html.escape(c.url, quote=True)}">{title}</a>'
    head = f"<b>[{c.n}]</b> {title} — {html.escape(_meta(c, lang))}"
    return f"{head}\n<blockquote expandable>{html.escape(c.quote)}</blockquote>"


def answer_blocks(answer: Answer) -> list[str]:
    lang = "ar" if answer.language == "ar" else "en"
    blocks = [html.escape(answer.text)]
    if answer.note:
        blocks.append(f"<i>{html.escape(answer.note)}</i>")
    if answer.citations:
        blocks.append(f"<b>{SOURCES[lang]}</b>")
        blocks.extend(source_block(c, lang) for c in answer.citations)
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
    for c in answer.citations:
        line = f"[{c.n}] {c.title} — {_meta(c, lang)}"
        if c.url:
            line += f"\n{c.url}"
        blocks.append(f"{line}\n“{c.quote}”")
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


_OPENERS = ("<blockquote expandable>", "<b>", "<i>")


def _cut(block: str, limit: int, html_block: bool) -> list[str]:
    """Cut one over-long block between words. In HTML, an open blockquote (the
    only element a long block can have open at a cut) is closed and reopened."""
    opener = next((o for o in _OPENERS if html_block and o in block), "")
    closer = f"</{opener[1:].split()[0].rstrip('>')}>" if opener else ""
    room = limit - len(opener) - len(closer) - 1
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
        inside = bool(opener) and head.count(opener) > head.count(closer)
        pieces.append(head + (closer if inside else ""))
        if inside:
            rest = opener + rest
    pieces.append(rest)
    return pieces
