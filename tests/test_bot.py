"""The real python-telegram-bot Application over HTTP against the fake Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import TEXTS, Services, build_application
from retrieval.answer import NO_ANSWER, ExtractiveAnswerer
from retrieval.embeddings import Embedder
from retrieval.ingest import Ingestor
from retrieval.lexical import LexicalIndex
from retrieval.loaders import Loaded, make_article
from retrieval.search import Searcher
from retrieval.service import QAService
from retrieval.store import Store, embedded_client
from retrieval.types import Article
from tests.conftest import ROOT, rawi
from tests.fakebotapi import BOT, FakeBotAPI

TOKEN = "123456:TEST-token-abc"


@pytest.fixture(scope="module")
def services(news: Searcher) -> Services:
    return Services(QAService(news, ExtractiveAnswerer(news.embedder)), news.store.coverage)


@contextlib.asynccontextmanager
async def running(services: Services) -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    services.histories.clear()
    app = build_application(TOKEN, services, api_url=api.base_url)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1)
    try:
        yield api
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await api.stop()


async def test_private_questions_in_arabic_and_english(
    services: Services, founding_article: Article
) -> None:
    async with running(services) as api:
        api.push_message(
            "كم عدد المواطنين الأمريكيين الذين يسعون لمغادرة غزة؟", chat_id=11, language="ar"
        )
        (reply,) = await api.wait_for("sendMessage", chat_id=11)
        text = reply.params["text"]
        assert reply.params["parse_mode"] == "HTML"
        assert "400 مواطن أمريكي" in text and "<blockquote expandable>" in text
        assert "المصادر" in text and "الفقرة 2" in text
        assert api.sent("sendChatAction", chat_id=11)

        api.push_message("How many Palestinians have been killed in Gaza?", chat_id=12)
        await api.wait_for("sendMessage", chat_id=12)
        api.push_message("And how many of them were children?", chat_id=12)
        replies = await api.wait_for("sendMessage", count=2, chat_id=12)
        assert "3760" in replies[1].params["text"]  # the follow-up used the chat's history

        api.push_message("Who won the 2022 Nobel Prize in Physics?", chat_id=13)
        (none,) = await api.wait_for("sendMessage", chat_id=13)
        assert none.params["text"] == NO_ANSWER["en"]


async def test_groups_answer_only_when_addressed(services: Services) -> None:
    async with running(services) as api:
        api.push_message(
            "كم عدد المواطنين الأمريكيين الذين يسعون لمغادرة غزة؟",
            chat_id=-500,
            chat_type="supergroup",
        )
        api.push_message(
            f"@{BOT['username']} كم عدد المواطنين الأمريكيين الذين يسعون لمغادرة غزة؟",
            chat_id=-501,
            chat_type="supergroup",
            entities=[{"type": "mention", "offset": 0, "length": len(BOT["username"]) + 1}],
        )
        await api.wait_for("sendMessage", chat_id=-501)
        api.push_message(
            "/ask How many Palestinians have been killed in Gaza?",
            chat_id=-502,
            chat_type="group",
            entities=[{"type": "bot_command", "offset": 0, "length": 4}],
        )
        await api.wait_for("sendMessage", chat_id=-502)
        assert api.sent("sendMessage", chat_id=-500) == []


async def test_help_and_bad_input(services: Services) -> None:
    async with running(services) as api:
        api.push_message(
            "/start",
            chat_id=21,
            language="ar",
            entities=[{"type": "bot_command", "offset": 0, "length": 6}],
        )
        (hello,) = await api.wait_for("sendMessage", chat_id=21)
        assert "201" in hello.params["text"] and "اسأل" in hello.params["text"]
        api.push_message("x" * 1001, chat_id=22)
        (long,) = await api.wait_for("sendMessage", chat_id=22)
        assert "too long" in long.params["text"]


async def test_rejected_formatting_is_resent_as_plain_text(services: Services) -> None:
    async with running(services) as api:
        api.fail_next["sendMessage"] = [
            (
                400,
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: can't parse entities: test",
                },
            )
        ]
        api.push_message("How many Palestinians have been killed in Gaza?", chat_id=31)
        calls = await api.wait_for("sendMessage", count=2, chat_id=31)
        assert calls[0].params.get("parse_mode") == "HTML"
        assert "parse_mode" not in calls[1].params and "3760" not in calls[1].params["text"][:0]
        assert "<blockquote" not in calls[1].params["text"]


async def test_the_token_never_reaches_the_logs(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.compose import redact_secrets

    redact_secrets([TOKEN])
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="httpx")  # httpx logs every request URL at INFO
    async with running(services) as api:
        api.push_message(
            "/help", chat_id=41, entities=[{"type": "bot_command", "offset": 0, "length": 5}]
        )
        await api.wait_for("sendMessage", chat_id=41)
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # the URLs were logged
    assert "<redacted>" in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text


@pytest.mark.slow
async def test_rawi_serve_end_to_end(tmp_path: Path) -> None:
    """`rawi serve` as a user starts it: its own process, settings from the environment."""
    data = tmp_path / "data"
    assert rawi("ingest", str(ROOT / "config" / "sample"), data_dir=data).returncode == 0
    assert "no bot token" in rawi("serve", data_dir=data).stderr

    api = FakeBotAPI()
    await api.start()
    env = {
        **os.environ,
        "RAWI_DATA_DIR": str(data),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "RAWI_TELEGRAM__API_URL": api.base_url,
        "RAWI_LOG_LEVEL": "DEBUG",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        api.push_message("Who saved two penalties in the cup final?", chat_id=51)
        (reply,) = await api.wait_for("sendMessage", chat_id=51, within=120)
        assert "Yousef Amin" in reply.params["text"]
        assert api.sent("deleteWebhook")  # polling started the way Telegram expects
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        await api.stop()
    assert proc.returncode == 0, err.decode()[-2000:]
    logs = err.decode()
    assert "HTTP Request" in logs or "getUpdates" in logs
    assert TOKEN not in logs and TOKEN.split(":")[1] not in logs


async def test_429_is_retried_after_the_delay(services: Services) -> None:
    async with running(services) as api:
        api.fail_next["sendMessage"] = [
            (
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1},
                },
            )
        ]
        api.push_message(
            "/help", chat_id=61, entities=[{"type": "bot_command", "offset": 0, "length": 5}]
        )
        first, second = await api.wait_for("sendMessage", count=2, chat_id=61)
        assert second.at - first.at >= 0.9  # waited as told before trying again
        assert second.params["text"] == first.params["text"]


async def test_article_markup_is_escaped_in_answers(tmp_path: Path, embedder: Embedder) -> None:
    store = Store(embedded_client(tmp_path / "db"), embedder)
    searcher = Searcher(store, embedder, LexicalIndex(None))
    nasty = make_article(
        [
            "The council approved the <b>harbour</b> budget & the <script>alert(1)</script> "
            "plan for the <i new marina on Tuesday, officials said."
        ],
        title="Budget <b>& more</b>",
        given_id="nasty",
        url="https://example.com/news?a=1&b=<2>",
    )
    Ingestor(store, embedder).run([Loaded("t", nasty)])
    svc = Services(QAService(searcher, ExtractiveAnswerer(embedder)), lambda: {"articles": 1})
    async with running(svc) as api:
        api.push_message("What did the council approve for the harbour?", chat_id=71)
        (reply,) = await api.wait_for("sendMessage", chat_id=71)
    text = reply.params["text"]
    assert reply.params["parse_mode"] == "HTML"  # accepted as HTML: the fake parses it
    assert "&lt;script&gt;" in text and "<script>" not in text
    assert "&lt;i new marina" in text and "&amp; the" in text
    assert "Budget &lt;b&gt;&amp; more&lt;/b&gt;" in text


async def test_non_text_messages_get_a_short_reply(services: Services) -> None:
    async with running(services) as api:
        sticker = {
            "file_id": "s1", "file_unique_id": "u1", "type": "regular",
            "width": 512, "height": 512, "is_animated": False, "is_video": False,
        }  # fmt: skip
        api.push(
            {
                "message": {
                    "message_id": 900,
                    "date": 1,
                    "chat": {"id": 81, "type": "private"},
                    "from": {"id": 8, "is_bot": False, "first_name": "R", "language_code": "ar"},
                    "sticker": sticker,
                }
            }
        )
        (reply,) = await api.wait_for("sendMessage", chat_id=81)
        assert reply.params["text"] == TEXTS["empty"]["ar"]


async def test_a_failure_is_logged_and_the_reader_told(
    tmp_path: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    client = embedded_client(tmp_path / "db")
    store = Store(client, embedder)
    searcher = Searcher(store, embedder, LexicalIndex(None))
    Ingestor(store, embedder).run([Loaded("t", make_article(["Some text."], given_id="a"))])
    client.delete_collection(store.chunks.name)  # the vectors vanish under the bot
    svc = Services(QAService(searcher, ExtractiveAnswerer(embedder)), store.coverage)
    async with running(svc) as api:
        api.push_message("What does the text say?", chat_id=91)
        (reply,) = await api.wait_for("sendMessage", chat_id=91)
    assert reply.params["text"] == TEXTS["error"]["en"]
    failure = [r for r in caplog.records if r.message == "error while handling an update"]
    assert failure and failure[0].exc_info is not None  # logged with its traceback
