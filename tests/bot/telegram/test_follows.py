"""Follows through the real python-telegram-bot Application over HTTP against the
fake Bot API: /follow, /following, /unfollow, and the news a new article brings,
with the follows' clock injected (the daily cap, the retention)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.telegram.context import Follows, Services
from bot.telegram.follows import MAX_TOPIC_CHARS
from bot.telegram.state import DAY, ChatState
from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.follows import Matcher
from retrieval.ingest.loaders import Loaded, load_paths, make_article
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.scope import Outlets
from retrieval.search import Searcher
from retrieval.service import QAService
from retrieval.store.chunks import Store
from retrieval.store.clients import StoreUnavailable, embedded_client
from retrieval.types import Article
from tests.auxil.fakebotapi import FakeBotAPI
from tests.auxil.faults import unreachable_chunks
from tests.auxil.helpers import GAZA_REPORTS, configured_outlets, searcher_for
from tests.auxil.telegram import running

INTERVAL = 0.5  # seconds between the follows' looks
FOLLOW_COMMANDS = ("follow", "following", "unfollow")


@pytest.fixture(scope="module")
def newsroom(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, distractors: list[Loaded]
) -> Iterator[Searcher]:
    """A store the tests add articles to: four reports and a dozen SaudiNewsNet
    articles to begin with. Each test follows its own subjects."""
    store = Store(embedded_client(tmp_path_factory.mktemp("follows")), embedder)
    searcher = searcher_for(store, embedder)
    Ingestor(store, embedder).run([*load_paths([GAZA_REPORTS]), *distractors[:12]])
    yield searcher
    store.close()


class Clock:
    def __init__(self) -> None:
        self.at = time.time()

    def __call__(self) -> float:
        return self.at


def services_for(
    searcher: Searcher, state: ChatState | None = None, per_day: int = 5
) -> tuple[Services, Follows, Clock]:
    outlets = configured_outlets()
    qa = QAService(
        searcher, ExtractiveAnswerer(searcher.embedder, outlets=Outlets(outlets)), outlets=outlets
    )
    state = state or ChatState(None)
    clock = Clock()
    follows = Follows(Matcher(searcher), state, interval=INTERVAL, per_day=per_day, now=clock)
    services = Services(qa, searcher.store.catalogue.coverage, state, follows=follows)
    return services, follows, clock


def command(api: FakeBotAPI, text: str, **kwargs: Any) -> int:
    length = len(text.split(maxsplit=1)[0])
    return api.push_message(
        text, entities=[{"type": "bot_command", "offset": 0, "length": length}], **kwargs
    )


async def reply(api: FakeBotAPI, chat_id: int, before: int) -> str:
    """The text of the bot's next message to ``chat_id`` after the ``before`` it sent."""
    calls = await api.wait_for("sendMessage", count=before + 1, chat_id=chat_id, within=30)
    return str(calls[before].params["text"])


async def add(searcher: Searcher, *articles: Article) -> float:
    """Ingest ``articles`` (as `rawi ingest` or an admin's /add would); returns the
    moment (monotonic) they were committed."""
    report = await asyncio.to_thread(
        Ingestor(searcher.store, searcher.embedder).run, [Loaded("test", a) for a in articles]
    )
    assert not report.failed, report.summary()
    return time.monotonic()


async def looked(follows: Follows, times: int = 2) -> None:
    """Wait until the follows have looked ``times`` more times (and sent what they owed)."""
    start = follows.looks
    for _ in range(600):
        if follows.looks >= start + times:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the follows did not look")


def news(api: FakeBotAPI, chat_id: int) -> list[str]:
    """The follows' messages to a chat, in order."""
    return [str(c.params["text"]) for c in api.sent(chat_id=chat_id) if "🔔" in c.params["text"]]


