"""The bot as `rawi serve` runs it, against a fresh fake Bot API server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from langchain_openai import ChatOpenAI

from bot.telegram.application import build_application
from bot.telegram.context import Admin, RawiApplication, Services
from bot.telegram.server import Webhook, serve
from bot.telegram.state import ChatState
from retrieval.service import QAService
from tests.auxil.fakebotapi import FakeBotAPI
from tests.auxil.fakeopenai import FakeOpenAI
from tests.auxil.helpers import ROOT

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
    setup: Callable[[RawiApplication, FakeBotAPI], None] | None = None,
) -> AsyncIterator[FakeBotAPI]:
    """The bot as `rawi serve` runs it, against a fresh fake Bot API server;
    ``setup`` adds to the application before it starts (a scheduled job)."""
    api = FakeBotAPI()
    await api.start()
    app = build_application(TOKEN, services, api_url=api.base_url, admin=admin)
    if setup is not None:
        setup(app, api)
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


@contextlib.asynccontextmanager
async def serving(
    data: Path, api: FakeBotAPI, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`rawi serve` as its own process on ``data``, polling the fake Bot API with
    admin 500, and ``env`` added to its environment; stopped with SIGTERM unless
    the test stops it first."""
    env = {
        **os.environ,
        "RAWI_DATA_DIR": str(data),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "RAWI_TELEGRAM__API_URL": api.base_url,
        "RAWI_TELEGRAM__ADMIN_IDS": "500",
        **(env or {}),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(1200):  # the model loads, then polling starts and the CLI may come
            if (data / "control.json").exists() or proc.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert (data / "control.json").exists(), "the bot did not start"
        assert (data / "control.json").stat().st_mode & 0o077 == 0  # the owner's only
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.communicate(), 60)
