"""Feeds: RSS and Atom feeds and XML sitemaps, polled for new and changed articles.

The feed book (``feeds.sqlite`` in the data dir) holds each feed's last good
state: its ETag and Last-Modified, which make the next poll a conditional
request (an unchanged feed answers 304 and costs one request), and, for each of
its items, the URL, a stamp of what the feed said of it (id, dates, title,
summary; a sitemap's ``lastmod``) and the article and content hash it gave.

A poll fetches the feed through the guarded :class:`~retrieval.ingest.fetch.Fetcher`
(every hop checked, as for ``/add URL``), then only the pages of items that are
new or whose stamp changed, each as ``/add URL`` would (the same article id, from
the page's URL), and hands them to the :class:`~retrieval.ingest.pipeline.Ingestor`,
which embeds nothing for a page whose content hash is unchanged and replaces the
article of a page that changed. A feed that fails (unreachable, an HTTP error,
refused, not a feed) keeps its last good state and is marked failing from then
until a poll succeeds, so its outage is told once. A page that could not be
fetched for now leaves the feed's validators as they were, so the next poll reads
the feed again and retries it; a page refused for good is not fetched again until
its item changes.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from retrieval.ingest.fetch import Fetcher, FetchFailed
from retrieval.ingest.loaders import Loaded, LoadError, iso_date, normalise_url
from retrieval.ingest.pipeline import Ingestor, IngestReport
from retrieval.ingest.reasons import Reason
from retrieval.store.clients import StoreFull, StoreReadOnly, is_full, is_unavailable
from retrieval.types import Article

log = logging.getLogger(__name__)

# What a feed or a sitemap is served as (some servers send them as HTML or plain
# text); whether it is one is the parser's call.
FEED_KINDS = frozenset({
    "application/rss+xml", "application/atom+xml", "application/rdf+xml",
    "application/x-rss+xml", "application/xml", "text/xml", "text/html", "text/plain",
})  # fmt: skip
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
PAGES_AT_ONCE = 4  # an item's pages fetched at the same time


@dataclass(frozen=True)
class Entry:
    """An item of a feed: its page, and a stamp that changes when the feed's
    account of it changes."""

    url: str
    stamp: str
    title: str | None = None
    published: str | None = None


@dataclass(frozen=True)
class Parsed:
    kind: str  # "rss", "atom" or "sitemap"
    title: str
    entries: list[Entry]


def _stamp(*parts: object) -> str:
    h = hashlib.blake2b("\x00".join(str(p or "") for p in parts).encode(), digest_size=12)
    return h.hexdigest()


def _sitemap(body: bytes, url: str) -> Parsed | None:
    """A sitemap's pages (``<urlset>``, with Google News' title and date where
    given); None when ``body`` is no sitemap."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=False)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError:
        return None
    name = etree.QName(root).localname
    if name == "sitemapindex":
        raise LoadError("sitemap_index", url=url)
    if name != "urlset":
        return None
    entries = []
    for node in root:
        if not isinstance(node.tag, str) or etree.QName(node).localname != "url":
            continue
        fields: dict[str, str] = {}
        for child in node.iter():
            if isinstance(child.tag, str) and child.text and child.text.strip():
                fields.setdefault(etree.QName(child).localname, child.text.strip())
        loc = fields.get("loc")
        if not loc:
            continue
        published = fields.get("publication_date")
        lastmod = fields.get("lastmod")
        entries.append(Entry(urljoin(url, loc), _stamp(lastmod, published, fields.get("title")),
                             fields.get("title"), iso_date(published or lastmod)))  # fmt: skip
    return Parsed("sitemap", url, entries)


def _field(entry: Any, key: str) -> Any:
    """An entry's own ``key`` (feedparser's mapping of "updated" to "published",
    where a feed gives no update time, is deprecated and warns)."""
    return dict.get(entry, key)


def _when(entry: Any, key: str) -> str | None:
    parsed = _field(entry, f"{key}_parsed")
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC).isoformat()


def parse(body: bytes, url: str, kind: str = "") -> Parsed:
    """The entries of an RSS or Atom feed (read by feedparser) or a sitemap, in
    the order given, each page once; ``url`` is where ``body`` came from (relative
    links are read against it)."""
    import feedparser

    sitemap = _sitemap(body, url)
    if sitemap is not None:
        return _unique(sitemap)
    # a file-like object: feedparser would fetch a string that looks like a URL itself
    headers = {"content-location": url, **({"content-type": kind} if kind else {})}
    doc = feedparser.parse(io.BytesIO(body), response_headers=headers)
    version = str(doc.get("version") or "")
    if not version or (not doc.entries and doc.get("bozo")):
        raise LoadError("not_a_feed", url=url)
    entries = []
    for e in doc.entries:
        link = e.get("link")
        if not link:
            continue
        entries.append(Entry(
            urljoin(url, link),
            _stamp(*(_field(e, k) for k in ("id", "updated", "published", "title", "summary")),
                   link),
            e.get("title"),
            _when(e, "published") or _when(e, "updated"),
        ))  # fmt: skip
    title = str(doc.feed.get("title") or "").strip() or url
    return _unique(Parsed("atom" if version.startswith("atom") else "rss", title, entries))


