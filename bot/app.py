"""The Telegram application for readers: thin handlers around one service call.

Services (model, store, answerer) are built once, before the application, and
reach the handlers through ``bot_data``; search and answering run off the event
loop. Only this package imports ``telegram``.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import LinkPreviewOptions, Message, Update
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.render import render_html, render_plain
from retrieval.service import HISTORY_TURNS, QAService, Turn
from retrieval.text import detect_language

log = logging.getLogger(__name__)

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
    max_question_chars: int = 1000
    histories: dict[int, list[Turn]] = field(default_factory=dict)


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


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
    message, chat = update.effective_message, update.effective_chat
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
    await context.bot.send_chat_action(chat.id, ChatAction.TYPING)
    history = services.histories.get(chat.id, [])
    reply = await asyncio.to_thread(services.qa.ask, text, history)
    services.histories[chat.id] = [*history, Turn(text, reply.answer.text)][-HISTORY_TURNS:]
    await send_answer(message, reply.answer)


async def send_answer(message: Message, answer: Any) -> None:
    no_preview = LinkPreviewOptions(is_disabled=True)
    try:
        for i, part in enumerate(render_html(answer)):
            if i == 0:
                await message.reply_text(
                    part, parse_mode=ParseMode.HTML, link_preview_options=no_preview
                )
            else:
                await message.get_bot().send_message(
                    message.chat_id,
                    part,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=no_preview,
                )
    except BadRequest as exc:
        if "parse entities" not in str(exc).lower():
            raise
        log.warning("Telegram rejected the formatting (%s); sending plain text", exc)
        for part in render_plain(answer):
            await message.get_bot().send_message(
                message.chat_id, part, link_preview_options=no_preview
            )


async def not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(TEXTS["empty"][lang_of(update)])


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await update.effective_message.reply_text(TEXTS["error"][lang_of(update)])
        except Exception:  # the reply itself failed; the log has the cause
            log.exception("could not tell the user about the error")


def build_application(
    token: str, services: Services, api_url: str | None = None, rate_limit: bool = True
) -> Application[Any, Any, Any, Any, Any, Any]:
    builder: Any = ApplicationBuilder().token(token)
    if api_url:
        builder = builder.base_url(api_url).base_file_url(api_url.replace("/bot", "/file/bot"))
    if rate_limit:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    app = builder.concurrent_updates(True).build()
    app.bot_data["services"] = services
    app.add_handler(CommandHandler(["start", "help"], help_command))
    app.add_handler(CommandHandler("ask", ask_command))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, question))
    app.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE
            & (filters.Sticker.ALL | filters.PHOTO | filters.VOICE | filters.Document.ALL),
            not_text,
        )
    )
    app.add_error_handler(on_error)
    return app
