"""Cited extractive answers over the founding article among 200 distractors."""

import dataclasses
import time

import numpy as np
import pytest

from retrieval.answer import (
    NO_ANSWER,
    ExtractiveAnswerer,
    SentenceWeights,
    term_weights,
)
from retrieval.arabic import normalise
from retrieval.asks import expected_answer
from retrieval.embeddings import Embedder
from retrieval.followup import is_followup
from retrieval.ingest import Ingestor
from retrieval.lexical import LexicalIndex
from retrieval.loaders import Loaded, make_article
from retrieval.search import Searcher
from retrieval.service import QAService, Turn
from retrieval.store import Store, embedded_client
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
    assert 1 <= len(answer.citations) <= qa.answerer.max_sentences  # type: ignore[attr-defined]
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
    asked = "How many Palestinians have been killed in Gaza?"
    history = [Turn(asked, first.answer.text, asked, time.time())]
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


def test_answer_json_shape(qa: QAService) -> None:
    data = qa.ask("How many American citizens are seeking to leave Gaza?").answer.to_json()
    assert set(data) == {"answer", "grounded", "language", "kind", "citations"}
    assert data["kind"] == "answer"
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
    assert ExtractiveAnswerer(embedder).weights.answer_type == 0.2  # the shipped weight


FIRE = make_article(
    [
        "عين اليوم – هيفاء عبدالله",
        "اندلع حريق في مستودع للأخشاب بالحي الصناعي في جدة فجر أمس. وأكد الدفاع المدني أن الحريق"
        " لم يسفر عن أي إصابات بشرية. وقال المتحدث إن فرق الإطفاء سيطرت على النيران خلال ساعتين.",
        "للتواصل مع الكاتبة: haifa.abdullah@example.com",
    ],
    title="حريق مستودع أخشاب في جدة",
    source="3alyoum",
)


@pytest.fixture(scope="module")
def fire(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, distractors: list[Loaded]):
    path = tmp_path_factory.mktemp("fire")
    store = Store(embedded_client(path / "chroma"), embedder)
    searcher = Searcher(store, embedder, LexicalIndex(None))
    Ingestor(store, embedder).run([Loaded("fire", FIRE), *distractors[:40]])
    return QAService(searcher, ExtractiveAnswerer(embedder))


def test_bylines_and_contact_lines_are_stored_but_never_cited(fire: QAService) -> None:
    stored = fire.searcher.store.get_article(FIRE.id)
    assert stored is not None and stored.paragraphs[0] == "عين اليوم – هيفاء عبدالله"
    for question in ("من هي هيفاء عبدالله؟", "ما البريد الإلكتروني لكاتبة خبر حريق جدة؟"):
        reply = fire.ask(question)
        assert all(h.paragraph == 2 for h in reply.result.hits if h.article_id == FIRE.id)
        assert all(c.paragraph == 2 for c in reply.answer.citations if c.article_id == FIRE.id)
        assert "haifa" not in reply.answer.text and "هيفاء" not in reply.answer.text


def test_a_paragraph_is_cited_once_however_many_of_its_sentences_answer(fire: QAService) -> None:
    reply = fire.ask("هل أسفر حريق المستودع في جدة عن إصابات، ومتى سيطر عليه الإطفاء؟")
    answer = reply.answer
    assert answer.grounded
    # each source is one paragraph, and each paragraph one source
    sources = {(q[0].article_id, q[0].paragraph) for q in answer.sources()}
    assert len(sources) == len(answer.sources())
    assert all({(c.article_id, c.paragraph) for c in q} == {(q[0].article_id, q[0].paragraph)}
               for q in answer.sources())  # fmt: skip
    (fire_source,) = [q for q in answer.sources() if q[0].article_id == FIRE.id]
    # both sentences quoted under one marker, each with its exact span
    quoted = " ".join(c.quote for c in fire_source)
    assert "لم يسفر عن أي إصابات" in quoted and "ساعتين" in quoted
    assert all(FIRE.text[c.start : c.end] == c.quote for c in fire_source)
    assert answer.text.count(f"[{fire_source[0].n}]") == 1
    assert fire_source[0].context.startswith("اندلع حريق")  # the passage around them


def test_a_follow_up_reads_only_a_recent_question(qa: QAService) -> None:
    asked = "How many Palestinians have been killed in Gaza?"
    recent = [Turn(asked, "…", asked, time.time() - 60)]
    stale = [Turn(asked, "…", asked, time.time() - 11 * 60)]  # past the 10-minute window
    question = "And how many of them were children?"
    assert qa.ask(question, recent).query == f"{asked} {question}"
    assert qa.ask(question, stale).query == question


def test_a_standalone_question_is_not_mixed_with_the_one_before(qa: QAService) -> None:
    before = "كم عدد المواطنين الأمريكيين الذين يسعون لمغادرة غزة؟"
    history = [Turn(before, "…", before, time.time())]
    question = "ما هي نسبة الدين الحكومي في منطقة اليورو؟"
    reply = qa.ask(question, history)
    assert reply.query == question and reply.topic == question
    assert "400 مواطن" not in reply.answer.text


def test_small_talk_is_answered_by_the_bot_not_the_coverage(qa: QAService) -> None:
    for text, lang, words in (("السلام عليكم", "ar", "أهلًا"), ("thanks!", "en", "welcome")):
        reply = qa.ask(text)
        assert reply.answer.kind == "smalltalk" and not reply.answer.grounded
        assert reply.answer.citations == () and reply.result is None
        assert reply.answer.language == lang and words in reply.answer.text


def test_an_answer_only_just_above_the_threshold_is_marked_weak(news: Searcher) -> None:
    question = "How many Palestinians have been killed in Gaza?"
    plain = QAService(news, ExtractiveAnswerer(news.embedder)).ask(question)
    assert plain.answer.grounded and not plain.weak
    top = plain.result.top_score
    near = dataclasses.replace(news.params, threshold=top - 0.01, cross_threshold=top - 0.01)
    close = Searcher(news.store, news.embedder, news.lexical, near)
    reply = QAService(close, ExtractiveAnswerer(news.embedder)).ask(question)
    assert reply.answer.grounded and reply.weak