async def arrived(api: FakeBotAPI, chat_id: int, title: str, within: float = 30) -> Any:
    """The follows' message to ``chat_id`` that names ``title``, once it comes."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for call in api.sent(chat_id=chat_id):
            if "🔔" in call.params["text"] and f">{title}</a>" in call.params["text"]:
                return call
        await asyncio.sleep(0.02)
    raise AssertionError(f"no news of {title!r} in chat {chat_id}")


def report(title: str, paragraphs: list[str], url: str, source: str = "okaz") -> Article:
    return make_article(paragraphs, title=title, url=url, source=source, published="2015-07-24")


LOCUSTS = report(
    "Locust swarms reach Jazan farms",
    [
        "Swarms of desert locusts reached farms in Jazan on Tuesday, the agriculture ministry "
        "said.",
        "Teams sprayed 3,000 hectares of farmland around Jazan to stop the locust swarms from "
        "spreading north.",
    ],
    "https://example.com/locusts",
)
LOCUSTS_AR = report(
    "أسراب الجراد تصل إلى مزارع جازان",
    [
        "وصلت أسراب الجراد الصحراوي إلى مزارع جازان يوم الثلاثاء، بحسب وزارة الزراعة.",
        "ورشت الفرق 3000 هكتار من الأراضي الزراعية حول جازان لمنع انتشار أسراب الجراد شمالًا.",
    ],
    "https://example.com/locusts-ar",
)
FOOTBALL = report(
    "Al-Hilal signs Brazilian striker",
    [
        "Al-Hilal signed a Brazilian striker on a three-year contract, the club announced on "
        "Wednesday.",
        "The transfer fee was not disclosed.",
    ],
    "https://example.com/hilal",
    source="sabq",
)


async def test_a_new_article_that_answers_a_follow_is_sent_within_one_interval(
    newsroom: Searcher,
) -> None:
    services, follows, _ = services_for(newsroom)
    async with running(services) as api:
        command(api, "/follow locust swarms in Jazan", chat_id=11)
        said = await reply(api, 11, 0)
        assert said.startswith("Following “locust swarms in Jazan”") and "at most 5 a day" in said
        command(api, "/follow الجراد في جازان", chat_id=12, language="ar")
        assert (await reply(api, 12, 0)).startswith("تتابع الآن «الجراد في جازان»")
        group = -700
        command(api, "/follow locust swarms in Jazan", chat_id=group, chat_type="supergroup")
        await reply(api, group, 0)
        await looked(follows, 1)

        committed = await add(newsroom, FOOTBALL, LOCUSTS)
        sent = await arrived(api, 11, LOCUSTS.title)
        waited = sent.at - committed
        assert waited <= INTERVAL + 1.0, f"the news came {waited:.2f} s after the commit"
        text = sent.params["text"]
        assert sent.params["parse_mode"] == "HTML"  # and the fake Bot API parsed it
        assert text.startswith("🔔 <b>New on “locust swarms in Jazan”</b>")
        assert '<a href="https://example.com/locusts">Locust swarms reach Jazan farms</a>' in text
        assert "Okaz · 2015-07-24" in text  # the outlet, named as answers name it
        assert "<b>Swarms of desert locusts reached farms in Jazan" in text  # the best sentence
        await arrived(api, group, LOCUSTS.title)  # the group's reader gets it in the group
        await looked(follows)
        assert all(FOOTBALL.title not in t for c in (11, 12, group) for t in news(api, c))

        await add(newsroom, LOCUSTS_AR)
        arabic = (await arrived(api, 12, LOCUSTS_AR.title)).params["text"]
        assert arabic.startswith("🔔 <b>جديد عن «الجراد في جازان»</b>")
        assert "عكاظ" in arabic and "الفقرة 1" in arabic
        await looked(follows)
    menus = {c.params.get("language_code"): str(c.params["commands"]) for c in
             api.sent("setMyCommands")}  # fmt: skip
    assert set(menus) == {None, "ar"}
    assert all(f'"{c}"' in menu for menu in menus.values() for c in FOLLOW_COMMANDS)
    assert len(news(api, 11)) == len(set(news(api, 11)))  # no article twice
    assert all(FOOTBALL.title not in t for c in (11, 12, group) for t in news(api, c))


def jubail(n: int, day: str) -> Article:
    """A report on the Jubail desalination plant (``n`` makes each its own)."""
    return report(
        f"Jubail desalination plant: stage {n} opens",
        [
            f"Stage {n} of the desalination plant in Jubail began pumping water on {day}, the "
            "water authority said.",
            f"The plant's stage {n} adds {n * 100},000 cubic metres of drinking water a day for "
            "the Eastern Province.",
        ],
        f"https://example.com/jubail-{n}",
    )


async def test_a_follow_sends_at_most_its_daily_cap_and_never_an_article_twice(
    newsroom: Searcher,
) -> None:
    services, follows, clock = services_for(newsroom, per_day=2)
    async with running(services) as api:
        command(api, "/follow desalination plant in Jubail", chat_id=21)
        assert "at most 2 a day" in await reply(api, 21, 0)
        await looked(follows, 1)
        first = [jubail(n, "Sunday") for n in (1, 2, 3)]
        await add(newsroom, *first)
        await looked(follows)
        assert len(news(api, 21)) == 2  # the cap: two of the three

        clock.at += DAY + 1  # a day later the cap is free again
        sent = {a.title for a in first if any(f">{a.title}</a>" in t for t in news(api, 21))}
        corrected = next(a for a in first if a.title in sent)
        correction = report(  # the same page, corrected: a new revision of the same article
            corrected.title,
            [*corrected.paragraphs, "The authority corrected the start date to Monday."],
            str(corrected.url),
        )
        assert correction.id == corrected.id
        await add(newsroom, correction)
        await looked(follows)
        assert len(news(api, 21)) == 2  # checked again, and not sent again

        await add(newsroom, jubail(4, "Tuesday"))
        await arrived(api, 21, jubail(4, "Tuesday").title)
        await looked(follows)
    texts = news(api, 21)
    assert len(texts) == 3 and len(set(texts)) == 3
    assert services.state.sent_today(follows.state.follows_of(21, 7, clock())[0].id, clock()) == 1


async def test_following_lists_and_unfollow_stops(newsroom: Searcher) -> None:
    services, follows, _ = services_for(newsroom)
    async with running(services) as api:
        command(api, "/following", chat_id=31)
        assert (await reply(api, 31, 0)).startswith("You follow no subject here")
        command(api, "/follow the Riyadh metro", chat_id=31)
        await reply(api, 31, 1)
        command(api, "/follow date festival in Buraidah", chat_id=31)
        await reply(api, 31, 2)
        command(api, "/following", chat_id=31)
        listing = await reply(api, 31, 3)
        assert listing.splitlines()[1:] == ["1. the Riyadh metro", "2. date festival in Buraidah"]
        command(api, "/unfollow 3", chat_id=31)
        assert (await reply(api, 31, 4)).startswith("Send /unfollow and the number")
        command(api, "/unfollow 2", chat_id=31)
        assert await reply(api, 31, 5) == "Stopped following “date festival in Buraidah”."
        await looked(follows, 1)

        dates = report(
            "Buraidah date festival opens",
            [
                "The date festival in Buraidah opened on Sunday with 2,000 farmers selling "
                "their dates, the organisers said.",
            ],
            "https://example.com/buraidah-dates",
        )
        metro = report(
            "Riyadh metro tunnelling passes halfway",
            [
                "Tunnelling for the Riyadh metro passed the halfway mark on Sunday, the "
                "Riyadh development authority said.",
            ],
            "https://example.com/riyadh-metro",
        )
        await add(newsroom, dates, metro)
        await arrived(api, 31, metro.title)
        await looked(follows)
        assert not any(dates.title in t for t in news(api, 31))  # unfollowed: not sent

        command(api, "/unfollow all", chat_id=31)
        assert await reply(api, 31, 7) == "Stopped following every subject here."
        command(api, "/following", chat_id=31, language="ar")
        assert (await reply(api, 31, 8)).startswith("لا تتابع أي موضوع هنا")
    assert services.state.followed() == []


async def test_follows_expire_with_the_retention(newsroom: Searcher) -> None:
    services, follows, clock = services_for(newsroom)
    async with running(services) as api:
        command(api, "/follow camel racing in Taif", chat_id=41)
        assert "for the next 90 days" in await reply(api, 41, 0)
        await looked(follows, 1)
        clock.at += 90 * DAY + 1
        await add(
            newsroom,
            report(
                "Taif camel races draw record crowds",
                ["The camel races in Taif drew a record crowd of 30,000 on Friday, the "
                 "organisers said."],
                "https://example.com/taif-camels",
            ),
        )  # fmt: skip
        await looked(follows)
        assert news(api, 41) == []
    # and purged: nothing of it is left in the state
    (count,) = services.state._db.execute("SELECT count(*) FROM follows").fetchone()
    assert count == 0


def stored(path: Path) -> tuple[list[str], list[bytes]]:
    """Every value of every table of a SQLite file, as text, and the bytes of the
    file and its journals."""
    db = sqlite3.connect(path)
    cells = [
        value.decode("latin-1") if isinstance(value, bytes) else str(value)
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        for row in db.execute(f"SELECT * FROM {table}")
        for value in row
    ]
    db.close()
    return cells, [p.read_bytes() for p in path.parent.glob(f"{path.name}*")]


async def test_the_state_keeps_the_chat_id_only_encrypted(
    newsroom: Searcher, tmp_path: Path
) -> None:
    state = ChatState(tmp_path / "chat.sqlite")
    services, follows, _ = services_for(newsroom, state=state)
    chat, reader = 987654321, 123456789
    async with running(services) as api:
        command(api, "/follow sandstorm at King Khalid airport", chat_id=chat, user_id=reader)
        await reply(api, chat, 0)
        await looked(follows, 1)
        storm = report(
            "Sandstorm delays flights at King Khalid airport",
            ["A sandstorm delayed 40 flights at King Khalid International Airport in Riyadh "
             "on Monday, the civil aviation authority said."],
            "https://example.com/sandstorm",
        )  # fmt: skip
        await add(newsroom, storm)
        await arrived(api, chat, storm.title)  # the chat id was read back to send it
    state.close()
    cells, files = stored(tmp_path / "chat.sqlite")
    assert len([c for c in cells if c.startswith("gAAAA")]) == 1  # a Fernet token
    for value in cells:
        assert str(chat) not in value and str(reader) not in value
    for raw in files:
        assert str(chat).encode() not in raw
    # the key file beside it opens it again
    again = ChatState(tmp_path / "chat.sqlite")
    assert [f.chat_id for f in again.followed()] == [chat]
    again.close()


@pytest.mark.parametrize(
    ("status", "error"),
    [(403, "Forbidden: bot was blocked by the user"), (400, "Bad Request: chat not found")],
)
async def test_a_chat_that_blocked_the_bot_loses_its_follows(
    newsroom: Searcher, status: int, error: str
) -> None:
    services, follows, _ = services_for(newsroom)
    chat = 51 if status == 403 else 52
    async with running(services) as api:
        command(api, "/follow flooding in Abha", chat_id=chat)
        await reply(api, chat, 0)
        command(api, "/follow flooding in Abha", chat_id=53)  # another chat keeps its own
        await reply(api, 53, 0)
        await looked(follows, 1)
        api.fail("sendMessage", status, error)
        flood = report(
            f"Flash floods hit Abha ({status})",
            [f"Flash floods hit Abha on Thursday after {status} millimetres of rain, civil "
             "defence said, and rescued 12 families."],
            f"https://example.com/abha-{status}",
        )  # fmt: skip
        await add(newsroom, flood)
        await arrived(api, 53, flood.title)
        await looked(follows)
    assert services.state.follows_of(chat, 7) == []
    assert [f.topic for f in services.state.follows_of(53, 7)] == ["flooding in Abha"]


def weevil(n: int, town: str) -> Article:
    """A report on the red palm weevil in Al-Ahsa (``n`` makes each its own)."""
    return report(
        f"Red palm weevil found in {town} date farms",
        [
            f"Inspectors found the red palm weevil in {n * 40} date palms on farms in {town}, "
            "Al-Ahsa, the agriculture ministry said.",
            f"The infested palms in {town} were cut down and burned to stop the weevil "
            "spreading through the Al-Ahsa oasis.",
        ],
        f"https://example.com/weevil-{n}",
    )


async def test_a_group_upgraded_to_a_supergroup_takes_its_follows_and_digest_along(
    newsroom: Searcher,
) -> None:
    """Telegram's service messages of the upgrade move the group's follows (with
    what they sent) and the digest posted there to the supergroup's new id."""
    services, follows, _ = services_for(newsroom)
    group, supergroup = -800, -1000000000800
    services.state.set_digest(group, str(group), "07:00", "en")
    async with running(services) as api:
        command(api, "/follow red palm weevil in Al-Ahsa", chat_id=group, chat_type="group")
        await reply(api, group, 0)
        command(api, "/follow red palm weevil in Al-Ahsa", chat_id=-801, chat_type="group")
        await reply(api, -801, 0)  # another group, not upgraded
        await looked(follows, 1)
        first = weevil(1, "Hofuf")
        await add(newsroom, first)
        await arrived(api, group, first.title)

        api.push_migration(group, supergroup)
        for _ in range(600):
            if services.state.follows_of(supergroup, 7):
                break
            await asyncio.sleep(0.05)
        command(api, "/following", chat_id=supergroup, chat_type="supergroup")
        assert (await reply(api, supergroup, 0)).splitlines()[1:] == [
            "1. red palm weevil in Al-Ahsa"
        ]
        # the first report corrected (a new revision: checked again), and a new one
        correction = report(first.title, [*first.paragraphs, "The ministry corrected the "
                            "number of palms."], str(first.url))  # fmt: skip
        second = weevil(2, "Mubarraz")
        await add(newsroom, correction, second)
        await arrived(api, supergroup, second.title)
        await looked(follows)
    state = services.state
    assert state.follows_of(group, 7) == []
    assert sorted(f.chat_id for f in state.followed()) == [supergroup, -801]
    digest = state.digest()
    assert digest is not None and (digest.chat, digest.label) == (supergroup, str(supergroup))
    # the group had its reply and its news before the upgrade, and nothing was sent
    # to its old id since (the service messages got no answer)
    assert [c.result is not None for c in api.sent(chat_id=group)] == [True, True]
    assert not any(first.title in t for t in news(api, supergroup))  # never twice
    assert len(news(api, -801)) == 2  # the other group: both reports, in place