def _unique(parsed: Parsed) -> Parsed:
    seen: dict[str, Entry] = {}
    for e in parsed.entries:
        seen.setdefault(normalise_url(e.url), e)
    return dataclasses.replace(parsed, entries=list(seen.values()))


# -- the feed book ----------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    id: int
    url: str
    title: str
    kind: str
    added_at: float
    etag: str | None = None
    last_modified: str | None = None
    polled_at: float | None = None  # the last poll that succeeded
    failing_since: float | None = None
    error: Reason | None = None  # why it fails, while it does
    items: int = 0
    tried_at: float | None = None  # the last poll, whatever came of it


@dataclass(frozen=True)
class Item:
    """What the book keeps of a feed's item: its stamp, and the article its page
    gave (None when the page was refused) with that article's content hash."""

    url: str
    stamp: str
    article_id: str | None = None
    content_hash: str | None = None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
    kind TEXT NOT NULL, added_at REAL NOT NULL, etag TEXT, last_modified TEXT,
    polled_at REAL, failing_since REAL, error TEXT, tried_at REAL
);
CREATE TABLE IF NOT EXISTS items (
    feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE, url TEXT NOT NULL,
    stamp TEXT NOT NULL, article_id TEXT, content_hash TEXT, seen_at REAL NOT NULL,
    PRIMARY KEY (feed_id, url)
);
"""


def _reason(raw: str | None) -> Reason | None:
    if not raw:
        return None
    data = json.loads(raw)
    return Reason(data["code"], **data["details"])


class FeedBook:
    """The feeds and their items, in SQLite (``path``; None: in memory)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path) if path else ":memory:", check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA foreign_keys = ON")
        if path is not None:
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def feeds(self) -> list[Feed]:
        """Every feed, in the order added (the numbers ``/feeds`` shows)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT f.id, f.url, f.title, f.kind, f.added_at, f.etag, f.last_modified, "
                "f.polled_at, f.failing_since, f.error, "
                "(SELECT COUNT(*) FROM items i WHERE i.feed_id = f.id), f.tried_at "
                "FROM feeds f ORDER BY f.id"
            ).fetchall()
        return [
            Feed(id=r[0], url=r[1], title=r[2], kind=r[3], added_at=r[4], etag=r[5],
                 last_modified=r[6], polled_at=r[7], failing_since=r[8], error=_reason(r[9]),
                 items=r[10], tried_at=r[11])
            for r in rows
        ]  # fmt: skip

    def find(self, key: str) -> Feed | None:
        """The feed at ``key``: its URL, or its number in :meth:`feeds`."""
        feeds = self.feeds()
        if key.strip().isdigit():
            n = int(key)
            return feeds[n - 1] if 1 <= n <= len(feeds) else None
        url = normalise_url(key)
        return next((f for f in feeds if f.url == url), None)

    def add(self, url: str, title: str, kind: str, now: float) -> tuple[Feed, bool]:
        """The feed at ``url``, and whether it is new (a feed already there stays).
        It was just read: it is due for a poll one interval from ``now``, unless
        polled before."""
        url = normalise_url(url)
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO feeds (url, title, kind, added_at, tried_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (url, title, kind, now, now),
            )
        feed = self.find(url)
        assert feed is not None
        return feed, cur.rowcount == 1

    def remove(self, feed_id: int) -> None:
        """Forget a feed and its items (their articles stay in the coverage)."""
        with self._lock:
            self._db.execute("DELETE FROM feeds WHERE id = ?", (feed_id,))

    def items(self, feed_id: int) -> dict[str, Item]:
        """The feed's items, by normalised URL."""
        with self._lock:
            rows = self._db.execute(
                "SELECT url, stamp, article_id, content_hash FROM items WHERE feed_id = ?",
                (feed_id,),
            ).fetchall()
        return {row[0]: Item(*row) for row in rows}

    def record(
        self,
        feed: Feed,
        items: Sequence[Item],
        now: float,
        *,
        etag: str | None,
        last_modified: str | None,
        title: str | None = None,
    ) -> bool:
        """A poll that succeeded: its items, the validators for the next one, the
        feed no longer failing. True when it was failing until now."""
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO items (feed_id, url, stamp, article_id, content_hash, "
                "seen_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(feed.id, i.url, i.stamp, i.article_id, i.content_hash, now) for i in items],
            )
            was = self._db.execute(
                "SELECT failing_since FROM feeds WHERE id = ?", (feed.id,)
            ).fetchone()
            self._db.execute(
                "UPDATE feeds SET etag = ?, last_modified = ?, polled_at = ?, "
                "failing_since = NULL, error = NULL, title = COALESCE(?, title) WHERE id = ?",
                (etag, last_modified, now, title, feed.id),
            )
        return bool(was and was[0] is not None)

    def tried(self, feed: Feed, now: float) -> None:
        with self._lock:
            self._db.execute("UPDATE feeds SET tried_at = ? WHERE id = ?", (now, feed.id))

    def failed(self, feed: Feed, reason: Reason, now: float) -> bool:
        """A poll that failed: the feed keeps its last good state. True when this
        is the first failure of an outage."""
        error = json.dumps({"code": reason.code, "details": reason.details}, default=str)
        with self._lock:
            cur = self._db.execute(
                "UPDATE feeds SET failing_since = ?, error = ? "
                "WHERE id = ? AND failing_since IS NULL",
                (now, error, feed.id),
            )
            if cur.rowcount == 0:  # failing already: only the reason may have changed
                self._db.execute("UPDATE feeds SET error = ? WHERE id = ?", (error, feed.id))
        return cur.rowcount == 1


