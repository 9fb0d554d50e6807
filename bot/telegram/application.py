"""The Telegram application: the one builder, the command menus, the error handler."""

from __future__ import annotations

import logging
import re
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.telegram import admin as admin_handlers
from bot.telegram import digest, feeds, follows, inline, readers
from bot.telegram.context import (
    CONTEXT_TYPES,
    Admin,
    ButtonHandler,
    Context,
    RawiApplication,
    Services,
)
from bot.telegram.texts import TEXTS, lang_of, text
from retrieval.store.clients import is_unavailable, why_read_only

log = logging.getLogger(__name__)

COMMAND = re.compile(r"^\s*/\S*")


def _refused(update: object, context: Context) -> str | None:
    """Why the store refused an admin's write, when that is the error (readers
    write nothing there)."""
    admin, error = context.bot_data.admin, context.error
    if admin is None or error is None or not isinstance(update, Update):
        return None
    return why_read_only(error, admin.store.folder) if admin.is_admin(update) else None


async def on_error(update: object, context: Context) -> None:
    error = context.error
    unavailable = error is not None and is_unavailable(error)
    refused = None if unavailable else _refused(update, context)
    if unavailable:  # expected while a shared store restarts; no traceback needed
        log.warning("the store is unavailable: %s", error)
    elif refused:
        log.error("the store refuses writes: %s", refused)
    else:
        log.error("error while handling an update", exc_info=error)
    if isinstance(update, Update) and update.effective_message is not None:
        message = update.effective_message
        # in the language of the words sent, as a question is answered
        words = COMMAND.sub("", message.text or message.caption or "", count=1)
        lang = lang_of(update, words)
        try:
            if refused:
                said = text("store_read_only", lang)
            else:
                said = TEXTS["unavailable" if unavailable else "error"][lang]
            await message.reply_text(said)
        except Exception:  # the reply itself failed; the log has the cause
            log.exception("could not tell the user about the error")


COMMANDS = {
    "en": [
        ("help", "What I know and how to ask"),
        ("ask", "Ask a question (in groups)"),
        ("latest", "The latest on a subject"),
        ("follow", "Get new reports on a subject"),
        ("following", "The subjects you follow"),
        ("unfollow", "Stop following a subject"),
    ],
    "ar": [
        ("help", "ما الذي أعرفه وكيف تسألني"),
        ("ask", "اطرح سؤالًا (في المجموعات)"),
        ("latest", "آخر المستجدات عن موضوع"),
        ("follow", "تابع موضوعًا لتصلك تقاريره الجديدة"),
        ("following", "المواضيع التي تتابعها"),
        ("unfollow", "أوقف متابعة موضوع"),
    ],
}


async def register_commands(application: RawiApplication) -> None:
    bot = application.bot
    await bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS["en"]])
    await bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS["ar"]], language_code="ar")
    admin = application.bot_data.admin
    if admin is not None:
        await admin_handlers.register_commands(application, admin, COMMANDS)


def build_application(
    token: str,
    services: Services,
    api_url: str | None = None,
    rate_limit: bool = True,
    admin: Admin | None = None,
) -> RawiApplication:
    """The application with the readers' handlers, and the admins' when ``admin``
    is given; the services reach the handlers through the typed context."""
    builder: Any = ApplicationBuilder().token(token).context_types(CONTEXT_TYPES)
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
    # Under a burst every connection to Telegram may be busy for a moment: a reply
    # waits for one (as it waits for the rate limiter) instead of failing after
    # python-telegram-bot's default second.
    builder = builder.pool_timeout(30.0)
    app: RawiApplication = builder.concurrent_updates(True).build()
    app.bot_data.services = services
    app.bot_data.admin = admin
    if admin is not None:
        admin_handlers.add_handlers(app)  # before the readers' catch-alls
        feeds.setup(app)  # /feed, /feeds and the poll job, when the admins have feeds
        digest.add_handlers(app)
    app.add_handler(CommandHandler(["start", "help"], readers.help_command))
    # questions, new or edited: /ask, a text, or a caption (of a photo, a video…)
    app.add_handler(CommandHandler("ask", readers.question))
    app.add_handler(CommandHandler("latest", readers.latest_command))
    follows.add_handlers(app)  # /follow, /following, /unfollow, and the job that delivers
    app.add_handler(
        MessageHandler(
            ((filters.TEXT & ~filters.COMMAND) | filters.CAPTION) & filters.UpdateType.MESSAGES,
            readers.question,
        )
    )
    app.add_handler(
        MessageHandler(filters.COMMAND & filters.UpdateType.MESSAGE, readers.unknown_command)
    )
    app.add_handler(ButtonHandler(readers.vote, pattern=readers.VOTE_PATTERN))
    app.add_handler(CallbackQueryHandler(readers.stale_button))  # and presses without data
    app.add_handler(InlineQueryHandler(inline.inline_query))  # @bot QUESTION in any chat
    app.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE
            & ~filters.TEXT
            & ~filters.StatusUpdate.ALL
            & filters.UpdateType.MESSAGE,
            readers.not_text,
        )
    )
    app.add_error_handler(on_error)
    return app
