"""The bot as `rawi serve` runs it, against a fresh fake Bot API server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

from langchain_openai import ChatOpenAI

from bot.telegram.application import build_application
from bot.telegram.context import Admin, Services
from bot.telegram.server import Webhook, serve
from bot.telegram.state import ChatState
from retrieval.service import QAService
from tests.auxil.fakebotapi import FakeBotAPI
from tests.auxil.fakeopenai import FakeOpenAI

TOKEN = "123456:TEST-token-abc"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_services(qa: QAService, coverage: Any, **kwargs: Any) -> Services:
    return Services(qa, coverage, ChatState(None), **kwargs)


@contextlib.asynccontextmanager
async def running(
    services: Services,
    webhook: Webhook | None = None,
    grace: float = 10.0,
    admin: Admin | None = None,
) -> AsyncIterator[FakeBotAPI]:
    """The bot as `rawi serve` runs it, against a fresh fake Bot API server."""
    api = FakeBotAPI()
    await api.start()
    app = build_application(TOKEN, services, api_url=api.base_url, admin=admin)
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(app, services, webhook=webhook, grace=grace, stop=stop, handle_signals=False,
              poll_timeout=1)
    )  # fmt: skip
    try:
        if webhook is None:
            await api.wait_for("deleteWebhook")  # polling has started
        else:
            await api.wait_for("setWebhook")
        yield api
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await api.stop()


def chat_model(fake: FakeOpenAI, timeout: float = 5.0) -> ChatOpenAI:
    """A LangChain chat model talking to the fake OpenAI-compatible server."""
    return ChatOpenAI(
        model="fake-model", base_url=fake.base_url, api_key="sk-test-secret-key",  # type: ignore[arg-type]
        temperature=0.0, timeout=timeout, max_retries=1,
    )  # fmt: skip
