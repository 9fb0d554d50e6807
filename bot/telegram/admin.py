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
import time
from collections import Counter
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageOriginChannel,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import CommandHandler, MessageHandler, filters

from bot.telegram.context import Admin, ButtonHandler, Context, RawiApplication
from bot.telegram.insights import CHART_LABELS, chart_png, group_questions, last_days
from bot.telegram.render import pack
from bot.telegram.texts import (
    count,
    day,
    day_month,
    day_span,
    lang_of,
    listing,
    number,
    percent,
    text,
)
from retrieval.arabic import normalise as fold
from retrieval.ingest.fetch import FetchFailed
from retrieval.ingest.loaders import SUPPORTED, Loaded, LoadError, article_from_text, load_bytes
from retrieval.ingest.pipeline import IngestReport
from retrieval.ingest.reasons import say
from retrieval.store.clients import StoreFull, StoreReadOnly, StoreUnavailable
from retrieval.types import Article, ArticleInfo

log = logging.getLogger(__name__)

URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$")
PAGE_SIZE = 10
PROGRESS_EVERY = 4.0  # seconds between progress edits (Telegram allows about one a second)
SUMMARY_LINES = 20  # items listed after a big ingest; the rest are counted
NOTICE_DELAY = 3.0  # seconds channel posts are gathered before the admins hear of them

ADMIN_COMMANDS = {
    "en": [
        ("add", "Add an article: text, a reply, a document or a URL"),
        ("articles", "List the articles, or find them: /articles WORDS"),
        ("remove", "Remove an article by id"),
        ("stats", "Coverage and readers, with a chart"),
        ("unanswered", "What readers asked that the coverage could not answer"),
        ("feed", "Follow a feed or sitemap: /feed add URL, /feed remove URL"),
        ("feeds", "The feeds followed"),
        ("digest", "The daily digest: /digest @channel HH:MM, or off"),
    ],
    "ar": [
        ("add", "أضف مقالًا: نصًا أو ردًا أو ملفًا أو رابطًا"),
        ("articles", "قائمة المقالات، أو ابحث فيها: ‎/articles‎ كلمات"),
        ("remove", "احذف مقالًا بمعرّفه"),
        ("stats", "التغطية والقرّاء، مع رسم بياني"),
        ("unanswered", "ما سأل عنه القرّاء ولم تجب عنه التغطية"),
        ("feed", "تابع موجزًا أو خريطة موقع: ‎/feed add‎ رابط، ‎/feed remove‎ رابط"),
        ("feeds", "الموجزات المتابَعة"),
        ("digest", "النشرة اليومية: ‎/digest @channel HH:MM‎ أو off"),
    ],
}


def admins_only(
    handler: Callable[[Update, Context], Any],
) -> Callable[[Update, Context], Any]:
    async def guarded(update: Update, context: Context) -> None:
        if context.admin.is_admin(update):
            context.admin.heard_from(update)
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
    paragraphs = count(len(article.paragraphs), "paragraph", lang)
    return (
        f"{text(status, lang)}: <code>{html.escape(article.id)}</code> — "
        f"{html.escape(article.title)} ({paragraphs})"
    )


def _report_lines(report: IngestReport, articles: dict[str, Article], lang: str) -> list[str]:
    lines = []
    for status, ids in (("added", report.added), ("updated", report.updated),
                        ("duplicate", report.unchanged)):  # fmt: skip
        lines += [_describe(articles[i], status, lang) for i in ids if i in articles]
    lines += [
        f"{text('refused', lang)}: {html.escape(origin)} — {html.escape(say(reason, lang))}"
        for origin, reason in report.failed
    ]
    return lines


def _summary(report: IngestReport, lang: str) -> str:
    return text(
        "summary", lang, added=number(len(report.added), lang),
        updated=number(len(report.updated), lang),
        unchanged=number(len(report.unchanged), lang), failed=number(len(report.failed), lang),
    )  # fmt: skip


def _at_most(lines: list[str], limit: int, lang: str) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], html.escape(text("more", lang, n=number(len(lines) - limit, lang)))]


