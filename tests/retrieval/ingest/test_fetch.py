"""The guarded fetcher against a local web server: addresses pinned per hop,
the whole fetch bounded, credentials and odd redirects refused."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from retrieval.ingest.fetch import Fetcher, FetchFailed, FetchRefused

PAGE = (
    "<html><head><title>Harbour pier reopens</title></head><body><article>"
    "<h1>Harbour pier reopens</h1><p>The north pier of Oasis harbour reopened on Monday "
    "after repairs that cost 40 million riyals, the port authority said.</p></article>"
    "</body></html>"
)


@contextlib.asynccontextmanager
async def site() -> AsyncIterator[dict[str, Any]]:
    seen: dict[str, Any] = {"hosts": [], "paths": []}

    async def page(request: web.Request) -> web.Response:
        seen["hosts"].append(request.headers.get("Host"))
        seen["paths"].append(request.path)
        return web.Response(text=PAGE, content_type="text/html")

    async def to_data(request: web.Request) -> web.Response:
        raise web.HTTPFound("data:text/html,<p>hello</p>")

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        for _ in range(30):  # a byte a second: each read is quick, the whole is not
            await response.write(b"x")
            await asyncio.sleep(1)
        return response

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/to-data", to_data)
    app.router.add_get("/drip", drip)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    seen["port"] = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield seen
    finally:
        await runner.cleanup()


class Resolver:
    """A DNS that answers from a script and counts the lookups."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


async def test_the_connection_goes_to_the_address_that_was_checked() -> None:
    async with site() as s:
        dns = Resolver(["127.0.0.1"])
        fetcher = Fetcher(allow_private=True, resolver=dns)
        final, _, text = await fetcher.fetch(f"http://news.example:{s['port']}/page")
    # news.example exists in no real DNS: only the checked address could be reached
    assert final == f"http://news.example:{s['port']}/page" and "40 million" in text
    assert s["hosts"] == [f"news.example:{s['port']}"]  # the site saw its own name
    assert dns.calls == ["news.example"]  # one lookup for the one hop


async def test_a_name_that_rebinds_to_loopback_is_never_fetched_from_it() -> None:
    async with site() as s:
        # public to the check, loopback to any later lookup
        dns = Resolver(["8.8.8.8"], ["127.0.0.1"])
        fetcher = Fetcher(allow_private=False, resolver=dns, timeout=2)
        with pytest.raises(FetchFailed):  # the public address is out of reach here
            await fetcher.fetch(f"http://rebind.example:{s['port']}/page")
    assert s["paths"] == []  # the loopback server got nothing
    assert dns.calls == ["rebind.example"]


async def test_a_slow_drip_is_cut_off_at_the_timeout_for_the_whole_fetch() -> None:
    async with site() as s:
        fetcher = Fetcher(allow_private=True, timeout=2)
        started = time.monotonic()
        with pytest.raises(FetchFailed) as failed:
            await fetcher.fetch(f"http://127.0.0.1:{s['port']}/drip")
    assert time.monotonic() - started < 4
    assert failed.value.reason.code == "timeout"


async def test_credentials_odd_redirects_and_bad_ports_are_refused_plainly() -> None:
    async with site() as s:
        fetcher = Fetcher(allow_private=True)
        with pytest.raises(FetchRefused) as refused:
            await fetcher.fetch(f"http://editor:s3cret@127.0.0.1:{s['port']}/page")
        assert refused.value.reason.code == "credentials" and "s3cret" not in str(refused.value)
        assert s["paths"] == []
        with pytest.raises(FetchRefused) as refused:
            await fetcher.fetch(f"http://127.0.0.1:{s['port']}/to-data")
        assert refused.value.reason.code == "bad_redirect"
        with pytest.raises(FetchRefused) as refused:
            await fetcher.fetch("http://news.example:port/page")
        assert refused.value.reason.code == "bad_url"
