"""The guarded fetcher against a local web server: addresses pinned per hop,
the whole fetch bounded, credentials and odd redirects refused."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import json
import sys
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from retrieval.ingest.fetch import Fetcher, FetchFailed, FetchRefused, resolve
from tests.auxil.web import served

ROOT = Path(__file__).resolve().parents[3]
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
    async with served(app) as port:
        seen["port"] = port
        yield seen


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


async def test_an_arabic_domain_name_is_looked_up_and_sent_in_its_ascii_form() -> None:
    async with site() as s:
        dns = Resolver(["127.0.0.1"])
        fetcher = Fetcher(allow_private=True, resolver=dns)
        final, _, text = await fetcher.fetch(f"http://أخبار.مثال:{s['port']}/page")
    assert "40 million" in text and final == f"http://أخبار.مثال:{s['port']}/page"
    assert dns.calls == ["xn--igbicxr.xn--mgbh0fb"]
    assert s["hosts"] == [f"xn--igbicxr.xn--mgbh0fb:{s['port']}"]


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


# -- the SSRF matrix: no spelling of a private address is ever fetched -----------

# A name whose DNS answers a private address, as a hostile domain's would.
NAMES = {
    "loopback.example": ["127.0.0.1"],
    "six.example": ["::1"],
    "mixed.example": ["93.184.215.14", "127.0.0.1"],  # one public answer is not enough
    "news.example": ["127.0.0.1"],  # the site the redirects come from (trusted on its port)
}


async def dns(host: str, port: int) -> list[str]:
    """The names above from a script, every other host from the system's resolver."""
    return NAMES[host] if host in NAMES else await resolve(host, port)


@contextlib.asynccontextmanager
async def target() -> AsyncIterator[dict[str, Any]]:
    """A server on loopback, IPv4 and IPv6 on one port, that records every request."""
    seen: dict[str, Any] = {"hits": []}

    async def record(request: web.Request) -> web.Response:
        seen["hits"].append(request.path_qs)
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with served(app, ipv6=True) as port:
        seen["port"] = port
        yield seen


# (URL, the reason it is refused for, whether it points at the loopback target:
# then fetching it with private addresses allowed reaches the target, which
# proves the form is live)
URL_FORMS = [
    ("http://127.0.0.1:{port}/", "private_address", True),
    ("https://127.0.0.1:{port}/", "private_address", False),  # the target speaks no TLS
    ("http://2130706433:{port}/", "private_address", True),  # decimal
    ("http://0x7f000001:{port}/", "private_address", True),  # hex
    ("http://0x7f.1:{port}/", "private_address", True),  # hex, short
    ("http://0177.0.0.1:{port}/", "bad_url", False),  # octal: httpx will not read it
    ("http://017700000001:{port}/", "private_address", True),  # octal, whole
    ("http://127.1:{port}/", "private_address", True),  # short
    ("http://127.000.000.001:{port}/", "bad_url", False),  # zero-padded, likewise
    ("http://①②⑦.0.0.1:{port}/", "bad_url", False),  # digits a resolver folds to ASCII
    ("http://127.0.0.1.:{port}/", "private_address", True),  # trailing dot
    ("http://0:{port}/", "private_address", True),
    ("http://0.0.0.0:{port}/", "private_address", True),
    ("http://[::]:{port}/", "private_address", True),
    ("http://[::1]:{port}/", "private_address", True),
    ("http://[0:0:0:0:0:0:0:1]:{port}/", "private_address", True),
    ("http://[::ffff:127.0.0.1]:{port}/", "private_address", True),  # IPv4-mapped
    ("http://[::ffff:7f00:1]:{port}/", "private_address", True),
    ("http://[::127.0.0.1]:{port}/", "private_address", False),  # IPv4-compatible
    ("http://[::ffff:0:127.0.0.1]:{port}/", "private_address", False),  # IPv4-translated
    ("http://[64:ff9b::127.0.0.1]:{port}/", "private_address", False),  # NAT64
    ("http://[64:ff9b::10.0.0.1]:{port}/", "private_address", False),
    ("http://[2002:7f00:1::]:{port}/", "private_address", False),  # 6to4
    ("http://[fd00::1]:{port}/", "private_address", False),  # unique local
    ("http://[fd00:ec2::254]/latest/meta-data/", "private_address", False),  # cloud metadata, IPv6
    ("http://[fe80::1]:{port}/", "private_address", False),  # link-local
    ("http://[fec0::1]:{port}/", "private_address", False),  # site-local
    ("http://[ff02::1]:{port}/", "private_address", False),  # multicast
    ("http://169.254.169.254/latest/meta-data/", "private_address", False),  # cloud metadata
    ("http://100.64.0.1:{port}/", "private_address", False),  # CGNAT
    ("http://10.0.0.1:{port}/", "private_address", False),
    ("http://172.16.0.1:{port}/", "private_address", False),
    ("http://192.168.1.1:{port}/", "private_address", False),
    ("http://224.0.0.1:{port}/", "private_address", False),  # multicast
    ("http://localhost:{port}/", "private_address", True),
    ("http://LOCALHOST:{port}/", "private_address", True),
    ("http://localhost.:{port}/", "private_address", True),
    ("http://api.localhost:{port}/", "private_address", False),  # loopback by definition
    ("http://loopback.example:{port}/", "private_address", True),  # DNS answers loopback
    ("http://six.example:{port}/", "private_address", True),
    ("http://mixed.example:{port}/", "private_address", False),
]


