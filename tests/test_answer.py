"""Cited extractive answers over the founding article among 200 distractors."""

import dataclasses

import numpy as np
import pytest

from retrieval.answer import (
    NO_ANSWER,
    ExtractiveAnswerer,
    SentenceWeights,
    expected_answer,
    term_weights,
)
from retrieval.arabic import normalise
from retrieval.embeddings import Embedder
from retrieval.ingest import Ingestor
from retrieval.lexical import LexicalIndex
from retrieval.loaders import Loaded
from retrieval.search import Searcher
from retrieval.service import QAService, Turn, is_followup, search_query
from retrieval.store import Store
from retrieval.types import Answer, Article, Hit

AMERICANS = (
    "وكان بلينكن قال في وقت سابق إن 400 مواطن أمريكي و600 من أفراد أسرهم يسعون لمغادرة قطاع غزة."
)
CASUALTIES = "لقد قُتل أكثر من 9000 فلسطيني، من بينهم 3760 طفلاً، في القصف الإسرائيلي الوحشي على غزة"
NETANYAHU = "ومن المتوقع أن يلتقي بلينكن الجمعة برئيس الوزراء الإسرائيلي بنيامين نتنياهو"
JORDAN = "وسحب الأردن، ثاني دولة عربية تصنع السلام مع إسرائيل، سفيره احتجاجا"


@pytest.fixture(scope="module")
def qa(news: Searcher) -> QAService:
    return QAService(news, ExtractiveAnswerer(news.embedder))


def cited(qa: QAService, answer: Answer, founding: Article, sentence_start: str) -> None:
    """The answer cites, with an exact span, the sentence that starts so."""
    assert answer.grounded
    for c in answer.citations:
        article = qa.searcher.store.get_article(c.article_id)
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


@pytest.mark.parametrize(
    ("question", "sentence", "language"),
    [
        ("كم عدد المواطنين الأمريكيين الذين يسعون لمغادرة غزة؟", AMERICANS, "ar"),
        ("How many American citizens are seeking to leave Gaza?", AMERICANS, "en"),
        ("من سيلتقي بلينكن يوم الجمعة؟", NETANYAHU, "ar"),
        ("How many Palestinians have been killed in Gaza?", CASUALTIES, "en"),
        ("لماذا سحب الأردن سفيره؟", JORDAN, "ar"),
    ],
)
def test_the_answering_sentence_is_quoted_and_cited(
    qa: QAService, founding_article: Article, question: str, sentence: str, language: str
) -> None:
    answer = qa.ask(question).answer
    assert answer.language == language
    cited(qa, answer, founding_article, sentence[:40])
    assert 1 <= len(answer.citations) <= 3
    assert answer.text.startswith(
        "According to the coverage" if language == "en" else "بحسب التغطية"
    )


def test_a_sentence_run_by_several_outlets_is_quoted_once(
    store: Store, embedder: Embedder, founding_article: Article
) -> None:
    # a wire story: the same text under two outlets' ids
    copy = dataclasses.replace(founding_article, id="wire-copy", source="Another outlet")
    searcher = Searcher(store, embedder, LexicalIndex(None))
    Ingestor(store, embedder).run([Loaded("a", founding_article), Loaded("b", copy)])
    qa = QAService(searcher, ExtractiveAnswerer(embedder))
    for question in ("How many Palestinians have been killed in Gaza?", "لماذا سحب الأردن سفيره؟"):
        result = qa.ask(question)
        # both copies are found, and the answer quotes the sentence once
        assert {h.article_id for h in result.result.hits[:2]} == {founding_article.id, copy.id}
        quotes = [c.quote for c in result.answer.citations]
        assert quotes and len(quotes) == len(set(quotes)), quotes


def test_out_of_coverage_question(qa: QAService) -> None:
    for q, lang in (
        ("Who won the 2022 Nobel Prize in Physics?", "en"),
        ("من فاز بكأس العالم للسيدات 2023؟", "ar"),
    ):
        answer = qa.ask(q).answer
        assert not answer.grounded and answer.citations == ()
        assert answer.text == NO_ANSWER[lang] and answer.language == lang


