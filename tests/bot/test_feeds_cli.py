"""`rawi feeds add|list|remove|poll` as a user runs them, against a local news site."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from bot.compose import Parts
from config.settings import load_settings
from retrieval.feeds import FeedBook
from tests.auxil.helpers import ROOT
from tests.retrieval.test_feeds import news_site, story


async def rawi(data: Path, *args: str, private: bool = True) -> tuple[int, str, str]:
    """The command as its own process (the site is on loopback: private addresses
    are allowed unless ``private`` is off)."""
    env = {**os.environ, "RAWI_DATA_DIR": str(data)}
    if private:
        env["RAWI_FETCH__ALLOW_PRIVATE"] = "true"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "feeds", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_feeds_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with news_site({"pier": story(1), "ferry": story(2, day=1)}) as site:
        url = site.url("/feed.xml")
        code, _, err = await rawi(data, "add", url, private=False)
        assert code == 1 and "non-public address (127.0.0.1); refused" in err
        code, out, _ = await rawi(data, "add", url)
        assert code == 0 and out.startswith("following Oasis Daily (rss, 2 items)")
        code, out, _ = await rawi(data, "list")
        assert out.split("\t")[:4] == ["1", "rss", "0 items", "not read yet"]

        code, out, _ = await rawi(data, "poll", "--json")
        (first,) = [json.loads(line) for line in out.splitlines()]
        assert code == 0 and len(first["added"]) == 2 and first["fetched"] == 2
        code, out, _ = await rawi(data, "poll", "1", "--json")
        (second,) = [json.loads(line) for line in out.splitlines()]
        assert second["not_modified"] and second["fetched"] == 0 and second["added"] == []
        # while another process (the bot) polls, this one skips its turn and says so
        book = FeedBook(data / "feeds.sqlite")
        try:
            with book.turn() as ours:
                assert ours
                code, out, err = await rawi(data, "poll")
                assert code == 0 and out == ""
                said = "Oasis Daily: skipped: another poll of the feeds is under way"
                assert any(line.startswith(said) for line in err.splitlines())
                code, out, _ = await rawi(data, "poll", "--json")
                assert json.loads(out)["skipped"] and site.hits["/feed.xml"] == 3
        finally:
            book.close()

        site.feed_status = 500
        code, _, err = await rawi(data, "poll")
        assert code == 1 and f"Oasis Daily: failed: {url} answered HTTP 500" in err
        code, out, _ = await rawi(data, "list")
        assert out.split("\t")[2:4] == ["2 items", f"failing: {url} answered HTTP 500"]

        code, out, _ = await rawi(data, "remove", url)
        assert code == 0 and out.startswith("no longer following Oasis Daily")
        code, out, err = await rawi(data, "remove", "1")
        assert code == 1 and "no feed 1" in err
        code, out, _ = await rawi(data, "list")
        assert out == ""


def test_the_feeds_settings_reach_the_poller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAWI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RAWI_FEEDS__FORGET_DAYS", "7")
    monkeypatch.setenv("RAWI_FEEDS__RECHECK_DAYS", "1.5")
    monkeypatch.setenv("RAWI_FEEDS__RECHECK_HOURS", "3")
    parts = Parts(load_settings())
    try:
        feeds = parts.feeds()
        assert (feeds.forget_days, feeds.recheck_days, feeds.recheck_hours) == (7, 1.5, 3)
        assert feeds.book.lock_path == tmp_path / "feeds.lock"
        feeds.book.close()
    finally:
        parts.close()
