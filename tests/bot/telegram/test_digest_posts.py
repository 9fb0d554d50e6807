"""The daily digest through the real application over the fake Bot API: the admin
sets it with /digest, and the job posts it by an injected clock, once a day."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.telegram.context import Admin, RawiApplication, Services
from bot.telegram.digest import Poster, schedule
from bot.telegram.state import ChatState
from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.digest import DigestBuilder
from retrieval.ingest.loaders import Loaded, make_article
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.scope import Outlets
from retrieval.service import QAService
from retrieval.store.chunks import Store
from retrieval.store.clients import embedded_client
from tests.auxil.fakebotapi import FakeBotAPI
from tests.auxil.helpers import configured_outlets, searcher_for
from tests.auxil.telegram import running
from tests.bot.telegram.test_admin import ADMIN, READER, command

RIYADH = ZoneInfo("Asia/Riyadh")
CHANNEL = -1002222
PIER = (
    "The north pier of Oasis harbour reopened on Monday after repairs that cost 40 million riyals."
)
REPORTS = [
    ("pier-okaz", "okaz", "2015-08-07", "Oasis harbour pier reopens", PIER),
    ("pier-riyadh", "alriyadh", "2015-08-07", "North pier of Oasis harbour open again",
     "Oasis harbour's north pier reopened on Monday after repairs costing 40 million riyals."),
    ("dates", "sabq", "2015-08-07", "Date festival in Qassim",
     "The annual date festival in Qassim opened with farmers from twelve towns."),
    ("rain", "alyaum", "2015-08-08", "Heavy rain floods roads in Abha",
     "Heavy rain flooded several roads in Abha on Saturday, and schools closed early."),
]  # fmt: skip


def at(text: str) -> float:
    """A Riyadh wall-clock time as a timestamp: "2015-08-07 06:59"."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=RIYADH).timestamp()


class Clock:
    """The digest's injected clock, counting the job's looks at it."""

    def __init__(self, start: str) -> None:
        self.value, self.looks = at(start), 0

    def __call__(self) -> float:
        self.looks += 1
        return self.value

    async def ticks(self, n: int = 3) -> None:
        """Wait until the job has looked at the clock ``n`` more times."""
        target, deadline = self.looks + n, time.monotonic() + 30
        while self.looks < target:
            assert time.monotonic() < deadline, "the digest job does not run"
            await asyncio.sleep(0.02)


@pytest.fixture
def newsroom(tmp_path: Path, embedder: Embedder) -> tuple[Store, Services, Admin]:
    store = Store(embedded_client(tmp_path / "db"), embedder)
    items = [
        Loaded(aid, make_article([body], title=title, given_id=aid, source=source, published=day,
                                 url=f"https://news.example/{aid}"))
        for aid, source, day, title, body in REPORTS
    ]  # fmt: skip
    Ingestor(store, embedder).run(items)
    state = ChatState(tmp_path / "chat.sqlite")
    searcher = searcher_for(store, embedder)
    services = Services(
        QAService(searcher, ExtractiveAnswerer(embedder)), store.catalogue.coverage, state
    )
    admin = Admin(
        admin_ids=frozenset({ADMIN}), store=store, ingestor=Ingestor(store, embedder),
        state=state, embedder=embedder,
    )  # fmt: skip
    return store, services, admin


def with_digest(store: Store, clock: Clock) -> Callable[[RawiApplication, FakeBotAPI], None]:
    def setup(app: RawiApplication, api: FakeBotAPI) -> None:
        outlets = Outlets(configured_outlets())
        builder = DigestBuilder(store, outlets)
        api.add_chat(CHANNEL, "oasis_digest")
        schedule(app, Poster(builder.build, outlets, RIYADH, interval=0.2, now=clock))

    return setup


