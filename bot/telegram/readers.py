"""The readers' handlers: thin, around one service call.

Each takes the question from the update (a message's text, or the caption of a
photo, a video or a document), shows "typing", runs it through the service in a
worker thread (search, answering and the state database stay off the event loop)
and hands the answer to :mod:`bot.telegram.render`.

An edited question is answered again in the messages of its first answer, which
the bot remembers for the last 10,000 answers (:class:`Sent`); an edit of a
message it did not answer is read as a new message. In the log the edit replaces
the question (its history, its place among the turns; the votes on the earlier
answer are dropped), and it counts toward the reader's per-minute limit as the
answer it is: asking and then correcting a question within a minute uses two.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import logging
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest

from bot.telegram.context import Context, Sent, Services
from bot.telegram.render import render_html, render_plain
from bot.telegram.state import ANSWERED, REFUSED, WEAK, ChatState
from bot.telegram.state import SMALLTALK as OUTCOME_SMALLTALK
from bot.telegram.texts import TEXTS, count, day_span, lang_of, listing
from retrieval.store.clients import is_full, why_read_only
from retrieval.text import detect_language, well_formed
from retrieval.types import SMALLTALK, Answer

log = logging.getLogger(__name__)

VOTE_PATTERN = r"^v[+-]\d{10}$"


async def help_command(update: Update, context: Context) -> None:
    if update.effective_message is None:
        return
    lang = lang_of(update)
    info = await asyncio.to_thread(context.services.coverage)
    span = f" ({day_span(info['first'], info['last'], lang)})" if info.get("first") else ""
    outlets = ""
    if info.get("sources"):
        names = context.services.qa.outlets()
        joined = listing([names.name(s, lang) for s in info["sources"][:10]], lang)
        outlets = f" from {joined}" if lang == "en" else f" من {joined}"
    articles = count(info["articles"], "article", lang)
    text = TEXTS["help"][lang].format(
        articles=articles, span=span, outlets=outlets, bot=context.bot.username
    )
    await update.effective_message.reply_text(html.escape(text), parse_mode=ParseMode.HTML)


def _strip_mention(text: str, username: str) -> str:
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.I).strip()


COMMAND = re.compile(r"/(\w+)(?:@(\w+))?")


async def question(update: Update, context: Context) -> None:
    """A message's text or caption, new or edited, when it asks the bot: in a
    private chat any; in a group one that mentions the bot, replies to it or opens
    with /ask. A caption that opens with another command asks nothing."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return
    text = message.text or message.caption or ""
    username = context.bot.username
    command = COMMAND.match(text)
    if command:  # /ask, or a command Telegram did not mark as one (a caption's, an edit's)
        name, to = command.groups()
        ours = (to or username).lower() == username.lower()
        if name.lower() != "ask" or not ours:
            if chat.type == ChatType.PRIVATE:  # in a private chat every message is to us
                if ours and name.lower() in ("start", "help"):
                    await help_command(update, context)
                else:
                    await message.reply_text(TEXTS["unknown_command"][lang_of(update)])
            return
        text = text[command.end() :]
        if not text.strip():
            await message.reply_text(TEXTS["ask_usage"][lang_of(update)])
            return
    elif chat.type != ChatType.PRIVATE:
        replied = message.reply_to_message
        to_bot = (
            replied is not None
            and replied.from_user is not None
            and replied.from_user.id == context.bot.id
        )
        if not (f"@{username}".lower() in text.lower() or to_bot):
            return
        text = _strip_mention(text, username)
    await answer(update, context, text)


async def latest_command(update: Update, context: Context) -> None:
    """``/latest TOPIC``: "what is the latest on TOPIC", in the topic's language."""
    topic = " ".join(context.args or []).strip()
    lang = lang_of(update)
    if not topic:
        if update.effective_message is not None:
            await update.effective_message.reply_text(TEXTS["latest_usage"][lang])
        return
    asked = detect_language(topic)
    lang = "ar" if asked == "ar" else "en" if asked != "und" else lang
    await answer(update, context, TEXTS["latest"][lang].format(topic=topic))


