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

The pages of recent items are asked again on a slower schedule (``recheck_days``,
``recheck_hours``), conditionally with their own validators, so a page corrected
without its feed entry changing is seen. An item the feed has not listed for
``forget_days`` is forgotten (its article stays). Polls take turns across processes
through an OS lock on ``feeds.lock`` beside the book, never waited for.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import dataclasses
import fcntl
import hashlib
import io
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from retrieval.ingest.fetch import Fetcher, FetchFailed, article_of
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
    gave (None when the page was refused) with that article's content hash and
    date, and the page's own validators (for asking it again conditionally)."""

    url: str
    stamp: str
    article_id: str | None = None
    content_hash: str | None = None
    published: str | None = None
    etag: str | None = None
    last_modified: str | None = None


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
# Added to the items of an older book: first_seen (when the item came), checked_at
# (when its page was last fetched), listed (whether the feed's last read listed it;
# seen_at is then the last time the feed was known to list it), and the page's date
# and validators.
_ITEM_COLUMNS = {
    "first_seen": "REAL", "checked_at": "REAL", "listed": "INTEGER NOT NULL DEFAULT 1",
    "published": "TEXT", "etag": "TEXT", "last_modified": "TEXT",
}  # fmt: skip
_ITEM_FIELDS = "url, stamp, article_id, content_hash, published, etag, last_modified"


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
        with self._transaction("IMMEDIATE"):  # another process may open it at once
            have = {row[1] for row in self._db.execute("PRAGMA table_info(items)")}
            for name, kind in _ITEM_COLUMNS.items():
                if name not in have:
                    self._db.execute(f"ALTER TABLE items ADD COLUMN {name} {kind}")
            self._db.execute(
                "UPDATE items SET first_seen = COALESCE(first_seen, seen_at), "
                "checked_at = COALESCE(checked_at, seen_at) "
                "WHERE first_seen IS NULL OR checked_at IS NULL"
            )
        # polls take turns across processes (the bot's job, `rawi feeds poll`)
        self.lock_path = path.with_suffix(".lock") if path is not None else None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def turn(self) -> Iterator[bool]:
        """Whether this poll has the feeds' turn: an OS lock on ``feeds.lock``
        beside the book, held while the block runs, never waited for (False: a
        poll in another process, or of another :class:`Feeds`, holds it)."""
        if self.lock_path is None:
            yield True
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True  # closing the file lets the lock go
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _transaction(self, mode: str = "") -> Iterator[None]:
        self._db.execute(f"BEGIN {mode}")
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
                f"SELECT {_ITEM_FIELDS} FROM items WHERE feed_id = ?", (feed_id,)
            ).fetchall()
        return {row[0]: Item(*row) for row in rows}

    def rechecks(
        self, feed_id: int, *, came_after: float, checked_by: float, published_after: str
    ) -> list[Item]:
        """The items that gave an article, came after ``came_after`` and whose page
        was last fetched by ``checked_by``, the longest unchecked first;
        those whose date is known only when it is after ``published_after`` (ISO)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ITEM_FIELDS} FROM items WHERE feed_id = ? AND article_id IS NOT NULL "
                "AND first_seen > ? AND checked_at <= ? AND (published IS NULL OR published > ?) "
                "ORDER BY checked_at, first_seen, url",
                (feed_id, came_after, checked_by, published_after),
            ).fetchall()
        return [Item(*row) for row in rows]

    def record(
        self,
        feed: Feed,
        items: Sequence[Item],
        now: float,
        *,
        etag: str | None,
        last_modified: str | None,
        title: str | None = None,
        listed: Collection[str] | None = None,
        forget_before: float | None = None,
    ) -> tuple[bool, int]:
        """A poll that succeeded: its items (their pages fetched at ``now``), the
        validators for the next one, the feed no longer failing. ``listed``: the
        items the feed lists now (None: the feed is unchanged). The items it has not
        listed since ``forget_before`` are forgotten (their articles stay). (Whether
        the feed was failing until now, how many items were forgotten.)"""
        with self._lock, self._transaction():
            self._db.executemany(
                f"INSERT INTO items (feed_id, {_ITEM_FIELDS}, seen_at, first_seen, checked_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (feed_id, url) DO UPDATE "
                "SET stamp = excluded.stamp, article_id = excluded.article_id, "
                "content_hash = excluded.content_hash, published = excluded.published, "
                "etag = excluded.etag, last_modified = excluded.last_modified, "
                "checked_at = excluded.checked_at",
                [(feed.id, *dataclasses.astuple(i), now, now, now) for i in items],
            )
            if listed is not None:
                self._db.execute("UPDATE items SET listed = 0 WHERE feed_id = ?", (feed.id,))
                self._db.executemany(
                    "UPDATE items SET listed = 1 WHERE feed_id = ? AND url = ?",
                    [(feed.id, url) for url in listed],
                )
            self._db.execute(
                "UPDATE items SET seen_at = ? WHERE feed_id = ? AND listed = 1", (now, feed.id)
            )
            forgotten = 0
            if forget_before is not None:
                forgotten = self._db.execute(
                    "DELETE FROM items WHERE feed_id = ? AND listed = 0 AND seen_at < ?",
                    (feed.id, forget_before),
                ).rowcount
            was = self._db.execute(
                "SELECT failing_since FROM feeds WHERE id = ?", (feed.id,)
            ).fetchone()
            self._db.execute(
                "UPDATE feeds SET etag = ?, last_modified = ?, polled_at = ?, "
                "failing_since = NULL, error = NULL, title = COALESCE(?, title) WHERE id = ?",
                (etag, last_modified, now, title, feed.id),
            )
        return bool(was and was[0] is not None), forgotten

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
    fetched: int = 0  # pages of new or changed items fetched
    rechecked: int = 0  # pages of recent items asked again (conditionally)
    pending: int = 0  # items left for a later poll (pages unreachable for now, or the cap)
    forgotten: int = 0  # items gone from the feed long enough to be forgotten
    skipped: bool = False  # another poll had the feeds' turn: nothing was done
    seconds: float = 0.0


@dataclass(frozen=True)
class Missed:
    """Why an item's page gave no article; ``again``: a later poll retries it."""

    reason: Reason
    again: bool


