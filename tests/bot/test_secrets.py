"""Secrets stay out of what rawi prints, whatever fails."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.auxil.fakebotapi import FakeBotAPI
from tests.auxil.telegram import TOKEN

ROOT = Path(__file__).resolve().parents[2]


async def test_a_refused_token_is_said_plainly_and_never_printed(tmp_path: Path) -> None:
    api = FakeBotAPI()
    await api.start()
    api.fail("getMe", 401, "Unauthorized")
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
    assert "Telegram refused the bot token" in text
    assert "Traceback" not in text
    assert TOKEN not in text and TOKEN.split(":")[1] not in text