async def test_news_for_a_group_that_became_a_supergroup_reaches_the_supergroup(
    newsroom: Searcher,
) -> None:
    """The upgrade's service messages missed: the old id's refusal names the new
    one, and the follows move there instead of being dropped as gone."""
    services, follows, _ = services_for(newsroom)
    group, supergroup = -900, -1000000000900
    async with running(services) as api:
        command(api, "/follow red palm weevil in Al-Ahsa", chat_id=group, chat_type="group")
        await reply(api, group, 0)
        await looked(follows, 1)
        api.migrate(group, supergroup)
        first, second = weevil(3, "Al-Omran"), weevil(4, "Al-Oyun")
        await add(newsroom, first)
        await arrived(api, supergroup, first.title)
        await add(newsroom, second)
        await arrived(api, supergroup, second.title)
        await looked(follows)
    state = services.state
    assert state.follows_of(group, 7) == []
    assert [f.topic for f in state.follows_of(supergroup, 7)] == ["red palm weevil in Al-Ahsa"]
    assert [f.chat_id for f in state.followed()] == [supergroup]
    refused = [c for c in api.sent(chat_id=group) if c.result is None]
    assert len(refused) == 1  # the old id tried once; the second report went straight
    assert len(news(api, supergroup)) == 2


def test_articles_a_failed_look_could_not_match_are_matched_at_the_next(
    store: Store, embedder: Embedder
) -> None:
    """The store out of reach while the follows look: the articles committed since
    the last look wait for the next one, not lost with it."""
    searcher = searcher_for(store, embedder)
    follows = Follows(Matcher(searcher), ChatState(None))
    topic = "locust swarms in Jazan"
    follows.state.follow(chat_id=61, user_id=7, topic=topic,
                         vector=follows.matcher.embed(topic), language="en")  # fmt: skip
    assert follows.due() == []  # the first look: what is there is not new
    Ingestor(store, embedder).run([Loaded("test", LOCUSTS)])
    with unreachable_chunks(store), pytest.raises(StoreUnavailable):
        follows.due()
    owed = follows.due()
    assert [(m.hit.article_id, f.chat_id) for m, f in owed] == [(LOCUSTS.id, 61)]
    assert follows.due() == []  # and once only


async def test_following_lists_the_most_topics_at_their_longest(
    store: Store, embedder: Embedder
) -> None:
    """/following with as many topics as a reader may follow, each as long as may be:
    every one listed, in messages Telegram takes."""
    services, follows, _ = services_for(searcher_for(store, embedder))
    subject = "the water supply of the Eastern Province and its desalination plants " * 4
    topics = [f"{n} {subject}"[:MAX_TOPIC_CHARS].strip() for n in range(follows.max_per_reader)]
    async with running(services) as api:
        for n, topic in enumerate(topics):
            command(api, f"/follow {topic}", chat_id=71)
            assert (await reply(api, 71, n)).startswith("Following")
        command(api, "/following", chat_id=71)
        await api.wait_for("sendMessage", count=len(topics) + 2, chat_id=71, within=30)
        await asyncio.sleep(0.5)  # any further part of the list
    listed = [str(c.params["text"]) for c in api.sent(chat_id=71)][len(topics) :]
    assert all(len(t) <= 4096 for t in listed)
    lines = "\n".join(listed).splitlines()
    assert lines[0].startswith("You follow")
    assert lines[1:] == [f"{n}. {t}" for n, t in enumerate(topics, start=1)]
