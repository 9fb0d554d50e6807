"""Fetching an article by URL, safely.

An admin's URL is fetched by the server, so it must not become a way into the
server's own network: every hop (the URL and each redirect) is resolved once and
refused if any of its addresses is loopback, private, link-local, multicast,
reserved or otherwise not public (an IPv6 address carrying an IPv4 one is
judged by that IPv4 address; a ``localhost`` name is refused before any lookup),
unless private addresses are allowed by a setting; the connection then goes to
the address that was checked (the Host header and the TLS name stay the URL's),
so a second lookup cannot answer otherwise. Redirects are followed by hand (at
most ``max_redirects``), the whole fetch is bounded in time, and in size counted
on the page as decompressed, a piece at a time, so a small gzip body that
inflates to gigabytes stops at the cap; only HTML or plain text is accepted, and
a link carrying a user name or password is refused (links are shown to readers).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import zlib
from collections.abc import Awaitable, Callable, Iterator
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


def _pinned(client: httpx.AsyncClient, url: str, address: str) -> httpx.Request:
    """A request for ``url`` sent to ``address``: the Host header and, for HTTPS,
    the TLS server name (and the certificate it must match) stay the URL's host,
    in its ASCII form (an Arabic domain name goes as ``xn--...``)."""
    parsed = httpx.URL(url)
    extensions = {"sni_hostname": parsed.raw_host.decode()} if parsed.scheme == "https" else {}
    return client.build_request("GET", parsed.copy_with(host=address),
                                headers={"Host": parsed.netloc.decode()},
                                extensions=extensions)  # fmt: skip


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


# NAT64's well-known prefix: the last 32 bits are the IPv4 address reached
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# global unicast: any other IPv6 address (compatible, translated, site-local...)
# is not public, whatever the running Python's tables say of it
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


def is_public(address: str) -> bool:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        if embedded is not None:
            ip = embedded
        elif ip not in _GLOBAL_UNICAST:
            return False
    return bool(ip.is_global) and not ip.is_multicast


def is_localhost(host: str) -> bool:
    """``localhost`` and any name under it, which are loopback by definition (RFC 6761)."""
    return host == "localhost" or host.endswith(".localhost")


# the encodings asked for (not httpx's default, which grows with what is installed)
ACCEPT_ENCODING = "gzip, deflate"
_STEP = 64 * 1024  # the most a compressed layer gives at a time


class _Inflater:
    """One gzip or deflate layer of a body, inflated at most ``_STEP`` bytes at a
    time (httpx's own decoders inflate each piece whole: a few kilobytes sent as
    ``gzip, gzip`` become a gigabyte at once)."""

    def __init__(self, coding: str) -> None:
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or zlib header
        self._raw = coding == "deflate"  # which some servers send without its header
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                piece = self._z.decompress(data, _STEP)
            except zlib.error:
                if self._started or not self._raw:
                    raise
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                piece = self._z.decompress(data, _STEP)
            self._started = True
            if not piece:
                return
            yield piece
            data = self._z.unconsumed_tail


def _inflated(data: bytes, layers: list[_Inflater]) -> Iterator[bytes]:
    """``data`` through each layer in turn, a bounded piece at a time."""
    if not layers:
        yield data
        return
    for piece in layers[0].feed(data):
        yield from _inflated(piece, layers[1:])


PAGE_KINDS = frozenset({"text/html", "application/xhtml+xml", "text/plain"})
PAGE_ACCEPT = "text/html, text/plain;q=0.8"


@dataclass(frozen=True)
class Fetched:
    """A response as :meth:`Fetcher.get` gives it: the final URL (after redirects),
    the status (200, or 304 for an unchanged resource), the content type and the
    body, decompressed."""

    url: str
    status: int
    kind: str
    body: bytes
    headers: httpx.Headers
    encoding: str | None = None

    def text(self) -> str:
        return self.body.decode(self.encoding or "utf-8", "replace")


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

    async def check(self, url: str) -> str:
        """The address to connect to for ``url``, once it passes the rules. The
        connection goes to this address and no other: a name that answers a public
        address to this check and a private one to a second lookup (DNS
        rebinding) never gets that second lookup."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchRefused("only_http", url=url)
        try:  # the host as httpx sends it: the one checked is the one asked
            parsed = httpx.URL(url)
        except httpx.InvalidURL:  # a port that is no number, a name IDNA refuses...
            raise FetchRefused("bad_url", url=url) from None
        host = parsed.raw_host.decode().rstrip(".")  # "localhost." is localhost
        if not host:
            raise FetchRefused("no_host", url=url)
        if parsed.userinfo or parts.username is not None or parts.password is not None:
            # the link is shown to every reader: it must not carry a password
            raise FetchRefused("credentials", host=host)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        guarded = not (self.allow_private or (host, port) in self.trusted)
        if guarded and is_localhost(host):
            raise FetchRefused("private_address", host=host, addresses="127.0.0.1, ::1")
        try:
            addresses = await self.resolver(host, port)
        except OSError as exc:
            raise FetchFailed("cannot_resolve", host=host) from exc
        if not addresses:
            raise FetchFailed("cannot_resolve", host=host)
        if guarded:
            blocked = [a for a in addresses if not is_public(a)]
            if blocked:
                raise FetchRefused("private_address", host=host, addresses=", ".join(blocked))
        return min(addresses, key=lambda a: ":" in a)  # IPv4 first

    async def fetch(self, url: str) -> tuple[str, str, str]:
        """(final URL, content type, text), all within ``timeout`` seconds."""
        got = await self.page(url)
        return got.url, got.kind, got.text()

    async def page(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        """An article's page (HTML or plain text), as :meth:`get` gives it; with the
        page's own ``etag`` or ``last_modified``, status 304 when it is unchanged."""
        return await self.get(url, accept=PAGE_ACCEPT, kinds=PAGE_KINDS, etag=etag,
                              last_modified=last_modified)  # fmt: skip

    async def get(
        self,
        url: str,
        *,
        accept: str,
        kinds: frozenset[str],
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> Fetched:
        """The response to a GET of ``url`` (a content type among ``kinds``), with
        every hop checked as :meth:`fetch` does, all within ``timeout`` seconds. With
        ``etag`` or ``last_modified`` the request is conditional: an unchanged
        resource comes back as status 304, with no body."""
        headers = {
            "User-Agent": self.user_agent,
            "Accept": accept,
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            async with asyncio.timeout(self.timeout):  # the whole fetch, not each read
                return await self._get(url, headers, kinds)
        except TimeoutError as exc:
            raise FetchFailed("timeout", url=url, seconds=self.timeout) from exc

    async def _get(self, url: str, headers: dict[str, str], kinds: frozenset[str]) -> Fetched:
        async with httpx.AsyncClient(
            timeout=self.timeout, follow_redirects=False, headers=headers, trust_env=False
        ) as client:
            for _ in range(self.max_redirects + 1):
                address = await self.check(url)
                if self.on_request:
                    self.on_request(url)
                request = _pinned(client, url, address)
                try:
                    response = await client.send(request, stream=True)
                    try:
                        if response.status_code == 304:  # httpx counts it among redirects
                            return Fetched(url, 304, "", b"", response.headers)
                        if response.is_redirect:
                            location = response.headers.get("location")
                            if not location:
                                raise FetchFailed("redirects_nowhere", url=url)
                            url = urljoin(url, location)
                            continue
                        kind, body = await self._read(response, url, kinds)
                        return Fetched(url, response.status_code, kind, body, response.headers,
                                       response.encoding)  # fmt: skip
                    finally:
                        await response.aclose()
                except httpx.InvalidURL as exc:  # httpx reads a Location it cannot follow
                    raise FetchRefused("bad_redirect", url=url) from exc
                except httpx.TimeoutException as exc:
                    raise FetchFailed("timeout", url=url, seconds=self.timeout) from exc
                except httpx.HTTPError as exc:
                    raise FetchFailed("unreachable", url=url, why=type(exc).__name__) from exc
        raise FetchRefused("too_many_redirects", limit=self.max_redirects)

    async def _read(
        self, response: httpx.Response, url: str, kinds: frozenset[str]
    ) -> tuple[str, bytes]:
        """(content type, body) of a response, within the size cap, which counts
        the body's bytes once decompressed."""
        if response.status_code >= 400:
            raise FetchFailed("http_status", url=url, status=response.status_code)
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in kinds:
            raise FetchRefused("not_a_page", url=url, kind=kind or "?")
        declared = int(response.headers.get("content-length") or 0)
        if declared > self.max_bytes:
            raise FetchRefused("page_too_large", url=url, limit=self.max_bytes)
        codings = response.headers.get("content-encoding", "").lower().replace(" ", "")
        layers = [c for c in codings.split(",") if c not in ("", "identity")]
        if any(c not in ("gzip", "x-gzip", "deflate") for c in layers):
            raise FetchRefused("bad_encoding", url=url, encoding=codings)
        inflaters = [_Inflater(c) for c in layers[::-1]]  # the last one applied goes first
        body = bytearray()
        try:
            async for raw in response.aiter_raw():
                for piece in _inflated(raw, inflaters):
                    body += piece
                    if len(body) > self.max_bytes:
                        raise FetchRefused("page_too_large", url=url, limit=self.max_bytes)
        except zlib.error as exc:
            raise FetchRefused("bad_encoding", url=url, encoding=codings) from exc
        return kind, bytes(body)

    async def article(self, url: str) -> Article:
        return await article_of(await self.page(url))


async def article_of(got: Fetched) -> Article:
    """The article a fetched page (status 200) holds, its main text extracted."""
    if got.kind == "text/plain":
        return article_from_text(got.text(), url=got.url, source=urlsplit(got.url).hostname)
    return await asyncio.to_thread(article_from_html, got.text(), got.url)
