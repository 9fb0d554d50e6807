"""How a chunk is kept in Chroma: its id, its metadata, and its sentences' vectors.

The one place that knows the layout. A chunk's id is ``article|revision|index``;
its metadata names its article, revision, paragraph and span in the article's
text, and its report's day and outlet; a chunk of several sentences also keeps
each sentence's span and vector, for quoting the sentence that answers. Sentence
vectors are never searched, only read with their chunk, so they are kept small:
int8 values with a float32 scale per row, base64-encoded in the metadata, and
decoded once, when a chunk is read.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from retrieval.scope import day_of
from retrieval.types import Article, Chunk, Hit

# The encoded layout: the row count and dimension (int32), one float32 scale a
# row, then the int8 values row by row.
_HEAD = struct.Struct("=ii")


def chunk_id(article_id: str, revision: str, index: int) -> str:
    return f"{article_id}|{revision}|{index}"


def split_chunk_id(cid: str) -> tuple[str, str]:
    """(article id, revision) of a chunk id."""
    article_id, revision, _ = cid.rsplit("|", 2)
    return article_id, revision


@dataclass(frozen=True)
class ChunkParts:
    """A chunk's sentences: spans relative to the chunk, and their vectors."""

    spans: tuple[tuple[int, int], ...]
    vectors: np.ndarray


def report_meta(published: str | None, source: str | None) -> dict[str, Any]:
    """What a chunk keeps of its report, for searches within a window of days or
    from one outlet: the publication day as a sortable number (YYYYMMDD, 0 when
    unknown) and the outlet's id ("" when unknown)."""
    return {"day": day_of(published), "source": source or ""}


def chunk_meta(
    article: Article, revision: str, chunk: Chunk, parts: ChunkParts | None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "article_id": article.id,
        "revision": revision,
        **report_meta(article.published, article.source),
        "paragraph": chunk.paragraph,
        "start": chunk.start,
        "end": chunk.end,
        "index": chunk.index,
        "written_at": time.time(),
    }
    if parts is not None and len(parts.spans) > 1:
        meta["parts"] = ";".join(f"{a},{b}" for a, b in parts.spans)
        meta["part_vectors"] = _encode(parts.vectors)
    return meta


def read_parts(meta: dict[str, Any]) -> tuple[tuple[tuple[int, int], ...], np.ndarray | None]:
    """A stored chunk's sentence spans and their unit vectors (none for a chunk of
    one sentence, or one stored before sentences were kept)."""
    spans_value, vectors_value = meta.get("parts"), meta.get("part_vectors")
    if not spans_value or not vectors_value:
        return (), None
    spans = []
    for pair in str(spans_value).split(";"):
        a, b = pair.split(",")
        spans.append((int(a), int(b)))
    return tuple(spans), _decode(str(vectors_value))


def best_sentence_cosines(hits: Sequence[Hit], query: np.ndarray) -> np.ndarray:
    """Each hit's best sentence cosine with ``query`` (its own ``dense`` when it
    keeps no sentences), all in one product."""
    out = np.array([h.dense for h in hits], dtype=np.float32)
    which = [i for i, h in enumerate(hits) if h.part_vectors is not None]
    rows = [v for h in hits if (v := h.part_vectors) is not None]
    if not rows:
        return out
    starts = np.cumsum([0, *(len(r) for r in rows[:-1])])
    cosines = np.concatenate(rows) @ query
    out[which] = np.maximum.reduceat(cosines, starts)
    return out


def _encode(vectors: np.ndarray) -> str:
    vectors = np.asarray(vectors, dtype=np.float32)
    scale = np.maximum(np.abs(vectors).max(axis=1), 1e-12) / 127.0
    q = np.round(vectors / scale[:, None]).astype(np.int8)
    head = _HEAD.pack(*vectors.shape)
    return base64.b64encode(head + scale.astype(np.float32).tobytes() + q.tobytes()).decode()


def _decode(data: str) -> np.ndarray:
    """Unit vectors: a row's scale cancels out of its direction, so the int8 values
    are normalised as they are."""
    raw = base64.b64decode(data)
    n, dim = _HEAD.unpack_from(raw)
    values = np.frombuffer(raw, dtype=np.int8, offset=_HEAD.size + 4 * n).reshape(n, dim)
    rows = values.astype(np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
