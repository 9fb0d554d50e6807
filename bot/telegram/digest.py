"""The daily digest on Telegram: the admins' ``/digest`` and the job that posts it.

``/digest CHAT HH:MM [ar|en]`` sets where (an @channel or a chat id the bot can
reach) and when (the newsroom's time, ``[digest] timezone``) the day's main stories
are posted, and in which language; ``/digest`` shows the setting, ``/digest off``
stops it. A repeating job asks an injectable clock whether the digest is due: at
or after the time, once a day. A chat that cannot be reached, or a digest Telegram
refuses, is told to the admins in plain words, once, and the digest waits for the
next day; a group upgraded to a supergroup takes the digest along (to its new
id); a message whose HTML Telegram rejects goes as plain text, one it finds
too long is cut in two, and a network failure is tried again at the next look
unless part of the digest is out (then the admins hear it went in part).
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError
from telegram.ext import CommandHandler

from bot.telegram.admin import admins_only, tell_admins
from bot.telegram.context import Context, RawiApplication
from bot.telegram.render import pack
from bot.telegram.state import ChatState, DigestSetting
from bot.telegram.texts import count, day, lang_of, listing, number, text
from retrieval.answer.extractive import QUOTES
from retrieval.digest import Digest, Story
from retrieval.scope import Outlets
from retrieval.store.clients import StoreUnavailable, is_unavailable

log = logging.getLogger(__name__)

JOB = "digest"
TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
CHAT = re.compile(r"^(@[A-Za-z]\w{3,31}|-?\d{1,20})$")
LANGUAGES = ("ar", "en")
MARK = re.compile(r"\[(\d+)\]")


@dataclass
class Poster:
    """What the digest job needs: a builder of a day's digest, the outlets' names,
    the newsroom's time zone, and the clock (injectable, for tests)."""

    build: Callable[[date, str], Digest]
    outlets: Outlets
    timezone: ZoneInfo
    interval: float = 60.0  # seconds between looks at the clock
    previous_day: bool = False  # a morning digest tells the day before
    language: str = "ar"  # the channel's, unless /digest names another
    now: Callable[[], float] = time.time
    busy: bool = field(default=False, init=False)

    def local(self) -> datetime:
        return datetime.fromtimestamp(self.now(), self.timezone)

    def due(self, setting: DigestSetting) -> date | None:
        """The newsroom's day to post for, when it is time and not yet done."""
        local = self.local()
        if local.strftime("%H:%M") < _padded(setting.at) or setting.last_day == str(local.date()):
            return None
        return local.date()


def _padded(at: str) -> str:
    hours, minutes = at.split(":")
    return f"{int(hours):02d}:{minutes}"


# -- the message --------------------------------------------------------------------------


def _linked(name: str, url: str | None) -> str:
    label = html.escape(name)
    return f'<a href="{html.escape(url, quote=True)}">{label}</a>' if url else label


def story_block(n: int, story: Story, lang: str, outlets: Outlets) -> str:
    head = story.reports[0]
    lines = [f"<b>{number(n, lang)}. {_linked(head.title, head.url)}</b>"]
    lead = story.lead
    if lead.written:
        by_n = {c.n: c for c in lead.citations}

        def cite(match: re.Match[str]) -> str:
            c = by_n.get(int(match.group(1)))
            return _linked(match.group(0), c.url if c else None)

        lines.append(MARK.sub(cite, html.escape(lead.text)))
    else:
        c = lead.citations[0]
        left, right = QUOTES[lang]
        said = text("digest_quote", lang, outlet=html.escape(c.outlet or c.source or ""))
        lines.append(f"{left}{html.escape(lead.text)}{right} {said}")
    first: dict[str, str | None] = {}
    for r in story.reports:
        if r.source and r.source not in first:
            first[r.source] = r.url
    names = listing([_linked(outlets.name(s, lang), url) for s, url in first.items()], lang)
    covered = text(
        "digest_outlets", lang, outlets=count(len(first), "outlet_subject", lang), names=names
    )
    if len(story.reports) > len(first):
        covered += f" ({count(len(story.reports), 'article', lang)})"
    lines.append(covered)
    return "\n".join(lines)


