"""Feeds polled from a local news site whose feed and pages change between polls:
new items, an edited one, an unchanged feed (304), a server error, a redirect to
a private address, and a 200-item feed whose second poll embeds nothing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from retrieval.feeds import FeedBook, Feeds, Item, parse
from retrieval.ingest.fetch import Fetcher
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.store.chunks import Store
from tests.auxil.helpers import ROOT, searcher_for
from tests.auxil.web import served

DAY = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


@dataclass
class Story:
    title: str
    body: str
    day: int = 0  # days after DAY
    summary: str = ""
    status: int = 200  # what its page answers
    dated: bool = True  # the page states its date
    moved_to: str | None = None  # its page redirects there


@dataclass
class Site:
    """A news site: ``/feed.xml`` (RSS, with an ETag it honours when ``etag``),
    ``/news/SLUG`` pages (with ETags they honour when ``page_etags``; the paths
    answered 304 go in ``unchanged``); ``feed_status`` and ``feed_redirect``
    break the feed, and the feed waits for ``hold`` where set. ``hits`` counts
    every request by path; ``internal`` is a second server, on another port (not
    public), with its own ``internal_hits``."""

    stories: dict[str, Story] = field(default_factory=dict)
    etag: bool = True
    feed_status: int = 200
    feed_redirect: str | None = None
    page_etags: bool = False
    unchanged: list[str] = field(default_factory=list)
    hold: asyncio.Event | None = None
    hits: dict[str, int] = field(default_factory=dict)
    port: int = 0
    internal: int = 0
    internal_hits: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def rss(self) -> str:
        items = "".join(
            f"<item><title>{s.title}</title><link>{self.url('/news/' + slug)}</link>"
            f"<guid>{slug}</guid><pubDate>{format_datetime(DAY + timedelta(days=s.day))}"
            f"</pubDate><description>{s.summary}</description></item>"
            for slug, s in reversed(self.stories.items())  # newest first
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Oasis Daily</title><link>{self.url('/')}</link>{items}</channel></rss>"
        )

    def page(self, s: Story) -> str:
        date = (DAY + timedelta(days=s.day)).date().isoformat()
        meta = f'<meta property="article:published_time" content="{date}">' if s.dated else ""
        paragraphs = "".join(f"<p>{p}</p>" for p in s.body.split("\n"))
        return (
            f"<html><head><title>{s.title}</title>{meta}</head><body><nav>Home</nav>"
            f"<article><h1>{s.title}</h1>{paragraphs}</article></body></html>"
        )

    def app(self) -> web.Application:
        async def feed(request: web.Request) -> web.Response:
            self._hit(request)
            if self.hold is not None:
                await self.hold.wait()
            if self.feed_redirect:
                raise web.HTTPFound(self.feed_redirect)
            if self.feed_status != 200:
                return web.Response(status=self.feed_status, text="down")
            body = self.rss()
            tag = '"' + hashlib.sha1(body.encode()).hexdigest() + '"'
            if self.etag and request.headers.get("If-None-Match") == tag:
                return web.Response(status=304)
            headers = {"ETag": tag} if self.etag else {}
            return web.Response(text=body, content_type="application/rss+xml", headers=headers)

        async def news(request: web.Request) -> web.Response:
            self._hit(request)
            story = self.stories[request.match_info["slug"]]
            if story.moved_to:
                raise web.HTTPFound(story.moved_to)
            if story.status != 200:
                return web.Response(status=story.status, text="error")
            body = self.page(story)
            if not self.page_etags:
                return web.Response(text=body, content_type="text/html")
            tag = '"' + hashlib.sha1(body.encode()).hexdigest() + '"'
            if request.headers.get("If-None-Match") == tag:
                self.unchanged.append(request.path)
                return web.Response(status=304)
            return web.Response(text=body, content_type="text/html", headers={"ETag": tag})

        app = web.Application()
        app.router.add_get("/feed.xml", feed)
        app.router.add_get("/news/{slug}", news)
        return app

    def _hit(self, request: web.Request) -> None:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1

    def page_hits(self) -> int:
        return sum(n for path, n in self.hits.items() if path.startswith("/news/"))


@contextlib.asynccontextmanager
async def news_site(stories: dict[str, Story], **kwargs: Any) -> AsyncIterator[Site]:
    site = Site(stories, **kwargs)

    async def internal(request: web.Request) -> web.Response:
        site.internal_hits.append(request.path)
        return web.Response(text="internal secret", content_type="text/plain")

    inside = web.Application()
    inside.router.add_get("/{tail:.*}", internal)
    async with served(site.app()) as port, served(inside) as internal_port:
        site.port, site.internal = port, internal_port
        yield site


def fetcher_for(site: Site, **kwargs: Any) -> Fetcher:
    """The guarded fetcher, with the site standing in for a public one (every other
    loopback or private address stays refused)."""
    return Fetcher(trusted={("127.0.0.1", site.port)}, timeout=10, **kwargs)


@contextlib.contextmanager
def forward_passes(embedder: Embedder) -> Iterator[list[int]]:
    """How many texts the embedding model reads while the block runs (a hook on
    the real model's forward pass)."""
    texts: list[int] = []
    handle = embedder.encoder.register_forward_hook(
        lambda module, args, kwargs, out: texts.append(len(kwargs["input_ids"])),
        with_kwargs=True,
    )
    try:
        yield texts
    finally:
        handle.remove()


def story(n: int, **kwargs: Any) -> Story:
    return Story(
        f"Harbour report {n}",
        f"The harbour authority of Oasis City published its report number {n} on Monday, "
        f"counting {n * 7 + 3} ships that called at the north pier during the week.",
        **kwargs,
    )


@pytest.fixture
def book(tmp_path: Path) -> Iterator[FeedBook]:
    b = FeedBook(tmp_path / "feeds.sqlite")
    yield b
    b.close()


async def test_new_edited_unchanged_and_failing(
    store: Store, embedder: Embedder, book: FeedBook
) -> None:
    stories = {"pier": story(1), "ferry": story(2, day=1), "metro": story(3, day=2)}
    stories["metro"].dated = False  # its date comes from the feed
    async with news_site(stories) as site:
        fetcher = fetcher_for(site)
        clock = [1000.0]
        feeds = Feeds(book, fetcher, Ingestor(store, embedder), now=lambda: clock[0])
        feed, new, listed = await feeds.add(site.url("/feed.xml"))
        assert (new, listed, feed.title, feed.kind) == (True, 3, "Oasis Daily", "rss")

        # first poll: every item's page becomes an article, as /add URL makes it
        first = await feeds.poll(feed)
        assert first.error is None and len(first.report.added) == 3 and first.fetched == 3
        ids = {slug: (await fetcher.article(site.url(f"/news/{slug}"))).id for slug in stories}
        assert set(first.report.added) == set(ids.values())
        metro = store.catalogue.info(ids["metro"])
        assert metro is not None and metro.published is not None
        assert metro.published.startswith("2024-05-03")  # the feed's pubDate
        pier = store.catalogue.info(ids["pier"])
        assert pier is not None and pier.url == site.url("/news/pier")
        assert pier.published is not None and pier.published.startswith("2024-05-01")
        ferry = store.catalogue.info(ids["ferry"])
        assert ferry is not None

        # nothing changed: the feed answers 304, no page is fetched, nothing embedded
        pages = site.page_hits()
        with forward_passes(embedder) as passes:
            second = await feeds.poll(feed)
        assert second.not_modified and second.fetched == 0 and passes == []
        assert site.page_hits() == pages and site.hits["/feed.xml"] == 3  # add, 1st, 2nd

        # a new item, an edited one (a correction), one whose feed entry changed but
        # not its page, and one whose page redirects to an internal address
        stories["ferry"].body = stories["ferry"].body.replace("17 ships", "19 ships")
        stories["ferry"].summary = "Corrected: 19 ships"
        stories["metro"].summary = "now with a summary"
        stories["dock"] = story(4, day=3)
        stories["leak"] = story(5, day=3, moved_to=f"http://127.0.0.1:{site.internal}/admin")
        site.stories = stories
        with forward_passes(embedder) as passes:
            third = await feeds.poll(feed)
        assert third.error is None and third.fetched == 4  # the pier's page was not fetched
        assert third.report.updated == [ids["ferry"]]
        assert third.report.unchanged == [ids["metro"]]
        assert len(third.report.added) == 1
        ((leak, why),) = third.report.failed
        assert leak == site.url("/news/leak") and why.code == "private_address"  # type: ignore[attr-defined]
        assert len(passes) > 0  # the new and the corrected pages were embedded
        corrected = store.catalogue.get_article(ids["ferry"])
        assert corrected is not None and "19 ships" in corrected.text
        now = store.catalogue.info(ids["ferry"])
        assert now is not None and now.revision != ferry.revision  # one article, a new revision
        assert len(store.catalogue.articles()) == 4

        # the feed fails: told once per outage, its last good state kept
        before = book.find(feed.url)
        site.feed_status = 500
        failed = [await feeds.poll(feed) for _ in range(3)]
        assert [p.error.code for p in failed] == ["http_status"] * 3  # type: ignore[union-attr]
        assert [p.began_failing for p in failed] == [True, False, False]
        after = book.find(feed.url)
        assert after is not None and before is not None
        assert (after.etag, after.items, after.polled_at) == (
            before.etag, before.items, before.polled_at
        )  # fmt: skip
        assert after.failing_since is not None and after.error is not None
        assert after.error.say("ar").endswith("HTTP 500")
        site.feed_status = 200
        clock[0] = 2000.0
        back = await feeds.poll(feed)
        assert back.recovered and back.not_modified and back.error is None  # the same ETag
        healthy = book.find(feed.url)
        assert healthy is not None and healthy.failing_since is None and healthy.polled_at == 2000

        # a redirect to a private address is refused before any connection to it
        requested: list[str] = []
        fetcher.on_request = requested.append
        site.feed_redirect = f"http://127.0.0.1:{site.internal}/feed.xml"
        refused = await feeds.poll(feed)
        assert refused.error is not None and refused.error.code == "private_address"
        assert refused.began_failing
        assert requested == [site.url("/feed.xml")]  # the first hop only
    assert site.internal_hits == []  # nothing internal was ever fetched
    assert len(store.catalogue.articles()) == 4


async def test_a_page_that_fails_is_retried_and_a_refused_one_is_not(
    store: Store, embedder: Embedder, book: FeedBook
) -> None:
    stories = {"pier": story(1), "ferry": story(2, status=503), "gone": story(3, status=404)}
    async with news_site(stories) as site:
        feeds = Feeds(book, fetcher_for(site), Ingestor(store, embedder))
        feed, _, _ = await feeds.add(site.url("/feed.xml"))
        first = await feeds.poll(feed)
        assert len(first.report.added) == 1 and first.pending == 1
        assert sorted(r.code for _, r in first.report.failed) == ["http_status"] * 2
        kept = book.find(feed.url)
        assert kept is not None and kept.etag is None  # the next poll reads the feed again
        stories["ferry"].status = 200
        second = await feeds.poll(feed)
        assert not second.not_modified and second.fetched == 1  # the ferry only: 404 is gone
        assert len(second.report.added) == 1 and second.pending == 0
        assert site.hits["/news/gone"] == 1 and site.hits["/news/ferry"] == 2
        third = await feeds.poll(feed)
        assert third.not_modified and third.fetched == 0
    assert len(store.catalogue.articles()) == 2


@pytest.mark.slow
async def test_two_hundred_items_polled_twice_embed_once(
    store: Store, embedder: Embedder, book: FeedBook
) -> None:
    stories = {f"s{n}": story(n, day=n % 30) for n in range(200)}
    # no ETag: the second poll reads the whole feed and compares each item
    async with news_site(stories, etag=False) as site:
        feeds = Feeds(book, fetcher_for(site), Ingestor(store, embedder), max_items=200)
        feed, _, listed = await feeds.add(site.url("/feed.xml"))
        assert listed == 200
        started = time.perf_counter()
        first = await feeds.poll(feed)
        first_seconds = time.perf_counter() - started
        assert len(first.report.added) == 200 and not first.report.failed
        with forward_passes(embedder) as passes:
            started = time.perf_counter()
            second = await feeds.poll(feed)
            second_seconds = time.perf_counter() - started
        assert passes == []  # the model never ran
        assert second.entries == 200 and second.fetched == 0 and not second.not_modified
        assert second.report.added == second.report.updated == []
        assert site.page_hits() == 200
        # and with the server's ETag, the second poll is a single 304
        site.etag = True
        await feeds.poll(feed)  # takes the ETag
        started = time.perf_counter()
        third = await feeds.poll(feed)
        third_seconds = time.perf_counter() - started
        assert third.not_modified
    print(
        f"\n200-item feed: first poll {first_seconds:.2f} s, second (200, no ETag) "
        f"{second_seconds * 1000:.0f} ms, third (304) {third_seconds * 1000:.0f} ms"
    )
    assert second_seconds < 5  # generous: it measures well under a second
    assert len(store.catalogue.articles()) == 200


def test_sitemaps_and_what_is_no_feed() -> None:
    sitemap = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        b"<url><loc>/news/a</loc><lastmod>2024-05-01</lastmod></url>"
        b"<url><loc>https://oasis.example/news/b</loc><news:news><news:publication_date>"
        b"2024-05-02T10:00:00Z</news:publication_date><news:title>B</news:title></news:news>"
        b"</url><url><loc>https://oasis.example/news/b?utm_source=x</loc></url></urlset>"
    )
    parsed = parse(sitemap, "https://oasis.example/sitemap.xml")
    assert parsed.kind == "sitemap"
    assert [(e.url, e.title, e.published) for e in parsed.entries] == [
        ("https://oasis.example/news/a", None, "2024-05-01T00:00:00"),
        ("https://oasis.example/news/b", "B", "2024-05-02T10:00:00+00:00"),
    ]
    changed = parse(sitemap.replace(b"2024-05-01<", b"2024-05-04<"), "https://oasis.example/s")
    assert changed.entries[0].stamp != parsed.entries[0].stamp
    assert changed.entries[1].stamp == parsed.entries[1].stamp
    index = b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></sitemapindex>'
    for body, code in (
        (b"<html><body><p>Welcome to Oasis Daily</p></body></html>", "not_a_feed"),
        (b"http://10.0.0.1/feed.xml", "not_a_feed"),  # never fetched by the parser
        (index, "sitemap_index"),
    ):
        with pytest.raises(Exception) as caught:
            parse(body, "https://oasis.example/x")
        assert caught.value.reason.code == code  # type: ignore[attr-defined]


