"""Composition: the one place that turns settings into working parts.

:class:`Parts` builds each part on first use, once: the embedder, the store with
its lexical index attached (derived data follows every write from the moment the
store is open), the searcher, the answering service, the ingestor and the bot.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from config.settings import Settings, SettingsError
from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.feeds import FeedBook, Feeds
from retrieval.ingest.fetch import Fetcher
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import DeviceError, Embedder
from retrieval.scope import Outlets
from retrieval.search import Searcher, SearchParams
from retrieval.service import QAService
from retrieval.store.chunks import Store
from retrieval.store.clients import (
    DataDirLock,
    embedded_client,
    read_only,
    server_client,
    why_read_only,
)
from retrieval.store.lexical import LexicalIndex

if TYPE_CHECKING:
    from bot.telegram.context import RawiApplication, Services
    from bot.telegram.digest import Poster


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Parts:
    """The parts of rawi for one command or one bot process, built lazily from
    ``settings``; :meth:`close` releases the store's lock."""

    def __init__(self, settings: Settings, progress: Callable[[str], None] | None = _say):
        self.settings = settings
        self.embedder = Embedder(
            model=settings.embedding.model,
            dtype=settings.embedding.dtype,
            cache_dir=settings.cache_dir / "models",
            batch_size=settings.embedding.batch_size,
            progress=progress,
            device=settings.embedding.device,
        )
        if settings.embedding.device.startswith("cuda"):  # asked for: checked before any work
            try:
                self.embedder.device  # noqa: B018
            except DeviceError as exc:
                raise SettingsError(f"embedding.device: {exc}") from None
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        """The embedded store (locked to this process) or a client of a Chroma
        server, with the lexical index following it."""
        if self._store is None:
            self._store = _open_store(self.settings, self.embedder)
            self.lexical.follow(self._store)
        return self._store

    @functools.cached_property
    def lexical(self) -> LexicalIndex:
        name = "lexical.sqlite"
        chroma = self.settings.chroma
        if chroma.host:  # one index per server, kept beside this process's data
            name = f"lexical-{chroma.host}-{chroma.port}.sqlite"
        return LexicalIndex(self.settings.data_dir / name)

    @functools.cached_property
    def searcher(self) -> Searcher:
        """The searcher, with its lexical index brought in step with the store."""
        searcher = Searcher(self.store, self.embedder, self.lexical, search_params(self.settings))
        searcher.sync()
        return searcher

    @functools.cached_property
    def qa(self) -> QAService:
        outlets = {k: v.model_dump() for k, v in self.settings.outlets.items()}
        extractive = ExtractiveAnswerer(self.embedder, outlets=Outlets(outlets))
        answerer: Any = extractive
        if self.settings.answerer == "llm":
            from retrieval.answer.llm import LLMAnswerer

            answerer = LLMAnswerer(chat_model(self.settings), extractive, outlets=Outlets(outlets))
        return QAService(
            self.searcher,
            answerer,
            k=self.settings.search.k,
            followup_window=self.settings.conversation.followup_minutes * 60,
            outlets=outlets,
        )

    @functools.cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(
            self.store, self.embedder, max_chunk_tokens=self.settings.embedding.max_chunk_tokens
        )

    @functools.cached_property
    def fetcher(self) -> Fetcher:
        """The guarded fetcher of pages and feeds (public addresses only, unless allowed)."""
        f = self.settings.fetch
        return Fetcher(
            timeout=f.timeout,
            max_bytes=f.max_bytes,
            max_redirects=f.max_redirects,
            allow_private=f.allow_private,
        )

    def feed_book(self) -> FeedBook:
        return FeedBook(self.settings.data_dir / "feeds.sqlite")

    def feeds(self, lock: asyncio.Lock | None = None) -> Feeds:
        """The feeds in ``DATA_DIR/feeds.sqlite``, polled through the fetcher into
        the store (their writes under ``lock``, where given)."""
        s = self.settings.feeds
        return Feeds(self.feed_book(), self.fetcher, self.ingestor, interval=s.poll_interval,
                     max_items=s.max_items, lock=lock, forget_days=s.forget_days,
                     recheck_days=s.recheck_days, recheck_hours=s.recheck_hours)  # fmt: skip

    def bot(self) -> tuple[RawiApplication, Services]:
        """The Telegram application and the services its handlers use."""
        from bot.telegram.application import build_application
        from bot.telegram.context import Admin, Follows, Services
        from bot.telegram.digest import schedule as schedule_digest
        from bot.telegram.state import ChatState
        from retrieval.follows import Matcher
        from retrieval.service import HISTORY_TURNS

        settings = self.settings
        tg = settings.telegram
        assert tg.token is not None
        state = ChatState(
            settings.data_dir / "chat.sqlite", tg.retention_days, history_turns=HISTORY_TURNS
        )
        services = Services(
            self.qa,
            self.store.catalogue.coverage,
            state,
            max_question_chars=tg.max_question_chars,
            rate_limit_per_minute=tg.rate_limit_per_minute,
            inline_cache_seconds=settings.inline.cache_seconds,
            inline_min_chars=settings.inline.min_chars,
            follow=self.store.follow,
            follow_interval=settings.chroma.follow_interval,
            follows=Follows(
                Matcher(self.searcher, k=settings.search.k),
                state,
                interval=settings.follows.interval,
                per_day=settings.follows.per_day,
                max_per_reader=settings.follows.max_per_reader,
            ),
        )
        admin = Admin(
            admin_ids=frozenset(tg.admin_ids),
            store=self.store,
            ingestor=self.ingestor,
            state=state,
            embedder=self.embedder,
            fetcher=self.fetcher,
            channels=frozenset(c.strip().lower() for c in tg.channels),
            max_document_bytes=tg.max_document_bytes,
        )
        admin.feeds = self.feeds(lock=admin.ingest_lock)
        application = build_application(
            tg.token.get_secret_value(), services, api_url=tg.api_url, admin=admin
        )
        schedule_digest(application, self.digest_poster())
        return application, services

    def digest_poster(self) -> Poster:
        """The daily digest's job: its builder (the leads written by the language
        model when answers are), the outlets' names, time zone and interval."""
        from zoneinfo import ZoneInfo

        from bot.telegram.digest import Poster
        from retrieval.digest import DigestBuilder

        d = self.settings.digest
        outlets = Outlets({k: v.model_dump() for k, v in self.settings.outlets.items()})
        model = chat_model(self.settings) if self.settings.answerer == "llm" else None
        builder = DigestBuilder(
            self.store, outlets, threshold=d.threshold, max_stories=d.stories, model=model
        )
        return Poster(
            builder.build, outlets, ZoneInfo(d.timezone), interval=d.check_interval,
            previous_day=d.previous_day, language=d.language,
        )  # fmt: skip

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _open_store(settings: Settings, embedder: Embedder) -> Store:
    if settings.chroma.host:
        client = server_client(settings.chroma.host, settings.chroma.port, settings.chroma.ssl)
        return Store(client, embedder)
    lock = DataDirLock(settings.data_dir)
    lock.acquire()
    try:
        return Store(embedded_client(settings.data_dir), embedder, lock=lock)
    except BaseException as exc:
        lock.release()
        why = why_read_only(exc, settings.data_dir / "chroma")
        if why is not None:  # Chroma writes as it opens
            raise read_only(settings.data_dir, why) from None
        raise


