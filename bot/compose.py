"""Composition: the one place that turns settings into working parts."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from config.settings import Settings, SettingsError
from retrieval.answer import ExtractiveAnswerer
from retrieval.embeddings import Embedder
from retrieval.ingest import Ingestor
from retrieval.lexical import LexicalIndex
from retrieval.search import Searcher, SearchParams
from retrieval.service import QAService
from retrieval.store import DataDirLock, Store, embedded_client, server_client


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_embedder(settings: Settings, progress: Callable[[str], None] | None = _say) -> Embedder:
    return Embedder(
        model=settings.embedding.model,
        dtype=settings.embedding.dtype,
        cache_dir=settings.cache_dir / "models",
        batch_size=settings.embedding.batch_size,
        progress=progress,
    )


def open_store(settings: Settings, embedder: Embedder) -> Store:
    """The embedded store (locked to this process) or a client of a Chroma server."""
    if settings.chroma.host:
        client = server_client(settings.chroma.host, settings.chroma.port, settings.chroma.ssl)
        return Store(client, embedder)
    lock = DataDirLock(settings.data_dir)
    lock.acquire()
    try:
        return Store(embedded_client(settings.data_dir), embedder, lock=lock)
    except BaseException:
        lock.release()
        raise


def build_searcher(settings: Settings, store: Store, embedder: Embedder) -> Searcher:
    """The searcher, with its lexical index brought in step with the store."""
    s = settings.search
    params = SearchParams(
        dense_weight=s.dense_weight,
        threshold=s.threshold,
        cross_threshold=s.cross_threshold,
        threshold_per_decade=s.threshold_per_decade,
        cosine_floor=s.cosine_floor,
        cosine_ceil=s.cosine_ceil,
        cross_floor=s.cross_floor,
        cross_ceil=s.cross_ceil,
        sentence_weight=s.sentence_weight,
    )
    index_name = "lexical.sqlite"
    if settings.chroma.host:  # one index per server, kept beside this process's data
        index_name = f"lexical-{settings.chroma.host}-{settings.chroma.port}.sqlite"
    searcher = Searcher(store, embedder, LexicalIndex(settings.data_dir / index_name), params)
    searcher.sync()
    return searcher


def build_chat_model(settings: Settings) -> Any:
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


def build_qa(settings: Settings, searcher: Searcher, embedder: Embedder) -> QAService:
    extractive = ExtractiveAnswerer(embedder)
    if settings.answerer == "llm":
        from retrieval.llm import LLMAnswerer

        answerer: Any = LLMAnswerer(build_chat_model(settings), extractive)
    else:
        answerer = extractive
    return QAService(
        searcher,
        answerer,
        k=settings.search.k,
        followup_window=settings.conversation.followup_minutes * 60,
    )


def build_bot(
    settings: Settings, qa: QAService, store: Store, embedder: Embedder
) -> tuple[Any, Any]:
    """The Telegram application and the services its handlers use."""
    from bot.admin import Admin
    from bot.app import Services, build_application
    from bot.state import ChatState
    from retrieval.fetch import Fetcher
    from retrieval.service import HISTORY_TURNS

    tg = settings.telegram
    assert tg.token is not None
    state = ChatState(
        settings.data_dir / "chat.sqlite", tg.retention_days, history_turns=HISTORY_TURNS
    )
    services = Services(
        qa,
        store.coverage,
        state,
        max_question_chars=tg.max_question_chars,
        rate_limit_per_minute=tg.rate_limit_per_minute,
        follow=store.follow,
        follow_interval=settings.chroma.follow_interval,
    )
    f = settings.fetch
    admin = Admin(
        admin_ids=frozenset(tg.admin_ids),
        store=store,
        ingestor=build_ingestor(settings, store, embedder),
        state=state,
        embedder=embedder,
        fetcher=Fetcher(
            timeout=f.timeout,
            max_bytes=f.max_bytes,
            max_redirects=f.max_redirects,
            allow_private=f.allow_private,
        ),
        channels=frozenset(c.strip().lower() for c in tg.channels),
        max_document_bytes=tg.max_document_bytes,
    )
    application = build_application(
        tg.token.get_secret_value(), services, api_url=tg.api_url, admin=admin
    )
    return application, services


def build_ingestor(settings: Settings, store: Store, embedder: Embedder) -> Ingestor:
    return Ingestor(store, embedder, max_chunk_tokens=settings.embedding.max_chunk_tokens)


def redact_secrets(secrets: list[str]) -> None:
    """Replace secrets in every log record, whoever logs it and wherever it goes
    (httpx logs request URLs, and the Bot API URL carries the bot token)."""
    secrets = [s for s in secrets if s]
    if not secrets:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's own business
            return record
        if any(s in message for s in secrets):
            for s in secrets:
                message = message.replace(s, "<redacted>")
            record.msg, record.args = message, None
        return record

    logging.setLogRecordFactory(factory)


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
        "chromadb",
        "sentence_transformers",
        "transformers",
        "openai",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
