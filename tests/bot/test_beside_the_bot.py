"""The `rawi` commands an operator runs while `rawi serve` holds the data dir:
each is its own process, the bot another, over the fake Bot API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.auxil.fakebotapi import FakeBotAPI
from tests.auxil.helpers import model_out_of_reach
from tests.auxil.helpers import rawi as run_rawi
from tests.auxil.telegram import serving

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


async def rawi(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    # off the event loop: the fake Bot API the bot polls runs on it
    return await asyncio.to_thread(run_rawi, *args, data_dir=data_dir)


async def test_reads_writes_backup_and_health_beside_a_running_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    data = tmp_path / "data"
    assert (await rawi("ingest", str(ROOT / "config" / "sample"), data_dir=data)).returncode == 0
    down = await rawi("health", data_dir=data)
    assert down.returncode == 1 and down.stdout.startswith("unhealthy: no rawi bot is serving")
    (tmp_path / "camel.txt").write_text(
        "Camel race moves to Thursday\n\nThe annual camel race of Oasis City moves to "
        "Thursday because of the sandstorm warning, the organisers said."
    )
    api = FakeBotAPI()
    await api.start()
    try:
        async with serving(data, api) as bot:
            health = await rawi("health", data_dir=data)
            assert health.returncode == 0, health.stdout + health.stderr
            assert health.stdout.startswith("ok: @") and "(polling)" in health.stdout
            assert len(health.stdout.strip().splitlines()) == 1

            listed = await rawi("articles", "--json", data_dir=data)
            assert listed.returncode == 0, listed.stderr
            ids = [json.loads(line)["id"] for line in listed.stdout.splitlines()]
            assert len(ids) == 4
            info = await rawi("info", data_dir=data)
            assert info.returncode == 0 and "articles: 4" in info.stdout

            export = tmp_path / "out" / "coverage.jsonl"
            export.parent.mkdir()
            exported = await asyncio.to_thread(
                subprocess.run,
                # a path relative to where the operator is, not to where the bot runs
                [sys.executable, "-m", "bot.cli", "export", "out/coverage.jsonl"],
                cwd=tmp_path, env={**os.environ, "RAWI_DATA_DIR": str(data)},
                capture_output=True, text=True,
            )  # fmt: skip
            assert exported.returncode == 0, exported.stderr
            assert len(export.read_text().splitlines()) == 4

            # a write reaches the running bot: readers get the new article at once
            added = await rawi("ingest", str(tmp_path / "camel.txt"), "--json", data_dir=data)
            assert added.returncode == 0, added.stderr
            (camel,) = json.loads(added.stdout)["added"]
            api.push_message("When is the camel race now?", chat_id=71)
            (reply,) = await api.wait_for("sendMessage", chat_id=71, within=60)
            assert "Thursday" in reply.params["text"]

            removed = await rawi("remove", camel, data_dir=data)
            assert removed.returncode == 0 and "1 removed" in removed.stdout
            missing = await rawi("remove", "no-such-id", data_dir=data)
            assert missing.returncode == 1 and "no article with id no-such-id" in missing.stderr
            after = await rawi("articles", "--json", data_dir=data)
            assert camel not in after.stdout and len(after.stdout.splitlines()) == 4

            # a backup taken while the bot serves, of what a reader is answered from
            cup = "Who saved two penalties in the cup final?"
            api.push_message(cup, chat_id=72)
            (before,) = await api.wait_for("sendMessage", chat_id=72, within=60)
            backed = await rawi("backup", str(tmp_path / "backup"), data_dir=data)
            assert backed.returncode == 0, backed.stderr
            assert "4 articles (" in backed.stdout and "and the chat state" in backed.stdout

            refused = await rawi("reindex", data_dir=data)
            assert refused.returncode == 1
            assert "in use by another rawi process" in refused.stderr  # it needs the store alone
            assert "Traceback" not in refused.stderr + missing.stderr

            bot.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(bot.communicate(), 60)
            assert bot.returncode == 0, err.decode()[-2000:]
        assert not (data / "control.json").exists()
        gone = await rawi("health", data_dir=data)
        assert gone.returncode == 1 and gone.stdout.startswith("unhealthy:")
        # the store is free again, and holds what was written through the bot
        final = await rawi("articles", "--json", data_dir=data)
        assert final.returncode == 0 and len(final.stdout.splitlines()) == 4

        # restored into an empty data dir with the model out of reach, the bot
        # there answers as the first did
        restored = tmp_path / "restored"
        with monkeypatch.context() as m:
            model_out_of_reach(m)
            code = main(["--data-dir", str(restored), "restore", str(tmp_path / "backup")])
        assert code == 0, capsys.readouterr().err
        assert "nothing re-embedded" in capsys.readouterr().out
        async with serving(restored, api):
            api.push_message(cup, chat_id=73)
            (after,) = await api.wait_for("sendMessage", chat_id=73, within=60)
        assert after.params["text"] == before.params["text"]
        assert "Yousef Amin" in after.params["text"]
    finally:
        signal.signal(signal.SIGTERM, previous)  # main() set its own
        await api.stop()
