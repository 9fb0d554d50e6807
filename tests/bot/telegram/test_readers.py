"""The real python-telegram-bot Application over HTTP against the fake Bot API."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.telegram.context import Services
from bot.telegram.server import Webhook
from bot.telegram.texts import TEXTS
from retrieval.answer import NO_ANSWER
from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.ingest.loaders import Loaded, make_article
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.scope import Outlets
from retrieval.search import Searcher
from retrieval.service import QAService
from retrieval.store.chunks import Store
from retrieval.store.clients import embedded_client
from retrieval.types import Answer, Article
from tests.auxil.fakebotapi import BOT, FakeBotAPI
from tests.auxil.helpers import ROOT, configured_outlets, rawi, searcher_for
from tests.auxil.telegram import TOKEN, chat_model, free_port, make_services, running, serving


@pytest.fixture
def services(news: Searcher) -> Services:
    return make_services(
        QAService(news, ExtractiveAnswerer(news.embedder)), news.store.catalogue.coverage
    )


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


def ask_in_group(api: FakeBotAPI, question: str, chat_id: int, user_id: int) -> None:
    api.push_message(
        f"/ask {question}",
        chat_id=chat_id,
        chat_type="supergroup",
        user_id=user_id,
        language="ar",
        entities=[{"type": "bot_command", "offset": 0, "length": 4}],
    )


async def test_in_a_group_each_reader_has_their_own_follow_ups(services: Services) -> None:
    """Reader B's standalone question is not read as reader A's follow-up, and A's
    follow-up still finds A's topic after B spoke."""
    group = -600
    async with running(services) as api:
        ask_in_group(api, "كم فلسطينيًا قُتل في غزة؟", group, user_id=201)
        (a1,) = await api.wait_for("sendMessage", chat_id=group)
        assert "9000" in a1.params["text"]
        ask_in_group(api, "ما هي نسبة الدين الحكومي في منطقة اليورو؟", group, user_id=202)
        _, b1 = await api.wait_for("sendMessage", count=2, chat_id=group)
        ask_in_group(api, "What is the unemployment rate in Spain?", group, user_id=203)
        *_, c1 = await api.wait_for("sendMessage", count=3, chat_id=group)
        for reply in (b1, c1):  # standalone questions, searched as asked
            assert "9000" not in reply.params["text"] and "غزة" not in reply.params["text"]
        assert b1.params["text"] != c1.params["text"]
        ask_in_group(api, "وكم منهم أطفال؟", group, user_id=201)
        *_, a2 = await api.wait_for("sendMessage", count=4, chat_id=group)
        assert "3760" in a2.params["text"]
    a_turns = services.state.history(group, 201)
    assert a_turns[-1].topic == "كم فلسطينيًا قُتل في غزة؟"  # read with A's question
    logged = services.state.history(group, 202)
    assert [t.question for t in logged] == ["ما هي نسبة الدين الحكومي في منطقة اليورو؟"]
    assert logged[0].topic == logged[0].question


async def test_small_talk_gets_a_friendly_reply_without_sources(services: Services) -> None:
    async with running(services) as api:
        api.push_message("مرحبا", chat_id=41, language="ar")
        (ar,) = await api.wait_for("sendMessage", chat_id=41)
        assert "أهلًا" in ar.params["text"] and "201" in ar.params["text"]
        assert "reply_markup" not in ar.params  # nothing to vote on
        api.push_message("who are you?", chat_id=42)
        (en,) = await api.wait_for("sendMessage", chat_id=42)
        assert "rawi" in en.params["text"] and "201 articles" in en.params["text"]
        assert "Sources" not in en.params["text"] and "[1]" not in en.params["text"]
        api.push_message("👍", chat_id=43, language="ar")  # no words: the reader's language
        (ack,) = await api.wait_for("sendMessage", chat_id=43)
        assert "اسألني" in ack.params["text"]
    totals = services.state.totals()
    assert totals["smalltalk"] == 3 and totals["questions"] == 0
    assert services.state.gaps() == []  # not a gap in the coverage


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
        api.fail("sendMessage", 400, "Bad Request: can't parse entities: test")
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
    try:
        async with serving(data, api, {"RAWI_LOG_LEVEL": "DEBUG"}) as proc:
            api.push_message("Who saved two penalties in the cup final?", chat_id=51)
            (reply,) = await api.wait_for("sendMessage", chat_id=51, within=120)
            assert "Yousef Amin" in reply.params["text"]
            assert api.sent("deleteWebhook")  # polling started the way Telegram expects
            menus = {c.params.get("language_code") for c in api.sent("setMyCommands")}
            assert menus == {None, "ar"}

            # SIGTERM while answers are in flight: they are finished, then the process exits
            chats = range(600, 610)
            for chat in chats:
                api.push_message("Who saved two penalties in the cup final?", chat_id=chat)
            await api.wait_for("sendChatAction", count=2)
            proc.send_signal(signal.SIGTERM)
            typing = {int(c.params["chat_id"]) for c in api.sent("sendChatAction")} & set(chats)
            answered_at_signal = {int(c.params["chat_id"]) for c in api.sent()} & set(chats)
            _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await api.stop()
    assert proc.returncode == 0, err.decode()[-2000:]
    answered = {int(c.params["chat_id"]) for c in api.sent()} & set(chats)
    assert len(answered_at_signal) < len(typing)  # some answers were in flight at the signal
    assert typing <= answered  # and every question taken was answered before exiting
    assert "finishing the answers in flight" in err.decode()
    logs = err.decode()
    assert "HTTP Request" in logs or "getUpdates" in logs
    assert TOKEN not in logs and TOKEN.split(":")[1] not in logs