async def ingest(
    message: Message,
    items: list[Loaded],
    admin: Admin,
    lang: str,
    *,
    status: Message | None = None,
    note: str = "",
) -> IngestReport:
    """Ingest in a worker thread. For more than a handful of items one status
    message shows the progress, edited at least every :data:`PROGRESS_EVERY` seconds."""
    articles = {i.article.id: i.article for i in items if i.article is not None}
    loop = asyncio.get_running_loop()
    done = [0]
    big = len(items) > 5
    started = time.monotonic()

    def progress() -> str:
        seconds = number(round(time.monotonic() - started), lang)
        total = number(len(items), lang)
        return text("progress", lang, done=number(done[0], lang), total=total, seconds=seconds)

    if big:
        if status is None:
            status = await message.reply_text(progress())
        else:
            await _edit(status, progress())

    def on_item(n: int) -> None:
        done[0] += n

    report = IngestReport()  # what was committed, even when the run stops
    stopped = ""
    async with admin.ingest_lock:  # one ingest at a time; readers are not blocked
        task = loop.run_in_executor(None, admin.ingestor.run, items, on_item, report)
        while big and not task.done():
            await asyncio.wait({task}, timeout=PROGRESS_EVERY)
            if not task.done():
                await _edit(status, progress())
        try:
            await task
        except StoreFull:
            log.error("an admin's ingest stopped: the disk under the store is full")
            stopped, big = text("store_full", lang), True
        except StoreReadOnly as exc:
            log.error("an admin's ingest stopped: %s", exc)
            stopped, big = text("store_read_only", lang), True
        except StoreUnavailable as exc:
            log.warning("an admin's ingest stopped: %s", exc)
            stopped, big = text("store_unavailable", lang), True
    lines = _report_lines(report, articles, lang)
    if stopped:
        lines.append(html.escape(stopped))
    if big:
        lines = [html.escape(_summary(report, lang)), *_at_most(lines, SUMMARY_LINES, lang)]
    body = "\n".join([*lines, *([html.escape(note)] if note else [])]) or text("empty", lang)
    await _reply_long(message, body, status)
    return report


async def _edit(status: Message | None, body: str) -> None:
    if status is None:
        return
    try:
        await status.edit_text(body)
    except TelegramError as exc:  # progress is a courtesy; never fail on it
        log.debug("progress edit failed: %s", exc)


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


async def _from_url(admin: Admin, url: str, words: str, lang: str) -> tuple[Article, str]:
    """The page at ``url``; when it cannot be fetched (not refused) and the admin
    sent words after the link, those words with the link, and a note saying so."""
    try:
        return await admin.fetcher.article(url), ""
    except FetchFailed as exc:
        if not words.strip():
            raise
        article = article_from_text(words, url=url, source=urlsplit(url).hostname)
        return article, text("url_text_kept", lang, why=say(exc.reason, lang))


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
    note = ""
    body = rest.strip()
    first = body.split(maxsplit=1)[0] if body else ""
    try:
        if URL.match(first):
            words = body[len(first) :].strip()
            article, note = await _from_url(admin, first, words, lang)
            origin = first
        elif body:
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
        await message.reply_text(f"{text('refused', lang)}: {say(exc.reason, lang)}")
        return
    await ingest(message, [Loaded(origin, article)], admin, lang, note=note)


async def add_document(
    document_message: Message, admin: Admin, lang: str, reply_to: Message | None = None
) -> None:
    reply_to = reply_to or document_message
    doc = document_message.document
    assert doc is not None
    name = doc.file_name or "document"
    suffix = PurePosixPath(name).suffix.lower()

    async def refuse(reason: str) -> None:
        await reply_to.reply_text(f"{text('refused', lang)}: {reason}")

    if suffix not in SUPPORTED:
        await refuse(text("unsupported", lang, suffix=suffix or name))
        return
    limit = number(admin.max_document_bytes, lang)
    if (doc.file_size or 0) > admin.max_document_bytes:
        await refuse(text("too_large", lang, size=number(doc.file_size or 0, lang), limit=limit))
        return
    status = await reply_to.reply_text(text("reading", lang, name=name))
    data = None
    try:
        file = await doc.get_file()
        if file.file_path:  # Telegram leaves it out of a file it will not hand over
            data = bytes(await file.download_as_bytearray())
    except TelegramError as exc:  # what Telegram said is for the log, not the admin
        log.warning("could not download the document %s: %s", name, exc)
    if data is None:
        await _edit(status, f"{text('refused', lang)}: {text('no_document', lang)}")
        return
    if len(data) > admin.max_document_bytes:
        size = number(len(data), lang)
        await _edit(
            status, f"{text('refused', lang)}: {text('too_large', lang, size=size, limit=limit)}"
        )
        return
    items = await asyncio.to_thread(lambda: list(load_bytes(name, data)))
    await ingest(reply_to, items, admin, lang, status=status)


