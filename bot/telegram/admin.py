"""The Telegram bot for admins: adding, watching and curating the coverage.

Admins are the user ids in the settings; a message sent "as the group" (an
anonymous group admin) or as a channel has no person behind it and is never an
admin's. Ingestion runs in a worker thread, with progress shown by editing one
message, so readers keep getting answers meanwhile.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageOriginChannel,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.telegram.context import Admin, Context, RawiApplication
from bot.telegram.insights import chart_png, group_questions, last_days
from bot.telegram.render import pack
from bot.telegram.texts import lang_of, text
from retrieval.ingest.loaders import (
    HTML_SUFFIXES,
    JSON_SUFFIXES,
    TEXT_SUFFIXES,
    Loaded,
    LoadError,
    article_from_text,
    load_bytes,
)
from retrieval.ingest.pipeline import IngestReport
from retrieval.types import Article

log = logging.getLogger(__name__)

URL_ONLY = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$")
DOCUMENT_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES
PAGE_SIZE = 10
PROGRESS_EVERY = 2.0  # seconds between progress edits
CONFIRM_TTL = 600.0  # seconds a removal button stays valid

ADMIN_COMMANDS = {
    "en": [
        ("add", "Add an article: text, a reply, a document or a URL"),
        ("articles", "List the articles"),
        ("remove", "Remove an article by id"),
        ("stats", "Coverage and readers, with a chart"),
        ("unanswered", "What readers asked that the coverage could not answer"),
    ],
    "ar": [
        ("add", "أضف مقالًا: نصًا أو ردًا أو ملفًا أو رابطًا"),
        ("articles", "قائمة المقالات"),
        ("remove", "احذف مقالًا بمعرّفه"),
        ("stats", "التغطية والقرّاء، مع رسم بياني"),
        ("unanswered", "ما سأل عنه القرّاء ولم تجب عنه التغطية"),
    ],
}


def admins_only(
    handler: Callable[[Update, Context], Any],
) -> Callable[[Update, Context], Any]:
    async def guarded(update: Update, context: Context) -> None:
        if context.admin.is_admin(update):
            chat = update.effective_chat
            message = update.effective_message
            if chat is not None and chat.type != ChatType.PRIVATE and message is not None:
                # what admins see (readers' questions, the store) stays out of groups
                pointer = text("private_only", lang_of(update), bot=context.bot.username)
                await message.reply_text(pointer)
                return
            await handler(update, context)
            return
        log.info("refused an admin command from a non-admin")
        if update.callback_query is not None:
            await update.callback_query.answer(text("not_admin", lang_of(update)), show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(text("not_admin", lang_of(update)))

    return guarded


# -- adding ----------------------------------------------------------------------------


def _describe(article: Article, status: str, lang: str) -> str:
    return (
        f"{text(status, lang)}: <code>{html.escape(article.id)}</code> — "
        f"{html.escape(article.title)} ({len(article.paragraphs)} {text('paragraphs', lang)})"
    )


def _report_line(report: IngestReport, articles: dict[str, Article], lang: str) -> list[str]:
    lines = []
    for status, ids in (("added", report.added), ("updated", report.updated),
                        ("duplicate", report.unchanged)):  # fmt: skip
        lines += [_describe(articles[i], status, lang) for i in ids if i in articles]
    lines += [
        f"{text('refused', lang)}: {html.escape(origin)} — {html.escape(reason)}"
        for origin, reason in report.failed
    ]
    return lines


async def ingest(message: Message, items: list[Loaded], admin: Admin, lang: str) -> IngestReport:
    """Ingest in a worker thread; for more than a handful of items, one status
    message is edited with the progress."""
    articles = {i.article.id: i.article for i in items if i.article is not None}
    loop = asyncio.get_running_loop()
    done = [0]
    status: Message | None = None
    if len(items) > 5:
        status = await message.reply_text(text("progress", lang, done=0, total=len(items)))

    def on_item(n: int) -> None:
        done[0] += n

    async def show_progress(task: asyncio.Future[IngestReport]) -> None:
        shown = 0
        while not task.done():
            await asyncio.wait({task}, timeout=PROGRESS_EVERY)
            if status is not None and not task.done() and done[0] != shown:
                shown = done[0]
                try:
                    await status.edit_text(text("progress", lang, done=shown, total=len(items)))
                except TelegramError as exc:  # progress is a courtesy; never fail on it
                    log.debug("progress edit failed: %s", exc)

    async with admin.ingest_lock:  # one ingest at a time; readers are not blocked
        task = loop.run_in_executor(None, admin.ingestor.run, items, on_item)
        await show_progress(task)
        report = await task
    lines = _report_line(report, articles, lang)
    if status is not None:
        summary = text(
            "summary", lang, added=len(report.added), updated=len(report.updated),
            unchanged=len(report.unchanged), failed=len(report.failed),
        )  # fmt: skip
        lines = [html.escape(summary), *lines[:20]]
    body = "\n".join(lines) or text("empty", lang)
    await _reply_long(message, body, status)
    return report


async def _reply_long(message: Message, body: str, status: Message | None = None) -> None:
    for i, part in enumerate(pack(body.split("\n"), separator="\n")):  # whole lines
        if i == 0 and status is not None:
            await status.edit_text(part, parse_mode=ParseMode.HTML)
        else:
            await message.reply_text(part, parse_mode=ParseMode.HTML)


def _channel_source(message: Message) -> dict[str, Any]:
    """Source, date and t.me link of a forwarded channel post, if it is one."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginChannel):
        chat = origin.chat
        url = f"https://t.me/{chat.username}/{origin.message_id}" if chat.username else None
        return {"source": chat.title or chat.username, "published": origin.date, "url": url}
    return {"published": message.date}