# -- polling --------------------------------------------------------------------------


@dataclass
class Poll:
    """What one poll of a feed did."""

    feed: Feed
    report: IngestReport = field(default_factory=IngestReport)
    not_modified: bool = False
    error: Reason | None = None  # the feed could not be read; nothing changed
    began_failing: bool = False  # the first failure of an outage
    recovered: bool = False  # the first success after one
    entries: int = 0
    fetched: int = 0  # pages fetched
    pending: int = 0  # items left for a later poll (pages unreachable for now, or the cap)
    seconds: float = 0.0


@dataclass(frozen=True)
class Missed:
    """Why an item's page gave no article; ``again``: a later poll retries it."""

    reason: Reason
    again: bool


GONE = {404, 410}  # statuses that say a page will not come back


def store_trouble(exc: Exception) -> Reason:
    """The store's trouble in words an admin can act on, in either language; its
    own text (in English, with paths) stays in the log."""
    if isinstance(exc, StoreReadOnly):
        return Reason("store_read_only")
    if isinstance(exc, StoreFull) or is_full(exc):
        return Reason("store_full")
    if is_unavailable(exc):
        return Reason("store_unreachable")
    return Reason("store_trouble")


class Feeds:
    """Polls the feeds in ``book``: pages through ``fetcher``, articles through
    ``ingestor`` (under ``lock``, the admins' write lock, where given)."""

    def __init__(
        self,
        book: FeedBook,
        fetcher: Fetcher,
        ingestor: Ingestor,
        *,
        interval: float = 900.0,
        max_items: int = 200,
        lock: asyncio.Lock | None = None,
        now: Callable[[], float] = time.time,
        check_every: float = 60.0,
    ) -> None:
        self.book, self.fetcher, self.ingestor = book, fetcher, ingestor
        self.interval, self.max_items, self.lock, self.now = interval, max_items, lock, now
        # how often the bot asks what is due (a feed is polled at most this late)
        self.check_every = min(check_every, interval)
        self._polling = asyncio.Lock()  # one poll at a time, whoever starts it
        self._checking = False  # polling the feeds that are due

    async def read(self, url: str) -> tuple[str, Parsed]:
        """(final URL, what it holds) of a feed, fetched whole."""
        got = await self.fetcher.get(url, accept=FEED_ACCEPT, kinds=FEED_KINDS)
        return got.url, await asyncio.to_thread(parse, got.body, got.url, got.kind)

    async def add(self, url: str) -> tuple[Feed, bool, int]:
        """Add the feed at ``url`` once it is read as one: (the feed, whether it is
        new, how many items it lists). Raises :class:`LoadError` when it is not."""
        _, parsed = await self.read(url)
        feed, new = self.book.add(url, parsed.title, parsed.kind, self.now())
        return feed, new, len(parsed.entries)

    async def poll_all(self) -> list[Poll]:
        return [await self.poll(feed) for feed in self.book.feeds()]

    def due(self) -> list[Feed]:
        """The feeds whose last poll was ``interval`` or more ago, by ``now``."""
        now = self.now()
        return [
            f for f in self.book.feeds() if f.tried_at is None or now - f.tried_at >= self.interval
        ]

    @property
    def busy(self) -> bool:
        """Whether feeds are being polled now."""
        return self._checking or self._polling.locked()

    async def poll_due(self) -> list[Poll]:
        self._checking = True
        try:
            return [await self.poll(feed) for feed in self.due()]
        finally:
            self._checking = False

    async def poll(self, feed: Feed) -> Poll:
        async with self._polling:
            current = self.book.find(feed.url)  # as the last poll left it
            if current is None:  # removed meanwhile
                return Poll(feed, not_modified=True)
            feed = current
            self.book.tried(feed, self.now())
            started = time.perf_counter()
            poll = Poll(feed)
            try:
                await self._poll(feed, poll)
            except LoadError as exc:
                poll.error = exc.reason
            except Exception as exc:  # the store's trouble: the feed's state stays
                log.exception("polling the feed %s failed", feed.url)
                poll.error = store_trouble(exc)
            if poll.error is not None:
                poll.began_failing = self.book.failed(feed, poll.error, self.now())
                log.log(logging.WARNING if poll.began_failing else logging.INFO,
                        "feed %s fails: %s", feed.url, poll.error)  # fmt: skip
            poll.seconds = time.perf_counter() - started
            return poll

    async def _poll(self, feed: Feed, poll: Poll) -> None:
        got = await self.fetcher.get(feed.url, accept=FEED_ACCEPT, kinds=FEED_KINDS,
                                     etag=feed.etag, last_modified=feed.last_modified)  # fmt: skip
        if got.status == 304:
            poll.not_modified = True
            poll.recovered = self.book.record(
                feed, [], self.now(), etag=feed.etag, last_modified=feed.last_modified
            )
            return
        parsed = await asyncio.to_thread(parse, got.body, got.url, got.kind)
        poll.entries = len(parsed.entries)
        known = self.book.items(feed.id)
        todo = [
            e for e in parsed.entries
            if (k := known.get(normalise_url(e.url))) is None or k.stamp != e.stamp
        ]  # fmt: skip
        poll.pending = max(0, len(todo) - self.max_items)
        todo = todo[: self.max_items]
        pages = await self._pages(todo, poll)
        items = [
            Loaded(e.url, p) for e, p in zip(todo, pages, strict=True) if isinstance(p, Article)
        ]
        if items:
            poll.report = await self._ingest(items)
        committed = {*poll.report.added, *poll.report.updated, *poll.report.unchanged}
        done = []
        for e, page in zip(todo, pages, strict=True):
            if isinstance(page, Article):
                if page.id in committed:
                    done.append(Item(normalise_url(e.url), e.stamp, page.id, page.content_hash))
                else:  # the store did not take it: again next time
                    poll.pending += 1
                continue
            poll.report.failed.append((e.url, page.reason))
            if page.again:
                poll.pending += 1
            else:  # refused for good: not fetched again until the item changes
                done.append(Item(normalise_url(e.url), e.stamp))
        # with items left for later, the validators stay: the next poll reads the feed
        etag, modified = feed.etag, feed.last_modified
        if not poll.pending:
            etag, modified = got.headers.get("etag"), got.headers.get("last-modified")
        title = parsed.title if parsed.kind != "sitemap" else None
        poll.recovered = self.book.record(
            feed, done, self.now(), etag=etag, last_modified=modified, title=title
        )

    async def _pages(self, entries: list[Entry], poll: Poll) -> list[Article | Missed]:
        """Each entry's page as an article (as ``/add URL`` reads it), or why not."""
        gate = asyncio.Semaphore(PAGES_AT_ONCE)

        async def page(e: Entry) -> Article | Missed:
            async with gate:
                poll.fetched += 1
                try:
                    article = await self.fetcher.article(e.url)
                except FetchFailed as exc:  # unreachable, timed out, a server error...
                    gone = exc.reason.details.get("status") in GONE
                    return Missed(exc.reason, again=not gone)
                except LoadError as exc:  # refused, or no article in it
                    return Missed(exc.reason, again=False)
            if article.published is None and e.published:  # the feed's date, else none
                article = dataclasses.replace(article, published=e.published)
            return article

        return list(await asyncio.gather(*(page(e) for e in entries)))

    async def _ingest(self, items: list[Loaded]) -> IngestReport:
        if self.lock is None:
            return await asyncio.to_thread(self.ingestor.run, items)
        async with self.lock:
            return await asyncio.to_thread(self.ingestor.run, items)
