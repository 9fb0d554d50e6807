"""A shared Chroma server: the bot and separate `rawi ingest` processes together.

Every test here runs a real `chroma run` on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from bot.telegram.context import Services
from bot.telegram.state import ChatState
from bot.telegram.texts import TEXTS
from retrieval.answer import NO_ANSWER
from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.ingest.loaders import Loaded, make_article
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.service import QAService
from retrieval.store.check import problems
from retrieval.store.chunks import Store
from retrieval.store.clients import server_client
from tests.auxil.helpers import ROOT, rawi, searcher_for
from tests.auxil.telegram import running

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

pytestmark = pytest.mark.slow
CHROMA = Path(sys.executable).with_name("chroma")


class ChromaServer:
    def __init__(self, path: Path) -> None:
        self.path = path
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ChromaServer:
        self.proc = subprocess.Popen(
            [str(CHROMA), "run", "--host", "127.0.0.1", "--port", str(self.port),
             "--path", str(self.path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        server_client("127.0.0.1", self.port, wait=60)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    @property
    def flags(self) -> list[str]:
        return ["--chroma-host", "127.0.0.1", "--chroma-port", str(self.port)]


@pytest.fixture
def chroma(tmp_path: Path) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path / "chroma-server").start()
    yield server
    if server.proc and server.proc.poll() is None:
        server.kill()


def ingesting(
    chroma: ChromaServer, source: Path, env: dict[str, str], *flags: str
) -> subprocess.Popen[str]:
    """`rawi ingest SOURCE` into ``chroma``, started in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *chroma.flags, "ingest", str(source), *flags],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def write(path: Path, article_id: str, title: str, text: str) -> Path:
    path.write_text(json.dumps({"id": article_id, "title": title, "text": text}), "utf-8")
    return path


def bulletins(path: Path, n: int) -> Path:
    """``n`` articles of six paragraphs in one JSONL file: enough for several batches."""
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({
                "id": f"n{i:03d}", "title": f"Bulletin {i}",
                "text": "\n".join(f"Bulletin {i}, item {j}: the port handled {i * 7 + j} "
                                  f"containers and {j} ships on day {i}." for j in range(6)),
            }) + "\n")  # fmt: skip
    return path


def articles_in(client: ClientAPI) -> int:
    """Articles in the catalogue of the store on ``client`` (0 before there is one)."""
    if "rawi_articles" not in [c.name for c in client.list_collections()]:
        return 0
    return int(client.get_collection("rawi_articles").count())


