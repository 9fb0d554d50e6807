"""The Telegram application for readers: thin handlers around one service call.

Services (model, store, answerer, chat state) are built once, before the
application, and reach the handlers through ``bot_data``; search, answering and
the state database run off the event loop. Only this package imports ``telegram``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import html
import logging
import re
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.render import render_html, render_plain
from bot.state import ANSWERED, REFUSED, WEAK, ChatState
from bot.state import SMALLTALK as OUTCOME_SMALLTALK
from retrieval.service import QAService
from retrieval.store import is_unavailable
from retrieval.text import detect_language
from retrieval.types import SMALLTALK, Answer

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "channel_post", "edited_channel_post"]
VOTE_PATTERN = r"^v[+-]\d{10}$"

TEXTS = {
    "help": {
        "en": (
            "I answer questions about the news coverage I hold, and cite the exact paragraphs "
            "behind every answer.\n\nI know {articles} articles{span}{outlets}.\n\n"
            "Ask in Arabic or English. In a group, mention me, reply to me, or use /ask."
        ),
        "ar": (
            "أجيب عن الأسئلة حول التغطية الإخبارية المتاحة لدي، وأذكر الفقرات التي استندت إليها "
            "في كل إجابة.\n\nلدي {articles} مقالًا{span}{outlets}.\n\n"
            "اسأل بالعربية أو بالإنجليزية. في المجموعات: اذكرني أو رُدّ على رسالتي أو استخدم /ask."
        ),
    },
    "too_long": {
        "en": "That question is too long (over {limit} characters). Please shorten it.",
        "ar": "السؤال طويل جدًا (أكثر من {limit} حرف). اختصره من فضلك.",
    },
    "empty": {
        "en": "Send me a question in words, in Arabic or English.",
        "ar": "أرسل سؤالك نصًا، بالعربية أو بالإنجليزية.",
    },
    "rate_limited": {
        "en": "You are asking faster than I can keep up ({limit} questions a minute at most). "
        "Please wait a moment and ask again.",
        "ar": "أسئلتك أسرع مما أستطيع مجاراته (لا أكثر من {limit} سؤالًا في الدقيقة). "
        "انتظر قليلًا ثم اسأل مجددًا.",
    },
    "unknown_command": {
        "en": "I don't know that command. Send /help to see what I can do.",
        "ar": "لا أعرف هذا الأمر. أرسل /help لترى ما يمكنني فعله.",
    },
    "vote_thanks": {"en": "Thank you for the feedback.", "ar": "شكرًا على رأيك."},
    "vote_again": {
        "en": "You have already rated this answer.",
        "ar": "لقد قيّمت هذه الإجابة من قبل.",
    },
    "vote_gone": {
        "en": "This answer is too old to rate.",
        "ar": "هذه الإجابة أقدم من أن تُقيَّم.",
    },
    "unavailable": {
        "en": "The coverage is temporarily unavailable. Please ask again in a minute.",
        "ar": "التغطية غير متاحة مؤقتًا. اسأل مرة أخرى بعد دقيقة.",
    },
    "error": {
        "en": "Something went wrong while answering. Please try again in a moment.",
        "ar": "حدث خطأ أثناء الإجابة. حاول مرة أخرى بعد قليل.",
    },
}


def lang_of(update: Update, text: str = "") -> str:
    if text and detect_language(text) in ("ar", "en"):
        return detect_language(text)
    user = update.effective_user
    return "ar" if user and (user.language_code or "").startswith("ar") else "en"


@dataclass
class Services:
    """What the handlers need, built once by the composition root."""

    qa: QAService
    coverage: Callable[[], dict[str, Any]]  # articles, first, last, sources
    state: ChatState
    max_question_chars: int = 1000
    rate_limit_per_minute: int = 20
    follow: Callable[[], Any] | None = None  # catch up with other processes' writes
    follow_interval: float = 10.0
    in_flight: int = 0  # questions being answered now
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        self.in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._idle.set()

    async def drain(self, grace: float) -> bool:
        """Wait (at most ``grace`` seconds) for the answers in flight."""
        if self.in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
        return self.in_flight == 0


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    services: Services = context.application.bot_data["services"]
    return services


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message is None:
        return
    lang = lang_of(update)
    info = await asyncio.to_thread(services_of(context).coverage)
    span = f" ({info['first']} – {info['last']})" if info.get("first") else ""
    outlets = ""
    if info.get("sources"):
        joined = ", ".join(info["sources"][:10])
        outlets = f" from {joined}" if lang == "en" else f" من {joined}"
    text = TEXTS["help"][lang].format(articles=info["articles"], span=span, outlets=outlets)
    await update.effective_message.reply_text(html.escape(text), parse_mode=ParseMode.HTML)


def _mentions_bot(message: Message, username: str) -> bool:
    text = message.text or ""
    return f"@{username}".lower() in text.lower()


def _strip_mention(text: str, username: str) -> str:
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.I).strip()


async def question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return
    text = message.text or ""
    username = context.bot.username
    if chat.type != ChatType.PRIVATE:
        replied = message.reply_to_message
        to_bot = (
            replied is not None
            and replied.from_user is not None
            and replied.from_user.id == context.bot.id
        )
        if not (_mentions_bot(message, username) or to_bot):
            return
        text = _strip_mention(text, username)
    await answer(update, context, text)


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await answer(update, context, " ".join(context.args or []))


@dataclass(frozen=True)
class Answered:
    answer: Answer
    question_id: int


def _answer_and_log(
    services: Services,
    chat_id: int,
    user_id: int,
    chat_type: str,
    text: str,
    *,
    language: str,
    on_text: Callable[[str], None] | None = None,
) -> Answered:
    """The blocking part of answering, run in a worker thread."""
    state = services.state
    reply = services.qa.ask(text, state.history(chat_id, user_id), on_text, language)
    answer = reply.answer
    if answer.kind == SMALLTALK:
        outcome = OUTCOME_SMALLTALK
    elif not answer.grounded:
        outcome = REFUSED
    else:
        outcome = WEAK if reply.weak else ANSWERED
    qid = state.log_question(
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
    )
    return Answered(answer, qid)


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    if message is None or chat is None:
        return
    services = services_of(context)
    lang = lang_of(update, text)
    text = text.strip()
    if not text:
        await message.reply_text(TEXTS["empty"][lang])
        return
    if len(text) > services.max_question_chars:
        await message.reply_text(TEXTS["too_long"][lang].format(limit=services.max_question_chars))
        return
    # Messages sent "as the group" or "as a channel" have no person behind them: the
    # chat stands in for the user.
    user_id = user.id if user is not None else chat.id
    with services.answering():
        limit = services.rate_limit_per_minute
        recent = await asyncio.to_thread(services.state.recent_questions, user_id, 60.0)
        if recent >= limit:
            await message.reply_text(TEXTS["rate_limited"][lang].format(limit=limit))
            return
        await context.bot.send_chat_action(chat.id, ChatAction.TYPING)
        if services.qa.streams:
            interval = STREAM_INTERVAL["private" if chat.type == ChatType.PRIVATE else "group"]
            done, draft = await stream_answer(
                message,
                lang,
                interval,
                lambda on_text: _answer_and_log(
                    services, chat.id, user_id, str(chat.type), text, language=lang, on_text=on_text
                ),
            )
            buttons = vote_buttons(done.question_id) if done.answer.kind != SMALLTALK else None
            await send_answer(message, done.answer, buttons, draft)
            return
        done = await asyncio.to_thread(
            functools.partial(_answer_and_log, language=lang),
            services, chat.id, user_id, str(chat.type), text,
        )  # fmt: skip
        buttons = vote_buttons(done.question_id) if done.answer.kind != SMALLTALK else None
        await send_answer(message, done.answer, buttons)


def vote_buttons(question_id: int) -> InlineKeyboardMarkup:
    """👍/👎 under an answer. The callback data is short and fixed-size: a sign and
    the question's number in the log, never an article id."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("👍", callback_data=f"v+{question_id:010d}"),
                InlineKeyboardButton("👎", callback_data=f"v-{question_id:010d}"),
            ]
        ]
    )


