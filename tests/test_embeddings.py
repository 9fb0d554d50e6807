"""Query embedding: the direct path agrees with sentence-transformers' encode, and
queries asked at once from many threads share forward passes without mixing up."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from retrieval.embeddings import Embedder

QUESTIONS = [
    "كم عدد المواطنين الأمريكيين الذين يسعون لمغادرة غزة؟",
    "How many Palestinians have been killed in Gaza?",
    "متى افتتح المعرض الدولي للكتاب في الرياض؟",
    "Who saved two penalties in the cup final?",
    "ما هي أسعار النفط اليوم",
    "What did the council approve for the harbour?",
    "من فاز بجائزة نوبل للفيزياء؟",
    "When does the new metro line open?",
]


def test_a_query_vector_matches_encode(embedder: Embedder) -> None:
    reference = embedder.embed_queries(QUESTIONS)  # sentence-transformers' own encode
    for q, ref in zip(QUESTIONS, reference, strict=True):
        v = embedder.embed_query(q)
        assert v.shape == ref.shape and abs(float(np.linalg.norm(v)) - 1) < 1e-5
        assert float(v @ ref) > 0.999


def test_concurrent_queries_are_batched_and_each_gets_its_own_vector(embedder: Embedder) -> None:
    alone = np.stack([embedder.embed_query(q) for q in QUESTIONS])
    asked = QUESTIONS * 6
    before = len(embedder._queries.batches)
    with ThreadPoolExecutor(max_workers=24) as pool:
        vectors = list(pool.map(embedder.embed_query, asked))
    sizes = list(embedder._queries.batches)[before:]
    assert sum(sizes) == len(asked) and max(sizes) > 1  # some queries shared a pass
    for q, v in zip(asked, vectors, strict=True):
        i = QUESTIONS.index(q)
        sims = alone @ v
        assert int(np.argmax(sims)) == i and sims[i] > 0.995  # its own, not a neighbour's


def test_a_failure_reaches_every_waiter_and_the_worker_carries_on() -> None:
    import pytest

    from retrieval.embeddings import Coalescer

    broken = True

    def fn(texts: list[str]) -> np.ndarray:
        if broken:
            raise RuntimeError("model gone")
        return np.ones((len(texts), 3), dtype=np.float32)

    c = Coalescer(fn)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(c.submit, q) for q in QUESTIONS]
        for f in futures:
            with pytest.raises(RuntimeError, match="model gone"):
                f.result(timeout=10)
    broken = False
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(c.submit, "again").result(timeout=10).tolist() == [1.0, 1.0, 1.0]