@dataclass(frozen=True)
class Answered:
    answer: Answer
    question_id: int | None  # None: not in the log (its disk refuses writes)


def answer_and_log(
    services: Services,
    chat_id: int,
    user_id: int,
    chat_type: str,
    text: str,
    *,
    language: str,
    on_text: Callable[[str], None] | None = None,
    replaces: int | None = None,
    standalone: bool = False,
) -> Answered:
    """The blocking part of answering, run in a worker thread. ``replaces``: the
    logged question this one is an edit of; ``standalone``: a question read without
    the reader's earlier ones (no follow-up)."""
    state = services.state
    history = [] if standalone else state.history(chat_id, user_id, before=replaces)
    reply = services.qa.ask(text, history, on_text, language)
    answer = reply.answer
    if answer.kind == SMALLTALK:
        outcome = OUTCOME_SMALLTALK
    elif not answer.grounded:
        outcome = REFUSED
    else:
        outcome = WEAK if reply.weak else ANSWERED
    try:
        qid: int | None = state.log_question(
            chat_id=chat_id,
            user_id=user_id,
            chat_type=chat_type,
            language=answer.language,
            question=text,
            query=reply.query,
            answer=answer.text,
            grounded=answer.grounded,
            evidence=answer.evidence or [c.chunk_id for c in answer.citations],
            outcome=outcome,
            score=reply.score,
            topic=reply.topic,
            replaces=replaces,
        )
    except sqlite3.Error as exc:  # the log is the bot's own: the reader still gets the answer
        _not_logged("a question was answered but not logged", exc, state)
        qid = None
    return Answered(answer, qid)


def _not_logged(what: str, exc: sqlite3.Error, state: ChatState) -> None:
    """A write to the chat log that its disk refused (read-only, full) is said in
    one line; any other failure is a bug, logged with its traceback."""
    if is_full(exc) or why_read_only(exc, state.path.parent if state.path else None):
        log.warning("%s: %s", what, exc)
    else:
        log.error(what, exc_info=exc)


async def answer(update: Update, context: Context, text: str) -> None:
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    if message is None or chat is None:
        return
    services = context.services
    text = well_formed(text).strip()  # half an emoji must not fail the log or the reply
    lang = lang_of(update, text)
    earlier = None
    if update.edited_message is not None:
        earlier = services.answers.get((chat.id, message.message_id))
        if earlier is not None and earlier.question == text:
            return  # the edit left the question as it was (a caption's photo, say)
    if not text:
        await message.reply_text(TEXTS["empty"][lang])
        return
    if len(text) > services.max_question_chars:
        await message.reply_text(TEXTS["too_long"][lang].format(limit=services.max_question_chars))
        return
    # Messages sent "as the group" or "as a channel" have no person behind them: the
    # chat stands in for the user.
    user_id = user.id if user is not None else chat.id
    with services.answering(user_id, chat.id) as ahead:
        if await over_limit(services, user_id, ahead):
            limit = services.rate_limit_per_minute
            await message.reply_text(TEXTS["rate_limited"][lang].format(limit=limit))
            return
        if chat.type != ChatType.PRIVATE:
            await _tell_if_busy(message, services, lang)
        await context.bot.send_chat_action(chat.id, ChatAction.TYPING)
        work = functools.partial(
            answer_and_log, services, chat.id, user_id, str(chat.type), text, language=lang,
            replaces=earlier.question_id if earlier else None,
        )  # fmt: skip
        into = list(earlier.messages) if earlier else []
        if services.qa.streams:
            interval = STREAM_INTERVAL["private" if chat.type == ChatType.PRIVATE else "group"]
            done, draft = await stream_answer(
                message, lang, interval, lambda on_text: work(on_text=on_text),
                draft=into[0] if into else None,
            )  # fmt: skip
            if draft is not None:
                into[:1] = [draft]
        else:
            done = await asyncio.to_thread(work)
        qid = done.question_id  # None: no vote could be recorded either
        buttons = vote_buttons(qid) if qid is not None and done.answer.kind != SMALLTALK else None
        sent = await send_answer(message, done.answer, buttons, into)
        services.remember(chat.id, message.message_id, Sent(text, done.question_id, sent))


