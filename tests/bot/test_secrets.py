"""Secrets stay out of what rawi prints, whatever fails."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.auxil.fakebotapi import FakeBotAPI
from tests.auxil.fakeopenai import FakeOpenAI, Reply
from tests.auxil.helpers import rawi
from tests.auxil.telegram import TOKEN, serving

ROOT = Path(__file__).resolve().parents[2]
CAMEL = (
    "Camel race moves to Thursday\n\nThe annual camel race of Oasis City moves to Thursday "
    "because of the sandstorm warning, the organisers said."
)


@pytest.mark.parametrize(
    ("status", "description", "said"),
    [
        (401, "Unauthorized", "Telegram refused the bot token"),
        (500, "Internal Server Error", "Telegram did not answer (NetworkError: Internal Server"),
    ],
)
async def test_a_refused_token_or_a_failed_start_is_said_plainly_and_never_printed(
    tmp_path: Path, status: int, description: str, said: str
) -> None:
    api = FakeBotAPI()
    await api.start()
    api.fail("getMe", status, description)
    env = {
        **os.environ,
        "RAWI_DATA_DIR": str(tmp_path / "data"),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "RAWI_TELEGRAM__API_URL": api.base_url,
        "RAWI_LOG_LEVEL": "DEBUG",
    }
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "serve", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 180)
    finally:
        await api.stop()
    text = (out + err).decode()
    assert proc.returncode == 1, text[-2000:]
    assert said in text
    assert "Traceback" not in text
    assert TOKEN not in text and TOKEN.split(":")[1] not in text


API_KEY = "sk-live-0123456789abcdef"


@pytest.mark.slow
async def test_no_secret_in_the_logs_or_the_data_dir_at_debug(tmp_path: Path) -> None:
    """`rawi serve` at DEBUG with the LLM answerer: a question, an admin's /add, a
    document that cannot be downloaded, the model failing, Telegram failing; then
    neither the bot token (nor its secret half) nor the API key is in anything it
    printed or in any file it wrote."""
    data = tmp_path / "data"
    api, llm = FakeBotAPI(), FakeOpenAI().start()
    await api.start()
    env = {
        "RAWI_LOG_LEVEL": "DEBUG",
        "RAWI_ANSWERER": "llm",
        "RAWI_LLM__BASE_URL": llm.base_url,
        "RAWI_LLM__MODEL": "fake-model",
        "RAWI_LLM__TIMEOUT": "5",
        "OPENAI_API_KEY": API_KEY,
    }
    command = [{"type": "bot_command", "offset": 0, "length": 4}]
    try:
        async with serving(data, api, env) as bot:
            api.push_message(f"/add {CAMEL}", chat_id=500, user_id=500, entities=command)
            (added,) = await api.wait_for("sendMessage", chat_id=500, within=60)
            assert "Added" in added.params["text"]

            llm.then("The camel race moves to Thursday [K1].")
            api.push_message("When is the camel race?", chat_id=71)
            (answer,) = await api.wait_for("sendMessage", chat_id=71, within=60)
            assert "Thursday [1]" in answer.params["text"]
            assert llm.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"

            # the model fails (a server error, retried, then a refused key)...
            llm.then(Reply(status=500), Reply(status=500), Reply(status=401))
            api.push_message("When is the camel race?", chat_id=72)
            (floor,) = await api.wait_for("sendMessage", chat_id=72, within=60)
            assert "the language model is unavailable" in floor.params["text"]
            api.push_message("When is the annual camel race of Oasis City?", chat_id=73)
            await api.wait_for("sendMessage", chat_id=73, within=60)

            # ...Telegram fails: a reply, a poll, a document's download, getMe
            api.fail("sendMessage", 500, "Internal Server Error")
            api.push_message("Why does the camel race move?", chat_id=74)
            await api.wait_for("sendMessage", count=2, chat_id=74, within=60)
            api.fail("getUpdates", 502, "Bad Gateway")
            doc = api.add_file("gone", b"Camel race\n\nThe race moves.")
            get_file = api.api_getFile

            async def lost_after_get_file(params: dict[str, Any]) -> web.Response:
                response = await get_file(params)
                del api.files["gone"]  # getFile answers, the download is not found
                return response

            api.api_getFile = lost_after_get_file  # type: ignore[method-assign]
            api.push_message("/add", chat_id=500, user_id=500, entities=command,
                             media={"document": {**doc, "file_name": "race.txt"}})  # fmt: skip
            await api.wait_for("editMessageText", chat_id=500, within=60)
            assert api.downloads == ["documents/gone"]
            api.fail("getMe", 500, "Internal Server Error")
            health = await asyncio.to_thread(rawi, "health", data_dir=data)
            assert health.returncode == 1 and "Telegram does not answer" in health.stdout

            bot.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(bot.communicate(), 60)
            assert bot.returncode == 0, err.decode()[-3000:]
    finally:
        await api.stop()
        llm.stop()
    printed = out + err + (health.stdout + health.stderr).encode()
    text = printed.decode()
    assert " DEBUG " in text and "the language model failed" in text  # it did log
    assert "HTTP Request:" not in text  # no client logs the URLs it requests
    assert "Traceback" in text  # and what failed in Telegram, with its traceback
    secrets = [TOKEN, TOKEN.split(":")[1], API_KEY]
    for secret in secrets:
        assert secret.encode() not in printed, secret
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "chat.sqlite" for p in files)
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, (secret, path)


def test_a_secret_in_a_logged_traceback_is_redacted() -> None:
    """python-telegram-bot's InvalidToken quotes the token: logged with its
    traceback, by anyone, the token is not in what the handler writes."""
    from telegram.error import InvalidToken

    from bot.compose import redact_secrets

    factory, hook = logging.getLogRecordFactory(), sys.excepthook
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    log = logging.getLogger("tests.secrets")
    log.addHandler(handler)
    try:
        redact_secrets([TOKEN])
        try:
            raise InvalidToken(f"The token `{TOKEN}` was rejected by the server.")
        except InvalidToken:
            log.exception("could not start")
    finally:
        logging.setLogRecordFactory(factory)
        sys.excepthook = hook
        log.removeHandler(handler)
    text = out.getvalue()
    assert "could not start" in text and "InvalidToken: The token `<redacted>` was" in text
    assert TOKEN not in text and TOKEN.split(":")[1] not in text