async def test_429_is_retried_after_the_delay(services: Services) -> None:
    async with running(services) as api:
        api.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        api.push_message(
            "/help", chat_id=61, entities=[{"type": "bot_command", "offset": 0, "length": 5}]
        )
        first, second = await api.wait_for("sendMessage", count=2, chat_id=61)
        assert second.at - first.at >= 0.9  # waited as told before trying again
        assert second.params["text"] == first.params["text"]


async def test_article_markup_is_escaped_in_answers(tmp_path: Path, embedder: Embedder) -> None:
    store = Store(embedded_client(tmp_path / "db"), embedder)
    searcher = searcher_for(store, embedder)
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
    svc = make_services(QAService(searcher, ExtractiveAnswerer(embedder)), lambda: {"articles": 1})
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
    searcher = searcher_for(store, embedder)
    Ingestor(store, embedder).run([Loaded("t", make_article(["Some text."], given_id="a"))])
    client.delete_collection(store.chunks.name)  # the vectors vanish under the bot
    svc = make_services(QAService(searcher, ExtractiveAnswerer(embedder)), store.catalogue.coverage)
    async with running(svc) as api:
        api.push_message("What does the text say?", chat_id=91)
        (reply,) = await api.wait_for("sendMessage", chat_id=91)
    assert reply.params["text"] == TEXTS["error"]["en"]
    failure = [r for r in caplog.records if r.message == "error while handling an update"]
    assert failure and failure[0].exc_info is not None  # logged with its traceback


def faces(markup: Any) -> list[str]:
    return [b["text"] for b in markup["inline_keyboard"][0]]


async def test_votes_one_per_reader_the_latest(services: Services) -> None:
    async with running(services) as api:
        question = "How many Palestinians have been killed in Gaza?"
        api.push_message(question, chat_id=101, user_id=70)
        (reply,) = await api.wait_for("sendMessage", chat_id=101)
        buttons = api.reply_markup(reply)["inline_keyboard"][0]
        up, down = (b["callback_data"] for b in buttons)
        assert [b["text"] for b in buttons] == ["👍", "👎"]
        assert re.fullmatch(r"v\+\d{10}", up) and re.fullmatch(r"v-\d{10}", down)
        assert up[2:] == down[2:]  # the same answer, by its number in the log
        qid = int(up[2:])
        answer_id = reply.result["message_id"]

        api.push_callback(up, reply.result, user_id=70)
        (first,) = await api.wait_for("answerCallbackQuery")
        assert first.params["text"] == TEXTS["vote_thanks"]["en"]
        (ticked,) = await api.wait_for("editMessageReplyMarkup", chat_id=101)
        assert ticked.params["message_id"] == str(answer_id)
        assert faces(api.reply_markup(ticked)) == ["👍 ✓", "👎"]
        assert services.state.votes(qid) == (1, 0)
        assert services.state.totals()["up"] == 1

        api.push_callback(down, reply.result, user_id=70)  # changes their mind
        _, second = await api.wait_for("answerCallbackQuery", count=2)
        assert second.params["text"] == TEXTS["vote_changed"]["en"]
        _, changed = await api.wait_for("editMessageReplyMarkup", count=2, chat_id=101)
        assert faces(api.reply_markup(changed)) == ["👍", "👎 ✓"]
        assert services.state.votes(qid) == (0, 1)

        api.push_callback(down, reply.result, user_id=70)  # the same button again
        *_, third = await api.wait_for("answerCallbackQuery", count=3)
        assert third.params["text"] == TEXTS["vote_again"]["en"]

        # in a group the buttons are everyone's: they show no one reader's choice
        group_question = "كم فلسطينيًا قُتل في غزة؟"
        ask_in_group(api, group_question, -102, user_id=72)
        (in_group,) = await api.wait_for("sendMessage", chat_id=-102)
        group_up, group_down = (
            b["callback_data"] for b in api.reply_markup(in_group)["inline_keyboard"][0]
        )
        for n, (data, user) in enumerate([(group_up, 72), (group_down, 71), (group_up, 71)]):
            api.push_callback(data, in_group.result, user_id=user, language="ar")
            *_, group_vote = await api.wait_for("answerCallbackQuery", count=4 + n)
        assert group_vote.params["text"] == TEXTS["vote_changed"]["ar"]
        await asyncio.sleep(0.3)

    assert len(api.sent("editMessageReplyMarkup")) == 2  # none for the same vote, none in the group
    assert services.state.votes(qid) == (0, 1)  # one per reader, the latest
    assert services.state.votes(int(group_up[2:])) == (2, 0)
    totals = services.state.totals()
    assert (totals["up"], totals["down"]) == (2, 1)
    assert [(g.question, g.why) for g in services.state.gaps()] == [(question, "disliked")]
    logged = services.state.question(qid)
    assert logged is not None and logged.question == question
    assert "3760" in logged.answer and logged.grounded and logged.evidence
    assert all(e.count("|") == 2 for e in logged.evidence)  # chunk ids: article|revision|n