async def test_posted_once_a_day_at_or_after_its_time(
    newsroom: tuple[Store, Services, Admin],
) -> None:
    store, services, admin = newsroom
    clock = Clock("2015-08-07 06:59")
    async with running(services, admin=admin, setup=with_digest(store, clock)) as api:
        said = await command(api, "/digest")
        assert "No daily digest is set" in said.params["text"]
        said = await command(api, "/digest @oasis_digest 7:00 en")
        assert said.params["text"] == (
            "The daily digest goes to @oasis_digest every day at 07:00 (Asia/Riyadh), in English."
        )
        await clock.ticks()
        assert api.sent(chat_id=CHANNEL) == []  # not before its time

        clock.value = at("2015-08-07 07:00")
        (posted,) = await api.wait_for("sendMessage", chat_id=CHANNEL)
        html = posted.params["text"]
        assert posted.params["parse_mode"] == "HTML"
        assert html.startswith("<b>The main stories of August 7, 2015 (from 3 articles)</b>")
        pier, dates = html.split("\n\n")[1:]
        # the story two outlets told first, with its quoted lead, outlets and links
        assert '<b>1. <a href="https://news.example/pier-' in pier
        assert "“" in pier and "reopened on Monday" in pier
        assert '<a href="https://news.example/pier-okaz">Okaz</a>' in pier
        assert '<a href="https://news.example/pier-riyadh">Al Riyadh</a>' in pier
        assert "2 outlets: " in pier
        assert dates.startswith("<b>2. ") and "Qassim" in dates and "1 outlet: " in dates
        assert "Abha" not in html  # the next day's report waits for the next day

        await clock.ticks()
        clock.value = at("2015-08-07 23:59")
        await clock.ticks()
        assert len(api.sent(chat_id=CHANNEL)) == 1  # not twice the same day
        said = await command(api, "/digest")
        assert "Last posted for August 7, 2015." in said.params["text"]

        clock.value = at("2015-08-08 06:30")
        await clock.ticks()
        assert len(api.sent(chat_id=CHANNEL)) == 1
        clock.value = at("2015-08-08 07:10")
        calls = await api.wait_for("sendMessage", count=2, chat_id=CHANNEL)
        assert "Abha" in calls[1].params["text"] and "Qassim" not in calls[1].params["text"]
        assert "August 8, 2015" in calls[1].params["text"]

        said = await command(api, "/digest off")
        assert said.params["text"] == "The daily digest is off."
        clock.value = at("2015-08-09 08:00")
        await asyncio.sleep(1.0)  # five of the job's runs (with nothing set, no look at the clock)
        assert len(api.sent(chat_id=CHANNEL)) == 2


async def test_in_arabic_by_default_split_under_the_limit(
    newsroom: tuple[Store, Services, Admin], tmp_path: Path,
) -> None:  # fmt: skip
    store, services, admin = newsroom
    clock = Clock("2015-08-07 21:00")
    async with running(services, admin=admin, setup=with_digest(store, clock)) as api:
        said = await command(api, f"/digest {CHANNEL} 20:30", language="ar")
        assert "تُنشر النشرة اليومية في" in said.params["text"]
        (posted,) = await api.wait_for("sendMessage", chat_id=CHANNEL)
        html = posted.params["text"]
        assert html.startswith("<b>أبرز أخبار 7 أغسطس 2015 (من 3 مقالات)</b>")
        assert "«" in html and "عكاظ" in html
        # the outlets are the line's subject: the nominative dual, not "مصدرين"
        assert "\nمصدران: " in html and "مصدرين" not in html
        assert len(html) <= 4096