HOUR, DAYS = 3600.0, 86_400.0
T0 = DAY.timestamp()


async def test_an_item_gone_from_the_feed_is_forgotten_and_its_article_stays(
    store: Store, embedder: Embedder, book: FeedBook
) -> None:
    stories = {"pier": story(1), "ferry": story(2), "metro": story(3)}
    searcher = searcher_for(store, embedder)
    async with news_site(stories) as site:
        fetcher = fetcher_for(site)
        clock = [T0]
        # no rechecks here: a page is fetched only for an item new to the book
        feeds = Feeds(book, fetcher, Ingestor(store, embedder), now=lambda: clock[0],
                      forget_days=30, recheck_days=0)  # fmt: skip
        feed, _, _ = await feeds.add(site.url("/feed.xml"))
        assert len((await feeds.poll(feed)).report.added) == 3
        urls = {slug: site.url(f"/news/{slug}") for slug in stories}
        ids = {slug: (await fetcher.article(url)).id for slug, url in urls.items()}

        # the ferry and the metro leave the feed: kept while their absence is recent,
        # through polls that read the feed and polls it answers 304
        gone = {slug: stories.pop(slug) for slug in ("ferry", "metro")}
        clock[0] = T0 + 1 * DAYS
        left = await feeds.poll(feed)
        assert left.entries == 1 and left.forgotten == 0
        clock[0] = T0 + 29.9 * DAYS
        kept = await feeds.poll(feed)
        assert kept.not_modified and kept.forgotten == 0
        assert set(book.items(feed.id)) == set(urls.values())
        # 30 days after the last poll that saw them listed, they are forgotten; the
        # pier, listed all along, stays
        clock[0] = T0 + 30.1 * DAYS
        later = await feeds.poll(feed)
        assert later.not_modified and later.forgotten == 2
        assert set(book.items(feed.id)) == {urls["pier"]}
        listed = book.find(feed.url)
        assert listed is not None and listed.items == 1
        # their articles stay in the coverage, and searchable
        assert len(store.catalogue.articles()) == 3
        found = searcher.search("How many ships called at the north pier in report number 2?")
        assert ids["ferry"] in {h.article_id for h in found.hits}

        # the ferry comes back unchanged: new to the book, so its page is fetched,
        # but its text is the article's already and nothing is embedded
        stories["ferry"] = gone["ferry"]
        clock[0] = T0 + 31 * DAYS
        with forward_passes(embedder) as passes:
            back = await feeds.poll(feed)
        assert back.fetched == 1 and passes == []
        assert back.report.unchanged == [ids["ferry"]] and back.report.added == []
        # the metro comes back with its page edited meanwhile: a correction
        stories["metro"] = gone["metro"]
        stories["metro"].body += "\nThe north pier reopened on Friday after repairs."
        clock[0] = T0 + 31 * DAYS + HOUR
        with forward_passes(embedder) as passes:
            edited = await feeds.poll(feed)
        assert edited.fetched == 1 and len(passes) > 0
        assert edited.report.updated == [ids["metro"]] and edited.report.added == []
        metro = store.catalogue.get_article(ids["metro"])
        assert metro is not None and "reopened on Friday" in metro.text
        assert set(book.items(feed.id)) == set(urls.values())
    assert len(store.catalogue.articles()) == 3