async def _put(
    message: Message,
    text: str,
    *,
    draft: Message | None,
    html_mode: bool,
    reply: bool,
    markup: InlineKeyboardMarkup | None,
) -> None:
    """One part of an answer: it replaces the draft (the streamed message) when
    there is one, else goes out as a new message."""
    no_preview = LinkPreviewOptions(is_disabled=True)
    parse_mode = ParseMode.HTML if html_mode else None
    if draft is not None:
        try:
            await draft.edit_text(
                text, parse_mode=parse_mode, link_preview_options=no_preview, reply_markup=markup
            )
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise
        return
    await message.get_bot().send_message(
        message.chat_id,
        text,
        parse_mode=parse_mode,
        link_preview_options=no_preview,
        reply_to_message_id=message.message_id if reply else None,
        allow_sending_without_reply=True,
        reply_markup=markup,
    )


async def send_answer(
    message: Message,
    answer: Answer,
    markup: InlineKeyboardMarkup | None = None,
    draft: Message | None = None,
) -> None:
    """The answer as HTML, split under Telegram's limit, buttons under the last part
    (the first part replaces ``draft`` if given); the same content as plain text if
    Telegram rejects the formatting."""
    sent = 0
    try:
        parts = render_html(answer)
        for i, part in enumerate(parts):
            await _put(
                message, part, draft=draft if i == 0 else None, html_mode=True,
                reply=i == 0, markup=markup if i == len(parts) - 1 else None,
            )  # fmt: skip
            sent += 1
    except BadRequest as exc:
        if "parse entities" not in str(exc).lower():
            raise
        log.warning("Telegram rejected the formatting (%s); sending plain text", exc)
        plain = render_plain(answer)
        for i, part in enumerate(plain):
            await _put(
                message, part, draft=draft if i == 0 and sent == 0 else None, html_mode=False,
                reply=i == 0 and sent == 0, markup=markup if i == len(plain) - 1 else None,
            )  # fmt: skip