async def test_a_chat_it_cannot_reach_is_told_plainly(
    newsroom: tuple[Store, Services, Admin],
) -> None:
    store, services, admin = newsroom
    clock = Clock("2015-08-07 06:00")
    async with running(services, admin=admin, setup=with_digest(store, clock)) as api:
        said = await command(api, "/digest @no_such_channel 07:00")
        assert said.params["text"].startswith("I cannot reach @no_such_channel (chat not found).")
        assert services.state.digest() is None
        said = await command(api, "/digest @oasis_digest 25:00")
        assert said.params["text"].startswith("Usage: /digest @channel HH:MM")
        # readers may not set it
        said = await command(api, "/digest @oasis_digest 07:00", chat_id=READER, user_id=READER)
        assert said.params["text"] == "This command is for the newsroom's admins."
        assert services.state.digest() is None

        await command(api, "/digest @oasis_digest 07:00")
        # the bot was removed from the channel meanwhile
        api.fail("sendMessage", 403, "Forbidden: bot is not a member of the channel chat")
        clock.value = at("2015-08-07 07:01")
        told = await api.wait_for("sendMessage", count=4, chat_id=ADMIN)
        report = told[-1].params["text"]
        assert report.startswith(
            "Today's digest could not be posted to @oasis_digest (I am not a member of it)."
        )
        assert "Forbidden" not in report and "Traceback" not in report
        await clock.ticks(5)
        # told once, and not tried again that day
        assert len(api.sent(chat_id=ADMIN)) == 4
        assert [c for c in api.sent(chat_id=CHANNEL) if c.result] == []


async def told(api: FakeBotAPI, before: int) -> str:
    """The next message to the admin after ``before`` of them."""
    calls = await api.wait_for("sendMessage", count=before + 1, chat_id=ADMIN)
    return str(calls[before].params["text"])


def posted(api: FakeBotAPI) -> list[str]:
    """What the channel shows: the messages Telegram took."""
    return [c.params["text"] for c in api.sent(chat_id=CHANNEL) if c.result]


async def test_the_admins_hear_why_in_their_own_language(
    newsroom: tuple[Store, Services, Admin],
) -> None:
    store, services, admin = newsroom
    clock = Clock("2015-08-07 06:00")
    async with running(services, admin=admin, setup=with_digest(store, clock)) as api:
        said = await command(api, "/digest @no_such_channel 07:00", language="ar")
        assert said.params["text"].startswith("تعذّر الوصول إلى @no_such_channel (لم أجد المحادثة).")
        await command(api, "/digest @oasis_digest 07:00", language="ar")
        api.fail("sendMessage", 400, "Bad Request: not enough rights to send text messages")
        before = len(api.sent(chat_id=ADMIN))
        clock.value = at("2015-08-07 07:01")
        report = await told(api, before)
        assert report.startswith("تعذّر نشر نشرة اليوم في @oasis_digest (لا يحق لي النشر فيها).")
        for arabic in (said.params["text"], report):  # Telegram's English stays in the log
            words = re.sub(r"@\w+|/digest", "", arabic)
            assert not re.search(r"[A-Za-z]{3,}", words), arabic


async def test_rejected_formatting_goes_plain_and_a_long_part_is_cut(
    newsroom: tuple[Store, Services, Admin],
) -> None:
    store, services, admin = newsroom
    clock = Clock("2015-08-07 06:00")
    async with running(services, admin=admin, setup=with_digest(store, clock)) as api:
        await command(api, "/digest @oasis_digest 07:00 en")
        before = len(api.sent(chat_id=ADMIN))
        api.fail("sendMessage", 400, "Bad Request: can't parse entities: unsupported start tag")
        clock.value = at("2015-08-07 07:00")
        rejected, plain = await api.wait_for("sendMessage", count=2, chat_id=CHANNEL)
        assert rejected.params["parse_mode"] == "HTML" and "parse_mode" not in plain.params
        text = plain.params["text"]
        assert text.startswith("The main stories of August 7, 2015 (from 3 articles)\n\n1. ")
        assert "\nhttps://news.example/pier-" in text  # the title's link, under it
        assert "2 outlets: Okaz and Al Riyadh" in text or "2 outlets: Al Riyadh and Okaz" in text
        assert "<" not in text and "&" not in text

        # Telegram counts differently and finds a part too long: it goes in pieces
        api.fail("sendMessage", 400, "Bad Request: message is too long")
        clock.value = at("2015-08-08 07:00")
        await api.wait_for("sendMessage", count=4, chat_id=CHANNEL)
        await clock.ticks(3)
        whole, *pieces = api.sent(chat_id=CHANNEL)[2:]
        assert len(pieces) >= 2 and all(len(p.params["text"]) < len(whole.params["text"])
                                        for p in pieces)  # fmt: skip
        assert all(p.result and p.params["parse_mode"] == "HTML" for p in pieces)
        joined = " ".join(p.params["text"] for p in pieces)
        assert "Heavy rain flooded several roads in Abha" in joined and "1 outlet: " in joined
        assert len(api.sent(chat_id=ADMIN)) == before  # nothing for the admins to hear


