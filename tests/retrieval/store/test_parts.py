"""How a chunk's sentences are kept: written with the chunk, read back once."""

import numpy as np
import pytest

from retrieval.store.parts import ChunkParts, best_sentence_cosines, chunk_meta, read_parts
from retrieval.types import Article, Chunk, Hit


def hit_with(vectors: np.ndarray | None, dense: float = 0.5) -> Hit:
    spans: tuple[tuple[int, int], ...] = ()
    if vectors is not None:
        spans = tuple((i, i + 1) for i in range(len(vectors)))
    return Hit("c", "a", 1, 0, 1, "t", 0.5, "T", None, None, None, dense=dense, parts=spans,
               part_vectors=vectors)  # fmt: skip


def test_sentence_vectors_round_trip_through_the_metadata() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(3, 384)).astype(np.float32)
    chunk = Chunk("a", 0, 2, 10, 40, "x" * 30)
    article = Article("a", "T", ("p",), source="okaz", published="2015-08-04T10:00:00")
    meta = chunk_meta(article, "r1", chunk, ChunkParts(((0, 10), (11, 20), (21, 30)), vectors))
    assert {meta["article_id"], meta["revision"], meta["paragraph"]} == {"a", "r1", 2}
    # the report's day (sortable) and outlet, for searches within a window or an outlet
    assert (meta["day"], meta["source"]) == (20150804, "okaz")
    spans, read = read_parts(meta)
    assert spans == ((0, 10), (11, 20), (21, 30))
    assert read is not None and read.shape == (3, 384)
    exact = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert np.allclose(np.linalg.norm(read, axis=1), 1.0, atol=1e-5)
    assert (read * exact).sum(axis=1).min() > 0.999  # int8 storage
    # one sentence: nothing kept but the chunk's own vector
    alone = chunk_meta(Article("a", "T", ("p",)), "r1", chunk, ChunkParts(((0, 30),), vectors[:1]))
    assert read_parts(alone) == ((), None) and "part_vectors" not in alone
    assert (alone["day"], alone["source"]) == (0, "")  # undated, no outlet


def test_best_sentence_cosines_of_many_chunks_at_once() -> None:
    rng = np.random.default_rng(7)
    query = rng.normal(size=384).astype(np.float32)
    query /= np.linalg.norm(query)
    rows = [rng.normal(size=(n, 384)).astype(np.float32) for n in (3, 5)]
    rows = [r / np.linalg.norm(r, axis=1, keepdims=True) for r in rows]
    hits = [hit_with(rows[0]), hit_with(None, dense=0.42), hit_with(rows[1])]
    best = best_sentence_cosines(hits, query)
    assert best[1] == pytest.approx(0.42)  # one sentence: the chunk's own cosine
    for got, r in zip(best[[0, 2]], rows, strict=True):
        assert got == pytest.approx(float((r @ query).max()), abs=1e-6)
    assert best_sentence_cosines([hit_with(None, dense=0.3)], query).tolist() == pytest.approx(
        [0.3]
    )