WRITING = {"en": "✍️ still writing…", "ar": "✍️ جارٍ الكتابة…"}
STREAM_INTERVAL = {"private": 1.0, "group": 3.0}  # seconds between edits
STREAM_PREVIEW_CHARS = 3800


async def stream_answer(
    message: Message, lang: str, interval: float, work: Callable[[Callable[[str], None]], Any]
) -> tuple[Any, Message | None]:
    """Run ``work(on_text)`` in a worker thread, showing the text written so far in
    one message, edited at most once per ``interval`` and marked as still being
    written. Returns what ``work`` returned and the draft message, if one was sent."""
    loop = asyncio.get_running_loop()
    latest = [""]
    changed = asyncio.Event()

    def on_text(text: str) -> None:  # called from the worker thread
        def update() -> None:
            latest[0] = text
            changed.set()

        loop.call_soon_threadsafe(update)

    task = asyncio.ensure_future(asyncio.to_thread(work, on_text))
    draft: Message | None = None
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
            draft = await message.reply_text(display, do_quote=True)
        else:
            with contextlib.suppress(BadRequest):  # "not modified" and the like
                await draft.edit_text(display)
        shown, last = text, time.monotonic()
    result = await task
    if draft is not None:
        pause = last + interval - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
    return result, draft


async def vote(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None or query.data is None:
        return
    lang = lang_of(update)
    sign = 1 if query.data[1] == "+" else -1
    qid = int(query.data[2:])
    services = services_of(context)
    recorded = await asyncio.to_thread(services.state.vote, qid, query.from_user.id, sign)
    if recorded:
        await query.answer(TEXTS["vote_thanks"][lang])
        return
    known = await asyncio.to_thread(services.state.question, qid)
    await query.answer(TEXTS["vote_again" if known else "vote_gone"][lang])


async def stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button from an older version of the bot: acknowledge it so the client
    stops spinning."""
    if update.callback_query is not None:
        await update.callback_query.answer()


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or not message.text:
        return
    command = message.text.split()[0]
    if chat.type != ChatType.PRIVATE and f"@{context.bot.username}".lower() not in command.lower():
        return  # in a group, a command without our name may be for another bot
    await message.reply_text(TEXTS["unknown_command"][lang_of(update)])


async def not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(TEXTS["empty"][lang_of(update)])


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    unavailable = context.error is not None and is_unavailable(context.error)
    if unavailable:  # expected while a shared store restarts; no traceback needed
        log.warning("the store is unavailable: %s", context.error)
    else:
        log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            key = "unavailable" if unavailable else "error"
            await update.effective_message.reply_text(TEXTS[key][lang_of(update)])
        except Exception:  # the reply itself failed; the log has the cause
            log.exception("could not tell the user about the error")


COMMANDS = {
    "en": [("help", "What I know and how to ask"), ("ask", "Ask a question (in groups)")],
    "ar": [("help", "ما الذي أعرفه وكيف تسألني"), ("ask", "اطرح سؤالًا (في المجموعات)")],
}


async def register_commands(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    bot = application.bot
    await bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS["en"]])
    await bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS["ar"]], language_code="ar")
    admin = application.bot_data.get("admin")
    if admin is not None:
        from bot.admin import register_admin_commands

        await register_admin_commands(application, admin, COMMANDS)


def build_application(
    token: str,
    services: Services,
    api_url: str | None = None,
    rate_limit: bool = True,
    admin: Any = None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The application with the readers' handlers, and the admins' when ``admin``
    (a :class:`bot.admin.Admin`) is given."""
    builder: Any = ApplicationBuilder().token(token)
    if api_url:
        builder = builder.base_url(api_url).base_file_url(api_url.replace("/bot", "/file/bot"))
    if rate_limit:
        # Telegram allows about 30 messages a second overall and 20 a minute per group.
        # As rates of one message per 1/30 s and per 3 s these hold over every window,
        # not just on average (a bucket of 20 would allow bursts above them).
        limiter = AIORateLimiter(
            overall_max_rate=1,
            overall_time_period=1 / 30,
            group_max_rate=1,
            group_time_period=3,
            max_retries=3,
        )
        builder = builder.rate_limiter(limiter)
    app = builder.concurrent_updates(True).build()
    app.bot_data["services"] = services
    if admin is not None:
        from bot.admin import add_admin_handlers

        add_admin_handlers(app, admin)  # before the readers' catch-alls
    app.add_handler(CommandHandler(["start", "help"], help_command))
    app.add_handler(CommandHandler("ask", ask_command))
    app.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & filters.UpdateType.MESSAGE, question)
    )
    app.add_handler(MessageHandler(filters.COMMAND & filters.UpdateType.MESSAGE, unknown_command))
    app.add_handler(CallbackQueryHandler(vote, pattern=VOTE_PATTERN))
    app.add_handler(CallbackQueryHandler(stale_button))
    app.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & ~filters.TEXT & ~filters.StatusUpdate.ALL,
            not_text,
        )
    )
    app.add_error_handler(on_error)
    return app


