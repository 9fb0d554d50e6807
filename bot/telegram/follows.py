"""Follows on Telegram: ``/follow TOPIC``, ``/following``, ``/unfollow [N|all]``,
and the news they bring.

A reader follows a topic in a chat (private or a group); the topic is embedded
once, then. A repeating job looks, every ``[follows] interval`` seconds, at the
articles committed since its last look and asks :class:`retrieval.follows.Matcher`
which follows each answers; each match becomes one short message in the follow's
chat: the passage that answers (its best sentence in bold), the article's title
linked, outlet and date, as answers cite them. A follow sends at most ``per_day``
messages in 24 hours and never the same article twice. A chat that blocked the
bot or is gone loses its follows quietly; a group upgraded to a supergroup (a new
chat id) keeps them, moved to the new id when Telegram tells of the upgrade or
when a message to the old id is refused for it. The job asks ``now`` (injectable)
what time it is, for the daily cap and the retention, so tests drive time.
"""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import replace

from telegram import LinkPreviewOptions, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError
from telegram.ext import CommandHandler, MessageHandler, filters

from bot.telegram.context import Context, Follows, RawiApplication
from bot.telegram.render import pack, source_block
from bot.telegram.state import ChatState, Follow, Followed
from bot.telegram.texts import TEXTS, lang_of
from retrieval.follows import Match
from retrieval.text import well_formed
from retrieval.types import Citation

log = logging.getLogger(__name__)

MAX_TOPIC_CHARS = 200
ALL = ("all", "الكل", "كل")


def news_message(match: Match, followed: Followed, lang: str, outlet: str) -> str:
    """One match as a message: the topic, then the passage cited as answers cite it."""
    hit = match.hit
    a, b = match.quote
    citation = replace(
        Citation.of(1, hit, hit.start + a, hit.start + b, hit.text[a:b]), outlet=outlet
    )
    topic = html.escape(followed.topic.text)
    head = f"🔔 <b>{TEXTS['follow_news'][lang].format(topic=topic)}</b>"
    return pack([head, source_block([citation], lang)])[0]


async def deliver(context: Context, follows: Follows, match: Match, followed: Followed) -> bool:
    """Send one match; a chat that blocked the bot or is gone loses its follows, and
    a group that became a supergroup takes them along (and gets the match there)."""
    lang = "ar" if followed.language == "ar" else "en"
    outlet = context.services.qa.outlets().name(match.hit.source or "", lang)
    text = news_message(match, followed, lang, outlet)
    chat_id = followed.chat_id

    async def send() -> None:
        await context.bot.send_message(
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )

    try:
        try:
            await send()
        except ChatMigrated as exc:  # the group is a supergroup now: its follows go along
            await asyncio.to_thread(follows.state.move_chat, chat_id, exc.new_chat_id)
            log.info("a group became a supergroup: its follows moved with it")
            chat_id = exc.new_chat_id
            await send()
    except (Forbidden, BadRequest) as exc:
        if isinstance(exc, Forbidden) or "chat not found" in str(exc).lower():
            dropped = await asyncio.to_thread(follows.state.drop_chat, chat_id)
            log.info("a chat is no longer reachable (%s): %d follow(s) dropped", exc, dropped)
        else:
            log.warning("a follow's news could not be sent: %s", exc)
        return False
    except TelegramError as exc:
        log.warning("a follow's news could not be sent: %s", exc)
        return False
    await asyncio.to_thread(
        follows.state.record_sent, followed.topic.id, match.hit.article_id, follows.now()
    )
    return True


async def check(context: Context) -> None:
    """The repeating job: what is owed, sent."""
    follows = context.services.follows
    if follows is None:
        return
    try:
        owed = await asyncio.to_thread(follows.due)
    except Exception as exc:  # the store unreachable, say: tried again at the next look
        if not follows._failing:
            log.warning("cannot check the follows: %s", exc, exc_info=exc)
        follows._failing = True
        return
    follows._failing = False
    for match, followed in owed:
        await deliver(context, follows, match, followed)
    follows.looks += 1


# -- the readers' commands ---------------------------------------------------------


