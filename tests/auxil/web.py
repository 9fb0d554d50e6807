"""Local web servers for the fetch and /add tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web


@contextlib.asynccontextmanager
async def served(app: web.Application, ipv6: bool = False) -> AsyncIterator[int]:
    """``app`` on a free loopback port (with ``ipv6``, on ::1 as well, the same
    port); yields the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    v4 = web.TCPSite(runner, "127.0.0.1", 0)
    await v4.start()
    port = int(v4._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    if ipv6:
        await web.TCPSite(runner, "::1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()