# -- running ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    """Webhook mode: Telegram POSTs updates to ``url``, which reaches this process at
    ``listen:port`` (usually through a TLS-terminating proxy)."""

    url: str
    listen: str = "127.0.0.1"
    port: int = 8443
    secret: str = ""

    def with_secret(self) -> Webhook:
        if self.secret:
            return self
        return Webhook(self.url, self.listen, self.port, secrets.token_urlsafe(32))


async def start_webhook_server(
    application: Application[Any, Any, Any, Any, Any, Any], hook: Webhook
) -> web.AppRunner:
    """An HTTP server that takes Telegram's updates (checking the secret token on
    every request) and answers ``/healthz``."""
    path = urlsplit(hook.url).path or "/"

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), hook.secret.encode()):
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
            update = Update.de_json(data, application.bot)
        except Exception:
            return web.Response(status=400, text="not an update")
        await application.update_queue.put(update)
        return web.Response(text="ok")

    async def healthz(request: web.Request) -> web.Response:
        running = application.running
        return web.json_response({"ok": running}, status=200 if running else 503)

    app = web.Application(client_max_size=1 << 20)
    app.router.add_get("/healthz", healthz)
    app.router.add_post(path, receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, hook.listen, hook.port).start()
    return runner


async def follow_store(services: Services, stop: asyncio.Event) -> None:
    """Every ``follow_interval`` seconds, pick up what other processes (``rawi
    ingest`` against the same Chroma server) added or removed."""
    assert services.follow is not None
    failing = False
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), services.follow_interval)
        if stop.is_set():
            return
        try:
            await asyncio.to_thread(services.follow)
            if failing:
                log.info("the store is reachable again")
            failing = False
        except Exception as exc:
            if not failing:  # once per outage
                log.warning("cannot follow the store's changes: %s", exc)
            failing = True


async def serve(
    application: Application[Any, Any, Any, Any, Any, Any],
    services: Services,
    *,
    webhook: Webhook | None = None,
    grace: float = 10.0,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    poll_timeout: int = 10,
) -> None:
    """Run the bot until ``stop`` is set (or SIGINT/SIGTERM): stop taking updates,
    finish the answers in flight (for at most ``grace`` seconds), then exit."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    # Answers wait on each other's query embeddings (they share forward passes), so
    # the worker pool must hold a crowd of them, not the default handful.
    loop.set_default_executor(ThreadPoolExecutor(max_workers=32, thread_name_prefix="answer"))
    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    runner: web.AppRunner | None = None
    await application.initialize()
    try:
        await register_commands(application)
        await application.start()
        if webhook is not None:
            runner = await start_webhook_server(application, webhook)
            await application.bot.set_webhook(
                webhook.url, secret_token=webhook.secret, allowed_updates=ALLOWED_UPDATES
            )
            log.info("taking updates by webhook at %s", webhook.url)
        else:
            assert application.updater is not None
            await application.updater.start_polling(
                allowed_updates=ALLOWED_UPDATES, timeout=poll_timeout, poll_interval=0.0
            )
            log.info("taking updates by long polling")
        follower = asyncio.create_task(follow_store(services, stop)) if services.follow else None
        await stop.wait()
        log.info("stopping: no new updates; finishing the answers in flight")
        if follower is not None:
            await follower
    finally:
        if runner is not None:
            await runner.cleanup()
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        started = time.monotonic()
        if not await services.drain(grace):
            log.warning("gave up on %d answer(s) still in flight", services.in_flight)
        if application.running:
            left = max(0.5, grace - (time.monotonic() - started))
            try:
                await asyncio.wait_for(application.stop(), left)
            except TimeoutError:
                log.warning("updates still pending after %.0f s; stopping anyway", grace)
        with contextlib.suppress(RuntimeError):
            await application.shutdown()
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
