"""What the handlers need, and how they reach it: a typed context.

The services (model, store, answerer, chat state; the admins' tools) are built
once by the composition root, before the application, and reach every handler as
``context.services`` and ``context.admin`` (python-telegram-bot's context types).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackContext, CallbackQueryHandler, ContextTypes, ExtBot

from bot.telegram.state import ChatState, Followed
from retrieval.feeds import Feeds
from retrieval.follows import Arrivals, Match, Matcher, Topics
from retrieval.ingest.fetch import Fetcher
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.service import QAService
from retrieval.store.chunks import Store
from retrieval.types import Answer


class ButtonHandler(CallbackQueryHandler[Any, Any]):
    """The handler of the buttons whose data matches ``pattern``. python-telegram-bot's
    own takes a press that carries no data as a match for any pattern, and would hand
    it to a handler that reads the data; here it goes on to the catch-all."""

    def check_update(self, update: object) -> bool | object | None:
        if isinstance(update, Update) and update.callback_query and not update.callback_query.data:
            return False
        return super().check_update(update)


@dataclass(frozen=True)
class Sent:
    """The bot's answer to a reader's message: the question it read there, the
    question's number in the log, and the answer's messages, in order."""

    question: str
    question_id: int | None  # None: not in the log
    messages: tuple[int, ...]


CURSOR_KEY = "follows_cursor"  # the newest commit looked at, kept across restarts


@dataclass
class Follows:
    """What the follow handlers and the job need, built once by the composition root."""

    matcher: Matcher
    state: ChatState
    interval: float = 60.0
    per_day: int = 5
    max_per_reader: int = 20
    now: Callable[[], float] = time.time
    arrivals: Arrivals | None = None
    _topics: tuple[int, Topics, dict[int, Followed]] | None = field(default=None, repr=False)
    looks: int = 0  # looks done (each with its messages sent)
    _failing: bool = False

    def topics(self, now: float) -> tuple[Topics, dict[int, Followed]]:
        """Every live follow, scored together; rebuilt only when the follows change."""
        version = self.state.follows_version
        if self._topics is None or self._topics[0] != version:
            followed = self.state.followed(now)
            dim = self.matcher.searcher.embedder.dim
            usable = [f for f in followed if len(f.topic.vector) == dim]
            topics = Topics([f.topic for f in usable])
            self._topics = (version, topics, {f.topic.id: f for f in usable})
        return self._topics[1], self._topics[2]

    def due(self) -> list[tuple[Match, Followed]]:
        """The messages owed for the articles committed since the last look (blocking:
        run it in a worker thread), within each follow's daily cap, none repeated."""
        now = self.now()
        self.state.purge_now_and_then(now)
        if self.arrivals is None:
            kept = self.state.get_meta(CURSOR_KEY)
            self.arrivals = Arrivals(self.matcher.store, float(kept) if kept else None)
        owed: list[tuple[Match, Followed]] = []
        # the articles count as looked at only once matched: a look that fails (the
        # store unreachable) leaves them for the next
        with self.arrivals.looking() as new:
            if not new:
                return []
            topics, by_id = self.topics(now)
            taken: Counter[int] = Counter()
            for match in self.matcher.check(topics, new):
                fid = match.topic
                if self.state.was_sent(fid, match.hit.article_id):
                    continue
                if self.state.sent_today(fid, now) + taken[fid] >= self.per_day:
                    continue
                taken[fid] += 1
                owed.append((match, by_id[fid]))
        self.state.set_meta(CURSOR_KEY, repr(self.arrivals.cursor))
        return owed