# -- channels --------------------------------------------------------------------------


def channel_article(post: Message) -> Article:
    chat = post.chat
    where = chat.username or str(chat.id)
    url = f"https://t.me/{chat.username}/{post.message_id}" if chat.username else None
    if not (post.text or post.caption or "").strip():
        raise LoadError("no_text")  # a photo or a poll without words
    return article_from_text(
        post.text or post.caption or "",
        given_id=f"tg-{where}-{post.message_id}",
        url=url,
        source=chat.title or chat.username,
        published=post.date,
    )


async def channel_post(update: Update, context: Context) -> None:
    """A new or edited post in a watched channel becomes (or replaces) an article;
    the admins hear what it did (posts arriving together, in one message)."""
    post = update.channel_post or update.edited_channel_post
    admin = context.admin
    if post is None or not admin.watches(post.chat):
        return
    channel = post.chat.title or post.chat.username or str(post.chat.id)
    try:
        article = channel_article(post)
    except LoadError as exc:
        log.info("channel post %s not added: %s", post.message_id, exc)
        admin.notices.append((channel, None, exc.reason))
    else:
        async with admin.ingest_lock:
            report = await asyncio.to_thread(admin.ingestor.run, [Loaded("channel", article)])
        log.info("channel post %s: %s", article.id, report.summary())
        admin.notices.append((channel, article, report))
    if not context.application.running:
        # Stopping: a task started now would not be awaited, and the notice lost.
        await _tell_admins(context.bot, admin, delay=0.0)
    elif admin.notices_task is None or admin.notices_task.done():
        admin.notices_task = context.application.create_task(_tell_admins(context.bot, admin))


async def tell_admins(
    bot: Any,
    admin: Admin,
    parts: Callable[[str], list[str]],
    about: str,
    parse_mode: str | None = None,
) -> None:
    """Tell every admin, each in their language (Arabic until heard from):
    ``parts(lang)`` are the messages. An admin the bot cannot write to (one who
    never started a chat with it) is logged, and the others are still told."""
    for admin_id in sorted(admin.admin_ids):
        try:
            for part in parts(admin.languages.get(admin_id, "ar")):
                await bot.send_message(admin_id, part, parse_mode=parse_mode)
        except TelegramError as exc:
            log.warning("could not tell admin %s about %s: %s", admin_id, about, exc)


async def _tell_admins(bot: Any, admin: Admin, delay: float = NOTICE_DELAY) -> None:
    """After a short pause (posts often come in a burst), one message per admin,
    in that admin's language, listing what the channel posts did."""
    await asyncio.sleep(delay)
    notices, admin.notices = admin.notices, []
    if not notices:  # told already, by a post that came while the bot was stopping
        return

    def parts(lang: str) -> list[str]:
        lines: list[str] = []
        for channel in dict.fromkeys(c for c, _, _ in notices):
            lines.append(f"<b>{html.escape(text('channel_head', lang, channel=channel))}</b>")
            for c, article, outcome in notices:
                if c != channel:
                    continue
                if isinstance(outcome, IngestReport):
                    lines += _report_lines(outcome, {article.id: article} if article else {}, lang)
                else:
                    lines.append(f"{text('refused', lang)}: {html.escape(say(outcome, lang))}")
        return pack(_at_most(lines, SUMMARY_LINES, lang), separator="\n")

    await tell_admins(bot, admin, parts, "channel posts", ParseMode.HTML)


# -- listing, finding and removing ------------------------------------------------------


def _newest_first(articles: list[ArticleInfo]) -> list[ArticleInfo]:
    return sorted(articles, key=lambda a: (a.published or "", a.updated_at), reverse=True)


def _line(a: ArticleInfo, lang: str, names: Any, n: int | None = None) -> str:
    meta = " · ".join(
        p for p in (names.name(a.source, lang), a.published and day(a.published, lang)) if p
    )
    return (
        (f"{number(n, lang)}. " if n is not None else "")
        + f"<code>{html.escape(a.id)}</code> {html.escape(a.title[:80])}"
        + (f" — {html.escape(meta)}" if meta else "")
    )


