"""Hostile updates through the real application over HTTP: no reader sees a
traceback or "something went wrong", every private message gets a reply and
every inline query an answer.

`make stress` runs the same updates, ten thousand of them, against `rawi serve`
and measures its memory (bench/stress.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from bot.telegram.context import Admin, Follows, Services
from bot.telegram.state import ChatState
from bot.telegram.texts import TEXTS
from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.follows import Matcher
from retrieval.ingest.loaders import load_paths
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.service import QAService
from retrieval.store.chunks import Store
from retrieval.store.clients import embedded_client
from tests.auxil.fakebotapi import FakeBotAPI
from tests.auxil.helpers import SAMPLE_ARTICLES, searcher_for
from tests.auxil.telegram import running
from tests.auxil.updates import ADMIN_ID, describe, draw, expects_reply, private_chat

REPLIES = ("sendMessage", "editMessageText", "sendPhoto", "sendDocument")


def replied_chats(api: FakeBotAPI) -> set[int]:
    return {int(c.params.get("chat_id", 0)) for c in api.calls if c.method in REPLIES}


async def unanswered_after(api: FakeBotAPI, updates: list[dict], within: float) -> list[dict]:  # type: ignore[type-arg]
    """The private messages still without a reply once ``within`` seconds pass (or
    none are left)."""
    waiting = [u for u in updates if expects_reply(u)]
    deadline = time.monotonic() + within
    while waiting and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        replied = replied_chats(api)
        waiting = [u for u in waiting if private_chat(u) not in replied]
    return waiting


async def test_hostile_updates_leave_no_reader_unanswered_or_shown_an_error(
    tmp_path: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(embedded_client(tmp_path / "db"), embedder)
    ingestor = Ingestor(store, embedder)
    ingestor.run(load_paths(SAMPLE_ARTICLES))
    searcher = searcher_for(store, embedder)
    state = ChatState(tmp_path / "chat.sqlite")
    services = Services(
        QAService(searcher, ExtractiveAnswerer(embedder)), store.catalogue.coverage, state,
        follows=Follows(Matcher(searcher), state),
    )  # fmt: skip
    admin = Admin(admin_ids=frozenset({ADMIN_ID}), store=store, ingestor=ingestor, state=state,
                  embedder=embedder, channels=frozenset({"newsroom"}))  # fmt: skip
    updates = draw(400, seed=1)
    caplog.set_level(logging.WARNING)
    async with running(services, admin=admin) as api:
        for one in updates:
            api.push(one)
        unanswered = await unanswered_after(api, updates, within=240)
        await asyncio.sleep(1)  # what is still in flight (a callback, a channel notice)
        asked = {u["inline_query"]["id"] for u in updates if "inline_query" in u}
        for _ in range(120):  # a minute at most
            if not asked - api.inline_answered:
                break
            await asyncio.sleep(0.5)
    assert not unanswered, f"{len(unanswered)} private messages got no reply: " + "; ".join(
        describe(u) for u in unanswered[:10]
    )
    assert asked and not asked - api.inline_answered, (
        f"{len(asked - api.inline_answered)} of {len(asked)} inline queries got no answer"
    )
    generic = set(TEXTS["error"].values())
    told = [c.params for c in api.calls if c.params.get("text") in generic]
    assert not told, f"{len(told)} readers were told something went wrong: {told[:3]}"
    sent = " ".join(str(c.params.get("text", "")) for c in api.calls)
    assert "Traceback" not in sent
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, [r.getMessage() for r in failures[:5]]
    store.close()