async def test_recent_items_pages_are_asked_again_and_a_quiet_edit_is_seen(
    store: Store, embedder: Embedder, book: FeedBook
) -> None:
    stories = {"pier": story(1), "ferry": story(2), "archive": story(3, day=-30)}
    async with news_site(stories, page_etags=True) as site:
        fetcher = fetcher_for(site)
        clock = [T0]
        feeds = Feeds(book, fetcher, Ingestor(store, embedder), now=lambda: clock[0],
                      max_items=3, recheck_days=2, recheck_hours=6)  # fmt: skip
        feed, _, _ = await feeds.add(site.url("/feed.xml"))
        first = await feeds.poll(feed)
        assert (first.fetched, first.rechecked, len(first.report.added)) == (3, 0, 3)
        ids = {s: (await fetcher.article(site.url(f"/news/{s}"))).id for s in ("pier", "ferry")}
        pages = site.page_hits()

        # within recheck_hours, no page is asked again
        clock[0] = T0 + 1 * HOUR
        quiet = await feeds.poll(feed)
        assert quiet.not_modified and quiet.rechecked == 0 and site.page_hits() == pages

        # the pier's page is corrected, its feed entry unchanged; a new item comes,
        # which leaves room for one recheck (pages per poll: max_items)
        stories["pier"].body = stories["pier"].body.replace("10 ships", "12 ships")
        stories["dock"] = story(4)
        feeds.max_items = 2
        clock[0] = T0 + 6 * HOUR
        mixed = await feeds.poll(feed)
        assert (mixed.fetched, mixed.rechecked, len(mixed.report.added)) == (1, 1, 1)
        (dock,) = mixed.report.added
        assert site.unchanged == ["/news/ferry"]  # asked with its own ETag: 304
        assert mixed.report.unchanged == [ids["ferry"]]
        # the pier, still due, has its turn at the next poll: its article is replaced
        clock[0] = T0 + 6.25 * HOUR
        with forward_passes(embedder) as passes:
            fixed = await feeds.poll(feed)
        assert fixed.not_modified and fixed.rechecked == 1 and len(passes) > 0
        assert fixed.report.updated == [ids["pier"]]
        pier = store.catalogue.get_article(ids["pier"])
        assert pier is not None and "12 ships" in pier.text

        # unchanged pages cost no embedding: asked with their ETags (304)...
        feeds.max_items = 3
        clock[0] = T0 + 12.1 * HOUR  # the ferry and the dock are due, the pier not yet
        with forward_passes(embedder) as passes:
            again = await feeds.poll(feed)
        assert again.rechecked == 2 and passes == []
        assert sorted(again.report.unchanged) == sorted([ids["ferry"], dock])
        assert sorted(site.unchanged[1:]) == ["/news/dock", "/news/ferry"]
        # ...or read whole from a server that ignores them (the ingestor compares)
        site.page_etags = False
        clock[0] = T0 + 18.3 * HOUR
        with forward_passes(embedder) as passes:
            whole = await feeds.poll(feed)
        assert whole.rechecked == 3 and passes == [] and len(site.unchanged) == 3
        assert sorted(whole.report.unchanged) == sorted([*ids.values(), dock])
        assert whole.report.updated == []
        assert site.hits["/news/archive"] == 1  # published a month before: never asked again

        # past recheck_days, no page is asked again
        clock[0] = T0 + 2 * DAYS + 7 * HOUR
        pages = site.page_hits()
        late = await feeds.poll(feed)
        assert late.not_modified and late.rechecked == 0 and site.page_hits() == pages
    assert len(store.catalogue.articles()) == 4