def _page(
    admin: Admin, names: Any, page: int, lang: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    articles = _newest_first(admin.store.catalogue.articles())
    if not articles:
        return text("no_articles", lang), None
    pages = (len(articles) + PAGE_SIZE - 1) // PAGE_SIZE
    page = max(0, min(page, pages - 1))
    shown = articles[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    head = text("page", lang, first=number(page * PAGE_SIZE + 1, lang),
                last=number(page * PAGE_SIZE + len(shown), lang),
                total=number(len(articles), lang))  # fmt: skip
    lines = [f"<b>{html.escape(head)}</b>", *(_line(a, lang, names) for a in shown)]
    buttons = []
    if page > 0:
        buttons.append(InlineKeyboardButton("◀", callback_data=f"ap{page - 1:06d}"))
    if page < pages - 1:
        buttons.append(InlineKeyboardButton("▶", callback_data=f"ap{page + 1:06d}"))
    return "\n".join(lines), InlineKeyboardMarkup([buttons]) if buttons else None


def find_articles(articles: list[ArticleInfo], words: str) -> list[ArticleInfo]:
    """Articles whose title or id holds every word (Arabic letter forms and case
    folded), newest first."""
    wanted = [fold(w) for w in words.split() if w.strip()]
    return _newest_first(
        [a for a in articles if all(w in fold(f"{a.title} {a.id}") for w in wanted)]
    )


def _found(
    admin: Admin, names: Any, words: str, user_id: int, lang: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    hits = find_articles(admin.store.catalogue.articles(), words)
    if not hits:
        return html.escape(text("found_none", lang, words=words)), None
    shown = hits[:PAGE_SIZE]
    head = text("found", lang, hits=count(len(hits), "article", lang), words=words)
    lines = [f"<b>{html.escape(head)}</b>"]
    buttons = []
    for n, a in enumerate(shown, start=1):
        lines.append(_line(a, lang, names, n))
        token = admin.offer(a.id, user_id)
        buttons.append(
            InlineKeyboardButton(text("remove_n", lang, n=n), callback_data=f"rq{token}")
        )
    if len(hits) > len(shown):
        lines.append(html.escape(text("more", lang, n=number(len(hits) - len(shown), lang))))
    rows = [buttons[i : i + 5] for i in range(0, len(buttons), 5)]
    return "\n".join(lines), InlineKeyboardMarkup(rows)


@admins_only
async def articles_command(update: Update, context: Context) -> None:
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    names, lang = context.services.qa.outlets(), lang_of(update)
    if context.args:
        words = " ".join(context.args)
        body, markup = await asyncio.to_thread(_found, context.admin, names, words, user.id, lang)
    else:
        body, markup = await asyncio.to_thread(_page, context.admin, names, 0, lang)
    await message.reply_text(body, parse_mode=ParseMode.HTML, reply_markup=markup)


@admins_only
async def articles_page(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    page = int(query.data[2:])
    names, lang = context.services.qa.outlets(), lang_of(update)
    body, markup = await asyncio.to_thread(_page, context.admin, names, page, lang)
    await query.answer()
    await _show(query, body, parse_mode=ParseMode.HTML, reply_markup=markup)


async def _show(query: CallbackQuery, body: str, **kwargs: Any) -> None:
    """``body`` in place of the message the button was under; when that message is
    gone (deleted, or too old to edit), in a new message to the admin."""
    try:
        await query.edit_message_text(body, **kwargs)
    except BadRequest as exc:
        reason = str(exc).lower()
        if "not modified" in reason:
            return
        if "not found" not in reason and "can't be edited" not in reason:
            raise
        await query.get_bot().send_message(query.from_user.id, body, **kwargs)


async def _confirm(
    message: Message, admin: Admin, article_id: str, user_id: int, lang: str
) -> None:
    info = admin.store.catalogue.info(article_id)
    if info is None:
        await message.reply_text(text("already_removed", lang, id=article_id))
        return
    token = admin.offer(article_id, user_id)
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton(text("yes_remove", lang), callback_data=f"rm{token}"),
          InlineKeyboardButton(text("cancel", lang), callback_data=f"rc{token}")]]
    )  # fmt: skip
    await message.reply_text(
        text("confirm_remove", lang, title=info.title[:100], id=article_id), reply_markup=markup
    )


@admins_only
async def remove_command(update: Update, context: Context) -> None:
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    admin, lang = context.admin, lang_of(update)
    if not context.args:
        await message.reply_text(text("remove_usage", lang))
        return
    article_id = context.args[0]
    if admin.store.catalogue.info(article_id) is None:
        await message.reply_text(text("unknown_article", lang, id=article_id))
        return
    await _confirm(message, admin, article_id, user.id, lang)


@admins_only
async def remove_button(update: Update, context: Context) -> None:
    """A search result's remove button asks to confirm; the confirmation removes.
    A button pressed again after its article is gone says so."""
    query = update.callback_query
    assert query is not None and query.data is not None
    admin, lang = context.admin, lang_of(update)
    action, token = query.data[:2], query.data[2:]
    article_id = admin.offered(token)
    if article_id is None:
        await query.answer(text("expired", lang), show_alert=True)
        return
    if action != "rc" and admin.store.catalogue.info(article_id) is None:
        await query.answer(text("already_removed", lang, id=article_id), show_alert=True)
        return
    await query.answer()
    if action == "rq":
        assert query.message is not None and update.effective_user is not None
        await _confirm(query.message, admin, article_id, update.effective_user.id, lang)  # type: ignore[arg-type]
    elif action == "rc":
        admin.withdraw(token)
        await _show(query, text("cancelled", lang))
    else:
        async with admin.ingest_lock:
            await asyncio.to_thread(admin.store.remove, article_id)
        await _show(query, text("removed", lang, id=article_id))


# -- watching --------------------------------------------------------------------------


def _stats(admin: Admin, names: Any, lang: str) -> tuple[str, bytes]:
    info = admin.store.catalogue.coverage()
    totals = admin.state.totals()
    days = last_days(30)
    daily = admin.state.daily(30)
    added: dict[str, int] = {}
    for a in admin.store.catalogue.articles():
        when = time.strftime("%Y-%m-%d", time.gmtime(a.updated_at))
        added[when] = added.get(when, 0) + 1
    questions = [daily.get(d, (0, 0))[0] for d in days]
    answered = [daily.get(d, (0, 0))[1] for d in days]
    share = percent(totals["answered"] / totals["questions"], lang) if totals["questions"] else "—"
    span = day_span(info["first"], info["last"], lang) if info.get("first") else "—"
    sources = info.get("sources") or []
    outlets = ""
    if sources:
        shown = listing([names.name(s, lang) for s in sources[:10]], lang)
        more = " …" if len(sources) > 10 else ""
        outlets = count(len(sources), "outlet", lang) + f" ({shown}{more})"
        outlets = text("from_outlets", lang, outlets=outlets)
    body = text(
        "stats", lang, articles=count(info["articles"], "article", lang),
        chunks=count(admin.store.count_chunks(), "passage", lang), outlets=outlets, span=span,
        questions=number(totals["questions"], lang), share=share,
        weak=number(totals["weak"], lang), refused=number(totals["refused"], lang),
        smalltalk=number(totals["smalltalk"], lang), up=number(totals["up"], lang),
        down=number(totals["down"], lang),
    )  # fmt: skip
    labels = {k: text(f"chart_{k}", lang, days=len(days)) for k in CHART_LABELS}
    png = chart_png(
        days, questions, answered, [added.get(d, 0) for d in days], labels=labels,
        rtl=lang == "ar", day_label=lambda d: day_month(d, lang),
    )  # fmt: skip
    return body, png


@admins_only
async def stats_command(update: Update, context: Context) -> None:
    assert update.effective_message is not None
    names, lang = context.services.qa.outlets(), lang_of(update)
    body, png = await asyncio.to_thread(_stats, context.admin, names, lang)
    await update.effective_message.reply_photo(png, caption=body)


def _unanswered(admin: Admin, lang: str) -> str:
    gaps = admin.state.gaps(30)
    groups = group_questions([g.question for g in gaps], admin.embedder)
    if not groups:
        return html.escape(text("no_unanswered", lang))
    lines = [f"<b>{html.escape(text('unanswered_head', lang))}</b>"]
    for g in groups:
        whys = Counter(gaps[i].why for i in g.members)
        why = listing(
            [f"{text('why_' + w, lang)} {number(n, lang)}" for w, n in whys.most_common()], lang
        )
        lines.append(
            f"{number(g.count, lang)}× {html.escape(g.example)} <i>({html.escape(why)})</i>"
        )
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
    application.add_handler(ButtonHandler(articles_page, pattern=r"^ap\d{6}$"))
    application.add_handler(ButtonHandler(remove_button, pattern=r"^r[mcq][0-9a-f]{8}$"))
    application.add_handler(MessageHandler(filters.UpdateType.CHANNEL_POSTS, channel_post))
