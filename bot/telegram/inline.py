"""Inline mode: ``@bot QUESTION`` typed in any chat.

The question goes the readers' way (their per-minute limit, the search and the
answer, the log) and comes back as one result to send: the question, then the
answer with its sources in the HTML of an answer in a chat, fitted into one
message (the sources' passages are left out when the whole would not fit). When
the coverage does not answer, that one result says so. Anything else (a query too
short to search, one too long, the limit reached, a failure) is said in the button
above the results, which opens the private chat with the bot: only an answer, or
the plain statement that there is none, can be sent into a chat from here.

Telegram sends a query whenever the reader pauses while typing, and again for the
same words: an answer is kept for ``inline_cache_seconds`` by its question
(normalised: case and spacing aside) and language, and Telegram is told it may
keep the results as long.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import html
import logging
import time
from dataclasses import dataclass

from telegram import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.telegram.context import Context, Services
from bot.telegram.readers import answer_and_log, over_limit
from bot.telegram.render import answer_blocks, pack, render_plain
from bot.telegram.texts import TEXTS, lang_of
from retrieval.store.clients import is_unavailable
from retrieval.text import detect_language, well_formed
from retrieval.types import SMALLTALK, Answer

log = logging.getLogger(__name__)

# The log's chat for inline questions: they are asked in no chat of the bot's, and
# are no turn of any reader's conversation with it.
INLINE_CHAT = 0
START = "help"  # the button opens the private chat with "/start help"
MAX_KEPT = 1000  # answers kept at most; the oldest go first
DESCRIPTION_CHARS = 200  # of the answer, under the result's title


@dataclass(frozen=True)
class Response:
    """What an inline query gets: an answer to offer, or a notice for the button."""

    answer: Answer | None = None
    notice: str | None = None
    cache_time: int = 0  # seconds Telegram may keep it


def normalised(text: str) -> str:
    return " ".join(well_formed(text).split())


def cached(services: Services, key: tuple[str, str]) -> Answer | None:
    got = services.inline_answers.get(key)
    if got is None or time.monotonic() - got[0] > services.inline_cache_seconds:
        return None
    return got[1]


def keep(services: Services, key: tuple[str, str], answer: Answer) -> None:
    kept = services.inline_answers
    kept[key] = (time.monotonic(), answer)
    kept.move_to_end(key)
    oldest = time.monotonic() - services.inline_cache_seconds
    while kept and (len(kept) > MAX_KEPT or next(iter(kept.values()))[0] < oldest):
        kept.popitem(last=False)


async def respond(services: Services, user_id: int, question: str, lang: str) -> Response:
    if len(question) < services.inline_min_chars:
        return Response(notice=TEXTS["inline_hint"][lang])
    if len(question) > services.max_question_chars:
        return Response(notice=TEXTS["too_long"][lang].format(limit=services.max_question_chars))
    key = (question.casefold(), lang)
    answer = cached(services, key)
    if answer is None:
        with services.answering(user_id) as ahead:
            if await over_limit(services, user_id, ahead):
                limit = services.rate_limit_per_minute
                return Response(notice=TEXTS["rate_limited"][lang].format(limit=limit))
            work = functools.partial(
                answer_and_log, services, INLINE_CHAT, user_id, "inline", question,
                language=lang, standalone=True,
            )  # fmt: skip
            answer = (await asyncio.to_thread(work)).answer
        if services.inline_cache_seconds > 0:
            keep(services, key, answer)
    return Response(answer, cache_time=int(services.inline_cache_seconds))


def message(question: str, answer: Answer, html_mode: bool = True) -> str:
    """The message a result sends: the question, then the answer as in a chat, in
    one message (without the passages if need be)."""
    if not html_mode:
        return pack([question, *render_plain(answer)], html_blocks=False)[0]
    head = f"<b>{html.escape(question)}</b>"
    parts = pack([head, *answer_blocks(answer)])
    if len(parts) > 1:
        parts = pack([head, *answer_blocks(answer, passages=False)])
    return parts[0]


def result(question: str, answer: Answer, html_mode: bool = True) -> InlineQueryResultArticle:
    lang = "ar" if answer.language == "ar" else "en"
    if answer.kind == SMALLTALK:
        title = TEXTS["inline_reply"][lang]
    else:
        title = TEXTS["inline_answer" if answer.grounded else "inline_not_covered"][lang]
    return InlineQueryResultArticle(
        id=hashlib.sha256(f"{lang}\n{question}".encode()).hexdigest()[:32],
        title=title,
        description=answer.text[:DESCRIPTION_CHARS],
        input_message_content=InputTextMessageContent(
            message(question, answer, html_mode),
            parse_mode=ParseMode.HTML if html_mode else None,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
    )


async def inline_query(update: Update, context: Context) -> None:
    """Answer an inline query: never with a traceback; a failure is logged and
    said in the button, and a query Telegram no longer takes an answer for (the
    reader typed on) is let go."""
    query = update.inline_query
    if query is None:
        return
    question = normalised(query.query)
    lang = lang_of(update, question)
    try:
        response = await respond(context.services, query.from_user.id, question, lang)
    except Exception as exc:
        unavailable = is_unavailable(exc)
        if unavailable:
            log.warning("the store is unavailable: %s", exc)
        else:
            log.error("error while answering an inline query", exc_info=exc)
        response = Response(notice=TEXTS["unavailable" if unavailable else "error"][lang])
    notice = response.notice
    button = InlineQueryResultsButton(notice, start_parameter=START) if notice else None
    # the same words from another reader get the same answer, unless their words
    # do not tell the language (an emoji), which is then the reader's own
    personal = response.answer is None or detect_language(question) == "und"
    for html_mode in (True, False):
        results = [] if response.answer is None else [result(question, response.answer, html_mode)]
        try:
            await query.answer(
                results,
                cache_time=response.cache_time,
                is_personal=personal,
                button=button,
            )
            return
        except BadRequest as exc:
            if html_mode and results and "parse entities" in str(exc).lower():
                log.warning("Telegram rejected the formatting (%s); offering plain text", exc)
                continue
            log.warning("an inline query went unanswered: %s", exc)
            return
        except TelegramError as exc:
            log.warning("an inline query went unanswered: %s", exc)
            return