async def test_a_digest_that_went_out_in_part_is_not_posted_again(
    newsroom: tuple[Store, Services, Admin],
) -> None:
    store, services, admin = newsroom
    clock = Clock("2015-08-07 06:00")
    async with running(services, admin=admin, setup=with_digest(store, clock)) as api:
        await command(api, "/digest @oasis_digest 07:00 en")
        before = len(api.sent(chat_id=ADMIN))
        api.fail("sendMessage", 502, "Bad Gateway")  # nothing out: tried at the next look
        api.fail("sendMessage", 400, "Bad Request: message is too long")  # then in pieces,
        api.fail("sendMessage", 500, "Internal Server Error", after=1)  # the second lost
        clock.value = at("2015-08-07 07:00")
        report = await told(api, before)
        assert report == (
            "Today's digest went to @oasis_digest only in part: part 1 of 1 could not be sent. "
            "The rest is not sent later, so that nothing is posted twice; tomorrow's digest "
            "comes as usual."
        )
        await clock.ticks(5)
        (first_piece,) = posted(api)
        assert first_piece.startswith("<b>The main stories of August 7, 2015")
        assert len(api.sent(chat_id=CHANNEL)) == 4 and len(api.sent(chat_id=ADMIN)) == before + 1
        said = await command(api, "/digest")
        assert "Last posted for August 7, 2015." in said.params["text"]

        # another refusal of the message itself: said as it is, not as a chat to fix
        api.fail("sendMessage", 400, "Bad Request: TOPIC_CLOSED")
        clock.value = at("2015-08-08 07:00")
        report = await told(api, before + 2)
        assert report == (
            "Telegram refused today's digest for @oasis_digest; the log has the details. "
            "I will try again tomorrow."
        )
        await clock.ticks(5)
        assert len(posted(api)) == 1 and len(api.sent(chat_id=ADMIN)) == before + 3


async def test_a_group_upgraded_to_a_supergroup_gets_the_digest_at_its_new_id(
    newsroom: tuple[Store, Services, Admin],
) -> None:
    store, services, admin = newsroom
    clock = Clock("2015-08-07 06:00")
    group, supergroup = -4444, -1000000004444

    def setup(app: RawiApplication, api: FakeBotAPI) -> None:
        with_digest(store, clock)(app, api)
        api.add_chat(group, title="Newsroom group", chat_type="group")

    async with running(services, admin=admin, setup=setup) as api:
        await command(api, f"/digest {group} 07:00 en")
        before = len(api.sent(chat_id=ADMIN))
        api.migrate(group, supergroup)  # the upgrade's service messages never came
        clock.value = at("2015-08-07 07:00")
        (posted,) = await api.wait_for("sendMessage", chat_id=supergroup)
        assert posted.result is not None
        assert posted.params["text"].startswith("<b>The main stories of August 7, 2015")
        setting = services.state.digest()
        assert setting is not None
        assert (setting.chat, setting.label) == (supergroup, str(supergroup))
        said = await command(api, "/digest")
        assert said.params["text"].startswith(
            f"The daily digest goes to {supergroup} every day at 07:00"
        )
        assert "Last posted for August 7, 2015." in said.params["text"]

        clock.value = at("2015-08-08 07:00")
        calls = await api.wait_for("sendMessage", count=2, chat_id=supergroup)
        assert "August 8, 2015" in calls[1].params["text"]
        await clock.ticks(3)
    assert [c.result for c in api.sent(chat_id=group)] == [None]  # refused once, then moved
    assert len(api.sent(chat_id=supergroup)) == 2
    assert len(api.sent(chat_id=ADMIN)) == before + 1  # the /digest reply: nothing to report
