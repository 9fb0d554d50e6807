import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.ingest.chunking import approx_tokens, chunk_article
from retrieval.model.embedder import Embedder
from retrieval.types import Article

words = st.text(
    alphabet="ابتثجحخدذرزسشصضطظعغفقكلمنهويةى abcdefXYZ0123456789", min_size=1, max_size=12
)
sentence = st.builds(
    lambda ws, end: " ".join(ws) + end,
    st.lists(words, min_size=1, max_size=30),
    st.sampled_from([".", "؟", "؛", "،", "!", "", ":"]),
)
paragraph = st.builds(
    lambda ss: " ".join(ss).strip() or "x", st.lists(sentence, min_size=1, max_size=12)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(paragraph, min_size=1, max_size=6), st.integers(min_value=8, max_value=120))
def test_chunks_are_exact_spans_inside_one_paragraph(paras: list[str], limit: int) -> None:
    paras = [" ".join(p.split()) for p in paras if p.split()] or ["x"]
    article = Article(id="a", title="t", paragraphs=tuple(paras))
    chunks = chunk_article(article, approx_tokens, limit)
    text = article.text
    spans = article.paragraph_spans()
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert text[c.start : c.end] == c.text
        pa, pb = spans[c.paragraph - 1]
        assert pa <= c.start < c.end <= pb
        assert approx_tokens(c.text) <= limit or " " not in c.text
    # Every non-space character of every paragraph is in exactly one chunk.
    covered = sorted((c.start, c.end) for c in chunks)
    for (_, b1), (a2, _) in itertools.pairwise(covered):
        assert b1 <= a2
        assert not text[b1:a2].strip()
    assert {c.paragraph for c in chunks} == set(range(1, len(paras) + 1))


def test_founding_article_body_splits_into_citable_pieces(
    founding_article: Article, embedder: Embedder
) -> None:
    assert founding_article.title.startswith("يعود بلينكن")
    assert len(founding_article.paragraphs) == 2
    assert len(founding_article.paragraphs[0]) == 273
    assert len(founding_article.paragraphs[1]) == 2466
    chunks = chunk_article(founding_article, embedder.count_tokens, 200)
    body = [c for c in chunks if c.paragraph == 2]
    assert len(body) >= 3
    for c in body:
        assert embedder.count_tokens(c.text) <= 200
        assert founding_article.text[c.start : c.end] == c.text
        # pieces end at a sentence end, not mid-sentence
        assert c.text[-1] in '.؟!؛»")' or c is body[-1]


def test_chunking_is_repeatable(founding_article: Article) -> None:
    assert chunk_article(founding_article) == chunk_article(founding_article)