@pytest.mark.parametrize(("form", "code", "live"), URL_FORMS, ids=[f[0] for f in URL_FORMS])
async def test_no_form_of_a_private_address_is_fetched(form: str, code: str, live: bool) -> None:
    async with target() as t:
        url = form.format(port=t["port"])
        requested: list[str] = []
        fetcher = Fetcher(resolver=dns, on_request=requested.append, timeout=2)
        with pytest.raises(FetchRefused) as refused:
            await fetcher.fetch(url)
        assert refused.value.reason.code == code
        assert requested == [] and t["hits"] == []
        if live:  # the same URL with private addresses allowed does reach the target
            await Fetcher(resolver=dns, allow_private=True, timeout=2).fetch(url)
            assert t["hits"] == ["/"]


REDIRECT_STATUSES = [301, 302, 303, 307, 308]
# (Location, the reason it is refused for, whether it points at the target)
REDIRECTS = [
    ("http://127.0.0.1:{port}/", "private_address", True),
    ("http://2130706433:{port}/", "private_address", True),
    ("http://0x7f000001:{port}/", "private_address", True),
    ("http://[::1]:{port}/", "private_address", True),
    ("http://[::ffff:127.0.0.1]:{port}/", "private_address", True),
    ("//127.0.0.1:{port}/", "private_address", True),  # protocol-relative
    ("http://localhost.:{port}/", "private_address", True),
    ("http://loopback.example:{port}/", "private_address", True),
    ("http://news.example:{port}/", "private_address", True),  # the trusted name, other port
    ("/go/302?to=http://127.0.0.1:{port}/", "private_address", True),  # relative, then on
    ("http://169.254.169.254/latest/meta-data/", "private_address", False),
    ("https://127.0.0.1:{port}/", "private_address", False),
    ("http://news.example@127.0.0.1:{port}/", "credentials", False),
    ("file:///etc/passwd", "only_http", False),
    ("ftp://127.0.0.1:{port}/", "only_http", False),
    ("gopher://127.0.0.1:{port}/_GET%20/", "only_http", False),
    ("dict://127.0.0.1:{port}/", "only_http", False),
    ("data:text/html,<p>hello</p>", "bad_redirect", False),
]


@contextlib.asynccontextmanager
async def redirector() -> AsyncIterator[dict[str, Any]]:
    """The trusted site: /go/STATUS?to=LOCATION answers STATUS with that Location."""
    seen: dict[str, Any] = {"paths": []}

    async def go(request: web.Request) -> web.Response:
        seen["paths"].append(request.path)
        status = int(request.match_info["status"])
        return web.Response(status=status, headers={"Location": request.query["to"]})

    app = web.Application()
    app.router.add_get("/go/{status}", go)
    async with served(app) as port:
        seen["port"] = port
        yield seen


@pytest.mark.parametrize("status", REDIRECT_STATUSES)
@pytest.mark.parametrize(("location", "code", "live"), REDIRECTS, ids=[r[0] for r in REDIRECTS])
async def test_no_redirect_leads_to_a_private_address(
    status: int, location: str, code: str, live: bool
) -> None:
    async with target() as t, redirector() as site:
        to = quote(location.format(port=t["port"]), safe="")
        url = f"http://news.example:{site['port']}/go/{status}?to={to}"
        requested: list[str] = []
        fetcher = Fetcher(
            resolver=dns, on_request=requested.append, timeout=2,
            trusted={("news.example", site["port"])},
        )  # fmt: skip
        with pytest.raises(FetchRefused) as refused:
            await fetcher.fetch(url)
        assert refused.value.reason.code == code
        assert t["hits"] == []  # the private target got nothing
        assert requested and all(u.startswith("http://news.example:") for u in requested)
        assert len(site["paths"]) == len(requested)  # each redirect was sent, and followed
        if live:  # followed with private addresses allowed, the redirect reaches the target
            await Fetcher(resolver=dns, allow_private=True, timeout=2).fetch(url)
            assert t["hits"] == ["/"]


# -- huge bodies and compression bombs: cut off at the cap, memory flat ----------

CAP = 1_000_000  # the fetcher's size limit in these tests
BLOCK = 64 * 1024


def deflated(size: int, wbits: int) -> bytes:
    """``size`` zero bytes compressed (31: gzip, 15: zlib, -15: raw deflate),
    made a megabyte at a time."""
    z = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(1 << 20)
    return b"".join([*(z.compress(block) for _ in range(size >> 20)), z.flush()])