def digest_messages(digest: Digest, lang: str, outlets: Outlets) -> list[str]:
    """The digest as Telegram HTML messages, each under Telegram's limit."""
    head = text(
        "digest_head", lang, day=day(digest.day.isoformat(), lang),
        articles=count(digest.articles, "article", lang),
    )  # fmt: skip
    blocks = [f"<b>{html.escape(head)}</b>"]
    blocks += [story_block(i, s, lang, outlets) for i, s in enumerate(digest.stories, start=1)]
    return pack(blocks)


# -- posting ------------------------------------------------------------------------------

# Telegram's words for a chat the bot cannot post to (its other refusals are not these)
NOT_FOUND = ("chat not found", "peer_id_invalid")
NOT_MEMBER = ("not a member", "kicked")
NO_RIGHTS = ("not enough rights", "administrator rights", "have no rights", "chat_write_forbidden",
             "chat_restricted")  # fmt: skip
HEADLINE = re.compile(r'<b>([^<]*)<a href="([^"]*)">(.*?)</a></b>')
TAG = re.compile(r"<[^>]*>")
MIN_CUT = 200  # characters: a message Telegram finds too long is cut unless this short


def unreachable(exc: TelegramError) -> str | None:
    """Why a chat cannot be reached or posted to, as a text's key; None when
    Telegram refused for another reason (the message itself)."""
    said = exc.message.lower()
    if any(w in said for w in NOT_MEMBER):
        return "chat_not_member"
    if isinstance(exc, Forbidden) or any(w in said for w in NO_RIGHTS):
        return "chat_no_rights"
    if any(w in said for w in NOT_FOUND):
        return "chat_not_found"
    return None


def plain(message: str) -> str:
    """A digest message without its markup, each title's link on the line under it."""
    linked = HEADLINE.sub(lambda m: f"{m[1]}{m[3]}\n{m[2]}", message)
    return html.unescape(TAG.sub("", linked))


async def _tell_admins(
    context: Context, key: str, chat: str, why: str | None = None, **numbers: int
) -> None:
    """Tell the admins ``key`` about ``chat``, with ``why`` (a text's key) and
    ``numbers`` said in each admin's language."""
    admin = context.bot_data.admin
    if admin is None:
        return

    def said(lang: str) -> list[str]:
        values = {k: number(n, lang) for k, n in numbers.items()}
        if why is not None:
            values["why"] = text(why, lang)
        return [text(key, lang, chat=html.escape(chat), **values)]

    await tell_admins(context.bot, admin, said, "the digest", ParseMode.HTML)


