"""The Telegram bot under load, through the fake Bot API server over HTTP.

Corpus: 300 SaudiNewsNet articles. Questions: the latency benchmark's query mix.
Measured:
1. capacity without the outbound limiter: 20 chats asking at once, several
   rounds; answers/s and p95 from the update being served by getUpdates to the
   answer's sendMessage (targets: >= 50 answers/s, p95 <= 0.5 s);
2. with the limiter on: a burst over private chats and a group; every question
   answered, at most 30 messages in any second and 20 a minute in the group;
3. reader p95 while an admin ingests 50 articles in the same process (target
   <= 1.5 s);
4. resident memory of the process.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from typing import Any

from bench.common import (
    build_corpus,
    median,
    memory_mb,
    percentile,
    report,
    saudinewsnet_articles,
)
from bench.latency import queries

TOKEN = "123456:BENCH-token"
ROUNDS = 9  # of 20 answers each: cheap, and the machine is noisy


async def start(services: Any, limiter: bool) -> tuple[Any, asyncio.Event, asyncio.Task[None]]:
    from bot.telegram.application import build_application
    from bot.telegram.server import serve
    from tests.auxil.fakebotapi import FakeBotAPI

    api = FakeBotAPI()
    await api.start()
    app = build_application(TOKEN, services, api_url=api.base_url, rate_limit=limiter)
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(app, services, stop=stop, handle_signals=False, poll_timeout=1)
    )
    await api.wait_for("deleteWebhook")
    return api, stop, task


async def finish(api: Any, stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    await task
    await api.stop()


def latencies(api: Any, asked: dict[int, int]) -> list[float]:
    """Seconds from each question's update being served to its answer's first part."""
    out = []
    for chat, update_id in asked.items():
        sent = api.sent("sendMessage", chat_id=chat)
        out.append(sent[0].at - api.served[update_id])
    return out


async def capacity(services: Any, qs: list[str], chats: int = 20) -> dict[str, Any]:
    api, stop, task = await start(services, limiter=False)
    rates, p95s, all_lat, cpu = [], [], [], []
    chat_base = 10_000
    batches = services.qa.searcher.embedder._queries.batches
    for r in range(ROUNDS + 1):  # the first round warms up
        if r == 1:
            batches.clear()
        cpu0 = time.process_time()
        asked = {}
        for i in range(chats):
            chat = chat_base + r * chats + i
            q = qs[(r * chats + i) % len(qs)]
            asked[chat] = api.push_message(q, chat_id=chat, user_id=chat)
        for chat in asked:
            await api.wait_for("sendMessage", chat_id=chat, within=120)
        if r == 0:
            continue
        lat = latencies(api, asked)
        first = min(api.served[u] for u in asked.values())
        last = max(api.sent("sendMessage", chat_id=c)[0].at for c in asked)
        rates.append(len(asked) / (last - first))
        cpu.append((time.process_time() - cpu0) / len(asked) * 1000)
        p95s.append(percentile(lat, 95))
        all_lat += lat
        api.calls.clear()
    await finish(api, stop, task)
    return {
        "chats_at_once": chats,
        "answers_per_s": round(median(rates), 1),
        "answers_per_s_runs": [round(x, 1) for x in rates],
        "target_answers_per_s": 50,
        "p95_s": round(median(p95s), 3),
        "p95_s_runs": [round(x, 3) for x in p95s],
        "p50_s": round(median(all_lat), 3),
        "target_p95_s": 0.5,
        "cpu_ms_per_answer": round(median(cpu), 1),
        "query_batch_mean": round(sum(batches) / max(1, len(batches)), 1),
    }


async def limits(services: Any, qs: list[str]) -> dict[str, Any]:
    from tests.auxil.fakebotapi import BOT

    api, stop, task = await start(services, limiter=True)
    asked = {}
    for i in range(60):
        chat = 20_000 + i
        asked[chat] = api.push_message(qs[i % len(qs)], chat_id=chat, user_id=chat)
    group, group_questions = -30_000, 25
    for i in range(group_questions):
        api.push_message(f"@{BOT['username']} {qs[i % len(qs)]}", chat_id=group,
                         chat_type="supergroup", user_id=40_000 + i)  # fmt: skip
    t0 = time.monotonic()
    await api.wait_for("sendMessage", count=len(asked) + group_questions, within=300)
    took = time.monotonic() - t0
    sends = sorted(c.at for c in api.sent("sendMessage"))
    max_per_s = max(sum(1 for t in sends if s <= t < s + 1.0) for s in sends)
    group_sends = sorted(c.at for c in api.sent("sendMessage", chat_id=group))
    max_group_per_min = max(sum(1 for t in group_sends if s <= t < s + 60.0) for s in group_sends)
    answered = sum(1 for c in asked if api.sent("sendMessage", chat_id=c))
    await finish(api, stop, task)
    return {
        "questions": len(asked) + group_questions,
        "answered": answered + len(group_sends),
        "max_messages_in_1s": max_per_s,
        "limit_messages_per_s": 30,
        "max_group_messages_in_60s": max_group_per_min,
        "limit_group_messages_per_min": 20,
        "took_s": round(took, 1),
    }


async def during_ingest(services: Any, qs: list[str], extra: list[Any], ingestor: Any) -> dict:
    api, stop, task = await start(services, limiter=False)
    done = threading.Event()
    ingest_s: list[float] = []

    def admin() -> None:
        t = time.perf_counter()
        ingestor.run(extra)  # what /add does with a big upload, in a worker thread
        ingest_s.append(time.perf_counter() - t)
        done.set()

    threading.Thread(target=admin, daemon=True).start()
    asked = {}
    i = 0
    while not done.is_set():  # a steady stream of readers: 4 questions a second
        chat = 50_000 + i
        asked[chat] = api.push_message(qs[i % len(qs)], chat_id=chat, user_id=chat)
        i += 1
        await asyncio.sleep(0.25)
    await api.wait_for("sendMessage", count=len(asked), within=120)
    lat = latencies(api, asked)
    await finish(api, stop, task)
    return {
        "articles_ingested": len(extra),
        "ingest_s": round(ingest_s[0], 1),
        "reader_questions": len(asked),
        "reader_p50_s": round(median(lat), 3),
        "reader_p95_s": round(percentile(lat, 95), 3),
        "target_reader_p95_s": 1.5,
    }


def main(n_articles: int = 300, parts: str = "capacity,limits,ingest") -> None:
    from bot.telegram.context import Services
    from bot.telegram.state import ChatState
    from retrieval.answer.extractive import ExtractiveAnswerer
    from retrieval.service import QAService

    corpus = build_corpus(n_articles)
    items, data_dir, embedder, store, searcher, ingestor = (
        corpus.items, corpus.data_dir, corpus.embedder, corpus.store, corpus.searcher,
        corpus.ingestor,
    )  # fmt: skip
    extra = saudinewsnet_articles(n_articles + 50)[n_articles:]  # what the admin adds
    qs = queries(items)

    def services() -> Services:
        return Services(
            QAService(searcher, ExtractiveAnswerer(embedder)),
            store.catalogue.coverage,
            ChatState(data_dir / f"chat-{time.monotonic_ns()}.sqlite"),
            rate_limit_per_minute=10_000,
        )

    figures: dict[str, Any] = {"articles": len(items), "chunks": store.count_chunks()}
    if "capacity" in parts:
        figures["capacity"] = asyncio.run(capacity(services(), qs))
    if "limits" in parts:
        figures["with_limiter"] = asyncio.run(limits(services(), qs))
    if "ingest" in parts:
        figures["during_admin_ingest"] = asyncio.run(during_ingest(services(), qs, extra, ingestor))
    memory = memory_mb()
    figures["rss_mb"] = round(memory["rss"])
    figures["peak_rss_mb"] = round(memory["peak"])
    report(f"bot-{n_articles}", figures)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    main(n, *sys.argv[2:3])