@functools.cache
def bombs() -> dict[str, tuple[str, bytes]]:
    """Path: (Content-Encoding, body); each inflates to hundreds of megabytes."""
    return {
        "gzip": ("gzip", deflated(256 << 20, 31)),
        "deflate": ("deflate", deflated(256 << 20, 15)),
        # about a kilobyte on the wire, half a gigabyte once both layers are undone
        "gzip-gzip": ("gzip, gzip", gzip.compress(deflated(512 << 20, 31), 9)),
    }


@contextlib.asynccontextmanager
async def heavy_site() -> AsyncIterator[dict[str, Any]]:
    """Pages far over the cap, plainly or compressed; counts what /chunked sent."""
    seen: dict[str, Any] = {"sent": 0}

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def stream(request: web.Request, length: int | None = None) -> web.StreamResponse:
        size = 300 << 20
        headers = {"Content-Type": "text/html"}
        if length is not None:  # said in advance
            headers["Content-Length"] = str(length)
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(size // BLOCK):
                await response.write(b"x" * BLOCK)
                seen["sent"] += BLOCK
        return response

    async def declared(request: web.Request) -> web.StreamResponse:
        return await stream(request, length=300 << 20)

    async def bomb(request: web.Request) -> web.Response:
        encoding, body = bombs()[request.match_info["name"]]
        headers = {"Content-Type": "text/html", "Content-Encoding": encoding}
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/chunked", stream)
    app.router.add_get("/declared", declared)
    app.router.add_get("/bomb/{name}", bomb)
    async with served(app) as port:
        seen["port"] = port
        yield seen


# Fetches one page in a fresh process and says by how much its peak memory rose:
# a fresh process, so nothing run before can hide the rise under an older peak.
MEASURE = """
import asyncio, json, resource, sys
from retrieval.ingest.fetch import Fetcher
from retrieval.ingest.loaders import LoadError

async def main(base, path, cap):
    fetcher = Fetcher(allow_private=True, max_bytes=int(cap))
    await fetcher.fetch(base + "/page")  # the client, its TLS context and all, warmed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reason = None
    try:
        await fetcher.fetch(base + path)
    except LoadError as exc:
        reason = {"code": exc.reason.code, "en": exc.reason.say("en"), "ar": exc.reason.say("ar")}
    rise = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"reason": reason, "rise_mb": rise / 1024}))

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "path", ["/chunked", "/declared", "/bomb/gzip", "/bomb/deflate", "/bomb/gzip-gzip"]
)
async def test_a_huge_page_or_a_bomb_stops_at_the_cap_and_memory_stays_flat(path: str) -> None:
    bombs()  # made before the server answers, not while the fetch waits
    async with heavy_site() as s:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", MEASURE, f"http://127.0.0.1:{s['port']}", path, str(CAP),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(child.communicate(), 120)
    assert child.returncode == 0, err.decode()
    result = json.loads(out)
    reason = result["reason"]
    assert reason["code"] == "page_too_large"
    assert reason["en"] == f"http://127.0.0.1:{s['port']}{path} is too large (over 1,000,000 bytes)"
    assert "كبيرة جدًا" in reason["ar"]
    assert result["rise_mb"] < 50, result
    assert s["sent"] < 50 << 20  # the rest of a chunked page is never asked for


@contextlib.asynccontextmanager
async def encoded_site() -> AsyncIterator[int]:
    """/ENCODING answers the page in that Content-Encoding (made with zlib)."""
    page = PAGE.encode()

    def z(wbits: int) -> bytes:
        c = zlib.compressobj(6, zlib.DEFLATED, wbits)
        return c.compress(page) + c.flush()

    bodies = {
        "gzip": ("gzip", z(31)),
        "x-gzip": ("x-gzip", z(31)),
        "deflate": ("deflate", z(15)),
        "deflate-raw": ("deflate", z(-15)),  # what some old servers send as "deflate"
        "gzip-gzip": ("gzip, gzip", gzip.compress(z(31))),
        "identity": ("identity", page),
        "br": ("br", z(31)),  # not asked for, and not read
        "broken": ("gzip", z(31)[:10] + b"\xff" * 40),  # a block of no type
    }

    async def answer(request: web.Request) -> web.Response:
        encoding, body = bodies[request.match_info["name"]]
        return web.Response(
            body=body, headers={"Content-Type": "text/html", "Content-Encoding": encoding}
        )

    app = web.Application()
    app.router.add_get("/{name}", answer)
    async with served(app) as port:
        yield port


async def test_compressed_pages_read_whole_and_unreadable_ones_are_refused_plainly() -> None:
    async with encoded_site() as port:
        fetcher = Fetcher(allow_private=True)
        for name in ("gzip", "x-gzip", "deflate", "deflate-raw", "gzip-gzip", "identity"):
            _, _, text = await fetcher.fetch(f"http://127.0.0.1:{port}/{name}")
            assert text == PAGE, name
        for name in ("br", "broken"):
            with pytest.raises(FetchRefused) as refused:
                await fetcher.fetch(f"http://127.0.0.1:{port}/{name}")
            assert refused.value.reason.code == "bad_encoding", name
            assert "مضغوطًا" in refused.value.reason.say("ar")
