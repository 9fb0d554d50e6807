"""The one call from a question to an answer: follow-ups in context, small talk,
refusals, weak answers; dates and outlets."""

import dataclasses
import time
from datetime import date

import pytest

from retrieval.answer import NO_ANSWER
from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.search import Searcher
from retrieval.service import QAService, Turn
from retrieval.types import NOT_IN_COVERAGE, Article
from tests.auxil.answers import CASUALTIES, cited


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


# -- dates and outlets (the ``gaza`` store: see conftest) --------------------------
AS_OF = date(2023, 11, 10)


def days(answer) -> list[str]:
    return [(c.published or "")[:10] for c in answer.citations]


@pytest.mark.parametrize(
    ("question", "lead", "earlier"),
    [
        ("ما هي آخر حصيلة للقتلى في غزة؟", "6 نوفمبر 2023، العربي الجديد: «", "وقبل ذلك، 2 نوفمبر"),
        (
            "What is the latest death toll in Gaza?",
            "6 November 2023, The New Arab: “",
            "Earlier, 2 November",
        ),
    ],
)
def test_the_latest_report_comes_first_with_its_date(
    gaza: QAService, question: str, lead: str, earlier: str
) -> None:
    answer = gaza.ask(question, today=AS_OF).answer
    assert answer.grounded and days(answer)[0] == "2023-11-06"
    assert "10022" in answer.citations[0].quote
    assert answer.text.split(": ", 1)[1].startswith(lead)
    # older reports of the figure follow, newest first, introduced as earlier
    assert days(answer) == sorted(days(answer), reverse=True) and "2023-11-02" in days(answer)
    assert earlier in answer.text


def test_a_date_keeps_to_its_day(gaza: QAService) -> None:
    answer = gaza.ask("كم كان عدد القتلى في غزة يوم 25 أكتوبر 2023؟", today=AS_OF).answer
    assert answer.grounded and set(days(answer)) == {"2023-10-25"}
    assert "6546" in answer.text
    undated = gaza.ask("كم عدد القتلى في غزة؟", today=AS_OF).answer
    assert set(days(undated)) != {"2023-10-25"}  # the date is what kept it to that day


def test_by_a_date_leads_with_the_newest_report_up_to_then(gaza: QAService) -> None:
    answer = gaza.ask("How many children had been killed by November 6?", today=AS_OF).answer
    assert days(answer)[0] == "2023-11-06" and all(d <= "2023-11-06" for d in days(answer))
    earlier = gaza.ask("How many people had been killed in Gaza by 3 November?", today=AS_OF)
    assert days(earlier.answer)[0] == "2023-11-02"
    assert all(d <= "2023-11-03" for d in days(earlier.answer))


@pytest.mark.parametrize(
    "question",
    ["ماذا قالت عكاظ عن عدد القتلى في غزة؟", "What did Okaz report about the dead in Gaza?"],
)
def test_an_outlet_keeps_to_its_reports(gaza: QAService, question: str) -> None:
    answer = gaza.ask(question, today=AS_OF).answer
    assert answer.grounded and {c.source for c in answer.citations} == {"okaz"}
    assert "9000" in answer.text
    assert {c.outlet for c in answer.citations} == {"عكاظ" if answer.language == "ar" else "Okaz"}


@pytest.mark.parametrize(
    ("question", "said"),
    [
        ("كم عدد القتلى في غزة أمس؟", "تناولته التغطية في: 6 نوفمبر 2023"),
        ("How many were killed in Gaza yesterday?", "It covers it on: 6 November 2023"),
    ],
)
def test_a_window_with_nothing_in_it_names_the_nearest_dates(
    gaza: QAService, question, said
) -> None:
    reply = gaza.ask(question, today=AS_OF)
    assert reply.answer.kind == NOT_IN_COVERAGE and not reply.answer.citations
    assert said in reply.answer.text
    assert (
        "9 نوفمبر 2023" if reply.answer.language == "ar" else "9 November 2023"
    ) in reply.answer.text


def test_relative_days_count_from_the_readers_today(gaza: QAService) -> None:
    answer = gaza.ask("How many were killed in Gaza yesterday?", today=date(2023, 11, 7)).answer
    assert answer.grounded and set(days(answer)) == {"2023-11-06"}
    week = gaza.ask("ما حصيلة القتلى في غزة الأسبوع الماضي؟", today=date(2023, 11, 9)).answer
    assert set(days(week)) <= {"2023-10-27", "2023-11-02"} and "2023-11-02" in days(week)


def test_without_time_words_search_is_unchanged(gaza: QAService) -> None:
    question = "ما أسعار النفط؟"
    plain = gaza.searcher.search(question, 5)
    scoped = gaza.search(question, today=AS_OF)
    assert [h.chunk_id for h in scoped.hits] == [h.chunk_id for h in plain.hits]
    assert [h.score for h in scoped.hits] == [h.score for h in plain.hits]