async def over_limit(services: Services, user_id: int, ahead: int) -> bool:
    """Whether the reader has had their questions for this minute: those answered
    (in the log) and the ``ahead`` of this one still being answered, as a burst
    counts as it arrives, not as it is logged."""
    recent = await asyncio.to_thread(services.state.recent_questions, user_id, 60.0)
    return recent + ahead >= services.rate_limit_per_minute


# A group gets about 20 messages a minute from a bot: past this many questions in
# flight, its readers wait long enough to be told why (once in a while, not per question).
BUSY_GROUP = 6
BUSY_TOLD_EVERY = 600.0  # seconds


async def _tell_if_busy(message: Message, services: Services, lang: str) -> None:
    chat = message.chat_id
    now = time.monotonic()
    if (
        services.by_chat[chat] < BUSY_GROUP
        or now - services.busy_told.get(chat, -1e9) < BUSY_TOLD_EVERY
    ):
        return
    services.busy_told[chat] = now
    await message.chat.send_message(TEXTS["busy"][lang])


def vote_buttons(question_id: int, chosen: int = 0) -> InlineKeyboardMarkup:
    """👍/👎 under an answer, the ``chosen`` one (+1 or -1) ticked. The callback data
    is short and fixed-size: a sign and the question's number in the log, never an
    article id."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    f"{face} ✓" if chosen == sign else face,
                    callback_data=f"v{'+' if sign > 0 else '-'}{question_id:010d}",
                )
                for face, sign in (("👍", 1), ("👎", -1))
            ]
        ]
    )


# What Telegram says of a message the bot can no longer edit: the answer is sent anew.
GONE = ("not found", "can't be edited")


async def _put(
    message: Message,
    parts: list[str],
    into: list[int],
    sent: list[int],
    *,
    html_mode: bool,
    markup: InlineKeyboardMarkup | None,
) -> None:
    """The parts of an answer, each replacing the next of the messages ``into`` (a
    draft, an edited question's earlier answer) or else sent as a new message, the
    first in reply to ``message``, ``markup`` under the last. Each message's id is
    added to ``sent`` as it goes."""
    bot = message.get_bot()
    no_preview = LinkPreviewOptions(is_disabled=True)
    parse_mode = ParseMode.HTML if html_mode else None
    for i, text in enumerate(parts):
        buttons = markup if i == len(parts) - 1 else None
        if i < len(into):
            try:
                await bot.edit_message_text(
                    text, chat_id=message.chat_id, message_id=into[i], parse_mode=parse_mode,
                    link_preview_options=no_preview, reply_markup=buttons,
                )  # fmt: skip
                sent.append(into[i])
                continue
            except BadRequest as exc:
                error = str(exc).lower()
                if "not modified" in error:
                    sent.append(into[i])
                    continue
                if not any(gone in error for gone in GONE):
                    raise
        new = await bot.send_message(
            message.chat_id,
            text,
            parse_mode=parse_mode,
            link_preview_options=no_preview,
            reply_to_message_id=message.message_id if i == 0 else None,
            allow_sending_without_reply=True,
            reply_markup=buttons,
        )
        sent.append(new.message_id)


async def send_answer(
    message: Message,
    answer: Answer,
    markup: InlineKeyboardMarkup | None = None,
    into: list[int] | None = None,
) -> tuple[int, ...]:
    """The answer as HTML, split under Telegram's limit, buttons under the last part;
    the same content as plain text if Telegram rejects the formatting. The parts
    replace the messages ``into`` first (a draft, or an edited question's earlier
    answer; any left over are deleted). Returns the answer's messages."""
    into = into or []
    sent: list[int] = []
    try:
        await _put(message, render_html(answer), into, sent, html_mode=True, markup=markup)
    except BadRequest as exc:
        if "parse entities" not in str(exc).lower():
            raise
        log.warning("Telegram rejected the formatting (%s); sending plain text", exc)
        into, sent = sent + into[len(sent) :], []  # the parts sent so far are replaced
        await _put(message, render_plain(answer), into, sent, html_mode=False, markup=markup)
    for stale in into[len(sent) :]:
        with contextlib.suppress(BadRequest):  # e.g. too old to delete: left as it was
            await message.get_bot().delete_message(message.chat_id, stale)
    return tuple(sent)


WRITING = {"en": "✍️ still writing…", "ar": "✍️ جارٍ الكتابة…"}
STREAM_INTERVAL = {"private": 1.0, "group": 3.0}  # seconds between edits
STREAM_PREVIEW_CHARS = 3800


async def stream_answer(
    message: Message,
    lang: str,
    interval: float,
    work: Callable[[Callable[[str], None]], Any],
    draft: int | None = None,
) -> tuple[Any, int | None]:
    """Run ``work(on_text)`` in a worker thread, showing the text written so far in
    one message (``draft``, or a new reply), edited at most once per ``interval``
    and marked as still being written. Returns what ``work`` returned and the draft
    message's id, if there is one."""
    loop = asyncio.get_running_loop()
    latest = [""]
    changed = asyncio.Event()

    def on_text(text: str) -> None:  # called from the worker thread
        def update() -> None:
            latest[0] = text
            changed.set()

        loop.call_soon_threadsafe(update)

    task = asyncio.ensure_future(asyncio.to_thread(work, on_text))
    shown, last = "", 0.0
    while not task.done():
        waiter = asyncio.ensure_future(changed.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            break
        changed.clear()
        pause = last + interval - time.monotonic()
        if pause > 0:  # keep to the edit rate; the text may grow meanwhile
            await asyncio.wait({task}, timeout=pause)
            if task.done():
                break
        text = latest[0].strip()
        if not text or text == shown:
            continue
        display = f"{text[:STREAM_PREVIEW_CHARS]}\n\n{WRITING[lang]}"
        if draft is None:
            draft = (await message.reply_text(display, do_quote=True)).message_id
        else:
            with contextlib.suppress(BadRequest):  # "not modified" and the like
                await message.get_bot().edit_message_text(
                    display, chat_id=message.chat_id, message_id=draft
                )
        shown, last = text, time.monotonic()
    result = await task
    if draft is not None:
        pause = last + interval - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
    return result, draft


async def vote(update: Update, context: Context) -> None:
    """A reader's 👍 or 👎: recorded, or changed from the other; the same again
    changes nothing. In a private chat the buttons show the reader's choice (in a
    group, one reader's choice is no one else's)."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    lang = lang_of(update)
    sign = 1 if query.data[1] == "+" else -1
    qid = int(query.data[2:])
    try:
        before = await asyncio.to_thread(context.services.state.vote, qid, query.from_user.id, sign)
    except sqlite3.Error as exc:  # its disk refuses writes, say
        _not_logged("a vote could not be recorded", exc, context.services.state)
        await query.answer(TEXTS["vote_failed"][lang])
        return
    if before is None:
        key = "vote_gone"
    elif before == sign:
        key = "vote_again"
    else:
        key = "vote_changed" if before else "vote_thanks"
    await query.answer(TEXTS[key][lang])
    shown = query.message
    private = isinstance(shown, Message) and shown.chat.type == ChatType.PRIVATE
    if private and before not in (None, sign):
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(vote_buttons(qid, sign))


async def stale_button(update: Update, context: Context) -> None:
    """A button from an older version of the bot: acknowledge it so the client
    stops spinning."""
    if update.callback_query is not None:
        await update.callback_query.answer()


async def unknown_command(update: Update, context: Context) -> None:
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or not message.text:
        return
    command = message.text.split()[0]
    if chat.type != ChatType.PRIVATE and f"@{context.bot.username}".lower() not in command.lower():
        return  # in a group, a command without our name may be for another bot
    await message.reply_text(TEXTS["unknown_command"][lang_of(update)])


async def not_text(update: Update, context: Context) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(TEXTS["empty"][lang_of(update)])
