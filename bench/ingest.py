"""Ingestion throughput: the pipeline against a bare SentenceTransformer.encode.

300 SaudiNewsNet articles go through the full pipeline (load, chunk, embed, write
to a fresh embedded Chroma store, commit). The baseline encodes exactly the same
passages (chunk texts under their titles) with the same model and dtype, at its
best batch size. Target: the pipeline keeps at least 90% of the baseline's
tokens/s. Also: cold start, from
process start to the first ingested article (`rawi ingest` of one file).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import MODEL_CACHE, ROOT, SHARED, median, need, report, saudinewsnet_articles

REPEATS = 3
N_ARTICLES = 300


def main() -> None:
    from retrieval.ingest.pipeline import Ingestor
    from retrieval.model.embedder import Embedder
    from retrieval.store.chunks import Store
    from retrieval.store.clients import embedded_client
    from retrieval.text import passage_text

    items = saudinewsnet_articles(N_ARTICLES)
    embedder = Embedder(cache_dir=MODEL_CACHE)
    model = embedder.model
    print(f"{len(items)} articles, dtype {embedder.dtype}", file=sys.stderr)

    # Exactly the passages the pipeline embeds (each chunk under its title).
    probe = Ingestor(Store(embedded_client(Path(tempfile.mkdtemp())), embedder), embedder)
    chunks = [(item.article, c) for item in items for c in probe.chunk(item.article)]
    texts = [passage_text(article.title, c.text)[0] for article, c in chunks]
    tokens = sum(embedder.count_tokens_many(texts))
    embedder.embed_passages(texts[:64])  # warm up

    def bare(batch_size: int) -> float:
        t = time.perf_counter()
        model.encode(texts, prompt_name="passage", batch_size=batch_size, show_progress_bar=False)
        return time.perf_counter() - t

    trial = {bs: bare(bs) for bs in (16, 32, 64)}
    best_bs = min(trial, key=trial.__getitem__)
    bare_times = [trial[best_bs]] + [bare(best_bs) for _ in range(REPEATS - 1)]

    pipe_times = []
    for _ in range(REPEATS):
        store = Store(embedded_client(Path(tempfile.mkdtemp())), embedder)
        ingestor = Ingestor(store, embedder)
        t = time.perf_counter()
        rep = ingestor.run(items)
        pipe_times.append(time.perf_counter() - t)
        assert len(rep.added) == len(items) and rep.chunks == len(chunks), rep.summary()

    cold = []
    seed = need(SHARED / "seed" / "blinken-middle-east-ar.txt")
    for _ in range(REPEATS):
        env = {
            **os.environ,
            "RAWI_DATA_DIR": tempfile.mkdtemp(),
            "RAWI_CACHE_DIR": str(MODEL_CACHE.parent),
        }
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "ingest", str(seed)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        cold.append(time.perf_counter() - t)

    bare_tps = tokens / median(bare_times)
    pipe_tps = tokens / median(pipe_times)
    report(
        "ingest",
        {
            "articles": len(items),
            "chunks": len(texts),
            "tokens": tokens,
            "dtype": embedder.dtype,
            "bare_best_batch_size": best_bs,
            "bare_tokens_per_s_median": round(bare_tps),
            "pipeline_tokens_per_s_median": round(pipe_tps),
            "pipeline_chunks_per_s_median": round(len(texts) / median(pipe_times), 1),
            "pipeline_over_bare": round(pipe_tps / bare_tps, 3),
            "target_pipeline_over_bare": 0.90,
            "pipeline_seconds": [round(x, 2) for x in pipe_times],
            "bare_seconds": [round(x, 2) for x in bare_times],
            "cold_start_seconds_median": round(median(cold), 2),
            "cold_start_seconds": [round(x, 2) for x in cold],
        },
    )


if __name__ == "__main__":
    main()
