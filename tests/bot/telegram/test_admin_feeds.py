"""Admins follow feeds from Telegram, through the real application over the fake
Bot API; the poll job runs on python-telegram-bot's job queue, with the feeds'
clock driven by the test."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.telegram.texts import ADMIN_TEXTS
from retrieval.feeds import FeedBook, Feeds
from tests.auxil.fakebotapi import FakeBotAPI
from tests.auxil.faults import unreachable_store
from tests.auxil.telegram import running
from tests.bot.telegram.test_admin import ADMIN, READER, Newsroom, command, newsroom
from tests.retrieval.test_feeds import fetcher_for, news_site, story

__all__ = ["newsroom"]  # the fixture


async def told(api: FakeBotAPI, count: int) -> list[str]:
    """The admin's messages once there are ``count`` of them."""
    calls = await api.wait_for("sendMessage", count=count, chat_id=ADMIN)
    return [str(c.params["text"]) for c in calls]


async def polled(site: object, times: int) -> None:
    for _ in range(200):
        if site.hits.get("/feed.xml", 0) >= times:  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the feed was not polled")


async def settled(feeds: Feeds) -> None:
    """Once the poll under way, and what it tells, are done."""
    await asyncio.sleep(0.2)
    for _ in range(400):
        if not feeds.busy:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)


def feeds_for(newsroom: Newsroom, site: Any, tmp_path: Path, clock: list[float]) -> Feeds:
    """The admins' feeds, read from ``site`` by the feeds' clock ``clock[0]``."""
    book = FeedBook(tmp_path / "feeds.sqlite")
    return Feeds(book, fetcher_for(site), newsroom.admin.ingestor, interval=900,
                 lock=newsroom.admin.ingest_lock, now=lambda: clock[0],
                 check_every=0.1)  # fmt: skip


async def test_follow_a_feed_from_telegram(newsroom: Newsroom, tmp_path: Path) -> None:
    stories = {"pier": story(1), "ferry": story(2, day=1)}
    clock = [1_714_550_400.0]  # 2024-05-01 08:00 UTC
    async with news_site(stories) as site:
        feeds = newsroom.admin.feeds = feeds_for(newsroom, site, tmp_path, clock)
        url = site.url("/feed.xml")
        async with running(newsroom.services, admin=newsroom.admin) as api:
            reply = await command(api, "/feeds")
            assert reply.params["text"] == ADMIN_TEXTS["no_feeds"]["en"]
            reply = await command(api, "/feed")
            assert reply.params["text"] == ADMIN_TEXTS["feed_usage"]["en"]
            reply = await command(api, "/feed add http://10.1.2.3/rss")
            assert reply.params["text"] == (
                "Not followed: 10.1.2.3 resolves to a non-public address (10.1.2.3); refused"
            )
            reply = await command(api, f"/feed add {site.url('/news/pier')}")
            assert reply.params["text"].endswith("is not an RSS or Atom feed or a sitemap")
            reply = await command(api, f"/feed add {url}", chat_id=READER, user_id=READER)
            assert reply.params["text"] == ADMIN_TEXTS["not_admin"]["en"]

            # added: the admin hears at once, then what its first poll added
            reply = await command(api, f"/feed add {url}")
            assert reply.params["text"].startswith("Following Oasis Daily (RSS, 2 items listed")
            n = len(api.sent("sendMessage", chat_id=ADMIN))
            first = (await told(api, n + 1))[n]
            assert first == "Oasis Daily: 2 added, 0 updated, 0 unchanged, 0 not added"
            assert len(newsroom.store.catalogue.articles()) == 2
            reply = await command(api, f"/feed add {url}")
            assert reply.params["text"] == "Already following Oasis Daily (number 1 in /feeds)."

            # a reader gets answers from the feed's articles
            before = len(api.sent("sendMessage", chat_id=READER))
            api.push({"message": {"message_id": 1, "date": 0, "text": "How many ships called "
                      "at the north pier in report 2?", "chat": {"id": READER, "type": "private"},
                      "from": {"id": READER, "is_bot": False, "first_name": "R"}}})  # fmt: skip
            answer = (await api.wait_for("sendMessage", count=before + 1, chat_id=READER))[-1]
            assert "17 ships" in answer.params["text"]

            # the feed breaks: at each due poll it fails, and the admin is told once
            site.feed_status = 500
            sent = len(api.sent("sendMessage", chat_id=ADMIN))
            for poll in range(1, 4):
                clock[0] += 900
                await polled(site, 3 + poll)  # add, first poll, the job's polls
            await settled(feeds)
            failing = (await told(api, sent + 1))[sent:]
            assert failing == [
                "The feed Oasis Daily cannot be read: "
                f"{url} answered HTTP 500. I keep what it gave and its last good state, and "
                "try again at every poll; I will say when it works again."
            ]
            reply = await command(api, "/feeds", language="ar")
            assert reply.params["text"].startswith(ADMIN_TEXTS["feeds_head"]["ar"])
            assert f"1. Oasis Daily — {url}" in reply.params["text"]
            assert "يتعذّر منذ" in reply.params["text"] and "HTTP 500" in reply.params["text"]
            sent += 1 + 1  # the told, and the /feeds reply

            # it works again, with a new item: told once more (in the language the admin
            # last wrote in), the item added
            site.feed_status = 200
            stories["dock"] = story(3, day=2)
            clock[0] += 900
            back = (await told(api, sent + 1))[sent:]
            assert back == ["عاد الموجز Oasis Daily يُقرأ من جديد."]
            for _ in range(100):
                if len(newsroom.store.catalogue.articles()) == 3:
                    break
                await asyncio.sleep(0.05)
            assert len(newsroom.store.catalogue.articles()) == 3
            reply = await command(api, "/feeds")
            assert "3 items · last read" in reply.params["text"]
            assert "failing" not in reply.params["text"]

            # removed by its number: no more polls
            reply = await command(api, "/feed remove 1")
            assert reply.params["text"].startswith("No longer following Oasis Daily.")
            reply = await command(api, "/feed remove 1")
            assert reply.params["text"].startswith("No feed 1: see /feeds")
            hits = site.hits["/feed.xml"]
            clock[0] += 900
            await asyncio.sleep(0.5)
            assert site.hits["/feed.xml"] == hits
        feeds.book.close()
    assert len(newsroom.store.catalogue.articles()) == 3  # its articles stay