def _from_message(message: Message) -> Article:
    body = message.text or message.caption or ""
    return article_from_text(body, **_channel_source(message))


@admins_only
async def add_command(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    admin, lang = context.admin, lang_of(update)
    if message.document is not None:
        await add_document(message, admin, lang)
        return
    raw = message.text or ""
    rest = raw.split(maxsplit=1)[1] if len(raw.split(maxsplit=1)) > 1 else ""
    try:
        if URL_ONLY.match(rest.strip()):
            article = await admin.fetcher.article(rest.strip())
            origin = rest.strip()
        elif rest.strip():
            article = article_from_text(rest)
            origin = "text"
        elif message.reply_to_message is not None:
            replied = message.reply_to_message
            if replied.document is not None:
                await add_document(replied, admin, lang, reply_to=message)
                return
            article = _from_message(replied)
            origin = "reply"
        else:
            await message.reply_text(text("add_usage", lang))
            return
    except LoadError as exc:
        await message.reply_text(f"{text('refused', lang)}: {exc}")
        return
    await ingest(message, [Loaded(origin, article)], admin, lang)


async def add_document(
    document_message: Message, admin: Admin, lang: str, reply_to: Message | None = None
) -> None:
    reply_to = reply_to or document_message
    doc = document_message.document
    assert doc is not None
    name = doc.file_name or "document"
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in DOCUMENT_SUFFIXES:
        reason = text("unsupported", lang, suffix=suffix or name)
        await reply_to.reply_text(f"{text('refused', lang)}: {reason}")
        return
    if (doc.file_size or 0) > admin.max_document_bytes:
        reason = text("too_large", lang, size=doc.file_size or 0, limit=admin.max_document_bytes)
        await reply_to.reply_text(f"{text('refused', lang)}: {reason}")
        return
    file = await doc.get_file()
    data = bytes(await file.download_as_bytearray())
    if len(data) > admin.max_document_bytes:
        reason = text("too_large", lang, size=len(data), limit=admin.max_document_bytes)
        await reply_to.reply_text(f"{text('refused', lang)}: {reason}")
        return
    items = await asyncio.to_thread(lambda: list(load_bytes(name, data)))
    await ingest(reply_to, items, admin, lang)


# -- channels --------------------------------------------------------------------------


def channel_article(post: Message) -> Article:
    chat = post.chat
    where = chat.username or str(chat.id)
    url = f"https://t.me/{chat.username}/{post.message_id}" if chat.username else None
    return article_from_text(
        post.text or post.caption or "",
        given_id=f"tg-{where}-{post.message_id}",
        url=url,
        source=chat.title or chat.username,
        published=post.date,
    )


async def channel_post(update: Update, context: Context) -> None:
    """A new or edited post in a watched channel becomes (or replaces) an article."""
    post = update.channel_post or update.edited_channel_post
    admin = context.admin
    if post is None or not admin.watches(post.chat):
        return
    try:
        article = channel_article(post)
    except LoadError as exc:
        log.info("channel post %s not added: %s", post.message_id, exc)
        return
    async with admin.ingest_lock:
        report = await asyncio.to_thread(admin.ingestor.run, [Loaded("channel", article)])
    log.info("channel post %s: %s", article.id, report.summary())


# -- listing and removing ----------------------------------------------------------------


def _page(admin: Admin, page: int, lang: str) -> tuple[str, InlineKeyboardMarkup | None]:
    articles = sorted(
        admin.store.catalogue.articles(),
        key=lambda a: (a.published or "", a.updated_at),
        reverse=True,
    )
    if not articles:
        return text("no_articles", lang), None
    pages = (len(articles) + PAGE_SIZE - 1) // PAGE_SIZE
    page = max(0, min(page, pages - 1))
    shown = articles[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    head = text("page", lang, first=page * PAGE_SIZE + 1,
                last=page * PAGE_SIZE + len(shown), total=len(articles))  # fmt: skip
    lines = [f"<b>{html.escape(head)}</b>"]
    for a in shown:
        meta = " · ".join(p for p in (a.source, (a.published or "")[:10]) if p)
        lines.append(
            f"<code>{html.escape(a.id)}</code> {html.escape(a.title[:80])}"
            + (f" — {html.escape(meta)}" if meta else "")
        )
    buttons = []
    if page > 0:
        buttons.append(InlineKeyboardButton("◀", callback_data=f"ap{page - 1:06d}"))
    if page < pages - 1:
        buttons.append(InlineKeyboardButton("▶", callback_data=f"ap{page + 1:06d}"))
    return "\n".join(lines), InlineKeyboardMarkup([buttons]) if buttons else None


@admins_only
async def articles_command(update: Update, context: Context) -> None:
    assert update.effective_message is not None
    body, markup = await asyncio.to_thread(_page, context.admin, 0, lang_of(update))
    await update.effective_message.reply_text(body, parse_mode=ParseMode.HTML, reply_markup=markup)


@admins_only
async def articles_page(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    page = int(query.data[2:])
    body, markup = await asyncio.to_thread(_page, context.admin, page, lang_of(update))
    await query.answer()
    try:
        await query.edit_message_text(body, parse_mode=ParseMode.HTML, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


@admins_only
async def remove_command(update: Update, context: Context) -> None:
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    admin, lang = context.admin, lang_of(update)
    if not context.args:
        await message.reply_text(text("remove_usage", lang))
        return
    article_id = context.args[0]
    info = admin.store.catalogue.info(article_id)
    if info is None:
        await message.reply_text(text("unknown_article", lang, id=article_id))
        return
    now = time.monotonic()
    for token in [t for t, (_, _, at) in admin.pending.items() if now - at > CONFIRM_TTL]:
        del admin.pending[token]
    token = secrets.token_hex(4)  # callback data stays short and fixed-size
    admin.pending[token] = (article_id, user.id, now)
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton(text("yes_remove", lang), callback_data=f"rm{token}"),
          InlineKeyboardButton(text("cancel", lang), callback_data=f"rc{token}")]]
    )  # fmt: skip
    await message.reply_text(
        text("confirm_remove", lang, title=info.title[:100], id=article_id), reply_markup=markup
    )


@admins_only
async def remove_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    admin, lang = context.admin, lang_of(update)
    token = query.data[2:]
    pending = admin.pending.pop(token, None)
    if pending is None or time.monotonic() - pending[2] > CONFIRM_TTL:
        await query.answer(text("expired", lang), show_alert=True)
        return
    article_id = pending[0]
    await query.answer()
    if query.data.startswith("rc"):
        await query.edit_message_text(text("cancelled", lang))
        return
    async with admin.ingest_lock:
        await asyncio.to_thread(admin.store.remove, article_id)
    await query.edit_message_text(text("removed", lang, id=article_id))


# -- watching --------------------------------------------------------------------------


def _stats(admin: Admin, lang: str) -> tuple[str, bytes]:
    info = admin.store.catalogue.coverage()
    totals = admin.state.totals()
    days = last_days(30)
    daily = admin.state.daily(30)
    added: dict[str, int] = {}
    for a in admin.store.catalogue.articles():
        day = time.strftime("%Y-%m-%d", time.gmtime(a.updated_at))
        added[day] = added.get(day, 0) + 1
    questions = [daily.get(d, (0, 0))[0] for d in days]
    answered = [daily.get(d, (0, 0))[1] for d in days]
    share = f"{totals['answered'] / totals['questions']:.0%}" if totals["questions"] else "—"
    span = f"{info['first']} – {info['last']}" if info.get("first") else "—"
    body = text(
        "stats", lang, articles=info["articles"], chunks=admin.store.count_chunks(),
        outlets=len(info.get("sources") or []), span=span, questions=totals["questions"],
        share=share, weak=totals["weak"], refused=totals["refused"],
        smalltalk=totals["smalltalk"], up=totals["up"], down=totals["down"],
    )  # fmt: skip
    return body, chart_png(days, questions, answered, [added.get(d, 0) for d in days])


@admins_only
async def stats_command(update: Update, context: Context) -> None:
    assert update.effective_message is not None
    body, png = await asyncio.to_thread(_stats, context.admin, lang_of(update))
    await update.effective_message.reply_photo(png, caption=body)


def _unanswered(admin: Admin, lang: str) -> str:
    gaps = admin.state.gaps(30)
    groups = group_questions([g.question for g in gaps], admin.embedder)
    if not groups:
        return html.escape(text("no_unanswered", lang))
    lines = [f"<b>{html.escape(text('unanswered_head', lang))}</b>"]
    for g in groups:
        whys = Counter(gaps[i].why for i in g.members)
        sep = "، " if lang == "ar" else ", "
        why = sep.join(f"{text('why_' + w, lang)} {n}" for w, n in whys.most_common())
        lines.append(f"{g.count}× {html.escape(g.example)} <i>({html.escape(why)})</i>")
        lines += [f"    · {html.escape(o)}" for o in g.others]
    return "\n".join(lines)


@admins_only
async def unanswered_command(update: Update, context: Context) -> None:
    assert update.effective_message is not None
    body = await asyncio.to_thread(_unanswered, context.admin, lang_of(update))
    await _reply_long(update.effective_message, body)


# -- wiring ----------------------------------------------------------------------------


async def register_commands(
    application: RawiApplication, admin: Admin, reader: dict[str, Any]
) -> None:
    """Admins see their commands (in their private chat with the bot), others don't."""
    for admin_id in sorted(admin.admin_ids):
        for lang in ("en", "ar"):
            commands = [BotCommand(c, d) for c, d in [*reader[lang], *ADMIN_COMMANDS[lang]]]
            try:
                await application.bot.set_my_commands(
                    commands,
                    scope=BotCommandScopeChat(admin_id),
                    language_code=None if lang == "en" else lang,
                )
            except TelegramError as exc:  # e.g. the admin has not started a chat yet
                log.warning("could not show the admin commands to %s: %s", admin_id, exc)


def add_handlers(application: RawiApplication) -> None:
    application.add_handler(CommandHandler("add", add_command))
    application.add_handler(
        MessageHandler(
            filters.Document.ALL & filters.CaptionRegex(r"^/add(@\w+)?(\s|$)"), add_command
        )
    )
    application.add_handler(CommandHandler("articles", articles_command))
    application.add_handler(CommandHandler("remove", remove_command))
    application.add_handler(CommandHandler("stats", stats_command))
    application.add_handler(CommandHandler("unanswered", unanswered_command))
    application.add_handler(CallbackQueryHandler(articles_page, pattern=r"^ap\d{6}$"))
    application.add_handler(CallbackQueryHandler(remove_button, pattern=r"^r[mc][0-9a-f]{8}$"))
    application.add_handler(MessageHandler(filters.UpdateType.CHANNEL_POSTS, channel_post))