async def _send(context: Context, chat: int, message: str, out: Callable[[], None]) -> None:
    """Post one message of the digest, calling ``out`` for each message that went
    out: as plain text if Telegram rejects its HTML (as answers are), cut in two if
    Telegram finds it too long (it counts after the tags, in UTF-16 units)."""
    try:
        await context.bot.send_message(
            chat, message, parse_mode=ParseMode.HTML, disable_web_page_preview=True
        )
    except BadRequest as exc:
        said = exc.message.lower()
        if "parse entities" in said:
            log.warning("Telegram rejected the digest's formatting (%s); posting plain text", exc)
            await context.bot.send_message(chat, plain(message), disable_web_page_preview=True)
        elif "too long" in said and len(message) > MIN_CUT:
            log.warning("Telegram found a part of the digest too long; posting it in two")
            for piece in pack([message], limit=len(message) // 2 + MIN_CUT // 2):
                await _send(context, chat, piece, out)
            return
        else:
            raise
    out()


async def tick(context: Context) -> None:
    """The repeating job: post the digest when it is due."""
    assert context.job is not None
    poster: Poster = context.job.data  # type: ignore[assignment]
    state = context.bot_data.services.state
    setting = state.digest()
    if setting is None or poster.busy:
        return
    today = poster.due(setting)
    if today is None:
        return
    poster.busy = True
    try:
        await _post(context, poster, state, setting, today)
    finally:
        poster.busy = False


async def _post(
    context: Context, poster: Poster, state: ChatState, setting: DigestSetting, today: date
) -> None:
    told = today - timedelta(days=1) if poster.previous_day else today
    try:
        digest = await asyncio.to_thread(poster.build, told, setting.language)
    except Exception as exc:
        if isinstance(exc, StoreUnavailable) or is_unavailable(exc):
            log.warning("the digest waits for the store: %s", exc)
            return  # tried again at the next look
        log.exception("the digest could not be built")
        state.digest_posted(str(today))
        await _tell_admins(context, "digest_failed", setting.label)
        return
    if not digest.stories:
        log.info("no articles dated %s: no digest", told)
        state.digest_posted(str(today))
        return
    messages = digest_messages(digest, setting.language, poster.outlets)
    went_out = 0

    def out() -> None:
        # The day is done once anything of it is out: a failure after that (the
        # network, mid-digest) never makes the next look post the digest again,
        # even after a restart. The rest of that day's digest is then lost and the
        # admins are told once; resuming it instead would mean keeping the parts
        # sent (the digest is built anew at each look, and may have changed).
        nonlocal went_out
        if not went_out:
            state.digest_posted(str(today))
        went_out += 1

    part, chat = 0, setting.chat
    try:
        for message in messages:
            part += 1
            try:
                await _send(context, chat, message, out)
            except ChatMigrated as exc:  # the group is a supergroup now: the digest goes along
                state.move_chat(chat, exc.new_chat_id)
                log.info("%s became a supergroup: the digest goes to it", setting.label)
                chat = exc.new_chat_id
                await _send(context, chat, message, out)
    except TelegramError as exc:
        if not went_out and not isinstance(exc, BadRequest | Forbidden):
            log.warning("the digest was not posted yet: %s", exc)
            return  # the network: tried again at the next look
        log.warning("could not post the digest to %s: %s", setting.label, exc)
        state.digest_posted(str(today))
        why = unreachable(exc)
        if why is not None:  # the chat is gone, or the bot may not post there
            await _tell_admins(context, "digest_unreachable", setting.label, why=why)
        elif went_out:
            await _tell_admins(
                context, "digest_partial", setting.label, part=part, parts=len(messages)
            )
        else:
            await _tell_admins(context, "digest_refused", setting.label)
        return
    log.info("posted the digest of %s: %d stories", told, len(digest.stories))


def schedule(application: RawiApplication, poster: Poster) -> None:
    """Look at the clock every ``poster.interval`` seconds, from the start."""
    assert application.job_queue is not None, "python-telegram-bot's job-queue extra"
    application.job_queue.run_repeating(tick, poster.interval, first=0.0, name=JOB, data=poster)


# -- the admins' command ----------------------------------------------------------------


def _poster(context: Context) -> Poster | None:
    jobs = context.job_queue.get_jobs_by_name(JOB) if context.job_queue else ()
    return jobs[0].data if jobs else None  # type: ignore[return-value]


def _show(setting: DigestSetting | None, poster: Poster | None, lang: str) -> str:
    if setting is None:
        return text("digest_none", lang)
    said = text(
        "digest_set", lang, chat=setting.label, at=_padded(setting.at),
        timezone=str(poster.timezone) if poster else "",
        language=text(f"language_{setting.language}", lang),
    )  # fmt: skip
    if setting.last_day:
        said += "\n" + text("digest_last", lang, day=day(setting.last_day, lang))
    return said


@admins_only
async def digest_command(update: Update, context: Context) -> None:
    message = update.effective_message
    assert message is not None
    lang = lang_of(update)
    state = context.bot_data.services.state
    words = (context.args or [])[:4]
    poster = _poster(context)
    if not words:
        await message.reply_text(_show(state.digest(), poster, lang))
        return
    if words[0].lower() == "off":
        state.clear_digest()
        await message.reply_text(text("digest_off", lang))
        return
    if poster is None:
        await message.reply_text(text("digest_unavailable", lang))
        return
    language = words[2].lower() if len(words) > 2 else poster.language
    if (
        len(words) not in (2, 3)
        or not CHAT.match(words[0])
        or not TIME.match(words[1])
        or language not in LANGUAGES
    ):
        await message.reply_text(text("digest_usage", lang))
        return
    label = words[0]
    try:
        chat = await context.bot.get_chat(label)
    except (BadRequest, Forbidden) as exc:
        log.info("the digest cannot reach %s: %s", label, exc)
        why = text(unreachable(exc) or "chat_refused", lang)
        await message.reply_text(text("digest_no_chat", lang, chat=label, why=why))
        return
    state.set_digest(chat.id, label, words[1], language)
    await message.reply_text(_show(state.digest(), poster, lang))


def add_handlers(application: RawiApplication) -> None:
    application.add_handler(CommandHandler("digest", digest_command))