def _reader(update: Update) -> tuple[int, int] | None:
    """(chat, reader) of a command; a message sent as the group or as a channel has
    no person behind it, and the chat stands in for the reader."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or update.effective_message is None:
        return None
    return chat.id, user.id if user is not None else chat.id


async def follow_command(update: Update, context: Context) -> None:
    """``/follow TOPIC``."""
    who, message = _reader(update), update.effective_message
    if who is None or message is None:
        return
    topic = well_formed(" ".join(context.args or [])).strip()
    lang = lang_of(update, topic)
    follows = context.services.follows
    if follows is None:
        await message.reply_text(TEXTS["follows_off"][lang])
        return
    if not topic:
        await message.reply_text(TEXTS["follow_usage"][lang])
        return
    if len(topic) > MAX_TOPIC_CHARS:
        await message.reply_text(TEXTS["follow_too_long"][lang].format(limit=MAX_TOPIC_CHARS))
        return
    vector = await asyncio.to_thread(follows.matcher.embed, topic)
    fid = await asyncio.to_thread(
        lambda: follows.state.follow(
            chat_id=who[0], user_id=who[1], topic=topic, vector=vector, language=lang,
            at=follows.now(), limit=follows.max_per_reader,
        )
    )  # fmt: skip
    if fid is None:
        said = TEXTS["follow_too_many"][lang].format(limit=follows.max_per_reader)
    else:
        days = round(follows.state.retention / 86400)
        said = TEXTS["followed"][lang].format(topic=topic, per_day=follows.per_day, days=days)
    await message.reply_text(said)


async def _their_follows(
    update: Update, context: Context
) -> tuple[Message, str, tuple[int, int], ChatState, list[Follow]] | None:
    """What /following and /unfollow work on: the reader's follows in this chat,
    with the message, language, (chat, reader) and the state; None once the reader
    was told there are none (or follows are off)."""
    who, message = _reader(update), update.effective_message
    if who is None or message is None:
        return None
    lang = lang_of(update)
    follows = context.services.follows
    if follows is None:
        await message.reply_text(TEXTS["follows_off"][lang])
        return None
    mine = await asyncio.to_thread(follows.state.follows_of, who[0], who[1], follows.now())
    if not mine:
        await message.reply_text(TEXTS["following_none"][lang])
        return None
    return message, lang, who, follows.state, mine


async def following_command(update: Update, context: Context) -> None:
    """``/following``: the reader's follows in this chat, numbered."""
    held = await _their_follows(update, context)
    if held is None:
        return
    message, lang, _, _, mine = held
    lines = [TEXTS["following_head"][lang]]
    lines += [f"{n}. {f.topic}" for n, f in enumerate(mine, start=1)]
    # a reader's most topics at their longest do not fit in one message
    for part in pack(lines, html_blocks=False, separator="\n"):
        await message.reply_text(part)


async def unfollow_command(update: Update, context: Context) -> None:
    """``/unfollow N`` (as /following numbers them), ``/unfollow all``, or plain
    ``/unfollow`` when there is one follow."""
    held = await _their_follows(update, context)
    if held is None:
        return
    message, lang, who, state, mine = held
    arg = " ".join(context.args or []).strip().lower()
    if arg in ALL:
        await asyncio.to_thread(state.unfollow, who[0], who[1])
        await message.reply_text(TEXTS["unfollowed_all"][lang])
        return
    number = arg.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789"))
    if not arg and len(mine) == 1:
        chosen = mine[0]
    elif number.isdigit() and 1 <= int(number) <= len(mine):
        chosen = mine[int(number) - 1]
    else:
        await message.reply_text(TEXTS["unfollow_usage"][lang])
        return
    await asyncio.to_thread(state.unfollow, who[0], who[1], [chosen.id])
    await message.reply_text(TEXTS["unfollowed"][lang].format(topic=chosen.topic))


async def chat_migrated(update: Update, context: Context) -> None:
    """A group upgraded to a supergroup gets a new id: what the chat state keeps
    for it (its readers' follows, a digest posted there) moves to the new one.
    Telegram says so in both chats (``migrate_to_chat_id`` in the old,
    ``migrate_from_chat_id`` in the new); whichever comes first moves it all, the
    other finds nothing left to move."""
    message = update.effective_message
    if message is None:
        return
    old = message.migrate_from_chat_id or message.chat.id
    new = message.migrate_to_chat_id or message.chat.id
    if old == new:
        return
    moved, digest = await asyncio.to_thread(context.services.state.move_chat, old, new)
    if moved or digest:
        log.info("a group became a supergroup: %d follow(s) moved, digest %s", moved,
                 "moved" if digest else "not there")  # fmt: skip


def add_handlers(app: RawiApplication) -> None:
    """The commands, the move of a group's follows when it becomes a supergroup,
    and the repeating job when the services have follows."""
    app.add_handler(CommandHandler("follow", follow_command))
    app.add_handler(CommandHandler("following", following_command))
    app.add_handler(CommandHandler("unfollow", unfollow_command))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, chat_migrated))
    follows = app.bot_data.services.follows
    if follows is not None and app.job_queue is not None:
        app.job_queue.run_repeating(check, interval=follows.interval, first=0, name="follows")
