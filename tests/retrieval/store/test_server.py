"""A shared Chroma server: the bot and separate `rawi ingest` processes together.

Every test here runs a real `chroma run` on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.telegram.context import Services
from bot.telegram.state import ChatState
from bot.telegram.texts import TEXTS
from retrieval.answer import NO_ANSWER
from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.ingest.loaders import make_article
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.service import QAService
from retrieval.store.chunks import Store
from retrieval.store.clients import server_client
from tests.auxil.helpers import ROOT, rawi, searcher_for
from tests.auxil.telegram import running

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


def write(path: Path, article_id: str, title: str, text: str) -> Path:
    path.write_text(json.dumps({"id": article_id, "title": title, "text": text}), "utf-8")
    return path


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
    source = tmp_path / "many.jsonl"
    with source.open("w", encoding="utf-8") as fh:
        for i in range(400):
            fh.write(json.dumps({
                "id": f"n{i:03d}", "title": f"Bulletin {i}",
                "text": "\n".join(f"Bulletin {i}, item {j}: the port handled {i * 7 + j} "
                                  f"containers and {j} ships on day {i}." for j in range(6)),
            }) + "\n")  # fmt: skip
    data = tmp_path / "cli-data"
    env = {**os.environ, "RAWI_DATA_DIR": str(data)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *chroma.flags, "ingest", str(source), "--json"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    client = server_client("127.0.0.1", chroma.port)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # interrupt once some batches have committed
        names = [c.name for c in client.list_collections()]
        if "rawi_articles" in names and client.get_collection("rawi_articles").count() >= 80:
            break
        time.sleep(0.2)
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