@dataclass
class Services:
    """What the handlers need, built once by the composition root."""

    qa: QAService
    coverage: Callable[[], dict[str, Any]]  # articles, first, last, sources
    state: ChatState
    max_question_chars: int = 1000
    rate_limit_per_minute: int = 20
    follow: Callable[[], Any] | None = None  # catch up with other processes' writes
    follow_interval: float = 10.0
    follows: Follows | None = None  # readers' standing topics (/follow)
    in_flight: int = 0  # questions being answered now
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    # (chat, message) -> the answer, so that an edited question edits its answer
    answers: OrderedDict[tuple[int, int], Sent] = field(default_factory=OrderedDict)
    max_answers: int = 10_000  # remembered; the oldest are forgotten
    # inline mode: (normalised question, language) -> (when, the answer), kept this long
    inline_answers: OrderedDict[tuple[str, str], tuple[float, Answer]] = field(
        default_factory=OrderedDict
    )
    inline_cache_seconds: float = 60.0
    inline_min_chars: int = 3

    def remember(self, chat_id: int, message_id: int, sent: Sent) -> None:
        self.answers[(chat_id, message_id)] = sent
        self.answers.move_to_end((chat_id, message_id))
        while len(self.answers) > self.max_answers:
            self.answers.popitem(last=False)

    # questions being answered, by reader and by chat (counted when they arrive)
    by_reader: Counter[int] = field(default_factory=Counter)
    by_chat: Counter[int] = field(default_factory=Counter)
    busy_told: dict[int, float] = field(default_factory=dict)  # chat -> when told

    @contextlib.contextmanager
    def answering(self, reader: int | None = None, chat: int | None = None) -> Iterator[int]:
        """Count a question in flight from its arrival; yields how many of the same
        reader's were in flight before it (not yet in the log the limit reads)."""
        self.in_flight += 1
        self._idle.clear()
        ahead = self.by_reader[reader] if reader is not None else 0
        for counter, key in ((self.by_reader, reader), (self.by_chat, chat)):
            if key is not None:
                counter[key] += 1
        try:
            yield ahead
        finally:
            for counter, key in ((self.by_reader, reader), (self.by_chat, chat)):
                if key is not None:
                    counter[key] -= 1
                    if counter[key] <= 0:
                        del counter[key]
            self.in_flight -= 1
            if not self.in_flight:
                self._idle.set()

    async def drain(self, grace: float) -> bool:
        """Wait (at most ``grace`` seconds) for the answers in flight."""
        if self.in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
        return self.in_flight == 0


BUTTON_TTL = 3600.0  # seconds an admin's button stays valid


@dataclass
class Admin:
    """What the admin handlers need, built once by the composition root."""

    admin_ids: frozenset[int]
    store: Store
    ingestor: Ingestor
    state: ChatState
    embedder: Embedder
    fetcher: Fetcher = field(default_factory=Fetcher)
    channels: frozenset[str] = frozenset()
    max_document_bytes: int = 10_000_000
    # buttons' tokens: token -> (article id, admin, when offered)
    pending: dict[str, tuple[str, int, float]] = field(default_factory=dict)
    ingest_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    languages: dict[int, str] = field(default_factory=dict)  # each admin's, last heard
    # what channel posts did, until the admins are told: (channel, article, outcome)
    notices: list[tuple[str, Any, Any]] = field(default_factory=list)
    notices_task: asyncio.Task[None] | None = None
    feeds: Feeds | None = None  # the feeds polled for articles (bot/telegram/feeds.py)

    def heard_from(self, update: Update) -> None:
        user = update.effective_user
        if user is not None:
            self.languages[user.id] = "ar" if (user.language_code or "").startswith("ar") else "en"

    def offer(self, article_id: str, user_id: int) -> str:
        """A short token for a button acting on ``article_id`` (callback data is
        limited to 64 bytes; ids are not)."""
        now = time.monotonic()
        for token in [t for t, (_, _, at) in self.pending.items() if now - at > BUTTON_TTL]:
            del self.pending[token]
        token = secrets.token_hex(4)
        self.pending[token] = (article_id, user_id, now)
        return token

    def offered(self, token: str) -> str | None:
        """The article a button's token names, while the button is valid (a used
        button stays valid, so a second press can say what became of it)."""
        got = self.pending.get(token)
        if got is None or time.monotonic() - got[2] > BUTTON_TTL:
            return None
        return got[0]

    def withdraw(self, token: str) -> None:
        self.pending.pop(token, None)

    def is_admin(self, update: Update) -> bool:
        message, user = update.effective_message, update.effective_user
        if user is None or user.id not in self.admin_ids:
            return False
        # "as the group" or "as a channel": the sender is a chat, not a person
        return not (message is not None and message.sender_chat is not None)

    def watches(self, chat: Any) -> bool:
        names = {str(chat.id)}
        if chat.username:
            names |= {chat.username.lower(), f"@{chat.username.lower()}"}
        return bool(names & self.channels)


class BotData:
    """``application.bot_data``: the services, set by :func:`build_application`."""

    services: Services
    admin: Admin | None = None


class Context(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    @property
    def services(self) -> Services:
        return self.bot_data.services

    @property
    def admin(self) -> Admin:
        admin = self.bot_data.admin
        assert admin is not None, "admin handlers are added only with an Admin"
        return admin


CONTEXT_TYPES = ContextTypes(context=Context, bot_data=BotData)
RawiApplication = Application[ExtBot[None], Context, dict[Any, Any], dict[Any, Any], BotData, Any]