def test_follow_up_is_searched_in_context(qa: QAService, founding_article: Article) -> None:
    first = qa.ask("How many Palestinians have been killed in Gaza?")
    history = [Turn("How many Palestinians have been killed in Gaza?", first.answer.text)]
    follow = qa.ask("And how many of them were children?", history)
    assert follow.query.startswith("How many Palestinians")
    cited(qa, follow.answer, founding_article, CASUALTIES[:40])
    assert "3760" in follow.answer.text


def test_followup_detection() -> None:
    assert is_followup("And how many of them were children?")
    assert is_followup("وكم منهم أطفال؟")
    assert is_followup("ماذا عن الأردن؟")
    assert not is_followup("Who won the regional football cup?")
    assert not is_followup("من فاز بكأس المنطقة لكرة القدم؟")
    assert search_query("Who won?", []) == "Who won?"


def test_answer_json_shape(qa: QAService) -> None:
    data = qa.ask("How many American citizens are seeking to leave Gaza?").answer.to_json()
    assert set(data) == {"answer", "grounded", "language", "citations"}
    assert set(data["citations"][0]) == {
        "n",
        "article_id",
        "paragraph",
        "chunk_id",
        "start",
        "end",
        "quote",
        "title",
        "source",
        "published",
        "url",
    }


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("متى تأسست الدولة العثمانية؟", "date"),
        ("في أي عام طرح أينشتاين النسبية العامة؟", "date"),
        ("When was Manchester United founded?", "date"),
        ("In which year did the war end?", "date"),
        ("كم عدد محافظات مصر؟", "quantity"),
        ("ما هو عدد القتلى في الحرب؟", "quantity"),
        ("ما مساحة الولايات المتحدة؟", "quantity"),
        ("How many governorates does Egypt have?", "quantity"),
        ("من سيلتقي بلينكن يوم الجمعة؟", None),
        ("لماذا سحب الأردن سفيره؟", None),
        ("Who is the mayor of Riyadh?", None),
        ("ما الحكمة من ذلك؟", None),  # كم inside a word is no question word
    ],
)
def test_what_kind_of_answer_a_question_asks_for(question: str, kind: str | None) -> None:
    dated = "وُلد في 14 مارس 1879 في ألمانيا"
    in_words = "تضم مصر سبعاً وعشرين محافظة"
    plain = "يشتهر صلاح الدين بتسامحه ومعاملته الإنسانية لأعدائه"
    pattern = expected_answer(question)
    if kind is None:
        assert pattern is None
        return
    assert pattern is not None
    assert pattern.search(normalise(dated))
    assert not pattern.search(normalise(plain))
    # a number written out in words is a quantity, not a date
    assert bool(pattern.search(normalise(in_words))) == (kind == "quantity")


def test_question_terms_weigh_by_their_rarity_among_the_sentences_read() -> None:
    read = [{"اينشتاين", "فيزياء"}, {"اينشتاين", "ولد"}, {"اينشتاين", "درس", "زيورخ"}]
    weight = term_weights({"اينشتاين", "زيورخ", "برلين"}, read)
    # the topic, in every sentence, weighs least; a term in none weighs most
    assert weight["اينشتاين"] < weight["زيورخ"] < weight["برلين"]
    assert term_weights({"x"}, []) == {"x": 0.0}


def test_a_sentence_holding_the_kind_of_answer_asked_for_scores_higher(
    embedder: Embedder,
) -> None:
    undated = "يفتح المتحف أبوابه للزوار بعد انتهاء أعمال الترميم الطويلة."
    dated = "يفتح المتحف أبوابه للزوار يوم الأحد المقبل بعد الترميم."
    text = f"{undated} {dated}"
    hit = Hit("c", "a", 1, 0, len(text), text, 0.5, "t", None, None, None, "ar", dense=0.9)
    vector = np.zeros(embedder.dim, dtype=np.float32)  # a one-part chunk: its own cosine

    def scores(answer_type: float) -> dict[str, float]:
        answerer = ExtractiveAnswerer(embedder, weights=SentenceWeights(answer_type=answer_type))
        ranked = answerer.score_sentences("متى يفتح المتحف أبوابه للزوار؟", [hit], vector)
        return {s.text: s.score for s in ranked}

    plain, typed = scores(0.0), scores(0.1)
    assert plain[dated] == pytest.approx(plain[undated])  # the same words and similarity
    assert typed[dated] - typed[undated] == pytest.approx(0.1)
    assert ExtractiveAnswerer(embedder).weights.answer_type == 0.05  # the shipped weight