async def test_a_store_out_of_reach_is_said_in_the_admins_language(
    newsroom: Newsroom, tmp_path: Path
) -> None:
    stories = {"pier": story(1)}
    clock = [1_714_550_400.0]
    async with news_site(stories) as site:
        feeds = newsroom.admin.feeds = feeds_for(newsroom, site, tmp_path, clock)
        async with running(newsroom.services, admin=newsroom.admin) as api:
            await command(api, f"/feed add {site.url('/feed.xml')}", language="ar")
            await told(api, 2)  # followed, then what its first poll added
            stories["ferry"] = story(2, day=1)
            with unreachable_store(newsroom.store):
                clock[0] += 900
                await polled(site, 3)
                await settled(feeds)
            failing = (await told(api, 3))[2]
        feeds.book.close()
    assert failing == (
        "تعذّرت قراءة الموجز Oasis Daily: تعذّر الوصول إلى خادم المخزن. أحتفظ بما جاء منه وبآخر "
        "حالة سليمة له، وأعيد المحاولة في كل مرة؛ وسأخبرك حين يعود."
    )


async def test_a_feed_polled_from_the_command_line_meanwhile_waits_its_turn(
    newsroom: Newsroom, tmp_path: Path
) -> None:
    clock = [1_714_550_400.0]
    async with news_site({"pier": story(1)}) as site:
        feeds = newsroom.admin.feeds = feeds_for(newsroom, site, tmp_path, clock)
        url = site.url("/feed.xml")
        other = FeedBook(tmp_path / "feeds.sqlite")  # `rawi feeds poll`, polling meanwhile
        async with running(newsroom.services, admin=newsroom.admin) as api:
            with other.turn() as ours:
                assert ours
                reply = await command(api, f"/feed add {url}")
                assert reply.params["text"].startswith("Following Oasis Daily")
                n = len(api.sent("sendMessage", chat_id=ADMIN))
                skipped = (await told(api, n + 1))[n]
                assert skipped == ADMIN_TEXTS["feed_poll_skipped"]["en"].format(title="Oasis Daily")
                # the job's checks while the turn is held skip it: nothing is fetched
                clock[0] += 900
                await asyncio.sleep(0.5)
                assert site.hits == {"/feed.xml": 1}  # the add's read only
            # the turn is free: the next check polls it, and no admin is told of it
            await polled(site, 2)
            await settled(feeds)
            assert len(newsroom.store.catalogue.articles()) == 1
            assert len(api.sent("sendMessage", chat_id=ADMIN)) == n + 1
        other.close()
        feeds.book.close()