def search_params(settings: Settings) -> SearchParams:
    """The search settings as the searcher takes them."""
    s = settings.search
    return SearchParams(
        dense_weight=s.dense_weight,
        threshold=s.threshold,
        cross_threshold=s.cross_threshold,
        threshold_per_decade=s.threshold_per_decade,
        cosine_floor=s.cosine_floor,
        cosine_ceil=s.cosine_ceil,
        cross_floor=s.cross_floor,
        cross_ceil=s.cross_ceil,
        sentence_weight=s.sentence_weight,
        latest_margin=s.latest_margin,
    )


def chat_model(settings: Settings) -> Any:
    """A LangChain chat model for any OpenAI-compatible endpoint (a hosted API, vLLM,
    llama.cpp's server, Ollama's /v1)."""
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    llm = settings.llm
    if not llm.base_url or not llm.model:
        raise SettingsError(
            "answerer = llm needs RAWI_LLM__BASE_URL and RAWI_LLM__MODEL "
            "(and RAWI_LLM__API_KEY or OPENAI_API_KEY if the endpoint wants one)"
        )
    # Local servers take any key; the client insists on one.
    key = llm.api_key or SecretStr("unused")
    return ChatOpenAI(
        model=llm.model,
        base_url=llm.base_url,
        api_key=key,
        temperature=llm.temperature,
        timeout=llm.timeout,
        max_tokens=llm.max_tokens,
        max_retries=llm.max_retries,
    )


def redact_secrets(secrets: list[str]) -> None:
    """Replace secrets in every log record, whoever logs it and wherever it goes
    (httpx logs request URLs, and the Bot API URL carries the bot token)."""
    secrets = [s for s in secrets if s]
    if not secrets:
        return
    previous = logging.getLogRecordFactory()

    def redact(text: str) -> str:
        for s in secrets:
            text = text.replace(s, "<redacted>")
        return text

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's own business
            return record
        if any(s in message for s in secrets):
            record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            # the traceback a handler would print (python-telegram-bot's InvalidToken
            # quotes the token): formatted now, redacted, and kept for the handlers
            text = logging.Formatter().formatException(record.exc_info)
            if any(s in text for s in secrets):
                record.exc_text = redact(text)
        return record

    logging.setLogRecordFactory(factory)

    def excepthook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        # an uncaught exception's traceback is printed without logging: redact it too
        sys.stderr.write(redact("".join(traceback.format_exception(kind, exc, tb))))

    sys.excepthook = excepthook


# glibc's mallopt parameter for the most malloc arenas (malloc.h: M_ARENA_MAX)
M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Let the threads of a long-running bot share ``arenas`` malloc arenas. glibc
    gives each thread that allocates an arena of its own, up to eight per core, and
    memory freed in one arena is not reused by a thread of another: with the bot's
    answering threads, 10,000 hostile updates grew its memory by 28-31%, and by 2.4%
    with two arenas, at the same speed. Call before the threads start.
    Returns whether the limit is set; not on another C library, nor when the
    operator set ``MALLOC_ARENA_MAX`` (glibc read it at start)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Libraries that are chatty at INFO; httpx would also log request URLs, and
    # the Bot API URL carries the bot token.
    for name in (
        "httpx",
        "httpcore",
        "httpx2",  # the openai client's own copies of them
        "httpcore2",
        "chromadb",
        "sentence_transformers",
        "transformers",
        "openai",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
