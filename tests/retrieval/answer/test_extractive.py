"""Cited extractive answers over the founding article among 200 distractors."""

import dataclasses

import numpy as np
import pytest

from retrieval.answer.extractive import ExtractiveAnswerer, SentenceWeights, term_weights
from retrieval.arabic import normalise
from retrieval.asks import expected_answer
from retrieval.ingest.loaders import Loaded, make_article
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.service import QAService
from retrieval.store.chunks import Store
from retrieval.store.clients import embedded_client
from retrieval.types import Article, Hit
from tests.auxil.answers import AMERICANS, CASUALTIES, JORDAN, NETANYAHU, cited
from tests.auxil.helpers import searcher_for


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
    searcher = searcher_for(store, embedder)
    Ingestor(store, embedder).run([Loaded("a", founding_article), Loaded("b", copy)])
    qa = QAService(searcher, ExtractiveAnswerer(embedder))
    for question in ("How many Palestinians have been killed in Gaza?", "لماذا سحب الأردن سفيره؟"):
        result = qa.ask(question)
        # both copies are found, and the answer quotes the sentence once
        assert {h.article_id for h in result.result.hits[:2]} == {founding_article.id, copy.id}
        quotes = [c.quote for c in result.answer.citations]
        assert quotes and len(quotes) == len(set(quotes)), quotes


def test_answer_json_shape(qa: QAService) -> None:
    data = qa.ask("How many American citizens are seeking to leave Gaza?").answer.to_json()
    assert set(data) == {"answer", "grounded", "language", "kind", "fallback", "citations"}
    assert data["fallback"] is None  # extractive by choice, not as a fallback
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
        "outlet",
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
    searcher = searcher_for(store, embedder)
    Ingestor(store, embedder).run([Loaded("fire", FIRE), *distractors[:40]])
    return QAService(searcher, ExtractiveAnswerer(embedder))


def test_bylines_and_contact_lines_are_stored_but_never_cited(fire: QAService) -> None:
    stored = fire.searcher.store.catalogue.get_article(FIRE.id)
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
