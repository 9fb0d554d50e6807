"""Inline mode (``@bot QUESTION`` in any chat): the real python-telegram-bot
Application over HTTP against the fake Bot API, which checks every result's HTML
as Telegram parses a message's."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import InlineQueryHandler

from bot.compose import Parts
from bot.telegram.context import Services
from bot.telegram.inline import INLINE_CHAT, START, message
from bot.telegram.render import SOURCES, render_html
from bot.telegram.server import ALLOWED_UPDATES
from bot.telegram.texts import TEXTS
from config.settings import load_settings
from retrieval.answer import NO_ANSWER
from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.ingest.loaders import Loaded, make_article
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.search import Searcher
from retrieval.service import QAService
from retrieval.store.chunks import Store
from retrieval.store.clients import embedded_client
from retrieval.types import Answer
from tests.auxil.fakebotapi import Call, FakeBotAPI, parse_error
from tests.auxil.helpers import searcher_for
from tests.auxil.telegram import TOKEN, make_services, running
from tests.bot.telegram.test_render import check, citation

AR_QUESTION = "كم عدد المواطنين الأمريكيين الذين يسعون لمغادرة غزة؟"
EN_QUESTION = "How many Palestinians have been killed in Gaza?"


def services_for(news: Searcher, **kwargs: Any) -> Services:
    qa = QAService(news, ExtractiveAnswerer(news.embedder))
    return make_services(qa, news.store.catalogue.coverage, **kwargs)


async def ask_inline(api: FakeBotAPI, question: str, **kwargs: Any) -> Call:
    return await api.inline_answer(api.push_inline_query(question, **kwargs))


def offered(api: FakeBotAPI, call: Call) -> dict[str, Any]:
    """The one result of an answer, its message checked as Telegram would."""
    (result,) = api.inline_results(call)
    content = result["input_message_content"]
    assert content["parse_mode"] == "HTML" and parse_error(content["message_text"]) is None
    assert content["link_preview_options"] == {"is_disabled": True}  # as answers in chats
    assert api.inline_button(call) is None
    return dict(result)


def notice(api: FakeBotAPI, call: Call) -> str:
    """What an answer without results says in its button (never cached)."""
    assert api.inline_results(call) == []
    assert call.params["is_personal"] == "true" and int(call.params["cache_time"]) == 0
    button = api.inline_button(call)
    assert button is not None and button["start_parameter"] == START
    return str(button["text"])


async def test_inline_answers_are_the_chat_answers_with_their_sources(news: Searcher) -> None:
    services = services_for(news)
    async with running(services) as api:
        for question, lang, reader, expected in (
            (AR_QUESTION, "ar", 301, "400 مواطن أمريكي"),
            (EN_QUESTION, "en", 302, '<a href="http://aawsat.com/'),  # and "9000" (below)
        ):
            api.push_message(question, chat_id=reader, user_id=reader, language=lang)
            (in_chat,) = await api.wait_for("sendMessage", chat_id=reader)
            call = await ask_inline(
                api, question, user_id=reader + 100, language=lang, chat_type="supergroup"
            )
            result = offered(api, call)
            text = result["input_message_content"]["message_text"]
            # the question, then the very answer a chat gets, sources and all
            assert text == f"<b>{html.escape(question)}</b>\n\n{in_chat.params['text']}"
            assert expected in text and f"<b>{SOURCES[lang]}</b>" in text
            assert "<b>[1]</b>" in text and "<blockquote expandable>" in text
            assert result["title"] == TEXTS["inline_answer"][lang]
            assert result["description"] in text and (lang == "ar" or "9000" in text)
            assert call.params["is_personal"] == "false" and int(call.params["cache_time"]) == 60
    assert services.state.totals()["answered"] == 4  # two in chats, two inline: all logged
    for reader in (401, 402):  # an inline question is no turn of the reader's private chat
        assert services.state.history(reader, reader) == []
    assert len(services.state.history(INLINE_CHAT, 401)) == 1


async def test_help_tells_readers_of_inline_mode(news: Searcher) -> None:
    async with running(services_for(news)) as api:
        for chat, lang, line in (
            (
                311,
                "en",
                "To share an answer in any chat: type @rawi_test_bot and your question there.",
            ),
            (312, "ar", "لمشاركة إجابة في أي محادثة: اكتب فيها @rawi_test_bot ثم سؤالك."),
        ):
            command = [{"type": "bot_command", "offset": 0, "length": 5}]
            api.push_message("/help", chat_id=chat, language=lang, entities=command)
            (helped,) = await api.wait_for("sendMessage", chat_id=chat)
            assert helped.params["text"].endswith("\n" + line)


async def test_inline_says_plainly_when_the_coverage_does_not_answer(news: Searcher) -> None:
    services = services_for(news)
    async with running(services) as api:
        for question, lang in (
            ("Who won the 2022 Nobel Prize in Physics?", "en"),
            ("من فاز بجائزة نوبل في الفيزياء عام 2022؟", "ar"),
        ):
            result = offered(api, await ask_inline(api, question, language="en"))
            text = result["input_message_content"]["message_text"]
            assert text == f"<b>{html.escape(question)}</b>\n\n{NO_ANSWER[lang]}"
            assert result["title"] == TEXTS["inline_not_covered"][lang]
            assert "[1]" not in text
    assert services.state.totals()["refused"] == 2  # and the editors see them as gaps
    assert len(services.state.gaps()) == 2


async def test_a_repeated_inline_question_is_not_searched_again(
    news: Searcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = services_for(news, inline_cache_seconds=1.0)
    qa, asked = services.qa, []
    real_ask = qa.ask

    def counted(question: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(question)
        return real_ask(question, *args, **kwargs)

    monkeypatch.setattr(qa, "ask", counted)
    async with running(services) as api:
        first = offered(api, await ask_inline(api, EN_QUESTION))
        respelt = "  how many PALESTINIANS have been\tkilled in Gaza? "
        call = await ask_inline(api, respelt, user_id=8)
        again = offered(api, call)
        assert asked == [EN_QUESTION]  # the same question, case and spaces aside
        assert int(call.params["cache_time"]) == 1  # and Telegram keeps it as briefly
        answer_of = [r["input_message_content"]["message_text"].split("\n\n", 1)[1]
                     for r in (first, again)]  # fmt: skip
        assert answer_of[0] == answer_of[1]
        offered(api, await ask_inline(api, "كم فلسطينيًا قُتل في غزة؟", language="ar"))
        assert len(asked) == 2  # another question is searched
        await asyncio.sleep(1.1)
        offered(api, await ask_inline(api, EN_QUESTION))
        assert asked == [EN_QUESTION, "كم فلسطينيًا قُتل في غزة؟", EN_QUESTION]  # kept 1 s


async def test_inline_questions_count_toward_the_readers_limit(news: Searcher) -> None:
    services = services_for(news, rate_limit_per_minute=2)
    limited = TEXTS["rate_limited"]["en"].format(limit=2)
    async with running(services) as api:
        offered(api, await ask_inline(api, EN_QUESTION, user_id=80))
        offered(api, await ask_inline(api, "How many American citizens want to leave Gaza?",
                                      user_id=80))  # fmt: skip
        third = "What did Blinken say about Qatar?"
        assert notice(api, await ask_inline(api, third, user_id=80)) == limited
        api.push_message("And in the West Bank?", chat_id=80, user_id=80)  # one limit for both
        (reply,) = await api.wait_for("sendMessage", chat_id=80)
        assert reply.params["text"] == limited
        offered(api, await ask_inline(api, third, user_id=81))  # another reader
        offered(api, await ask_inline(api, EN_QUESTION, user_id=80))  # kept: costs no search
    assert services.state.recent_questions(80) == 2


async def test_short_long_and_malformed_inline_queries(
    news: Searcher, caplog: pytest.LogCaptureFixture
) -> None:
    services = services_for(news)
    caplog.set_level(logging.WARNING)
    async with running(services) as api:
        assert notice(api, await ask_inline(api, "", language="ar")) == TEXTS["inline_hint"]["ar"]
        assert notice(api, await ask_inline(api, " ab ")) == TEXTS["inline_hint"]["en"]
        too_long = TEXTS["too_long"]["en"].format(limit=1000)
        assert notice(api, await ask_inline(api, "x " * 2500)) == too_long
        half_emoji = offered(api, await ask_inline(api, f"{EN_QUESTION} \ud83d"))
        assert "9000" in half_emoji["input_message_content"]["message_text"]
        marked = offered(api, await ask_inline(api, "What did <b>Okaz</b> & co say </i>?"))
        text = marked["input_message_content"]["message_text"]
        assert text.startswith("<b>What did &lt;b&gt;Okaz&lt;/b&gt; &amp; co say &lt;/i&gt;?</b>")
        assert len(api.sent("answerInlineQuery")) == 5  # each answered once, none refused
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert services.state.totals()["questions"] == 2  # hints and refusals search nothing


async def test_inline_failures_are_logged_never_shown(
    news: Searcher, tmp_path: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with running(services_for(news)) as api:
        api.fail("answerInlineQuery", 400, "Bad Request: query is too old and response timeout "
                 "expired or query ID is invalid")  # fmt: skip
        await ask_inline(api, EN_QUESTION)  # the reader typed on: let go
        offered(api, await ask_inline(api, AR_QUESTION, language="ar"))  # the next is answered
        api.fail("answerInlineQuery", 400, "Bad Request: can't parse entities: unsupported tag")
        query_id = api.push_inline_query(EN_QUESTION, user_id=9)
        await api.wait_for("answerInlineQuery", count=4)
        rejected, plain = api.sent("answerInlineQuery")[2:]
        assert rejected.params["inline_query_id"] == plain.params["inline_query_id"] == query_id
        (result,) = api.inline_results(plain)
        content = result["input_message_content"]
        assert "parse_mode" not in content and "<b>" not in content["message_text"]
        assert content["message_text"].startswith(f"{EN_QUESTION}\n\n")
        assert "9000" in content["message_text"] and "Sources" in content["message_text"]
    assert any("inline query went unanswered" in r.message for r in caplog.records)
    assert any("offering plain text" in r.message for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    client = embedded_client(tmp_path / "db")
    store = Store(client, embedder)
    searcher = searcher_for(store, embedder)
    Ingestor(store, embedder).run([Loaded("t", make_article(["Some text."], given_id="a"))])
    client.delete_collection(store.chunks.name)  # the vectors vanish under the bot
    broken = make_services(QAService(searcher, ExtractiveAnswerer(embedder)),
                           store.catalogue.coverage)  # fmt: skip
    async with running(broken) as api:
        said = notice(api, await ask_inline(api, "What does the text say?"))
    assert said == TEXTS["error"]["en"]
    failure = [r for r in caplog.records if r.message == "error while answering an inline query"]
    assert failure and failure[0].exc_info is not None  # logged with its traceback


def test_a_long_answer_fits_one_inline_message_without_its_passages() -> None:
    quotes = [("word " * 40).strip() + f" {i} & <x>" for i in range(1, 9)]
    answer = Answer(
        "According to the coverage: " + " ".join(f"“{q}” [{i}]" for i, q in enumerate(quotes, 1)),
        tuple(citation(i, q) for i, q in enumerate(quotes, 1)),
        True,
        "en",
    )
    assert len(render_html(answer)) > 1  # two messages in a chat
    text = message("What <happened>?", answer)
    check(text)  # one message, under 4,096 characters, its tags balanced
    assert text.startswith("<b>What &lt;happened&gt;?</b>\n\n") and "<blockquote" not in text
    assert re.findall(r"<b>\[(\d+)\]</b>", text) == [str(i) for i in range(1, 9)]
    assert all(html.escape(q) in text for q in quotes)  # the answer whole, every source named
    short = replace(answer, text=f"“{quotes[0]}” [1]", citations=answer.citations[:1])
    assert message("Q?", short) == f"<b>Q?</b>\n\n{render_html(short)[0]}"  # passage kept


def test_rawi_serve_takes_inline_queries_with_the_inline_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("RAWI_INLINE__CACHE_SECONDS", "5")
    monkeypatch.setenv("RAWI_INLINE__MIN_CHARS", "4")
    parts = Parts(load_settings())
    try:
        app, services = parts.bot()
    finally:
        parts.close()
    assert (services.inline_cache_seconds, services.inline_min_chars) == (5.0, 4)
    assert any(isinstance(h, InlineQueryHandler) for h in app.handlers[0])
    assert "inline_query" in ALLOWED_UPDATES  # asked of Telegram, by polling and by webhook
