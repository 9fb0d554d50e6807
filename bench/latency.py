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
import time
from datetime import date
from typing import Any

from bench.common import (
    MODEL_CACHE,
    ROOT,
    SHARED,
    build_corpus,
    median,
    need,
    percentile,
    report,
    time_queries,
)
from config.settings import load_settings

WHEN_TEST = ROOT / "bench" / "data" / "news" / "when-test.jsonl"

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


def reading(qa: Any, qs: list[str]) -> float:
    """p95 of reading a question's dates, outlets and "latest" (the part of a search
    that questions about time and outlets add), over ``qs`` and the time and outlet
    questions of the held-out set (median of the runs)."""
    asked = [json.loads(line)["question"] for line in WHEN_TEST.read_text().splitlines()]
    today = date(2015, 8, 12)
    runs = []
    for _ in range(REPEATS):
        times = []
        for q in [*qs, *asked]:
            t = time.perf_counter()
            qa.scope_of(q, q, today)
            times.append((time.perf_counter() - t) * 1000)
        runs.append(percentile(times, 95))
    return round(median(runs), 3)


def main(n_articles: int = 300) -> None:
    from retrieval.answer.extractive import ExtractiveAnswerer
    from retrieval.service import QAService

    corpus = build_corpus(n_articles)
    items, data_dir = corpus.items, corpus.data_dir
    outlets = {k: v.model_dump() for k, v in load_settings().outlets.items()}
    qa = QAService(corpus.searcher, ExtractiveAnswerer(corpus.embedder), outlets=outlets)
    qs = queries(items)
    timed = time_queries(corpus.searcher, qa, qs, REPEATS)
    timed["read_time_and_outlets_ms_p95"] = reading(qa, qs)
    chunks = corpus.store.count_chunks()
    corpus.searcher.lexical.close()
    del corpus, qa

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
            **timed,
            "target_search_ms_p95": 15,
            "target_ask_ms_p95": 30,
            "ask_cold_start_s_median": round(median(cold), 2),
            "ask_cold_start_s": [round(x, 2) for x in cold],
        },
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