QUESTION = "How many Palestinians have been killed in Gaza?"


async def test_a_button_without_data_or_with_garbage_is_answered_plainly(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    # a message of the bot's with buttons under it, as a client sends it back
    shown = {"message_id": 1, "date": 1_700_000_000, "chat": {"id": 104, "type": "private"},
             "from": BOT, "text": "An answer"}  # fmt: skip
    presses = [None, "", "v", "v+", "v+12", "v*0000000001", "v+00000000001", "ap000001", "x" * 64]
    async with running(services) as api:
        for n, data in enumerate(presses, start=1):
            api.push_callback(data, shown, user_id=74, language="ar")
            await api.wait_for("answerCallbackQuery", count=n)
        # a vote's form, for a question the log does not have: said so, in Arabic
        api.push_callback("v+0000000000", shown, user_id=74, language="ar")
        *_, unknown = await api.wait_for("answerCallbackQuery", count=len(presses) + 1)
        await asyncio.sleep(0.3)  # anything else the presses would do
    assert unknown.params["text"] == TEXTS["vote_gone"]["ar"]
    assert not api.sent("sendMessage") and not api.sent("editMessageReplyMarkup")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert services.state.totals()["up"] == 0


async def test_captions_are_questions(services: Services) -> None:
    photo = {"photo": [{"file_id": "ph", "file_unique_id": "uph", "width": 800, "height": 600}]}
    video = {"video": {"file_id": "vd", "file_unique_id": "uvd", "width": 640, "height": 360,
                       "duration": 12}}  # fmt: skip
    document = {"document": {"file_id": "dc", "file_unique_id": "udc", "file_name": "a.pdf"}}
    mention = f"@{BOT['username']}"
    group: dict[str, Any] = {"chat_type": "supergroup", "language": "ar"}
    async with running(services) as api:
        # in a group, a caption that does not address the bot is not for it
        api.push_message("كم فلسطينيًا قُتل في غزة؟", chat_id=-163, media=photo, **group)
        api.push_message(
            f"/ask@other_bot {QUESTION}", chat_id=-166, media=document, chat_type="group",
            entities=[{"type": "bot_command", "offset": 0, "length": 14}],
        )  # fmt: skip
        api.push_message("", chat_id=-168, media=photo, chat_type="group")  # no caption
        api.push_message("", chat_id=167, media=photo)  # no caption, in private
        # in private every message is to the bot: a caption's command is not ignored
        api.push_message("/help", chat_id=168, media=photo)
        api.push_message("/nope what is this", chat_id=169, media=document, language="ar")

        api.push_message(
            "كم عدد المواطنين الأمريكيين الذين يسعون لمغادرة غزة؟", chat_id=161, media=photo,
            language="ar",
        )  # fmt: skip
        (ar,) = await api.wait_for("sendMessage", chat_id=161)
        assert "400 مواطن أمريكي" in ar.params["text"] and "المصادر" in ar.params["text"]
        api.push_message(QUESTION, chat_id=162, media=video)
        (en,) = await api.wait_for("sendMessage", chat_id=162)
        assert "3760" in en.params["text"] and "Sources" in en.params["text"]
        assert api.reply_markup(en)["inline_keyboard"][0][0]["text"] == "👍"

        api.push_message(f"{mention} كم فلسطينيًا قُتل في غزة؟", chat_id=-164, media=photo,
                         **group)  # fmt: skip
        (mentioned,) = await api.wait_for("sendMessage", chat_id=-164)
        assert "9000" in mentioned.params["text"]
        api.push_message(
            f"/ask{mention} {QUESTION}", chat_id=-165, media=video, chat_type="group",
            entities=[{"type": "bot_command", "offset": 0, "length": 4 + len(mention)}],
        )  # fmt: skip
        (asked,) = await api.wait_for("sendMessage", chat_id=-165)
        assert "3760" in asked.params["text"]
        answered = {"text": "…", "message_id": asked.result["message_id"], "date": 1,
                    "chat": {"id": -165, "type": "group"}, "from": BOT}  # fmt: skip
        api.push_message("How many American citizens are seeking to leave Gaza?", chat_id=-165,
                         media=photo, chat_type="group", reply_to=answered)  # fmt: skip
        _, replied = await api.wait_for("sendMessage", count=2, chat_id=-165)
        assert "400 مواطن أمريكي" in replied.params["text"]

        (words,) = await api.wait_for("sendMessage", chat_id=167)
        assert words.params["text"] == TEXTS["empty"]["en"]
        (helped,) = await api.wait_for("sendMessage", chat_id=168)
        assert "/ask" in helped.params["text"]
        (unknown,) = await api.wait_for("sendMessage", chat_id=169)
        assert unknown.params["text"] == TEXTS["unknown_command"]["ar"]
    for quiet in (-163, -166, -168):
        assert not api.sent("sendMessage", chat_id=quiet)
    assert services.state.totals()["questions"] == 5


async def test_an_edited_question_edits_its_answer(services: Services) -> None:
    async with running(services) as api:
        first = api.push_message("How many American citizens are seeking to leave Gaza?",
                                 chat_id=171, user_id=90)  # fmt: skip
        (answer,) = await api.wait_for("sendMessage", chat_id=171)
        assert "400 مواطن أمريكي" in answer.params["text"]
        up = api.reply_markup(answer)["inline_keyboard"][0][0]["callback_data"]
        api.push_callback(up, answer.result, user_id=90)
        await api.wait_for("answerCallbackQuery")
        question_id = api.message_id(first)

        api.push_message(QUESTION, chat_id=171, user_id=90, edit_of=question_id)
        (edit,) = await api.wait_for("editMessageText", chat_id=171)
        assert edit.params["message_id"] == str(answer.result["message_id"])
        assert "3760" in edit.params["text"] and "مواطن أمريكي" not in edit.params["text"]
        assert (
            edit.params["parse_mode"] == "HTML" and "<blockquote expandable>" in edit.params["text"]
        )
        assert api.reply_markup(edit)["inline_keyboard"][0][0] == {
            "text": "👍",
            "callback_data": up,
        }
        api.push_message(QUESTION, chat_id=171, user_id=90, edit_of=question_id)  # unchanged
        api.push_message("كم فلسطينيًا قُتل في غزة؟", chat_id=172, user_id=90, language="ar",
                         edit_of=9999)  # never answered: a question like any other  # fmt: skip
        (new,) = await api.wait_for("sendMessage", chat_id=172)
        assert "9000" in new.params["text"]

        # in a group, an edit is read as the message would be
        group: dict[str, Any] = {
            "chat_id": -173,
            "chat_type": "supergroup",
            "user_id": 91,
            "language": "ar",
        }
        mention = f"@{BOT['username']}"
        in_group = api.message_id(api.push_message("كم فلسطينيًا قُتل في غزة؟", **group))
        api.push_message("كم فلسطينيًا قُتل في غزة؟ اليوم", edit_of=in_group, **group)
        await asyncio.sleep(0.5)
        assert not api.sent("sendMessage", chat_id=-173)  # not for the bot, edited or not
        api.push_message(f"{mention} كم فلسطينيًا قُتل في غزة؟", edit_of=in_group, **group)
        (group_answer,) = await api.wait_for("sendMessage", chat_id=-173)  # now it is
        assert "9000" in group_answer.params["text"]
        api.push_message(f"{mention} كم عدد المواطنين الأمريكيين الذين يسعون لمغادرة غزة؟",
                         edit_of=in_group, **group)  # fmt: skip
        (group_edit,) = await api.wait_for("editMessageText", chat_id=-173)
        assert group_edit.params["message_id"] == str(group_answer.result["message_id"])
        assert "400 مواطن أمريكي" in group_edit.params["text"]
        await asyncio.sleep(0.5)

    assert len(api.sent("sendMessage", chat_id=171)) == 1  # edited, never sent again
    assert len(api.sent("editMessageText", chat_id=171)) == 1  # the same text: nothing to do
    assert len(api.sent("sendMessage", chat_id=-173)) == 1
    turns = services.state.history(171, 90)
    assert [t.question for t in turns] == [QUESTION]  # the edit replaced the turn
    assert services.state.votes(int(up[2:])) == (0, 0)  # the vote was on the earlier answer
    assert services.state.recent_questions(90) == 3  # two answers in 171, one in 172


class LongFor:
    """Long answers (as :class:`LongAnswerer`) to questions about those killed, else
    the usual ones."""

    def __init__(self, inner: ExtractiveAnswerer) -> None:
        self.inner, self.long = inner, LongAnswerer(inner)

    def answer(self, question: str, result: Any) -> Answer:
        return (self.long if "killed" in question else self.inner).answer(question, result)


async def test_an_edit_fits_its_answer_into_the_earlier_messages(news: Searcher) -> None:
    qa = QAService(news, LongFor(ExtractiveAnswerer(news.embedder)))
    svc = make_services(qa, news.store.catalogue.coverage)
    async with running(svc) as api:
        message_id = api.message_id(api.push_message(QUESTION, chat_id=175))
        await api.wait_for("sendMessage", count=3, chat_id=175)
        await asyncio.sleep(0.5)  # any further parts
        parts = [c.result["message_id"] for c in api.sent("sendMessage", chat_id=175)]
        short = "How many American citizens are seeking to leave Gaza?"
        api.push_message(short, chat_id=175, edit_of=message_id)
        (edit,) = await api.wait_for("editMessageText", chat_id=175)
        deleted = await api.wait_for("deleteMessage", count=len(parts) - 1, chat_id=175)
        assert (
            edit.params["message_id"] == str(parts[0]) and "400 مواطن أمريكي" in edit.params["text"]
        )
        assert api.reply_markup(edit) is not None  # the buttons moved up to the only part
        assert [int(d.params["message_id"]) for d in deleted] == parts[1:]

        api.push_message(QUESTION, chat_id=175, edit_of=message_id)  # long again
        await api.wait_for("sendMessage", count=len(parts) + 1, chat_id=175)
        await asyncio.sleep(0.5)
    again = api.sent("sendMessage", chat_id=175)[len(parts) :]
    _, refill = api.sent("editMessageText", chat_id=175)
    assert refill.params["message_id"] == str(parts[0]) and "[1]" in refill.params["text"]
    assert len(again) == len(parts) - 1  # the rest went out anew, the buttons under the last
    assert [bool(c.params.get("reply_markup")) for c in again] == [False] * (len(again) - 1) + [
        True
    ]
    assert svc.state.totals()["questions"] == 1


async def test_emoji_are_answered_in_the_readers_language(services: Services) -> None:
    async with running(services) as api:
        api.push_message("🙂🙂", chat_id=181, language="en")
        api.push_message("🙂🙂", chat_id=182, language="ar")
        api.push_message("👍؟", chat_id=183, language="en")  # the Arabic question mark is no word
        api.push_message(f"@{BOT['username']} 👍", chat_id=-184, chat_type="supergroup",
                         language="ar")  # fmt: skip
        replies = {}
        for chat in (181, 182, 183, -184):
            (replies[chat],) = await api.wait_for("sendMessage", chat_id=chat)
    for chat in (181, 183):
        assert replies[chat].params["text"].startswith("👍 Ask me anything")
    for chat in (182, -184):
        assert replies[chat].params["text"].startswith("👍 اسألني")


async def test_a_bare_ask_says_how_to_ask(services: Services) -> None:
    async with running(services) as api:
        api.push_message("/ask", chat_id=191, entities=[
            {"type": "bot_command", "offset": 0, "length": 4}])  # fmt: skip
        api.push_message("/ask", chat_id=192, language="ar", entities=[
            {"type": "bot_command", "offset": 0, "length": 4}])  # fmt: skip
        command = f"/ask@{BOT['username']}"
        entities = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        api.push_message(command, chat_id=-193, chat_type="supergroup", language="ar",
                         entities=entities)  # fmt: skip
        api.push_message(f"{command}  ", chat_id=-194, chat_type="group", entities=entities)
        usage = {}
        for chat in (191, 192, -193, -194):
            (usage[chat],) = await api.wait_for("sendMessage", chat_id=chat)
    assert usage[191].params["text"] == TEXTS["ask_usage"]["en"]
    assert usage[-194].params["text"] == TEXTS["ask_usage"]["en"]
    assert usage[192].params["text"] == TEXTS["ask_usage"]["ar"]
    assert usage[-193].params["text"] == TEXTS["ask_usage"]["ar"]
    assert "/ask What happened in Aden?" in TEXTS["ask_usage"]["en"]
    assert services.state.totals()["questions"] == 0


async def test_readers_are_rate_limited_politely(news: Searcher) -> None:
    svc = make_services(
        QAService(news, ExtractiveAnswerer(news.embedder)),
        news.store.catalogue.coverage,
        rate_limit_per_minute=2,
    )
    async with running(svc) as api:
        questions = [
            "How many Palestinians have been killed in Gaza?",
            "How many American citizens are seeking to leave Gaza?",
            "How many Palestinians have been killed in Gaza?",
        ]
        for i, q in enumerate(questions):
            api.push_message(q, chat_id=111, user_id=80)
            await api.wait_for("sendMessage", count=i + 1, chat_id=111)
        api.push_message("And in the West Bank?", chat_id=112, user_id=81)  # another reader
        (other,) = await api.wait_for("sendMessage", chat_id=112)
    replies = api.sent("sendMessage", chat_id=111)
    assert "3760" in replies[0].params["text"] and "400" in replies[1].params["text"]
    assert replies[2].params["text"] == TEXTS["rate_limited"]["en"].format(limit=2)
    assert other.params["text"] != TEXTS["rate_limited"]["en"].format(limit=2)
    assert svc.state.recent_questions(80) == 2  # the refused question was not logged


async def test_a_burst_is_limited_as_it_arrives(news: Searcher) -> None:
    svc = make_services(
        QAService(news, ExtractiveAnswerer(news.embedder)),
        news.store.catalogue.coverage,
        rate_limit_per_minute=5,
    )
    async with running(svc) as api:
        for _ in range(12):  # pushed at once: none is logged before the others arrive
            api.push_message("How many Palestinians have been killed in Gaza?", chat_id=113,
                             user_id=82)  # fmt: skip
        replies = await api.wait_for("sendMessage", count=12, chat_id=113)
    limited = [
        r for r in replies if r.params["text"] == TEXTS["rate_limited"]["en"].format(limit=5)
    ]
    assert len(limited) == 7 and svc.state.recent_questions(82) == 5


async def test_half_an_emoji_in_a_question_still_gets_an_answer(services: Services) -> None:
    async with running(services) as api:
        api.push_message("How many Palestinians have been killed in Gaza? \ud83d", chat_id=115)
        (reply,) = await api.wait_for("sendMessage", chat_id=115)
    assert reply.params["text"] != TEXTS["error"]["en"] and "3760" in reply.params["text"]
    assert services.state.totals()["questions"] == 1  # logged, the half emoji replaced


async def test_a_crowded_group_is_told_once_that_answers_are_coming(news: Searcher) -> None:
    from bot.telegram.readers import BUSY_GROUP

    svc = make_services(QAService(news, ExtractiveAnswerer(news.embedder)),
                        news.store.catalogue.coverage)  # fmt: skip
    async with running(svc) as api:
        for reader in range(BUSY_GROUP + 3):
            api.push_message(f"@{BOT['username']} How many Palestinians have been killed in Gaza?",
                             chat_id=-114, chat_type="group", user_id=300 + reader)  # fmt: skip
        for _ in range(600):
            told = [c for c in api.sent("sendMessage", chat_id=-114)
                    if c.params["text"] == TEXTS["busy"]["en"]]  # fmt: skip
            if told:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
    assert len(told) == 1


class LongAnswerer:
    """An answerer whose answers (many long cited passages) cannot fit in one message."""

    def __init__(self, inner: ExtractiveAnswerer) -> None:
        self.inner = inner

    def answer(self, question: str, result: Any) -> Answer:
        base = self.inner.answer(question, result)
        assert base.citations, "the question should be answerable"
        c = base.citations[0]
        long_quote = (c.quote + " <b>&amp;</b> ") * 12
        citations = tuple(
            replace(c, n=i + 1, quote=long_quote, context=long_quote, quote_at=0) for i in range(8)
        )
        text = " ".join(f"{c.quote} [{i + 1}]" for i in range(8))
        return replace(base, text=text, citations=citations)


async def test_a_long_answer_is_split_into_valid_messages(news: Searcher) -> None:
    qa = QAService(news, LongAnswerer(ExtractiveAnswerer(news.embedder)))
    svc = make_services(qa, news.store.catalogue.coverage)
    async with running(svc) as api:
        api.push_message("How many Palestinians have been killed in Gaza?", chat_id=121)
        await api.wait_for("sendMessage", count=2, chat_id=121)
        await asyncio.sleep(0.5)  # any further parts
    parts = api.sent("sendMessage", chat_id=121)
    assert len(parts) >= 3
    for part in parts:  # each accepted by the fake: under 4,096 and well-formed HTML
        assert part.result is not None and part.params["parse_mode"] == "HTML"
        assert len(part.params["text"]) <= 4096
    # every source heading [n] arrives whole, in order, and the buttons sit under the last part
    joined = "\n".join(p.params["text"] for p in parts)
    assert [int(n) for n in re.findall(r"<b>\[(\d+)\]</b>", joined)] == list(range(1, 9))
    assert joined.count("&lt;b&gt;&amp;amp;&lt;/b&gt;") == 8 * 12
    assert [bool(p.params.get("reply_markup")) for p in parts] == [False] * (len(parts) - 1) + [
        True
    ]


async def test_webhook_mode_checks_the_secret_and_serves_healthz(services: Services) -> None:
    import aiohttp

    port = free_port()
    hook = Webhook("https://bot.example.org/telegram", "127.0.0.1", port).with_secret()
    async with running(services, webhook=hook) as api:
        (setup,) = api.sent("setWebhook")
        assert setup.params["url"] == hook.url
        assert setup.params["secret_token"] == hook.secret and len(hook.secret) >= 32
        assert not api.sent("deleteWebhook")  # no polling
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1, "date": 1, "chat": {"id": 131, "type": "private"},
                "from": {"id": 5, "is_bot": False, "first_name": "R", "language_code": "en"},
                "text": "How many Palestinians have been killed in Gaza?",
            },
        }  # fmt: skip
        url = f"http://127.0.0.1:{port}/telegram"
        async with aiohttp.ClientSession() as http:
            wrong = {"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}
            async with http.post(url, json=update, headers=wrong) as r:
                assert r.status == 403
            async with http.post(url, json=update) as r:
                assert r.status == 403
            await asyncio.sleep(0.3)
            assert not api.sent("sendMessage", chat_id=131)  # refused requests did nothing
            right = {"X-Telegram-Bot-Api-Secret-Token": hook.secret}
            async with http.post(url, json=update, headers=right) as r:
                assert r.status == 200
            (reply,) = await api.wait_for("sendMessage", chat_id=131)
            assert "3760" in reply.params["text"]
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 200 and (await r.json())["ok"] is True
            async with http.post(url, data="not json", headers=right) as r:
                assert r.status == 400


async def test_unknown_commands_get_a_pointer_to_help(services: Services) -> None:
    async with running(services) as api:
        command = [{"type": "bot_command", "offset": 0, "length": 11}]
        api.push_message("/frobnicate", chat_id=141, entities=command)
        (reply,) = await api.wait_for("sendMessage", chat_id=141)
        assert reply.params["text"] == TEXTS["unknown_command"]["en"]
        api.push_message(
            "/other_bot_command", chat_id=-142, chat_type="group",
            entities=[{"type": "bot_command", "offset": 0, "length": 18}],
        )  # fmt: skip
        await asyncio.sleep(0.5)
        assert not api.sent("sendMessage", chat_id=-142)  # maybe meant for another bot


async def test_generated_answers_stream_into_telegram(news: Searcher) -> None:
    from bot.telegram.readers import WRITING
    from retrieval.answer.llm import LLMAnswerer
    from tests.auxil.fakeopenai import FakeOpenAI, Reply

    llm = FakeOpenAI().start()
    # what streams is whole sentences that passed the check: six of them, over ~9 s
    text = ("More than 9,000 Palestinians have been killed in Gaza, among them 3,760 children "
            "[K1]. The figures come from the health ministry in Gaza [K1][K2]. The ministry "
            "gave them on Thursday [K1]. More than 32,000 people were wounded [K2]. The toll "
            "counts the dead since 7 October [K1]. Hospitals are short of fuel [K2].")  # fmt: skip
    llm.then(*[Reply(text=text, pieces=30, chunk_delay=0.3)] * 2)
    answerer = LLMAnswerer(chat_model(llm), ExtractiveAnswerer(news.embedder))
    svc = make_services(QAService(news, answerer), news.store.catalogue.coverage)
    try:
        async with running(svc) as api:
            question = "How many Palestinians have been killed in Gaza?"
            api.push_message(question, chat_id=151)
            api.push_message(f"@{BOT['username']} {question}", chat_id=-152, chat_type="group")
            for chat in (151, -152):
                await api.wait_for("editMessageText", chat_id=chat, within=60)
                for _ in range(200):  # until the final, formatted edit
                    if any(c.params.get("parse_mode") for c in api.sent("editMessageText", chat)):
                        break
                    await asyncio.sleep(0.1)
    finally:
        llm.stop()
    for chat, interval in ((151, 1.0), (-152, 3.0)):
        (draft,) = api.sent("sendMessage", chat_id=chat)
        edits = api.sent("editMessageText", chat_id=chat)
        assert WRITING["en"] in draft.params["text"] and "[K" not in draft.params["text"]
        assert all(e.params["message_id"] == str(draft.result["message_id"]) for e in edits)
        times = [draft.at] + [e.at for e in edits]
        assert all(b - a >= interval - 0.05 for a, b in itertools.pairwise(times))
        shown = [draft.params["text"]] + [e.params["text"] for e in edits[:-1]]
        assert all(WRITING["en"] in s for s in shown)
        lengths = [len(s) for s in shown]
        assert lengths == sorted(lengths)  # the text grows, in order
        final = edits[-1]
        assert final.params["parse_mode"] == "HTML" and WRITING["en"] not in final.params["text"]
        assert (
            "3,760 children [1]" in final.params["text"]
            and "<blockquote expandable>" in (final.params["text"])
        )
        assert api.reply_markup(final)["inline_keyboard"][0][0]["text"] == "👍"
    assert len(api.sent("editMessageText", chat_id=151)) > len(
        api.sent("editMessageText", chat_id=-152)
    )  # groups are edited less often


async def test_dates_outlets_and_the_latest_in_private_chats_and_groups(
    gaza_store: Searcher,
) -> None:
    outlets = configured_outlets()
    answerer = ExtractiveAnswerer(gaza_store.embedder, outlets=Outlets(outlets))
    # the readers' clock: 7 November 2023, noon
    qa = QAService(gaza_store, answerer, outlets=outlets, clock=lambda: 1699358400.0)
    services = make_services(qa, gaza_store.store.catalogue.coverage)
    async with running(services) as api:
        api.push_message("/latest حصيلة القتلى في غزة", chat_id=61, language="ar", entities=[
            {"type": "bot_command", "offset": 0, "length": 7}])  # fmt: skip
        (latest,) = await api.wait_for("sendMessage", chat_id=61)
        text = latest.params["text"]
        assert text.index("6 نوفمبر 2023، العربي الجديد") < text.index("10022")
        assert text.index("10022") < text.index("9000")  # the older figure comes after

        ask = "/ask How many were killed in Gaza yesterday?"
        api.push_message(ask, chat_id=-600, chat_type="supergroup", entities=[
            {"type": "bot_command", "offset": 0, "length": 4}])  # fmt: skip
        (yesterday,) = await api.wait_for("sendMessage", chat_id=-600)
        assert "6 November 2023, The New Arab" in yesterday.params["text"]
        assert "9000" not in yesterday.params["text"] and "6546" not in yesterday.params["text"]

        mention = f"@{BOT['username']} ماذا قالت عكاظ عن القتلى في غزة؟"
        api.push_message(mention, chat_id=-601, chat_type="supergroup", entities=[
            {"type": "mention", "offset": 0, "length": len(BOT["username"]) + 1}])  # fmt: skip
        (okaz,) = await api.wait_for("sendMessage", chat_id=-601)
        assert "2 نوفمبر 2023، عكاظ" in okaz.params["text"] and "9000" in okaz.params["text"]
        assert "10022" not in okaz.params["text"]

        api.push_message("/latest", chat_id=62, entities=[
            {"type": "bot_command", "offset": 0, "length": 7}])  # fmt: skip
        (usage,) = await api.wait_for("sendMessage", chat_id=62)
        assert usage.params["text"] == TEXTS["latest_usage"]["en"]

        api.push_message("/help", chat_id=63, entities=[
            {"type": "bot_command", "offset": 0, "length": 5}])  # fmt: skip
        (helped,) = await api.wait_for("sendMessage", chat_id=63)
        for example in ("/latest", "on 6 August 2015", "What did Okaz report", "yesterday"):
            assert example in helped.params["text"]
        assert "Okaz" in helped.params["text"] and "The New Arab" in helped.params["text"]
