"""Split an article into citable chunks: a pure function.

A chunk never crosses a paragraph. A paragraph that fits ``max_tokens`` is one
chunk; a longer one is cut at sentence ends, a sentence still too long at commas,
then between words, and the pieces are packed greedily back up to the limit.
Every chunk keeps its paragraph number and its span in ``article.text``.
"""

from __future__ import annotations

from collections.abc import Callable

from retrieval.text import clause_spans, sentence_spans, word_spans
from retrieval.types import Article, Chunk

TokenCounter = Callable[[str], int]


def approx_tokens(text: str) -> int:
    """A cheap stand-in for a tokenizer: about one token per four characters."""
    return max(1, len(text) // 4 + 1)


def _pieces(
    text: str, a: int, b: int, count: TokenCounter, max_tokens: int
) -> list[tuple[int, int]]:
    """Spans inside [a, b) that each fit, splitting ever finer as needed."""
    if count(text[a:b]) <= max_tokens:
        return [(a, b)]
    for splitter in (sentence_spans, clause_spans, word_spans):
        parts = splitter(text, a, b)
        if len(parts) > 1:
            out: list[tuple[int, int]] = []
            for pa, pb in parts:
                out.extend(_pieces(text, pa, pb, count, max_tokens))
            return out
    # A single "word" longer than the limit (a URL, a run of digits): cut by characters.
    step = max(1, (b - a) * max_tokens // max(1, count(text[a:b])))
    return [(i, min(b, i + step)) for i in range(a, b, step)]


def _pack(
    text: str, spans: list[tuple[int, int]], count: TokenCounter, max_tokens: int
) -> list[tuple[int, int]]:
    """Merge neighbouring spans while they fit. The size of a merge is taken as the
    sum of its parts (tokenizers split at white space first, so this is close,
    and it keeps packing linear in the number of pieces)."""
    packed: list[tuple[int, int]] = []
    sizes: list[int] = []
    for a, b in spans:
        size = count(text[a:b])
        if packed and sizes[-1] + size <= max_tokens:
            packed[-1] = (packed[-1][0], b)
            sizes[-1] += size
        else:
            packed.append((a, b))
            sizes.append(size)
    return packed


def chunk_article(
    article: Article, count_tokens: TokenCounter = approx_tokens, max_tokens: int = 200
) -> list[Chunk]:
    text = article.text
    chunks: list[Chunk] = []
    for number, (pa, pb) in enumerate(article.paragraph_spans(), start=1):
        spans = _pack(
            text, _pieces(text, pa, pb, count_tokens, max_tokens), count_tokens, max_tokens
        )
        for a, b in spans:
            chunks.append(Chunk(article.id, len(chunks), number, a, b, text[a:b]))
    return chunks