async def wait_until(check, within: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {within} s")


async def test_the_bot_follows_a_separate_ingest_process(
    chroma: ChromaServer, tmp_path: Path, embedder: Embedder
) -> None:
    store = Store(server_client("127.0.0.1", chroma.port), embedder)
    searcher = searcher_for(store, embedder, tmp_path / "lexical.sqlite")
    interval = 2.0
    services = Services(
        QAService(searcher, ExtractiveAnswerer(embedder)),
        store.catalogue.coverage,
        ChatState(None),
        follow=store.follow, follow_interval=interval,
    )  # fmt: skip
    data = tmp_path / "cli-data"
    question = "How many new buses does the transit authority plan to buy?"
    async with running(services) as api:
        asked = [0]

        async def answer_contains(expected: str) -> bool:
            asked[0] += 1
            chat = 7000 + asked[0]
            api.push_message(question, chat_id=chat)
            (reply,) = await api.wait_for("sendMessage", chat_id=chat)
            return expected in reply.params["text"]

        assert await answer_contains(NO_ANSWER["en"])
        doc = write(tmp_path / "bus.json", "bus-1", "Transit authority orders buses",
                    "The transit authority plans to buy 85 new electric buses next year, "
                    "its director said on Tuesday.")  # fmt: skip
        out = await asyncio.to_thread(rawi, *chroma.flags, "ingest", str(doc), data_dir=data)
        assert out.returncode == 0, out.stderr[-2000:]
        took = await wait_until(lambda: answer_contains("85 new electric buses"), 3 * interval)
        assert took <= interval + 2  # within the follow delay (and one question's time)

        out = await asyncio.to_thread(rawi, *chroma.flags, "remove", "bus-1", data_dir=data)
        assert out.returncode == 0, out.stderr[-2000:]
        await wait_until(lambda: answer_contains(NO_ANSWER["en"]), 3 * interval)
        assert searcher.lexical.revisions() == {}  # the lexical index followed too

        # The server goes away: readers are told, and the bot recovers by itself.
        text = "The transit authority plans to buy 40 new electric buses next year."
        doc = write(tmp_path / "bus2.json", "bus-2", "Transit authority orders buses", text)
        out = await asyncio.to_thread(rawi, *chroma.flags, "ingest", str(doc), data_dir=data)
        assert out.returncode == 0, out.stderr[-2000:]
        await wait_until(lambda: answer_contains("40 new electric buses"), 3 * interval)
        chroma.kill()
        assert await answer_contains(TEXTS["unavailable"]["en"])
        chroma.start()
        await wait_until(lambda: answer_contains("40 new electric buses"), 30)


def test_two_writers_of_one_article_leave_one_whole_version(
    chroma: ChromaServer, embedder: Embedder
) -> None:
    versions = {
        v: make_article(
            [
                f"Version {v} paragraph {i}: the council met on day {i} and voted {v * 10 + i} "
                f"to {i}, according to the minutes of session {v}."
                for i in range(12)
            ],
            title=f"Council vote, version {v}",
            given_id="council",
        )
        for v in (1, 2)
    }
    ingestors = {
        v: Ingestor(
            Store(server_client("127.0.0.1", chroma.port), embedder), embedder, max_chunk_tokens=32
        )
        for v in versions
    }
    chunks = {v: ingestors[v].chunk(a) for v, a in versions.items()}
    embedded = {v: ingestors[v].embed(chunks[v], {a.id: a.title}) for v, a in versions.items()}
    reader = Store(server_client("127.0.0.1", chroma.port), embedder)
    for _ in range(5):
        barrier = threading.Barrier(2)

        def writer(v: int, barrier: threading.Barrier = barrier) -> None:
            vectors, parts, _ = embedded[v]
            barrier.wait()
            ingestors[v].store.write_many([(versions[v], chunks[v], vectors)], parts=[parts])

        threads = [threading.Thread(target=writer, args=(v,)) for v in versions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        reader.catalogue.refresh()
        info = reader.catalogue.info("council")
        assert info is not None
        article = reader.catalogue.get_article("council")
        assert article is not None
        v = 1 if article.title.endswith("1") else 2
        assert article == versions[v]  # the catalogue holds one whole version
        live = [r for r in reader.chunk_records(["council"]) if r.revision == info.revision]
        assert len(live) == info.chunks == len(chunks[v])  # all of its chunks, no other's
        assert all(f"Version {v} " in r.text for r in live)
        hits = reader.dense(np.asarray(embedded[3 - v][0][0]), 50)
        assert hits and all(h.text.startswith(f"Version {v} ") for h in hits)


def test_an_interrupted_ingest_resumes_without_duplicates(
    chroma: ChromaServer, tmp_path: Path, embedder: Embedder
) -> None:
    source = bulletins(tmp_path / "many.jsonl", 400)
    data = tmp_path / "cli-data"
    env = {**os.environ, "RAWI_DATA_DIR": str(data)}
    proc = ingesting(chroma, source, env, "--json")
    client = server_client("127.0.0.1", chroma.port)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and articles_in(client) < 80:
        time.sleep(0.2)  # interrupt once some batches have committed
    proc.send_signal(signal.SIGTERM)
    stdout, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "continues where it stopped" in err
    first = client.get_collection("rawi_articles").count()
    assert 80 <= first < 400
    # the interrupted run reports exactly what it committed
    partial = json.loads(stdout)
    assert partial["interrupted"] is True and partial["tokens"] > 0
    committed = set(client.get_collection("rawi_articles").get(include=[])["ids"])
    assert set(partial["added"]) == committed  # a batch is committed and reported together

    out = rawi(*chroma.flags, "ingest", str(source), "--json", data_dir=data)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert len(report["unchanged"]) == first and len(report["added"]) == 400 - first
    assert "it/s" in out.stderr or "article/s" in out.stderr  # the progress bar's rate

    store = Store(client, embedder)
    assert len(store.catalogue.articles()) == 400
    expected = sum(a.chunks for a in store.catalogue.articles())
    live = {a.id: a.revision for a in store.catalogue.articles()}
    records = store.chunk_records(list(live))
    assert sum(1 for r in records if live[r.article_id] == r.revision) == expected
    assert len({r.chunk_id for r in records}) == len(records)
    orphans = rawi(*chroma.flags, "resync", data_dir=data)
    assert orphans.returncode == 0
    assert store.count_chunks() >= expected  # an interrupted batch may have left orphans


async def test_readers_are_told_while_the_server_is_down_and_answered_once_it_is_back(
    chroma: ChromaServer, tmp_path: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(server_client("127.0.0.1", chroma.port), embedder)
    searcher = searcher_for(store, embedder, tmp_path / "lexical.sqlite")
    Ingestor(store, embedder).run([
        Loaded("t", make_article(["The transit authority plans to buy 85 new electric buses "
                                  "next year, its director said on Tuesday."],
                                 title="Transit authority orders buses", given_id="bus")),
        Loaded("t", make_article(["افتتحت بلدية الواحة السوق المركزي الجديد يوم الأحد، ويضم "
                                  "300 متجر."], title="افتتاح السوق المركزي", given_id="souq")),
    ])  # fmt: skip
    services = Services(
        QAService(searcher, ExtractiveAnswerer(embedder)), store.catalogue.coverage,
        ChatState(None), follow=store.follow, follow_interval=0.5,
    )  # fmt: skip
    english = "How many new buses will the transit authority buy?"
    arabic = "كم متجرًا يضم السوق المركزي؟"
    chats = iter(range(9000, 9100))

    async def ask(question: str, language: str = "en") -> str:
        chat = next(chats)
        api.push_message(question, chat_id=chat, user_id=chat, language=language)
        (reply,) = await api.wait_for("sendMessage", chat_id=chat)
        return str(reply.params["text"])

    async with running(services) as api:
        assert "85 new electric buses" in await ask(english)
        # questions in flight as the server dies: each is answered, or told why not
        flight = [next(chats) for _ in range(8)]
        for chat in flight:
            api.push_message(english, chat_id=chat, user_id=chat)
        await api.wait_for("sendChatAction", count=len(flight))
        chroma.kill()
        told = [(await api.wait_for("sendMessage", chat_id=c))[0].params["text"] for c in flight]
        assert all("85 new electric buses" in t or t == TEXTS["unavailable"]["en"] for t in told)
        # each reader is told in the language of the question, whatever their app's
        assert await ask(arabic, language="en") == TEXTS["unavailable"]["ar"]
        assert await ask(english, language="ar") == TEXTS["unavailable"]["en"]
        await asyncio.sleep(1.5)  # the follower meets the outage too
        assert await ask(english) == TEXTS["unavailable"]["en"]

        chroma.start()  # same port, same --path
        # the very next questions are answered: the bot's clients reconnect by themselves
        assert "85 new electric buses" in await ask(english)
        assert "300 متجر" in await ask(arabic)
        # and the bot follows what another process adds again
        other = Store(server_client("127.0.0.1", chroma.port), embedder)
        ferry = make_article(["The harbour ferry will leave every 20 minutes from Sunday."],
                             title="Ferry timetable", given_id="ferry")  # fmt: skip
        await asyncio.to_thread(Ingestor(other, embedder).run, [Loaded("t", ferry)])

        async def ferry_known() -> bool:
            return "every 20 minutes" in await ask("How often will the harbour ferry leave?")

        await wait_until(ferry_known, 5)
    assert not [r for r in caplog.records if r.exc_info]  # an outage is no bug: no traceback


def test_an_ingest_that_loses_the_server_stops_plainly_and_resumes_whole(
    chroma: ChromaServer, tmp_path: Path, embedder: Embedder
) -> None:
    source = bulletins(tmp_path / "many.jsonl", 200)
    data = tmp_path / "cli-data"
    env = {**os.environ, "RAWI_DATA_DIR": str(data)}
    proc = ingesting(chroma, source, env)
    client = server_client("127.0.0.1", chroma.port)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and articles_in(client) < 80:
        time.sleep(0.2)  # the server dies once some batches have committed
    chroma.kill()
    stdout, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-2000:]
    assert "Traceback" not in err and "failed:" not in err  # no article is at fault
    (said,) = [line for line in err.splitlines() if line.startswith("rawi:")]
    found = re.match(
        r"rawi: the Chroma server could not be reached \(.+\) after (\d+) article\(s\) were "
        r"added and 0 updated, each whole\. Once it is back, run the same ingest again: it "
        r"continues where it stopped$",
        said,
    )
    assert found, said
    added = int(found[1])
    assert stdout.startswith(f"interrupted after {added} added, 0 updated, 0 unchanged, 0 failed")

    chroma.start()  # same port, same --path
    store = Store(server_client("127.0.0.1", chroma.port), embedder)
    assert 80 <= len(store.catalogue.articles()) == added < 200  # what it said is what is there
    assert problems(store, embedder) == []  # and each of them is whole
    out = rawi(*chroma.flags, "ingest", str(source), "--json", data_dir=data)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert len(report["unchanged"]) == added and len(report["added"]) == 200 - added
    store = Store(server_client("127.0.0.1", chroma.port), embedder)
    assert len(store.catalogue.articles()) == 200
    assert problems(store, embedder) == []
