"""Search and answer latency with the model loaded, and `rawi ask` cold start.

Corpus: 300 SaudiNewsNet articles in an embedded store. Queries: 200 distinct
ones, 120 article titles and 80 written questions (ARCD test questions, English
renderings and the project's unanswerable ones). Targets: search p95 <= 15 ms,
ask p95 <= 30 ms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    MODEL_CACHE,
    ROOT,
    SHARED,
    median,
    need,
    percentile,
    report,
    saudinewsnet_articles,
)

REPEATS = 3


def queries(items: list, n_titles: int = 120) -> list[str]:
    titles = [i.article.title for i in items[:n_titles]]
    data = json.loads(need(SHARED / "arcd" / "arcd-test.json").read_text())
    written = [
        qa["question"].strip() for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]
    ][:40]
    en = [
        line.split("\t", 1)[1]
        for line in (ROOT / "bench/data/arcd-test-en.tsv").read_text().splitlines()
    ][:20]
    un = (ROOT / "bench/data/unanswerable-test.txt").read_text().splitlines()[:20]
    out = list(dict.fromkeys(titles + written + en + un))
    return out[:200]


def main(n_articles: int = 300) -> None:
    from retrieval.answer import ExtractiveAnswerer
    from retrieval.embeddings import Embedder
    from retrieval.ingest import Ingestor
    from retrieval.lexical import LexicalIndex
    from retrieval.search import Searcher
    from retrieval.service import QAService
    from retrieval.store import Store, embedded_client

    data_dir = Path(tempfile.mkdtemp())
    items = saudinewsnet_articles(n_articles)
    embedder = Embedder(cache_dir=MODEL_CACHE)
    store = Store(embedded_client(data_dir / "chroma"), embedder)
    searcher = Searcher(store, embedder, LexicalIndex(data_dir / "lexical.sqlite"))
    Ingestor(store, embedder).run(items)
    qa = QAService(searcher, ExtractiveAnswerer(embedder))
    qs = queries(items)
    for q in qs[:20]:  # warm up
        qa.ask(q)

    search_ms: list[float] = []
    ask_ms: list[float] = []
    p95s_search, p95s_ask = [], []
    for _ in range(REPEATS):
        run_s, run_a = [], []
        for q in qs:
            t = time.perf_counter()
            searcher.search(q, 5)
            run_s.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            qa.ask(q)
            run_a.append((time.perf_counter() - t) * 1000)
        p95s_search.append(percentile(run_s, 95))
        p95s_ask.append(percentile(run_a, 95))
        search_ms += run_s
        ask_ms += run_a
    chunks = store.count_chunks()
    searcher.lexical.close()
    del store, searcher, qa

    cold = []
    env = {**os.environ, "RAWI_DATA_DIR": str(data_dir), "RAWI_CACHE_DIR": str(MODEL_CACHE.parent)}
    for _ in range(REPEATS):
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "bot.cli", "ask", qs[0], "--json"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        cold.append(time.perf_counter() - t)
        json.loads(out.stdout)

    report(
        f"latency-{n_articles}",
        {
            "articles": len(items),
            "chunks": chunks,
            "queries": len(qs),
            "search_ms_p50": round(median(search_ms), 2),
            "search_ms_p95": round(median(p95s_search), 2),
            "search_ms_p95_runs": [round(x, 2) for x in p95s_search],
            "target_search_ms_p95": 15,
            "ask_ms_p50": round(median(ask_ms), 2),
            "ask_ms_p95": round(median(p95s_ask), 2),
            "ask_ms_p95_runs": [round(x, 2) for x in p95s_ask],
            "target_ask_ms_p95": 30,
            "ask_cold_start_s_median": round(median(cold), 2),
            "ask_cold_start_s": [round(x, 2) for x in cold],
        },
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
