"""Added latency of the LLM answer path over the extractive one, excluding the
model's own time: a local fake OpenAI-compatible server that answers at once.

Corpus: 300 SaudiNewsNet articles; questions: the latency benchmark's mix (only
those search finds answerable, since the LLM is not called for the others).
Target: added p95 <= 20 ms.
"""

from __future__ import annotations

import sys
import time

from bench.common import build_corpus, median, percentile, report
from bench.latency import queries

REPEATS = 3


def main(n_articles: int = 300) -> None:
    from langchain_openai import ChatOpenAI

    from retrieval.answer.extractive import ExtractiveAnswerer
    from retrieval.answer.llm import LLMAnswerer
    from tests.auxil.fakeopenai import FakeOpenAI, Reply

    corpus = build_corpus(n_articles)
    items, embedder, searcher = corpus.items, corpus.embedder, corpus.searcher

    fake = FakeOpenAI().start()
    fake.default = Reply(text="The coverage reports it, as the passage says [K1] [K2].")
    model = ChatOpenAI(model="fake", base_url=fake.base_url, api_key="unused",
                       timeout=10, max_retries=0)  # fmt: skip
    extractive = ExtractiveAnswerer(embedder)
    generated = LLMAnswerer(model, extractive)

    results = [(q, searcher.search(q, 5)) for q in queries(items)]
    results = [(q, r) for q, r in results if r.answerable]
    for q, r in results[:10]:  # warm up both paths (connection pool, caches)
        extractive.answer(q, r)
        generated.answer(q, r)

    p95s, medians, ext_p95s, llm_p95s = [], [], [], []
    for _ in range(REPEATS):
        added, ext, gen = [], [], []
        for q, r in results:
            t = time.perf_counter()
            extractive.answer(q, r)
            a = time.perf_counter()
            answer = generated.answer(q, r)
            b = time.perf_counter()
            assert answer.grounded and answer.note is None, "the fake's reply should pass"
            ext.append((a - t) * 1000)
            gen.append((b - a) * 1000)
            added.append((b - a - (a - t)) * 1000)
        p95s.append(percentile(added, 95))
        medians.append(median(added))
        ext_p95s.append(percentile(ext, 95))
        llm_p95s.append(percentile(gen, 95))
    fake.stop()
    report(
        f"llm-overhead-{n_articles}",
        {
            "questions": len(results),
            "added_ms_p50": round(median(medians), 2),
            "added_ms_p95": round(median(p95s), 2),
            "added_ms_p95_runs": [round(x, 2) for x in p95s],
            "target_added_ms_p95": 20,
            "extractive_answer_ms_p95": round(median(ext_p95s), 2),
            "llm_answer_ms_p95": round(median(llm_p95s), 2),
            "note": "search excluded (the same for both); the fake answers at once",
        },
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