# A poll in another process: it holds the feeds' turn until its stdin closes.
HOLD = """
import sys
from pathlib import Path
from retrieval.feeds import FeedBook
with FeedBook(Path(sys.argv[1])).turn() as ours:
    print("holding" if ours else "refused", flush=True)
    sys.stdin.read()
"""


async def test_polls_of_the_feeds_take_turns_across_processes(
    store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    path = tmp_path / "data" / "feeds.sqlite"
    async with news_site({"pier": story(1)}) as site:
        ingestor = Ingestor(store, embedder)
        books = [FeedBook(path), FeedBook(path)]  # the bot's, and `rawi feeds poll`'s
        try:
            bot, cli = (Feeds(b, fetcher_for(site), ingestor) for b in books)
            feed, _, _ = await bot.add(site.url("/feed.xml"))
            site.hold = asyncio.Event()
            first = asyncio.create_task(bot.poll(feed))
            for _ in range(200):
                if site.hits["/feed.xml"] == 2:  # the add, and this poll
                    break
                await asyncio.sleep(0.02)
            started = time.perf_counter()
            other = await cli.poll(feed)  # the bot's poll is under way: skipped, no wait
            assert other.skipped and time.perf_counter() - started < 1
            assert site.hits["/feed.xml"] == 2 and not first.done()
            site.hold.set()
            done = await first
            assert not done.skipped and len(done.report.added) == 1
            after = await cli.poll(feed)  # the turn is free again
            assert not after.skipped and after.not_modified

            holder = await asyncio.create_subprocess_exec(
                sys.executable, "-c", HOLD, str(path), cwd=ROOT,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert holder.stdin is not None and holder.stdout is not None
            try:
                line = await asyncio.wait_for(holder.stdout.readline(), 120)
                assert line == b"holding\n"
                held = await bot.poll(feed)
                assert held.skipped and site.hits["/feed.xml"] == 3
            finally:
                holder.stdin.close()
                await asyncio.wait_for(holder.wait(), 30)
            assert holder.returncode == 0
            free = await bot.poll(feed)
            assert not free.skipped and free.not_modified and site.hits["/feed.xml"] == 4
        finally:
            for b in books:
                b.close()
    assert path.with_suffix(".lock").exists()


def test_a_feed_book_from_before_rechecks_opens(tmp_path: Path) -> None:
    path = tmp_path / "feeds.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE feeds (id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL UNIQUE, "
        "title TEXT NOT NULL, kind TEXT NOT NULL, added_at REAL NOT NULL, etag TEXT, "
        "last_modified TEXT, polled_at REAL, failing_since REAL, error TEXT, tried_at REAL);"
        "CREATE TABLE items (feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE, "
        "url TEXT NOT NULL, stamp TEXT NOT NULL, article_id TEXT, content_hash TEXT, "
        "seen_at REAL NOT NULL, PRIMARY KEY (feed_id, url));"
        "INSERT INTO feeds (url, title, kind, added_at) VALUES ('https://o.example/rss', 'O', "
        "'rss', 1.0);"
        "INSERT INTO items VALUES (1, 'https://o.example/a', 's', 'art', 'h', 5.0);"
    )
    db.commit()
    db.close()
    book = FeedBook(path)
    try:
        assert book.items(1) == {
            "https://o.example/a": Item("https://o.example/a", "s", "art", "h")
        }
        # it came at its seen_at, and was fetched then: due for a recheck after that
        assert book.rechecks(1, came_after=4.0, checked_by=5.0, published_after="") != []
        assert book.rechecks(1, came_after=5.0, checked_by=5.0, published_after="") == []
        assert book.rechecks(1, came_after=4.0, checked_by=4.9, published_after="") == []
    finally:
        book.close()
