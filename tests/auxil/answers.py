"""What the answer tests share: the founding article's sentences, and a check that
an answer cites one of them with an exact span."""

from retrieval.service import QAService
from retrieval.types import Answer, Article

AMERICANS = (
    "وكان بلينكن قال في وقت سابق إن 400 مواطن أمريكي و600 من أفراد أسرهم يسعون لمغادرة قطاع غزة."
)
CASUALTIES = "لقد قُتل أكثر من 9000 فلسطيني، من بينهم 3760 طفلاً، في القصف الإسرائيلي الوحشي على غزة"
NETANYAHU = "ومن المتوقع أن يلتقي بلينكن الجمعة برئيس الوزراء الإسرائيلي بنيامين نتنياهو"
JORDAN = "وسحب الأردن، ثاني دولة عربية تصنع السلام مع إسرائيل، سفيره احتجاجا"


def cited(qa: QAService, answer: Answer, founding: Article, sentence_start: str) -> None:
    """The answer cites, with an exact span, the sentence that starts so."""
    assert answer.grounded
    for c in answer.citations:
        article = qa.searcher.store.catalogue.get_article(c.article_id)
        assert article is not None
        assert article.text[c.start : c.end] == c.quote  # spans are exact
    hits = [
        c
        for c in answer.citations
        if c.article_id == founding.id and c.quote.startswith(sentence_start)
    ]
    assert hits, [c.quote[:40] for c in answer.citations]
    assert hits[0].paragraph == 2
    assert f"[{hits[0].n}]" in answer.text
    assert sentence_start in answer.text  # the answer's own text quotes it