@dataclass(frozen=True)
class Page:
    """An item's page, fetched: its article (None: unchanged since the validators
    sent, a 304) and the page's own validators."""

    article: Article | None
    etag: str | None = None
    last_modified: str | None = None


DAY_SECONDS = 86_400.0


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
        forget_days: float = 30.0,
        recheck_days: float = 2.0,
        recheck_hours: float = 6.0,
    ) -> None:
        self.book, self.fetcher, self.ingestor = book, fetcher, ingestor
        self.interval, self.max_items, self.lock, self.now = interval, max_items, lock, now
        self.forget_days, self.recheck_days = forget_days, recheck_days
        self.recheck_hours = recheck_hours
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
        """Poll ``feed`` now, unless another poll (this process's, or another's)
        has the feeds' turn: then nothing is done (``skipped``), never waited for."""
        async with self._polling:
            with self.book.turn() as ours:
                if ours:
                    return await self._turn(feed)
            log.info("feed %s: another poll of the feeds is under way; skipped this round",
                     feed.url)  # fmt: skip
            return Poll(feed, skipped=True)

    async def _turn(self, feed: Feed) -> Poll:
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
        known = self.book.items(feed.id)
        parsed, listed, todo = None, None, []
        if got.status == 304:
            poll.not_modified = True
        else:
            parsed = await asyncio.to_thread(parse, got.body, got.url, got.kind)
            listed = [normalise_url(e.url) for e in parsed.entries]
            todo = self._changed(parsed, listed, known, poll)
        again = self._due_again(feed, {normalise_url(i.url) for i in todo}, len(todo))
        poll.fetched, poll.rechecked = len(todo), len(again)
        jobs = [*todo, *again]
        pages = await self._pages(jobs)
        items = [
            Loaded(j.url, p.article)
            for j, p in zip(jobs, pages, strict=True)
            if isinstance(p, Page) and p.article is not None
        ]
        if items:
            poll.report = await self._ingest(items)
        done = self._settle(jobs, pages, len(todo), known, poll)
        # with items left for later, the validators stay: the next poll reads the feed
        etag, modified = feed.etag, feed.last_modified
        if parsed is not None and not poll.pending:
            etag, modified = got.headers.get("etag"), got.headers.get("last-modified")
        title = parsed.title if parsed is not None and parsed.kind != "sitemap" else None
        now = self.now()
        poll.recovered, poll.forgotten = self.book.record(
            feed, done, now, etag=etag, last_modified=modified, title=title, listed=listed,
            forget_before=now - self.forget_days * DAY_SECONDS,
        )  # fmt: skip

    def _changed(
        self, parsed: Parsed, listed: list[str], known: dict[str, Item], poll: Poll
    ) -> list[Item]:
        """The feed's entries that are new or whose entry changed, at most
        ``max_items`` of them (the rest counted as pending), each with its page's
        validators where the page was fetched before."""
        poll.entries = len(parsed.entries)
        todo = []
        for e, url in zip(parsed.entries, listed, strict=True):
            k = known.get(url)
            if k is None or k.stamp != e.stamp:
                old = k if k is not None and k.article_id else Item(url, "")
                todo.append(Item(e.url, e.stamp, published=e.published, etag=old.etag,
                                 last_modified=old.last_modified))  # fmt: skip
        poll.pending = max(0, len(todo) - self.max_items)
        return todo[: self.max_items]

    def _settle(
        self, jobs: list[Item], pages: list[Page | Missed], new: int, known: dict[str, Item],
        poll: Poll,
    ) -> list[Item]:  # fmt: skip
        """What each page asked leaves in the feed's book, counted in ``poll``: the
        first ``new`` jobs are new or changed entries, the rest rechecks of recent
        ones. An item left out is fetched again by the next poll."""
        committed = {*poll.report.added, *poll.report.updated, *poll.report.unchanged}
        done = []
        for n, (job, page) in enumerate(zip(jobs, pages, strict=True)):
            url, recheck = normalise_url(job.url), n >= new
            if isinstance(page, Page):
                a = page.article
                if a is None:  # the page answered 304: unchanged since it was fetched
                    if (k := known.get(url)) is not None and k.article_id is not None:
                        done.append(dataclasses.replace(k, stamp=job.stamp))
                        poll.report.unchanged.append(k.article_id)
                    elif not recheck:
                        poll.pending += 1
                elif a.id in committed:
                    done.append(Item(url, job.stamp, a.id, a.content_hash, a.published,
                                     page.etag, page.last_modified))  # fmt: skip
                elif not recheck:  # the store did not take it: again next time
                    poll.pending += 1
            elif recheck:  # kept as it was; asked again after recheck_hours
                log.info("feed %s: rechecking %s: %s", poll.feed.url, job.url, page.reason)
                done.append(job)
            else:
                poll.report.failed.append((job.url, page.reason))
                if page.again:
                    poll.pending += 1
                else:  # refused for good: not fetched again until the item changes
                    done.append(Item(url, job.stamp))
        return done

    def _due_again(self, feed: Feed, skip: set[str], taken: int) -> list[Item]:
        """The recent items whose pages are due to be asked again: those that came
        within ``recheck_days`` (and, where dated, were published within them),
        last fetched ``recheck_hours`` or more ago, the longest unchecked first, as
        many as ``max_items`` leaves after the ``taken`` new or changed ones."""
        room = self.max_items - taken
        if room <= 0 or self.recheck_days <= 0:
            return []
        now = self.now()
        since = now - self.recheck_days * DAY_SECONDS
        due = self.book.rechecks(
            feed.id, came_after=since, checked_by=now - self.recheck_hours * 3600,
            published_after=datetime.fromtimestamp(since, UTC).date().isoformat(),
        )  # fmt: skip
        return [i for i in due if i.url not in skip][:room]

    async def _pages(self, jobs: list[Item]) -> list[Page | Missed]:
        """Each item's page (asked conditionally where its validators are known)
        as an article, as ``/add URL`` reads it, or why not."""
        gate = asyncio.Semaphore(PAGES_AT_ONCE)

        async def page(job: Item) -> Page | Missed:
            async with gate:
                try:
                    got = await self.fetcher.page(job.url, etag=job.etag,
                                                  last_modified=job.last_modified)  # fmt: skip
                    if got.status == 304:
                        return Page(None, job.etag, job.last_modified)
                    article = await article_of(got)
                except FetchFailed as exc:  # unreachable, timed out, a server error...
                    gone = exc.reason.details.get("status") in GONE
                    return Missed(exc.reason, again=not gone)
                except LoadError as exc:  # refused, or no article in it
                    return Missed(exc.reason, again=False)
            if article.published is None and job.published:  # the feed's date, else none
                article = dataclasses.replace(article, published=job.published)
            return Page(article, got.headers.get("etag"), got.headers.get("last-modified"))

        return list(await asyncio.gather(*(page(j) for j in jobs)))

    async def _ingest(self, items: list[Loaded]) -> IngestReport:
        if self.lock is None:
            return await asyncio.to_thread(self.ingestor.run, items)
        async with self.lock:
            return await asyncio.to_thread(self.ingestor.run, items)
