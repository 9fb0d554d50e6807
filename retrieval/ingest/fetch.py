"""Fetching an article by URL, safely.

An admin's URL is fetched by the server, so it must not become a way into the
server's own network: every hop (the URL and each redirect) is resolved first and
refused if any of its addresses is loopback, private, link-local, multicast,
reserved or otherwise not public, unless private addresses are allowed by a
setting. Redirects are followed by hand (at most ``max_redirects``), responses
are capped in size and time, and only HTML or plain text is accepted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from retrieval.ingest.loaders import LoadError, article_from_html, article_from_text
from retrieval.types import Article

Resolver = Callable[[str, int], Awaitable[list[str]]]


class FetchRefused(LoadError):
    """The URL is not one rawi will fetch (scheme, address, size, type)."""


class FetchFailed(LoadError):
    """The URL could not be fetched (unreachable, timeout, HTTP error)."""


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not ip.is_multicast


@dataclass
class Fetcher:
    timeout: float = 15.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    allow_private: bool = False
    resolver: Resolver = resolve
    # Called with each URL about to be requested (after its checks passed).
    on_request: Callable[[str], None] | None = None
    user_agent: str = "rawi/0.1 (+news question answering)"
    # (host, port) pairs fetched without the address check: an internal site the
    # newsroom trusts, while everything else stays public-only.
    trusted: set[tuple[str, int]] = field(default_factory=set)

    async def check(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchRefused("only_http", url=url)
        if not parts.hostname:
            raise FetchRefused("no_host", url=url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if self.allow_private or (parts.hostname, port) in self.trusted:
            return
        try:
            addresses = await self.resolver(parts.hostname, port)
        except OSError as exc:
            raise FetchFailed("cannot_resolve", host=parts.hostname) from exc
        blocked = [a for a in addresses if not is_public(a)]
        if not addresses or blocked:
            raise FetchRefused(
                "private_address", host=parts.hostname, addresses=", ".join(blocked) or "-"
            )

    async def fetch(self, url: str) -> tuple[str, str, str]:
        """(final URL, content type, text)."""
        headers = {"User-Agent": self.user_agent, "Accept": "text/html, text/plain;q=0.8"}
        async with httpx.AsyncClient(
            timeout=self.timeout, follow_redirects=False, headers=headers, trust_env=False
        ) as client:
            for _ in range(self.max_redirects + 1):
                await self.check(url)
                if self.on_request:
                    self.on_request(url)
                try:
                    async with client.stream("GET", url) as response:
                        if response.is_redirect:
                            location = response.headers.get("location")
                            if not location:
                                raise FetchFailed("redirects_nowhere", url=url)
                            url = urljoin(url, location)
                            continue
                        if response.status_code >= 400:
                            raise FetchFailed("http_status", url=url, status=response.status_code)
                        kind = response.headers.get("content-type", "").split(";")[0].strip()
                        if kind not in ("text/html", "application/xhtml+xml", "text/plain"):
                            raise FetchRefused("not_a_page", url=url, kind=kind or "?")
                        declared = int(response.headers.get("content-length") or 0)
                        if declared > self.max_bytes:
                            raise FetchRefused("page_too_large", url=url, limit=self.max_bytes)
                        body = bytearray()
                        async for piece in response.aiter_bytes():
                            body += piece
                            if len(body) > self.max_bytes:
                                raise FetchRefused("page_too_large", url=url, limit=self.max_bytes)
                        encoding = response.encoding or "utf-8"
                        return str(response.url), kind, bytes(body).decode(encoding, "replace")
                except httpx.TimeoutException as exc:
                    raise FetchFailed("timeout", url=url, seconds=self.timeout) from exc
                except httpx.HTTPError as exc:
                    raise FetchFailed("unreachable", url=url, why=type(exc).__name__) from exc
        raise FetchRefused("too_many_redirects", limit=self.max_redirects)

    async def article(self, url: str) -> Article:
        final, kind, text = await self.fetch(url)
        if kind == "text/plain":
            return article_from_text(text, url=final, source=urlsplit(final).hostname)
        return await asyncio.to_thread(article_from_html, text, final)
