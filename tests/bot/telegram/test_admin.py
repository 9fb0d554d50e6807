"""Admins curate the coverage from Telegram: real HTTP through the fake Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.telegram.context import Admin, Services
from bot.telegram.state import ChatState
from bot.telegram.texts import ADMIN_TEXTS
from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.ingest.fetch import Fetcher
from retrieval.ingest.loaders import Loaded, make_article
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.service import QAService
from retrieval.store.chunks import Store
from retrieval.store.clients import embedded_client
from tests.auxil.fakebotapi import BOT, FakeBotAPI
from tests.auxil.helpers import searcher_for
from tests.auxil.telegram import running
from tests.auxil.web import served

ADMIN, READER = 500, 501
ANONYMOUS_ADMIN_BOT = 1087968824  # Telegram's "GroupAnonymousBot"
PIER = (
    "/add Harbour pier reopens\nThe north pier of Oasis harbour reopened on Monday after "
    "repairs that cost 40 million riyals."
)
FERRY = "Ferry timetable changes\nThe harbour ferry will leave every {} minutes from Sunday."
BIG = b"Title\n\n" + b"word " * 1000
_ids = itertools.count(10_000)


@dataclass
class Newsroom:
    store: Store
    services: Services
    admin: Admin


@pytest.fixture
def newsroom(tmp_path: Path, embedder: Embedder) -> Newsroom:
    store = Store(embedded_client(tmp_path / "db"), embedder)
    searcher = searcher_for(store, embedder, tmp_path / "lexical.sqlite")
    state = ChatState(tmp_path / "chat.sqlite")
    services = Services(
        QAService(searcher, ExtractiveAnswerer(embedder)), store.catalogue.coverage, state
    )
    admin = Admin(
        admin_ids=frozenset({ADMIN}), store=store, ingestor=Ingestor(store, embedder),
        state=state, embedder=embedder, channels=frozenset({"citychannel"}),
        max_document_bytes=2000,
    )  # fmt: skip
    return Newsroom(store, services, admin)


def message(
    chat_id: int, user_id: int, text: str | None = None, *, command: bool = False,
    language: str = "en", **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    m: dict[str, Any] = {
        "message_id": next(_ids), "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
        "from": {"id": user_id, "is_bot": False, "first_name": "U", "language_code": language},
    }  # fmt: skip
    if text is not None:
        m["text"] = text
        if command:
            m["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    m.update(extra)
    return {"message": m}


def push_document(api: FakeBotAPI, doc: dict[str, Any], name: str, language: str = "en") -> None:
    """An admin sends ``doc`` (from ``api.add_file``) as ``name`` with the caption /add."""
    command = [{"type": "bot_command", "offset": 0, "length": 4}]
    api.push(message(ADMIN, ADMIN, caption="/add", document={**doc, "file_name": name},
                     caption_entities=command, language=language))  # fmt: skip


async def ask(api: FakeBotAPI, question: str, chat_id: int) -> str:
    before = len(api.sent("sendMessage", chat_id=chat_id))
    api.push(message(chat_id, chat_id, question))
    calls = await api.wait_for("sendMessage", count=before + 1, chat_id=chat_id)
    return str(calls[before].params["text"])


async def command(api: FakeBotAPI, text: str, chat_id: int = ADMIN, user_id: int = ADMIN,
                  method: str = "sendMessage", **extra: Any) -> Any:  # fmt: skip
    before = len(api.sent(method, chat_id=chat_id))
    api.push(message(chat_id, user_id, text, command=True, **extra))
    calls = await api.wait_for(method, count=before + 1, chat_id=chat_id)
    return calls[before]


@contextlib.asynccontextmanager
async def web_site() -> AsyncIterator[dict[str, Any]]:
    """A local web server with an article page, a redirect to a second server, and
    that second server, which records every request it gets."""
    hits: dict[str, list[str]] = {"a": [], "b": []}
    page = (
        "<html><head><title>Desert observatory opens</title></head><body><nav>Home</nav>"
        "<article><h1>Desert observatory opens</h1><p>The new desert observatory near Oasis "
        "City opened on Thursday with a telescope of 2.4 metres, the largest in the region, "
        "and it will host school visits every week.</p><p>Astronomers said the dark skies "
        "east of the city make it one of the best sites for observing in the country.</p>"
        "</article></body></html>"
    )
    b = web.Application()

    async def b_any(request: web.Request) -> web.Response:
        hits["b"].append(request.path)
        return web.Response(text="internal secret", content_type="text/plain")

    b.router.add_get("/{tail:.*}", b_any)
    a = web.Application()

    async def a_page(request: web.Request) -> web.Response:
        hits["a"].append(request.path)
        return web.Response(text=page, content_type="text/html")

    async def a_redirect(request: web.Request) -> web.Response:
        hits["a"].append(request.path)
        raise web.HTTPFound(f"http://127.0.0.1:{b_port}/admin")

    a.router.add_get("/article", a_page)
    a.router.add_get("/moved", a_redirect)
    async with served(b) as b_port, served(a) as a_port:
        yield {"a": a_port, "b": b_port, "hits": hits}


async def test_add_by_text_reply_document_and_url_then_answered(newsroom: Newsroom) -> None:
    newsroom.admin.fetcher = Fetcher(allow_private=True)
    async with web_site() as site, running(newsroom.services, admin=newsroom.admin) as api:
        # by text
        reply = await command(api, PIER)
        assert reply.params["text"].startswith("Added: <code>")
        assert "Harbour pier reopens (1 paragraph)" in reply.params["text"]
        # by reply to a forwarded channel post
        post = {
            "message_id": 77, "date": 1_700_000_000, "chat": {"id": ADMIN, "type": "private"},
            "from": {"id": ADMIN, "is_bot": False, "first_name": "U"},
            "forward_origin": {
                "type": "channel", "date": 1_699_990_000, "message_id": 314,
                "chat": {"id": -100777, "type": "channel", "title": "City Channel",
                         "username": "citychannel"},
            },
            "text": "Metro line opens in March\nThe new metro line opens on 5 March with "
                    "twelve stations between the port and the university.",
        }  # fmt: skip
        reply = await command(api, "/add", reply_to_message=post)
        assert "Metro line opens in March (1 paragraph)" in reply.params["text"]
        # by document
        festival = (
            b"Desert festival draws crowds\n\nThe desert festival drew 30,000 visitors over "
            b"three days, organisers said."
        )
        doc = api.add_file("festival-doc", festival)
        push_document(api, doc, "f.txt")
        (status,) = (await api.wait_for("sendMessage", count=3, chat_id=ADMIN))[2:]
        assert status.params["text"] == "Reading f.txt…"
        (reply,) = await api.wait_for("editMessageText", chat_id=ADMIN)
        assert reply.params["message_id"] == str(status.result["message_id"])
        assert "Desert festival draws crowds (1 paragraph)" in reply.params["text"]
        assert api.downloads == ["documents/festival-doc"]
        # by URL
        url = f"http://127.0.0.1:{site['a']}/article"
        reply = await command(api, f"/add {url}")
        # the page's <h1> is its title, not its first paragraph
        assert "Desert observatory opens (2 paragraphs)" in reply.params["text"]

        metro = newsroom.store.catalogue.info(next(a.id for a in newsroom.store.catalogue.articles()
                                         if a.title.startswith("Metro")))  # fmt: skip
        assert metro is not None and metro.source == "City Channel"
        assert metro.url == "https://t.me/citychannel/314" and metro.published
        assert metro.published.startswith("2023-11-14")
        observatory = next(
            a for a in newsroom.store.catalogue.articles() if a.title.startswith("Desert o")
        )
        assert observatory.url == url

        # readers get answers from each
        assert "40 million riyals" in await ask(api, "How much did the pier repairs cost?", 1)
        assert "5 March" in await ask(api, "When does the new metro line open?", 2)
        assert "30,000" in await ask(api, "How many visitors came to the desert festival?", 3)
        assert "2.4 metres" in await ask(api, "How big is the observatory's telescope?", 4)
        # a duplicate is reported as such
        reply = await command(api, PIER)
        assert reply.params["text"].startswith("Already in the coverage, unchanged")
    assert len(newsroom.store.catalogue.articles()) == 4


async def test_urls_to_private_addresses_are_refused(newsroom: Newsroom) -> None:
    fetched: list[str] = []
    async with web_site() as site, running(newsroom.services, admin=newsroom.admin) as api:
        # The first server stands in for a public site (trusted); the second is internal.
        newsroom.admin.fetcher = Fetcher(
            allow_private=False, trusted={("127.0.0.1", site["a"])}, on_request=fetched.append
        )
        for url, why in (
            (f"http://127.0.0.1:{site['b']}/admin", "non-public address (127.0.0.1)"),
            ("http://10.1.2.3/news", "non-public address (10.1.2.3)"),
            ("http://[::1]:8080/x", "non-public address (::1)"),
            (f"http://127.0.0.1:{site['a']}/moved", "non-public address (127.0.0.1)"),
            ("ftp://example.org/file.txt", "only http and https"),
        ):
            reply = await command(api, f"/add {url}")
            assert reply.params["text"].startswith("Not added:") and why in reply.params["text"]
    assert site["hits"]["b"] == []  # nothing internal was ever fetched
    assert site["hits"]["a"] == ["/moved"]  # only the first hop of the redirect
    assert fetched == [f"http://127.0.0.1:{site['a']}/moved"]
    assert newsroom.store.catalogue.articles() == []


async def test_an_unreachable_url_is_reported(newsroom: Newsroom) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    newsroom.admin.fetcher = Fetcher(allow_private=True, timeout=5)
    async with running(newsroom.services, admin=newsroom.admin) as api:
        reply = await command(api, f"/add http://127.0.0.1:{port}/news")
    assert reply.params["text"] == (
        f"Not added: http://127.0.0.1:{port}/news is unreachable (ConnectError)"
    )
    assert newsroom.store.catalogue.articles() == []


async def test_non_admins_and_anonymous_admins_are_refused(newsroom: Newsroom) -> None:
    async with running(newsroom.services, admin=newsroom.admin) as api:
        reply = await command(api, "/add Title\nSome body text here.", chat_id=READER,
                              user_id=READER)  # fmt: skip
        assert reply.params["text"] == ADMIN_TEXTS["not_admin"]["en"]
        group = {"id": -4000, "type": "supergroup", "title": "Newsroom"}
        for sender in (ANONYMOUS_ADMIN_BOT, ADMIN):  # "as the group", whoever is behind it
            reply = await command(api, "/add Title\nSome body text here.", chat_id=-4000,
                                  user_id=sender, sender_chat=group)  # fmt: skip
            assert reply.params["text"] == ADMIN_TEXTS["not_admin"]["en"]
        for cmd in ("/stats", "/articles", "/remove x", "/unanswered"):
            reply = await command(api, cmd, chat_id=READER, user_id=READER)
            assert reply.params["text"] == ADMIN_TEXTS["not_admin"]["en"]
        scoped = [c for c in api.sent("setMyCommands") if c.params.get("scope")]
        assert {json.loads(c.params["scope"])["chat_id"] for c in scoped} == {ADMIN}
        names = {cmd["command"] for c in scoped for cmd in json.loads(c.params["commands"])}
        assert {"add", "remove", "stats", "unanswered", "articles", "help"} <= names
        unscoped = [c for c in api.sent("setMyCommands") if not c.params.get("scope")]
        assert all("add" not in c.params["commands"] for c in unscoped)
    assert newsroom.store.catalogue.articles() == []


async def test_admin_commands_in_a_group_point_to_the_private_chat(newsroom: Newsroom) -> None:
    _add_many(newsroom, 1)
    async with running(newsroom.services, admin=newsroom.admin) as api:
        await ask(api, "Who won the national football league this year?", 21)  # a private question
        for cmd, lang in (("/unanswered", "en"), ("/stats", "ar"), ("/articles", "en"),
                          ("/add Title\nSome body text here.", "ar")):  # fmt: skip
            reply = await command(api, cmd, chat_id=-4100, language=lang)
            pointer = ADMIN_TEXTS["private_only"][lang].format(bot=BOT["username"])
            assert reply.params["text"] == pointer
            assert "football" not in reply.params["text"]
        assert not api.sent("sendPhoto", chat_id=-4100)  # no stats chart in the group
        reply = await command(api, "/unanswered")  # the same admin, privately
        assert "football" in reply.params["text"]
    assert len(newsroom.store.catalogue.articles()) == 1  # nothing added from the group


async def test_documents_too_large_or_of_the_wrong_type_are_refused(newsroom: Newsroom) -> None:
    async with running(newsroom.services, admin=newsroom.admin) as api:
        for name, data, why in (
            ("report.pdf", b"%PDF-1.4 ...", "unsupported file type .pdf"),
            (
                "big.txt",
                b"Title\n\n" + b"word " * 1000,
                "too large (5,007 bytes; the limit is 2,000)",
            ),
        ):
            doc = api.add_file(name, data)
            before = len(api.sent("sendMessage", chat_id=ADMIN))
            push_document(api, doc, name)
            calls = await api.wait_for("sendMessage", count=before + 1, chat_id=ADMIN)
            assert why in calls[before].params["text"], calls[before].params["text"]
        assert api.downloads == []  # refused before downloading
    assert newsroom.store.catalogue.articles() == []


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_a_document_telegram_will_not_hand_over_is_said_plainly(
    newsroom: Newsroom, caplog: pytest.LogCaptureFixture, lang: str
) -> None:
    body = b"Desert festival draws crowds\n\nThe festival drew 30,000 visitors."
    failures = [  # (method failed, status, what Telegram says)
        ("getFile", 400, "Bad Request: wrong file_id or the file is temporarily unavailable"),
        ("getFile", 500, "Internal Server Error"),
        ("download", 404, "Not Found"),
        ("download", 502, "Bad Gateway"),
        (None, 0, ""),  # getFile answers, without the file's path
    ]
    said = f"{ADMIN_TEXTS['refused'][lang]}: {ADMIN_TEXTS['no_document'][lang]}"
    async with running(newsroom.services, admin=newsroom.admin) as api:
        for n, (method, status, description) in enumerate(failures, start=1):
            doc = api.add_file(f"lost-{n}", body, path=method is not None)
            if method is not None:
                api.fail(method, status, description)
            push_document(api, doc, "festival.txt", language=lang)
            edits = await api.wait_for("editMessageText", count=n, chat_id=ADMIN)
            assert edits[-1].params["text"] == said, (method, status)
        assert not api.fail_next.get("getFile") and not api.fail_next.get("download")
        assert len(api.downloads) == 2  # the two failed downloads; the rest never got one
        assert len(api.sent("sendMessage", chat_id=ADMIN)) == len(failures)  # "Reading…" only
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert newsroom.store.catalogue.articles() == []


async def test_a_button_without_data_or_with_garbage_is_answered_plainly(
    newsroom: Newsroom, caplog: pytest.LogCaptureFixture
) -> None:
    _add_many(newsroom, 1)
    presses = [None, "", "ap", "ap12345x", "ap-00001", "rq", "rqzzzzzzzz", "rm00000000", "x" * 64]
    async with running(newsroom.services, admin=newsroom.admin) as api:
        listing = await command(api, "/articles")
        for n, data in enumerate(presses, start=1):
            api.push_callback(data, listing.result, user_id=ADMIN)
            await api.wait_for("answerCallbackQuery", count=n)
        # a button under a message Telegram no longer shows (its chat, its id, date 0)
        gone = {"chat": listing.result["chat"], "message_id": listing.result["message_id"],
                "date": 0}  # fmt: skip
        api.push_callback("ap000001", gone, user_id=ADMIN)
        await api.wait_for("answerCallbackQuery", count=len(presses) + 1)
        await asyncio.sleep(0.3)  # anything else the presses would do
    assert len(api.sent("sendMessage", chat_id=ADMIN)) == 1  # the listing; no error after it
    (shown,) = api.sent("editMessageText")  # by the last press only: the one page, again
    assert shown.params["text"].startswith("<b>Articles 1–1 of 1</b>")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(newsroom.store.catalogue.articles()) == 1


async def test_channel_posts_become_articles_and_edits_replace_them(newsroom: Newsroom) -> None:
    async with running(newsroom.services, admin=newsroom.admin) as api:
        api.push_channel_post(FERRY.format(40), username="citychannel", message_id=5)
        api.push_channel_post("Other channel\nNot watched, so never added.",
                              username="elsewhere", message_id=6)  # fmt: skip
        for _ in range(200):
            if newsroom.store.catalogue.info("tg-citychannel-5"):
                break
            await asyncio.sleep(0.05)
        info = newsroom.store.catalogue.info("tg-citychannel-5")
        assert info is not None and info.url == "https://t.me/citychannel/5"
        assert info.source == "Newsroom Channel"
        assert "40 minutes" in await ask(api, "How often will the harbour ferry leave?", 7)

        api.push_channel_post(FERRY.format(25), username="citychannel", message_id=5, edited=True)
        for _ in range(200):
            current = newsroom.store.catalogue.info("tg-citychannel-5")
            if current is not None and current.revision != info.revision:
                break
            await asyncio.sleep(0.05)
        answer = await ask(api, "How often will the harbour ferry leave?", 8)
        assert "25 minutes" in answer and "40 minutes" not in answer
    assert [a.id for a in newsroom.store.catalogue.articles()] == ["tg-citychannel-5"]


def _add_many(newsroom: Newsroom, n: int) -> list[str]:
    items = [
        Loaded("t", make_article([f"Council session number {i} approved item {i} of the "
                                  f"budget on day {i}."], title=f"Session {i:02d}",
                                 given_id=f"s{i:02d}", published=f"2024-01-{i + 1:02d}"))
        for i in range(n)
    ]  # fmt: skip
    newsroom.admin.ingestor.run(items)
    return [i.article.id for i in items if i.article]


async def test_remove_asks_for_confirmation(newsroom: Newsroom) -> None:
    _add_many(newsroom, 3)
    async with running(newsroom.services, admin=newsroom.admin) as api:
        ask_msg = await command(api, "/remove s01")
        assert "Session 01" in ask_msg.params["text"]
        buttons = api.reply_markup(ask_msg)["inline_keyboard"][0]
        remove, cancel = (b["callback_data"] for b in buttons)
        assert len(remove) == len(cancel) == 10 and "s01" not in remove + cancel
        api.push_callback(cancel, ask_msg.result, user_id=ADMIN)
        (edit,) = await api.wait_for("editMessageText")
        assert edit.params["text"] == ADMIN_TEXTS["cancelled"]["en"]
        assert newsroom.store.catalogue.info("s01") is not None

        ask_msg = await command(api, "/remove s01")
        remove = api.reply_markup(ask_msg)["inline_keyboard"][0][0]["callback_data"]
        api.push_callback(remove, ask_msg.result, user_id=READER)  # not an admin: refused
        _, refusal = await api.wait_for("answerCallbackQuery", count=2)
        assert refusal.params["text"] == ADMIN_TEXTS["not_admin"]["en"]
        assert newsroom.store.catalogue.info("s01") is not None
        api.push_callback(remove, ask_msg.result, user_id=ADMIN)
        edits = await api.wait_for("editMessageText", count=2)
        assert edits[1].params["text"] == "Removed s01."
        assert newsroom.store.catalogue.info("s01") is None
        api.push_callback(remove, ask_msg.result, user_id=ADMIN)  # pressed again
        answers = await api.wait_for("answerCallbackQuery", count=4)
        assert answers[3].params["text"] == "s01 is already removed."
        reply = await command(api, "/remove nope")
        assert reply.params["text"] == "No article with id nope."
    assert sorted(a.id for a in newsroom.store.catalogue.articles()) == ["s00", "s02"]


async def test_articles_are_listed_in_pages(newsroom: Newsroom) -> None:
    _add_many(newsroom, 23)
    async with running(newsroom.services, admin=newsroom.admin) as api:
        first = await command(api, "/articles")
        text = first.params["text"]
        assert text.startswith("<b>Articles 1–10 of 23</b>") and "Session 22" in text
        assert "Session 12" not in text
        (button,) = api.reply_markup(first)["inline_keyboard"][0]
        assert button["text"] == "▶" and button["callback_data"] == "ap000001"
        api.push_callback("ap000001", first.result, user_id=ADMIN)
        (second,) = await api.wait_for("editMessageText")
        assert second.params["text"].startswith("<b>Articles 11–20 of 23</b>")
        assert "Session 12" in second.params["text"]
        assert [b["text"] for b in api.reply_markup(second)["inline_keyboard"][0]] == ["◀", "▶"]
        api.push_callback("ap000002", first.result, user_id=ADMIN)
        _, third = await api.wait_for("editMessageText", count=2)
        assert third.params["text"].startswith("<b>Articles 21–23 of 23</b>")


async def test_a_page_button_under_a_deleted_listing_sends_the_page_anew(
    newsroom: Newsroom, caplog: pytest.LogCaptureFixture
) -> None:
    _add_many(newsroom, 12)
    async with running(newsroom.services, admin=newsroom.admin) as api:
        first = await command(api, "/articles")
        del api.messages[(ADMIN, first.result["message_id"])]  # the admin deleted it
        api.push_callback("ap000001", first.result, user_id=ADMIN)
        _, page = await api.wait_for("sendMessage", count=2, chat_id=ADMIN)
    assert page.params["text"].startswith("<b>Articles 11–12 of 12</b>")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_stats_with_a_chart_and_unanswered_questions(newsroom: Newsroom) -> None:
    _add_many(newsroom, 3)
    async with running(newsroom.services, admin=newsroom.admin) as api:
        await ask(api, "What did council session number 1 approve?", 21)
        for q in ("Who won the national football league this year?",
                  "Which team won the football league this season?",
                  "What is the weather forecast for tomorrow?"):  # fmt: skip
            answer = await ask(api, q, 22)
            assert answer == "The coverage does not answer this question."
        await ask(api, "hello!", 23)  # small talk: neither a question nor a gap
        # a reader votes an answer down: the editors see it beside the refusals
        await ask(api, "What did council session number 2 approve?", 24)
        (answered,) = api.sent("sendMessage", chat_id=24)
        down = api.reply_markup(answered)["inline_keyboard"][0][1]["callback_data"]
        api.push_callback(down, answered.result, user_id=24)
        await api.wait_for("answerCallbackQuery")

        photo = await command(api, "/stats", method="sendPhoto")
        png = photo.params["photo"]
        assert isinstance(png, bytes) and png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
        caption = photo.params["caption"]
        assert "Coverage: 3 articles (3 passages), Jan 1\u2009–\u20093, 2024" in caption
        assert "Questions: 5, answered 40%" in caption
        assert "not in the coverage 3" in caption and "Small talk: 1" in caption
        assert "👎 1" in caption

        reply = await command(api, "/unanswered")
        lines = reply.params["text"].split("\n")
        assert lines[1].startswith("2× ") and "football" in lines[1], lines
        assert "not in the coverage 2" in lines[1]
        assert any(line.startswith("1× What is the weather") for line in lines)
        assert any("session number 2" in line and "voted 👎" in line for line in lines)
        assert not any("hello" in line for line in lines)


async def test_a_big_document_reports_progress_in_one_message(newsroom: Newsroom) -> None:
    newsroom.admin.max_document_bytes = 1_000_000
    lines = [
        json.dumps({"id": f"j{i}", "title": f"Bulletin {i}",
                    "text": f"Bulletin {i}: the market opened {i} minutes late today."})
        for i in range(40)
    ]  # fmt: skip
    lines.insert(3, "{not json")
    async with running(newsroom.services, admin=newsroom.admin) as api:
        doc = api.add_file("bulk", "\n".join(lines).encode())
        push_document(api, doc, "b.jsonl")
        (status,) = await api.wait_for("sendMessage", chat_id=ADMIN)
        assert status.params["text"] == "Reading b.jsonl…"
        for _ in range(600):
            edits = api.sent("editMessageText", chat_id=ADMIN)
            if edits and "added" in edits[-1].params["text"]:
                break
            await asyncio.sleep(0.05)
        final = api.sent("editMessageText", chat_id=ADMIN)[-1]
        assert final.params["text"].startswith("40 added, 0 updated, 0 unchanged, 1 not added")
        # 41 lines of detail: the first 20, and a count of the rest
        assert final.params["text"].endswith("…and 21 more")
        edits = api.sent("editMessageText", chat_id=ADMIN)
        assert any(e.params["text"].startswith("Adding articles: ") and " of 41… (" in
                   e.params["text"] for e in edits)  # fmt: skip
        assert all(e.params["message_id"] == str(status.result["message_id"])
                   for e in api.sent("editMessageText", chat_id=ADMIN))  # fmt: skip
        assert len(api.sent("sendMessage", chat_id=ADMIN)) == 1  # one message, edited
    assert len(newsroom.store.catalogue.articles()) == 40


async def test_an_arabic_admin_reads_arabic_counts_reasons_dates_and_names(
    newsroom: Newsroom,
) -> None:
    _add_many(newsroom, 3)
    qa = newsroom.services.qa  # an outlet with display names, as the settings give them
    outlets = {"citynews": {"ar": "أخبار المدينة", "en": "City News"}}
    newsroom.services.qa = QAService(qa.searcher, qa.answerer, outlets=outlets)
    newsroom.admin.ingestor.run([Loaded("t", make_article(
        ["قال الدفاع المدني إن زلزالًا بقوة 5 درجات ضرب المدينة فجرًا.",
         "ولم تُسجَّل أي إصابات بحسب البيان."],
        title="زلزال يضرب المدينة", given_id="quake", source="citynews",
        published="2024-01-04"))])  # fmt: skip
    async with running(newsroom.services, admin=newsroom.admin) as api:

        async def arabic(line: str, **extra: Any) -> str:
            return str((await command(api, line, language="ar", **extra)).params["text"])

        reply = await arabic("/add عاجل: حريق في سوق المدينة")  # one line: title and body
        assert reply.startswith("أُضيف: <code>") and reply.endswith("(فقرة واحدة)"), reply
        reply = await arabic("/add http://127.0.0.1:9/admin")
        assert reply == "لم يُضف: الموقع 127.0.0.1 يشير إلى عنوان داخلي غير عام (127.0.0.1)؛ رُفض"
        reply = await arabic("/articles زلزال")
        assert "زلزال يضرب المدينة — أخبار المدينة · 4 يناير 2024" in reply, reply
        assert reply.startswith("<b>نتائج البحث عن «زلزال»: مقال واحد، الأحدث أولًا</b>")
        reply = await arabic("/articles")
        assert reply.startswith("<b>المقالات 1–5 من 5</b>")
        photo = await command(api, "/stats", method="sendPhoto", language="ar")
        caption = photo.params["caption"]
        assert caption.startswith("التغطية: 5 مقالات (6 مقاطع) من مصدر واحد (أخبار المدينة)،")
        assert "1–4 يناير 2024" in caption and "الأسئلة: 0،" in caption

        doc = api.add_file("bad-json", b'{"title": "x", "text": ')
        add = [{"type": "bot_command", "offset": 0, "length": 4}]
        api.push(message(ADMIN, ADMIN, caption="/add", language="ar", caption_entities=add,
                         document={**doc, "file_name": "bad.json"}))  # fmt: skip
        (edit,) = await api.wait_for("editMessageText", chat_id=ADMIN)
        assert edit.params["text"] == "لم يُضف: bad.json — JSON غير صالح (السطر 1)"

        reply = await command(api, "/add http://127.0.0.1:9/admin")  # the same, in English
        assert reply.params["text"] == (
            "Not added: 127.0.0.1 resolves to a non-public address (127.0.0.1); refused"
        )


def test_arabic_plural_forms_follow_cldr() -> None:
    from bot.telegram.texts import count

    forms = {n: count(n, "article", "ar") for n in (0, 1, 2, 3, 10, 11, 99, 100, 101, 1303)}
    assert forms == {
        0: "لا مقالات", 1: "مقال واحد", 2: "مقالان", 3: "3 مقالات", 10: "10 مقالات",
        11: "11 مقالًا", 99: "99 مقالًا", 100: "100 مقال", 101: "101 مقال",
        1303: "1,303 مقالات",
    }  # fmt: skip
    assert [count(n, "paragraph", "en") for n in (1, 2)] == ["1 paragraph", "2 paragraphs"]


def test_the_chart_speaks_the_admins_language() -> None:
    from bot.telegram.admin import CHART_LABELS
    from bot.telegram.insights import chart_png, last_days
    from bot.telegram.texts import day_month, text

    days = last_days(30)
    series = [i % 4 for i in range(30)]
    pngs = {}
    for lang in ("en", "ar"):
        labels = {k: text(f"chart_{k}", lang, days=30) for k in CHART_LABELS}
        pngs[lang] = chart_png(days, series, series, series, labels=labels, rtl=lang == "ar",
                               day_label=lambda d, lang=lang: day_month(d, lang))  # fmt: skip
    assert all(p.startswith(b"\x89PNG") for p in pngs.values())
    assert pngs["ar"] != pngs["en"]
    assert text("chart_title", "ar", days=30) == "آخر 30 يومًا (بتوقيت UTC)"
    assert day_month("2015-07-23", "ar") == "23 يوليو"


async def test_channel_posts_one_liners_included_reach_the_admins_once(
    newsroom: Newsroom,
) -> None:
    async with running(newsroom.services, admin=newsroom.admin) as api:
        await command(api, "/articles", language="en")  # the admin's language is known
        api.push_channel_post("عاجل: زلزال بقوة 5 درجات", username="citychannel", message_id=11)
        api.push_channel_post(FERRY.format(40), username="citychannel", message_id=12)
        api.push({"channel_post": {
            "message_id": 13, "date": 1_700_000_000,
            "chat": {"id": -1009999, "type": "channel", "title": "Newsroom Channel",
                     "username": "citychannel"},
            "photo": [{"file_id": "p", "file_unique_id": "p", "width": 9, "height": 9}],
        }})  # fmt: skip
        notices = await api.wait_for("sendMessage", count=2, chat_id=ADMIN, within=30)
        body = notices[1].params["text"]
        assert body.startswith("<b>From the channel Newsroom Channel:</b>"), body
        assert (
            "Added: <code>tg-citychannel-11</code> — عاجل: زلزال بقوة 5 درجات (1 paragraph)" in body
        )
        assert "tg-citychannel-12" in body and "Not added: no text" in body
        await asyncio.sleep(NOTICE_WAIT)
        assert len(api.sent("sendMessage", chat_id=ADMIN)) == 2  # one notice for the burst
    quake = newsroom.store.catalogue.info("tg-citychannel-11")
    assert quake is not None and quake.paragraphs == 1


NOTICE_WAIT = 4.0  # longer than the admins' notice delay


async def test_a_channel_post_added_while_the_bot_stops_still_reaches_the_admins(
    newsroom: Newsroom,
) -> None:
    apps: list[Any] = []
    lock = newsroom.admin.ingest_lock
    await lock.acquire()  # the post waits behind another ingestion…

    async def release_once_stopping() -> None:
        for _ in range(3000):
            if not apps[0].running:
                break
            await asyncio.sleep(0.01)
        lock.release()  # …which ends only after the bot has begun to stop

    async with running(newsroom.services, admin=newsroom.admin,
                       setup=lambda app, api: apps.append(app)) as api:  # fmt: skip
        uid = api.push_channel_post(FERRY.format(40), username="citychannel", message_id=21)
        for _ in range(200):  # until the bot has taken the post
            if uid in api.served:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # and its handler waits for the ingestion lock
        releaser = asyncio.create_task(release_once_stopping())
    await releaser
    assert newsroom.store.catalogue.info("tg-citychannel-21") is not None
    (notice,) = api.sent("sendMessage", chat_id=ADMIN)
    assert "tg-citychannel-21" in notice.params["text"]


async def test_articles_found_by_words_and_removed_from_the_results(newsroom: Newsroom) -> None:
    _add_many(newsroom, 23)
    async with running(newsroom.services, admin=newsroom.admin) as api:
        found = await command(api, "/articles session 1")
        lines = found.params["text"].split("\n")
        # Sessions 01, 10–19 and 21: newest first, ten shown, the others counted
        assert lines[0] == "<b>Search for “session 1”: 12 articles, newest first</b>"
        assert lines[1].startswith("1. <code>s21</code> Session 21 — January 22, 2024")
        assert lines[10].startswith("10. <code>s11</code>") and lines[11] == "…and 2 more"
        buttons = [b for row in api.reply_markup(found)["inline_keyboard"] for b in row]
        assert [b["text"] for b in buttons] == [f"🗑 {n}" for n in range(1, 11)]
        api.push_callback(buttons[0]["callback_data"], found.result, user_id=ADMIN)
        confirm = (await api.wait_for("sendMessage", count=2, chat_id=ADMIN))[1]
        assert confirm.params["text"] == "Remove “Session 21” (s21)?"
        yes = api.reply_markup(confirm)["inline_keyboard"][0][0]["callback_data"]
        api.push_callback(yes, confirm.result, user_id=ADMIN)
        (done,) = await api.wait_for("editMessageText", chat_id=ADMIN)
        assert done.params["text"] == "Removed s21."
        assert newsroom.store.catalogue.info("s21") is None
        api.push_callback(buttons[0]["callback_data"], found.result, user_id=ADMIN)
        answers = await api.wait_for("answerCallbackQuery", count=3)
        assert answers[2].params["text"] == "s21 is already removed."
        none = await command(api, "/articles budget of mars")
        assert none.params["text"] == "No article title or id contains “budget of mars”."


async def test_a_zip_document_and_a_title_only_add_and_a_link_with_words(
    newsroom: Newsroom,
) -> None:
    import io
    import zipfile

    newsroom.admin.max_document_bytes = 100_000
    newsroom.admin.fetcher = Fetcher(allow_private=True, timeout=3)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("a.txt", "Dates harvest begins\n\nFarmers began the dates harvest early.")
        archive.writestr("news/b.md", "# Library opens\n\nThe new library opens on Sunday.")
        archive.writestr("notes.pdf", b"%PDF")  # not an article: skipped
    async with running(newsroom.services, admin=newsroom.admin) as api:
        push_document(api, api.add_file("zip", buf.getvalue()), "batch.zip")
        (edit,) = await api.wait_for("editMessageText", chat_id=ADMIN)
        assert "Dates harvest begins (1 paragraph)" in edit.params["text"]
        assert "Library opens (1 paragraph)" in edit.params["text"]

        reply = await command(api, "/add Road closed tonight")
        assert reply.params["text"].endswith("— Road closed tonight (1 paragraph)")

        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        url = f"http://127.0.0.1:{closed}/story"
        reply = await command(api, f"/add {url} Port strike ends\nDockers returned to work.")
        text = reply.params["text"]
        assert "Port strike ends (1 paragraph)" in text
        assert text.endswith("so the words you sent were added with its link."), text
        reply = await command(api, f"/add {url}")  # no words: nothing to fall back on
        assert reply.params["text"].startswith(f"Not added: {url} is unreachable")
    strike = next(a for a in newsroom.store.catalogue.articles() if a.title == "Port strike ends")
    assert strike.url == url
    assert len(newsroom.store.catalogue.articles()) == 4


async def test_a_slow_ingest_edits_its_progress_every_few_seconds(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.telegram import admin as admin_module

    monkeypatch.setattr(admin_module, "PROGRESS_EVERY", 0.25)
    newsroom.admin.max_document_bytes = 1_000_000
    run = newsroom.admin.ingestor.run

    def slow_run(*args: Any, **kwargs: Any) -> Any:  # a big archive's first minutes
        time.sleep(1.5)
        return run(*args, **kwargs)

    monkeypatch.setattr(newsroom.admin.ingestor, "run", slow_run)
    lines = [json.dumps({"id": f"k{i}", "title": f"Notice {i}", "text": f"Notice {i} text."})
             for i in range(8)]  # fmt: skip
    async with running(newsroom.services, admin=newsroom.admin) as api:
        push_document(api, api.add_file("k", "\n".join(lines).encode()), "k.jsonl")
        for _ in range(400):
            edits = api.sent("editMessageText", chat_id=ADMIN)
            if edits and "added" in edits[-1].params["text"]:
                break
            await asyncio.sleep(0.05)
    progress = [e for e in edits if e.params["text"].startswith("Adding articles: 0 of 8…")]
    assert len(progress) >= 4  # nothing was done yet, and still the message moved
    assert len({e.params["text"] for e in progress}) >= 2  # the seconds count up


async def test_a_full_disk_is_told_to_the_admin_plainly(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chromadb.errors import InternalError

    def full(*args: Any, **kwargs: Any) -> Any:
        raise InternalError("Error in compaction: Failed to apply logs to the metadata segment")

    monkeypatch.setattr(newsroom.store, "_commit", full)
    async with running(newsroom.services, admin=newsroom.admin) as api:
        reply = await command(api, "/add Road closed tonight", language="ar")
    text = reply.params["text"]
    assert text.startswith("أُضيف 0، وحُدِّث 0، ودون تغيير 0، ولم يُضف 1"), text
    assert "توقفت الإضافة: قرص الخادم ممتلئ" in text and "Traceback" not in text
    assert newsroom.store.catalogue.articles() == []
