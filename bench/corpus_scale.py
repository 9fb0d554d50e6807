"""Search and answer latency as the corpus grows: 1k, 10k, 100k and 300k chunks,
in the embedded store and against a Chroma server; resident memory of the bot's
process (embedded) and of the Chroma server.

How the corpus is made: 300 SaudiNewsNet articles are ingested for real (model,
chunking, sentence vectors). The rest are distractor articles whose chunks copy
those real chunks' texts and metadata, with vectors made from the real ones plus
Gaussian noise (sigma 0.35 per unit vector, then renormalised): they sit in the
same region of the space, so the index does real work, without spending hours of
two cores on embedding. They carry no sentence vectors of their own. Queries are
the latency benchmark's mix; the answers come from the real articles.
Targets at 100k chunks (embedded): search p95 <= 25 ms, ask p95 <= 50 ms; at 300k,
<= 1.5x those.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    RESULTS,
    build_corpus,
    memory_mb,
    report,
    start_chroma_server,
    time_queries,
)
from bench.latency import queries

SIZES = (1_000, 10_000, 100_000, 300_000)
CHUNKS_PER_DISTRACTOR = 10
REPEATS = 2


def run(mode: str, sizes: tuple[int, ...]) -> dict[str, Any]:
    from retrieval.answer.extractive import ExtractiveAnswerer
    from retrieval.ingest.loaders import make_article
    from retrieval.service import QAService
    from retrieval.store.clients import embedded_client, server_client
    from retrieval.types import Chunk

    data_dir = Path(tempfile.mkdtemp())
    server = None
    if mode == "server":
        server, port = start_chroma_server(data_dir / "server")
        client = server_client("127.0.0.1", port, wait=60)
    else:
        client = embedded_client(data_dir / "chroma")
    corpus = build_corpus(300, client, data_dir)
    items, embedder, store, searcher = corpus.items, corpus.embedder, corpus.store, corpus.searcher
    qa = QAService(searcher, ExtractiveAnswerer(embedder))
    qs = queries(items)[:100]

    # the real chunks, as templates for distractors
    real = store.chunks.get(include=["documents", "embeddings", "metadatas"])
    texts = list(real["documents"] or [])
    vectors = np.asarray(real["embeddings"], dtype=np.float32)
    rng = np.random.default_rng(7)
    out: dict[str, Any] = {}
    made = 0
    for size in sizes:
        need = size - store.count_chunks()
        t0 = time.perf_counter()
        while need > 0:
            batch = []
            for _ in range(min(400, max(1, need // CHUNKS_PER_DISTRACTOR))):
                picks = rng.integers(0, len(texts), CHUNKS_PER_DISTRACTOR)
                paras = [texts[i] for i in picks]
                article = make_article(paras, title=f"Distractor {made}", given_id=f"d{made}")
                made += 1
                chunks, start = [], 0
                for n, p in enumerate(paras):
                    chunks.append(Chunk(article.id, index=n, paragraph=n + 1, start=start,
                                        end=start + len(p), text=p))  # fmt: skip
                    start += len(p) + 2
                noisy = vectors[picks] + rng.normal(0, 0.35 / np.sqrt(vectors.shape[1]),
                                                    (len(picks), vectors.shape[1]))  # fmt: skip
                noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
                batch.append((article, chunks, noisy.astype(np.float32)))
            store.write_many(batch)
            need -= sum(len(c) for _, c, _ in batch)
        fill_s = time.perf_counter() - t0
        figures: dict[str, Any] = {"chunks": store.count_chunks(), "fill_s": round(fill_s, 1)}
        figures.update(time_queries(searcher, qa, qs, REPEATS))
        figures["rss_mb_this_process"] = round(memory_mb()["rss"])
        if server is not None:
            figures["rss_mb_chroma_server"] = round(memory_mb(server.pid)["rss"])
        else:  # a fresh process built like the bot, over this store
            qfile = data_dir / "questions.json"
            qfile.write_text(json.dumps(qs))
            probe = subprocess.run(
                [sys.executable, "-m", "bench.bot_memory", str(data_dir / "chroma"), str(qfile)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if probe.returncode == 0:
                figures["bot_process"] = json.loads(probe.stdout.strip().splitlines()[-1])
            else:
                figures["bot_process"] = {"error": probe.stderr[-500:]}
        out[f"{size // 1000}k"] = figures
        print(mode, size, figures, file=sys.stderr, flush=True)
    if server is not None:
        server.terminate()
        server.wait(60)
    return out


def main(sizes: tuple[int, ...] = SIZES, modes: tuple[str, ...] = ("embedded", "server")) -> None:
    results: dict[str, Any] = {}
    previous = RESULTS / "corpus-scale.json"
    if previous.exists():  # a run of one mode keeps the other mode's last figures
        old = json.loads(previous.read_text())
        results.update({m: old[m] for m in ("embedded", "server") if m in old and m not in modes})
    for mode in modes:
        results[mode] = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), **run(mode, sizes)}
    hundred = results.get("embedded", {}).get("100k")
    if hundred:
        results["targets_100k_embedded"] = {"search_ms_p95": 25, "ask_ms_p95": 50,
                                            "bot_rss_mb": 1536}  # fmt: skip
    report("corpus-scale", results)


if __name__ == "__main__":
    args = sys.argv[1:]
    modes = tuple(a for a in args if a in ("embedded", "server")) or ("embedded", "server")
    main(tuple(int(a) for a in args if a.isdigit()) or SIZES, modes)
